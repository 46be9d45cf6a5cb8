package io.thermocline.tier;

import java.util.Objects;

/**
 * Whether a tier can serve requests now, with a human-readable reason when it cannot.
 *
 * @param status the tier's state
 * @param detail what was checked or what failed; never a secret
 */
public record TierHealth(Status status, String detail) {

    /** A tier's state. */
    public enum Status {
        /** Serving reads and writes. */
        UP,
        /** Serving, but with reduced redundancy or performance (for example a lost path). */
        DEGRADED,
        /** Not serving. */
        DOWN
    }

    public TierHealth {
        Objects.requireNonNull(status, "status");
        Objects.requireNonNull(detail, "detail");
    }

    public static TierHealth up(String detail) {
        return new TierHealth(Status.UP, detail);
    }

    public static TierHealth degraded(String detail) {
        return new TierHealth(Status.DEGRADED, detail);
    }

    public static TierHealth down(String detail) {
        return new TierHealth(Status.DOWN, detail);
    }
}
