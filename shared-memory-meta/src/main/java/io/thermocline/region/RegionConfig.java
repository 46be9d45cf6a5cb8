package io.thermocline.region;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.InstantSource;
import java.util.HexFormat;
import java.util.Objects;

/**
 * Settings of a {@link SharedRegion}. Immutable; build with {@link #builder(Path)}.
 *
 * <table>
 *   <caption>Settings and defaults</caption>
 *   <tr><th>setting</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>path</td><td>{@link #defaultPath(Path)}</td><td>the region file: /dev/shm, a DAX device or any file</td></tr>
 *   <tr><td>maxObjects</td><td>1 000 000</td><td>objects the table is sized for (slots = maxObjects / 0.75)</td></tr>
 *   <tr><td>arenaBytesPerObject</td><td>96</td><td>arena bytes per object for key and locator (rounded to power-of-two blocks)</td></tr>
 *   <tr><td>tierCount</td><td>8</td><td>tier ids 0..tierCount-1 with usage counters</td></tr>
 *   <tr><td>leaseCount</td><td>1024</td><td>leases held at once</td></tr>
 *   <tr><td>resultCount</td><td>4096</td><td>request results kept</td></tr>
 *   <tr><td>ringSlots</td><td>1024</td><td>requests waiting at once</td></tr>
 *   <tr><td>heatHalfLife</td><td>10 minutes</td><td>half-life of decayed heat</td></tr>
 *   <tr><td>ringStallTimeout</td><td>5 seconds</td><td>how long a claimed, unpublished request from a dead producer blocks the ring</td></tr>
 *   <tr><td>group</td><td>none</td><td>a group whose members share the region: created mode 0660 with that group
 *       (instead of 0600), and a region of another member of that group is attached</td></tr>
 *   <tr><td>clock</td><td>system</td><td>time source for heat and leases (tests inject one)</td></tr>
 * </table>
 */
public final class RegionConfig {

    private final Path path;
    private final long maxObjects;
    private final int arenaBytesPerObject;
    private final int tierCount;
    private final int leaseCount;
    private final int resultCount;
    private final int ringSlots;
    private final Duration heatHalfLife;
    private final Duration ringStallTimeout;
    private final InstantSource clock;
    private final java.util.Optional<String> group;

    private RegionConfig(Builder b) {
        this.path = Objects.requireNonNull(b.path, "path");
        this.maxObjects = b.maxObjects;
        this.arenaBytesPerObject = b.arenaBytesPerObject;
        this.tierCount = b.tierCount;
        this.leaseCount = b.leaseCount;
        this.resultCount = b.resultCount;
        this.ringSlots = b.ringSlots;
        this.heatHalfLife = Objects.requireNonNull(b.heatHalfLife, "heatHalfLife");
        this.ringStallTimeout = Objects.requireNonNull(b.ringStallTimeout, "ringStallTimeout");
        this.clock = Objects.requireNonNull(b.clock, "clock");
        this.group = java.util.Optional.ofNullable(b.group);
        if (b.group != null && !b.group.matches("[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")) {
            throw new IllegalArgumentException("group: '" + b.group + "' (expected: a group name of letters, digits, '_', '.' "
                    + "and '-')");
        }
        if (maxObjects < 1 || maxObjects > 1L << 31) {
            throw new IllegalArgumentException("maxObjects: " + maxObjects + " (expected: 1..2147483648)");
        }
        if (arenaBytesPerObject < 16 || arenaBytesPerObject > 1 << 20) {
            throw new IllegalArgumentException("arenaBytesPerObject: " + arenaBytesPerObject + " (expected: 16..1048576)");
        }
        geometry(); // validates the rest
    }

    /**
     * {@code /dev/shm/thermocline-<16 hex digits of SHA-256 of the data root's absolute path>},
     * or the same name in java.io.tmpdir where /dev/shm does not exist.
     */
    public static Path defaultPath(Path dataRoot) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest(dataRoot.toAbsolutePath().normalize().toString().getBytes(StandardCharsets.UTF_8));
            String name = "thermocline-" + HexFormat.of().formatHex(digest, 0, 8);
            Path shm = Path.of("/dev/shm");
            return Files.isDirectory(shm) ? shm.resolve(name) : Path.of(System.getProperty("java.io.tmpdir")).resolve(name);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    public static Builder builder(Path path) {
        return new Builder(path);
    }

