package io.thermocline.engine;

import io.thermocline.placement.TierSpec;
import io.thermocline.tier.Tier;

import java.util.Objects;

/**
 * One tier of an engine: its placement limits and how to open it.
 *
 * @param spec           capacity, watermarks and move limits, as the planner sees them
 * @param opener         opens the tier; called once per process that opens the engine
 * @param sharedReadable whether processes other than the owner may open this tier and read from
 *                       it at the same time (true for files and S3; false for a block namespace,
 *                       whose allocator and catalog one process holds). Attached processes read an
 *                       object from the fastest shared-readable tier that holds it.
 * @param description    where the tier lives, for messages (never a secret)
 */
public record TierDefinition(TierSpec spec, TierOpener opener, boolean sharedReadable, String description) {

    public TierDefinition {
        Objects.requireNonNull(spec, "spec");
        Objects.requireNonNull(opener, "opener");
        Objects.requireNonNull(description, "description");
    }

    public String name() {
        return spec.name();
    }

    /** Opens a tier. Implementations may block (they run at engine open). */
    @FunctionalInterface
    public interface TierOpener {
        Tier open() throws Exception;
    }
}
