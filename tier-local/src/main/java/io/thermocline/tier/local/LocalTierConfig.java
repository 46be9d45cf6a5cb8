package io.thermocline.tier.local;

import io.thermocline.tier.InvalidArgumentException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executor;

/**
 * Settings of a {@link LocalTier}. Immutable; build with {@link #builder(Path)}.
 *
 * <table>
 *   <caption>Settings and defaults</caption>
 *   <tr><th>setting</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>root</td><td>(required)</td><td>directory that holds {@code objects/} and {@code tmp/}</td></tr>
 *   <tr><td>name</td><td>{@code local}</td><td>tier name in messages and metrics</td></tr>
 *   <tr><td>capacityInBytes</td><td>the file system's total size</td><td>most bytes the tier will hold,
 *       counting each object's 4 KiB-rounded data and trailer</td></tr>
 *   <tr><td>directIo</td><td>false</td><td>read and write object data with O_DIRECT, bypassing the page cache</td></tr>
 *   <tr><td>executor</td><td>a virtual thread per task, owned by the tier</td><td>runs the blocking file work</td></tr>
 *   <tr><td>maxIdleBuffersPerSize</td><td>16</td><td>aligned scratch buffers kept per size class</td></tr>
 *   <tr><td>resumeMaxAge</td><td>1 day</td><td>resume files of suspended or cut-off writers not
 *       written for this long are deleted when the tier opens</td></tr>
 * </table>
 */
public final class LocalTierConfig {

    private final Path root;
    private final String name;
    private final long capacityInBytes;
    private final boolean directIo;
    private final Executor executor;
    private final int maxIdleBuffersPerSize;
    private final Duration resumeMaxAge;

    private LocalTierConfig(Builder b) {
        this.root = Objects.requireNonNull(b.root, "root");
        this.name = Objects.requireNonNull(b.name, "name");
        if (name.isBlank()) {
            throw InvalidArgumentException.of("name", "\"" + name + "\"", "a non-blank tier name");
        }
        if (b.capacityInBytes < -1 || b.capacityInBytes == 0) {
            throw InvalidArgumentException.of("capacityInBytes", b.capacityInBytes, "> 0, or -1 for the file system's size");
        }
        this.capacityInBytes = b.capacityInBytes;
        this.directIo = b.directIo;
        this.executor = b.executor;
        if (b.maxIdleBuffersPerSize < 0) {
            throw InvalidArgumentException.of("maxIdleBuffersPerSize", b.maxIdleBuffersPerSize, ">= 0");
        }
        this.maxIdleBuffersPerSize = b.maxIdleBuffersPerSize;
        if (b.resumeMaxAge == null || b.resumeMaxAge.isNegative()) {
            throw InvalidArgumentException.of("resumeMaxAge", b.resumeMaxAge, "a duration >= 0");
        }
        this.resumeMaxAge = b.resumeMaxAge;
    }

    public static Builder builder(Path root) {
        return new Builder(root);
    }

    public Builder toBuilder() {
        return new Builder(root).name(name).capacityInBytes(capacityInBytes).directIo(directIo)
                .executor(executor).maxIdleBuffersPerSize(maxIdleBuffersPerSize).resumeMaxAge(resumeMaxAge);
    }

    public Path root() {
        return root;
    }

    public String name() {
        return name;
    }

    /** The configured capacity, or -1 for the file system's size. */
    public long capacityInBytes() {
        return capacityInBytes;
    }

    public boolean directIo() {
        return directIo;
    }

    /** The injected executor; empty means the tier owns a virtual-thread-per-task executor. */
    public Optional<Executor> executor() {
        return Optional.ofNullable(executor);
    }

    public int maxIdleBuffersPerSize() {
        return maxIdleBuffersPerSize;
    }

    public Duration resumeMaxAge() {
        return resumeMaxAge;
    }

    @Override
    public String toString() {
        return "LocalTierConfig[root=" + root + ", name=" + name + ", capacityInBytes=" + capacityInBytes
               + ", directIo=" + directIo + ", executor=" + (executor == null ? "virtual-threads" : executor)
               + ", maxIdleBuffersPerSize=" + maxIdleBuffersPerSize + ", resumeMaxAge=" + resumeMaxAge + "]";
    }

    /** Builds a {@link LocalTierConfig}; not thread-safe. */
    public static final class Builder {
        private final Path root;
        private String name = "local";
        private long capacityInBytes = -1;
        private boolean directIo;
        private Executor executor;
        private int maxIdleBuffersPerSize = 16;
        private Duration resumeMaxAge = Duration.ofDays(1);

        private Builder(Path root) {
            this.root = root;
        }

        public Builder name(String name) {
            this.name = name;
            return this;
        }

        public Builder capacityInBytes(long capacityInBytes) {
            this.capacityInBytes = capacityInBytes;
            return this;
        }

        public Builder directIo(boolean directIo) {
            this.directIo = directIo;
            return this;
        }

        /** Runs blocking file work; tests inject a same-thread executor. */
        public Builder executor(Executor executor) {
            this.executor = executor;
            return this;
        }

        public Builder maxIdleBuffersPerSize(int maxIdleBuffersPerSize) {
            this.maxIdleBuffersPerSize = maxIdleBuffersPerSize;
            return this;
        }

        public Builder resumeMaxAge(Duration resumeMaxAge) {
            this.resumeMaxAge = resumeMaxAge;
            return this;
        }

        public LocalTierConfig build() {
            return new LocalTierConfig(this);
        }
    }
}