    /** A region at {@link #defaultPath(Path)} for {@code dataRoot}. */
    public static Builder forDataRoot(Path dataRoot) {
        return new Builder(defaultPath(dataRoot));
    }

    public Builder toBuilder() {
        return new Builder(path).maxObjects(maxObjects).arenaBytesPerObject(arenaBytesPerObject).tierCount(tierCount)
                .leaseCount(leaseCount).resultCount(resultCount).ringSlots(ringSlots).heatHalfLife(heatHalfLife)
                .ringStallTimeout(ringStallTimeout).clock(clock).group(group.orElse(null));
    }

    /**
     * The group whose members share the region, if one is configured: the region is then
     * created with that group and mode 0660, and attaching accepts a region of that group made
     * by another user. Without one, only the current user's own region of mode 0600 is accepted.
     */
    public java.util.Optional<String> group() {
        return group;
    }

    public Path path() {
        return path;
    }

    public InstantSource clock() {
        return clock;
    }

    public Duration ringStallTimeout() {
        return ringStallTimeout;
    }

    /** The layout sizes these settings give. */
    public RegionLayout.Geometry geometry() {
        long slots = Math.max(16, (maxObjects * 4 + 2) / 3);
        return new RegionLayout.Geometry(slots, Math.max(4096, maxObjects * arenaBytesPerObject), tierCount, leaseCount,
                resultCount, ringSlots, heatHalfLife.toMillis());
    }

    @Override
    public String toString() {
        return "RegionConfig[path=" + path + ", maxObjects=" + maxObjects + ", arenaBytesPerObject=" + arenaBytesPerObject
               + ", tierCount=" + tierCount + ", leaseCount=" + leaseCount + ", resultCount=" + resultCount
               + ", ringSlots=" + ringSlots + ", heatHalfLife=" + heatHalfLife + ", ringStallTimeout=" + ringStallTimeout
               + group.map(g -> ", group=" + g).orElse("") + ", regionLength=" + geometry().regionLength() + "]";
    }

    /** Builds a {@link RegionConfig}; not thread-safe. */
    public static final class Builder {
        private final Path path;
        private long maxObjects = 1_000_000;
        private int arenaBytesPerObject = 96;
        private int tierCount = 8;
        private int leaseCount = 1024;
        private int resultCount = 4096;
        private int ringSlots = 1024;
        private Duration heatHalfLife = Duration.ofMinutes(10);
        private Duration ringStallTimeout = Duration.ofSeconds(5);
        private InstantSource clock = InstantSource.system();
        private String group;

        private Builder(Path path) {
            this.path = path;
        }

        public Builder maxObjects(long maxObjects) {
            this.maxObjects = maxObjects;
            return this;
        }

        public Builder arenaBytesPerObject(int arenaBytesPerObject) {
            this.arenaBytesPerObject = arenaBytesPerObject;
            return this;
        }

        public Builder tierCount(int tierCount) {
            this.tierCount = tierCount;
            return this;
        }

        public Builder leaseCount(int leaseCount) {
            this.leaseCount = leaseCount;
            return this;
        }

        public Builder resultCount(int resultCount) {
            this.resultCount = resultCount;
            return this;
        }

        public Builder ringSlots(int ringSlots) {
            this.ringSlots = ringSlots;
            return this;
        }

        public Builder heatHalfLife(Duration heatHalfLife) {
            this.heatHalfLife = heatHalfLife;
            return this;
        }

        public Builder ringStallTimeout(Duration ringStallTimeout) {
            this.ringStallTimeout = ringStallTimeout;
            return this;
        }

        public Builder clock(InstantSource clock) {
            this.clock = clock;
            return this;
        }

        /** A group whose members share the region (see {@link RegionConfig#group()}); null for none. */
        public Builder group(String group) {
            this.group = group;
            return this;
        }

        public RegionConfig build() {
            return new RegionConfig(this);
        }
    }
}
