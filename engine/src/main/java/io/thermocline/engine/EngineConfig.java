package io.thermocline.engine;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.thermocline.placement.PolicyConfig;
import io.thermocline.placement.TierSpec;
import io.thermocline.region.RegionConfig;

import java.nio.file.Path;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Everything {@link TierEngine#open} needs. Immutable; build with {@link #builder(Path)} or load
 * from YAML with {@link EngineConfigLoader}.
 *
 * <table>
 *   <caption>Settings and defaults</caption>
 *   <tr><th>setting</th><th>YAML key</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>dataRoot</td><td>{@code data-root}</td><td>(required)</td><td>directory of the catalog and the owner lock</td></tr>
 *   <tr><td>regionPath</td><td>{@code region.path}</td><td>{@code /dev/shm/thermocline-<hash of data root>}</td><td>the shared region's file</td></tr>
 *   <tr><td>regionMaxObjects</td><td>{@code region.max-objects}</td><td>1 048 576</td><td>objects the region can describe</td></tr>
 *   <tr><td>regionGroup</td><td>{@code region.group}</td><td>none (mode 0600, the current user only)</td><td>a group whose members share the region (mode 0660)</td></tr>
 *   <tr><td>tiers</td><td>{@code tiers}</td><td>(required, at least two)</td><td>fastest first; the last is the backing (durable) tier</td></tr>
 *   <tr><td>parallelChunks</td><td>{@code stager.parallel-chunks}</td><td>4</td><td>chunks of one move in flight at once</td></tr>
 *   <tr><td>plannerInterval</td><td>{@code stager.planner-interval}</td><td>1s</td><td>how often the owner re-plans from heat and usage</td></tr>
 *   <tr><td>drainGrace</td><td>{@code stager.drain-grace}</td><td>2s</td><td>how long a freed source copy stays for readers in other processes</td></tr>
 *   <tr><td>ownershipInterval</td><td>{@code ownership.check-interval}</td><td>500ms</td><td>how often an attached process checks whether the owner died</td></tr>
 *   <tr><td>requestTimeout</td><td>{@code ownership.request-timeout}</td><td>60s</td><td>how long an attached process waits for the owner to accept a request</td></tr>
 * </table>
 */
public final class EngineConfig {

    public static final long DEFAULT_REGION_MAX_OBJECTS = 1 << 20;
    public static final int DEFAULT_PARALLEL_CHUNKS = 4;
    public static final Duration DEFAULT_PLANNER_INTERVAL = Duration.ofSeconds(1);
    public static final Duration DEFAULT_DRAIN_GRACE = Duration.ofSeconds(2);
    public static final Duration DEFAULT_OWNERSHIP_INTERVAL = Duration.ofMillis(500);
    public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(60);

    private final Path dataRoot;
    private final Path regionPath;
    private final long regionMaxObjects;
    private final String regionGroup;
    private final List<TierDefinition> tiers;
    private final PolicyConfig policy;
    private final int parallelChunks;
    private final Duration plannerInterval;
    private final Duration drainGrace;
    private final Duration ownershipInterval;
    private final Duration requestTimeout;
    private final InstantSource clock;
    private final MeterRegistry meters;

    private EngineConfig(Builder b) {
        this.dataRoot = Objects.requireNonNull(b.dataRoot, "dataRoot").toAbsolutePath().normalize();
        this.regionPath = b.regionPath != null ? b.regionPath : RegionConfig.defaultPath(dataRoot);
        if (b.regionMaxObjects < 16) {
            throw new EngineConfigException("region.max-objects", b.regionMaxObjects, "an integer >= 16");
        }
        this.regionMaxObjects = b.regionMaxObjects;
        if (b.regionGroup != null && !b.regionGroup.matches("[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")) {
            throw new EngineConfigException("region.group", b.regionGroup, "a group name of letters, digits, '_', '.' and '-'");
        }
        this.regionGroup = b.regionGroup;
        if (b.tiers.size() < 2 || b.tiers.size() > 8) {
            throw new EngineConfigException("tiers", b.tiers.size() + " tiers",
                    "2 to 8 tiers, fastest first, the last one the backing (durable) tier");
        }
        Set<String> names = new HashSet<>();
        for (TierDefinition t : b.tiers) {
            if (!names.add(t.name())) {
                throw new EngineConfigException("tiers", t.name(), "unique tier names (this one appears twice)");
            }
        }
        this.tiers = List.copyOf(b.tiers);
        List<TierSpec> specs = tiers.stream().map(TierDefinition::spec).toList();
        PolicyConfig p = b.policy != null ? b.policy : PolicyConfig.builder().build();
        this.policy = PolicyConfig.builder().halfLife(p.halfLife()).sketchKeys(p.sketchKeys()).tiers(specs).rules(p.rules()).build();
        for (var rule : policy.rules()) {
            for (String pref : rule.preferredTiers()) {
                if (!names.contains(pref)) {
                    throw new EngineConfigException("rules[" + rule.match() + "].preferred-tiers", pref, "one of the tiers " + names);
                }
            }
        }
        if (b.parallelChunks < 1 || b.parallelChunks > 256) {
            throw new EngineConfigException("stager.parallel-chunks", b.parallelChunks, "an integer in 1..256");
        }
        this.parallelChunks = b.parallelChunks;
        this.plannerInterval = positive(b.plannerInterval, "stager.planner-interval");
        this.drainGrace = nonNegative(b.drainGrace, "stager.drain-grace");
        this.ownershipInterval = positive(b.ownershipInterval, "ownership.check-interval");
        this.requestTimeout = positive(b.requestTimeout, "ownership.request-timeout");
        this.clock = Objects.requireNonNull(b.clock, "clock");
        this.meters = b.meters != null ? b.meters : new SimpleMeterRegistry();
    }

    private static Duration positive(Duration d, String key) {
        if (d == null || d.isNegative() || d.isZero()) {
            throw new EngineConfigException(key, d, "a positive duration such as 500ms or 2s");
        }
        return d;
    }

    private static Duration nonNegative(Duration d, String key) {
        if (d == null || d.isNegative()) {
            throw new EngineConfigException(key, d, "a duration >= 0 such as 0, 500ms or 2s");
        }
        return d;
    }

    public static Builder builder(Path dataRoot) {
        return new Builder(dataRoot);
    }

    public Path dataRoot() {
        return dataRoot;
    }

    public Path regionPath() {
        return regionPath;
    }

    public long regionMaxObjects() {
        return regionMaxObjects;
    }

    /** The group whose members share the region, or null: only the current user. */
    public String regionGroup() {
        return regionGroup;
    }

    /** Fastest first; the last is the backing tier. */
    public List<TierDefinition> tiers() {
        return tiers;
    }

    /** The placement policy, with one {@link TierSpec} per tier in {@link #tiers()} order. */
    public PolicyConfig policy() {
        return policy;
    }

    public int parallelChunks() {
        return parallelChunks;
    }

    public Duration plannerInterval() {
        return plannerInterval;
    }

    public Duration drainGrace() {
        return drainGrace;
    }

    public Duration ownershipInterval() {
        return ownershipInterval;
    }

    public Duration requestTimeout() {
        return requestTimeout;
    }

    public InstantSource clock() {
        return clock;
    }

    public MeterRegistry meters() {
        return meters;
    }

    /** Builder with the defaults in the table on {@link EngineConfig}; not thread-safe. */
    public static final class Builder {
        private final Path dataRoot;
        private Path regionPath;
        private long regionMaxObjects = DEFAULT_REGION_MAX_OBJECTS;
        private String regionGroup;
        private final List<TierDefinition> tiers = new ArrayList<>();
        private PolicyConfig policy;
        private int parallelChunks = DEFAULT_PARALLEL_CHUNKS;
        private Duration plannerInterval = DEFAULT_PLANNER_INTERVAL;
        private Duration drainGrace = DEFAULT_DRAIN_GRACE;
        private Duration ownershipInterval = DEFAULT_OWNERSHIP_INTERVAL;
        private Duration requestTimeout = DEFAULT_REQUEST_TIMEOUT;
        private InstantSource clock = InstantSource.system();
        private MeterRegistry meters;

        private Builder(Path dataRoot) {
            this.dataRoot = dataRoot;
        }

        public Builder regionPath(Path v) { this.regionPath = v; return this; }
        public Builder regionMaxObjects(long v) { this.regionMaxObjects = v; return this; }
        public Builder regionGroup(String v) { this.regionGroup = v; return this; }
        /** Adds a tier after those added so far (fastest first; the last added is the backing tier). */
        public Builder tier(TierDefinition v) { this.tiers.add(v); return this; }
        /** Heat half-life, admission and rules; its tier list is replaced by the tiers' specs. */
        public Builder policy(PolicyConfig v) { this.policy = v; return this; }
        public Builder parallelChunks(int v) { this.parallelChunks = v; return this; }
        public Builder plannerInterval(Duration v) { this.plannerInterval = v; return this; }
        public Builder drainGrace(Duration v) { this.drainGrace = v; return this; }
        public Builder ownershipInterval(Duration v) { this.ownershipInterval = v; return this; }
        public Builder requestTimeout(Duration v) { this.requestTimeout = v; return this; }
        public Builder clock(InstantSource v) { this.clock = v; return this; }
        public Builder meters(MeterRegistry v) { this.meters = v; return this; }

        public EngineConfig build() {
            return new EngineConfig(this);
        }
    }
}
