package io.thermocline.nvmeof.block;

import io.thermocline.tier.InvalidArgumentException;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executor;

/**
 * Settings of a {@link BlockTier}. Immutable; build with {@link #builder(Path, String)}.
 *
 * <table>
 *   <caption>Settings and defaults</caption>
 *   <tr><th>setting</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>catalogDirectory</td><td>(required)</td><td>local directory of the RocksDB catalog (the extent map)</td></tr>
 *   <tr><td>hostNqn</td><td>(required)</td><td>this host's NQN: recorded as the owner at format, checked at open</td></tr>
 *   <tr><td>name</td><td>{@code block}</td><td>tier name in messages and metrics</td></tr>
 *   <tr><td>allocationUnitInBytes</td><td>1 MiB</td><td>format only: size of an allocation unit, a multiple of
 *       4096 and of the device's block size, 4 KiB to 1 GiB; open uses the superblock's</td></tr>
 *   <tr><td>takeOwnership</td><td>false</td><td>open only: open a device another host owns and record this host
 *       as its owner (only once that host has stopped using it)</td></tr>
 *   <tr><td>allowReformat</td><td>false</td><td>format only: overwrite a device that already carries a superblock</td></tr>
 *   <tr><td>trimOnFormat</td><td>true</td><td>format only: trim the whole data area</td></tr>
 *   <tr><td>verifyBeforeCommit</td><td>false</td><td>read every chunk back from the device and check its CRC32C
 *       before publishing</td></tr>
 *   <tr><td>executor</td><td>a virtual thread per task, owned by the tier</td><td>runs the blocking work</td></tr>
 *   <tr><td>maxIdleBuffersPerSize</td><td>8</td><td>aligned direct buffers kept per power-of-two size</td></tr>
 * </table>
 */
public final class BlockTierConfig {

    /** Default allocation unit: 1 MiB. */
    public static final int DEFAULT_ALLOCATION_UNIT_IN_BYTES = 1 << 20;
    public static final int MIN_ALLOCATION_UNIT_IN_BYTES = 4096;
    public static final int MAX_ALLOCATION_UNIT_IN_BYTES = 1 << 30;

    private final Path catalogDirectory;
    private final String hostNqn;
    private final String name;
    private final int allocationUnitInBytes;
    private final boolean takeOwnership;
    private final boolean allowReformat;
    private final boolean trimOnFormat;
    private final boolean verifyBeforeCommit;
    private final Executor executor;
    private final int maxIdleBuffersPerSize;

    private BlockTierConfig(Builder b) {
        this.catalogDirectory = Objects.requireNonNull(b.catalogDirectory, "catalogDirectory");
        this.hostNqn = Superblock.requireNqn(b.hostNqn);
        this.name = Objects.requireNonNull(b.name, "name");
        if (name.isBlank()) {
            throw InvalidArgumentException.of("name", "\"" + name + "\"", "a non-blank tier name");
        }
        if (b.allocationUnitInBytes < MIN_ALLOCATION_UNIT_IN_BYTES || b.allocationUnitInBytes > MAX_ALLOCATION_UNIT_IN_BYTES
            || b.allocationUnitInBytes % MIN_ALLOCATION_UNIT_IN_BYTES != 0) {
            throw InvalidArgumentException.of("allocationUnitInBytes", b.allocationUnitInBytes,
                    "a multiple of 4096 from " + MIN_ALLOCATION_UNIT_IN_BYTES + " to " + MAX_ALLOCATION_UNIT_IN_BYTES);
        }
        this.allocationUnitInBytes = b.allocationUnitInBytes;
        this.takeOwnership = b.takeOwnership;
        this.allowReformat = b.allowReformat;
        this.trimOnFormat = b.trimOnFormat;
        this.verifyBeforeCommit = b.verifyBeforeCommit;
        this.executor = b.executor;
        if (b.maxIdleBuffersPerSize < 0) {
            throw InvalidArgumentException.of("maxIdleBuffersPerSize", b.maxIdleBuffersPerSize, ">= 0");
        }
        this.maxIdleBuffersPerSize = b.maxIdleBuffersPerSize;
    }

    /**
     * @param catalogDirectory where the catalog lives (a local disk, not the device)
     * @param hostNqn this host's NQN, e.g. the first line of {@code /etc/nvme/hostnqn}
     */
    public static Builder builder(Path catalogDirectory, String hostNqn) {
        return new Builder(catalogDirectory, hostNqn);
    }

    public Builder toBuilder() {
        return new Builder(catalogDirectory, hostNqn).name(name).allocationUnitInBytes(allocationUnitInBytes)
                .takeOwnership(takeOwnership).allowReformat(allowReformat).trimOnFormat(trimOnFormat)
                .verifyBeforeCommit(verifyBeforeCommit).executor(executor).maxIdleBuffersPerSize(maxIdleBuffersPerSize);
    }

    public Path catalogDirectory() {
        return catalogDirectory;
    }

    public String hostNqn() {
        return hostNqn;
    }

    public String name() {
        return name;
    }

    public int allocationUnitInBytes() {
        return allocationUnitInBytes;
    }

    public boolean takeOwnership() {
        return takeOwnership;
    }

    public boolean allowReformat() {
        return allowReformat;
    }

    public boolean trimOnFormat() {
        return trimOnFormat;
    }

    public boolean verifyBeforeCommit() {
        return verifyBeforeCommit;
    }

    /** The injected executor; empty means the tier owns a virtual-thread-per-task executor. */
    public Optional<Executor> executor() {
        return Optional.ofNullable(executor);
    }

    public int maxIdleBuffersPerSize() {
        return maxIdleBuffersPerSize;
    }

    @Override
    public String toString() {
        return "BlockTierConfig[catalogDirectory=" + catalogDirectory + ", hostNqn=" + hostNqn + ", name=" + name
               + ", allocationUnitInBytes=" + allocationUnitInBytes + ", takeOwnership=" + takeOwnership
               + ", allowReformat=" + allowReformat + ", trimOnFormat=" + trimOnFormat
               + ", verifyBeforeCommit=" + verifyBeforeCommit
               + ", executor=" + (executor == null ? "virtual-threads" : executor)
               + ", maxIdleBuffersPerSize=" + maxIdleBuffersPerSize + "]";
    }

    /** Builds a {@link BlockTierConfig}; not thread-safe. */
    public static final class Builder {
        private final Path catalogDirectory;
        private final String hostNqn;
        private String name = "block";
        private int allocationUnitInBytes = DEFAULT_ALLOCATION_UNIT_IN_BYTES;
        private boolean takeOwnership;
        private boolean allowReformat;
        private boolean trimOnFormat = true;
        private boolean verifyBeforeCommit;
        private Executor executor;
        private int maxIdleBuffersPerSize = 8;

        private Builder(Path catalogDirectory, String hostNqn) {
            this.catalogDirectory = catalogDirectory;
            this.hostNqn = hostNqn;
        }

        public Builder name(String name) {
            this.name = name;
            return this;
        }

        /** Default {@value BlockTierConfig#DEFAULT_ALLOCATION_UNIT_IN_BYTES}; used by format only. */
        public Builder allocationUnitInBytes(int allocationUnitInBytes) {
            this.allocationUnitInBytes = allocationUnitInBytes;
            return this;
        }

        public Builder takeOwnership(boolean takeOwnership) {
            this.takeOwnership = takeOwnership;
            return this;
        }

        public Builder allowReformat(boolean allowReformat) {
            this.allowReformat = allowReformat;
            return this;
        }

        public Builder trimOnFormat(boolean trimOnFormat) {
            this.trimOnFormat = trimOnFormat;
            return this;
        }

        public Builder verifyBeforeCommit(boolean verifyBeforeCommit) {
            this.verifyBeforeCommit = verifyBeforeCommit;
            return this;
        }

        /** Runs blocking work; empty (null) for a virtual thread per task. */
        public Builder executor(Executor executor) {
            this.executor = executor;
            return this;
        }

        public Builder maxIdleBuffersPerSize(int maxIdleBuffersPerSize) {
            this.maxIdleBuffersPerSize = maxIdleBuffersPerSize;
            return this;
        }

        /** @throws InvalidArgumentException naming the first invalid setting */
        public BlockTierConfig build() {
            return new BlockTierConfig(this);
        }
    }
}
