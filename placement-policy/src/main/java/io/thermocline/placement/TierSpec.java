package io.thermocline.placement;

import java.util.Objects;

/**
 * One tier's placement limits. Immutable; build with {@link #builder(String, long)}.
 *
 * @param name               the tier's name, as rules refer to it
 * @param capacityBytes      bytes the policy may fill
 * @param highWatermark      usage fraction above which demotion starts (default 0.90)
 * @param lowWatermark       usage fraction demotion brings usage back to (default 0.80)
 * @param maxConcurrentMoves moves into or out of this tier at once (default 4)
 * @param bandwidthBytesPerSecond limit on move traffic; 0 = unlimited (default 0)
 */
public record TierSpec(String name, long capacityBytes, double highWatermark, double lowWatermark,
                       int maxConcurrentMoves, long bandwidthBytesPerSecond) {

    public static final double DEFAULT_HIGH_WATERMARK = 0.90;
    public static final double DEFAULT_LOW_WATERMARK = 0.80;
    public static final int DEFAULT_MAX_CONCURRENT_MOVES = 4;

    public TierSpec {
        Objects.requireNonNull(name, "name");
        if (capacityBytes <= 0) {
            throw new ConfigException("capacity", capacityBytes, "a positive size");
        }
        if (!(highWatermark > 0 && highWatermark <= 1)) {
            throw new ConfigException("high-watermark", highWatermark, "a fraction in (0, 1]");
        }
        if (!(lowWatermark >= 0 && lowWatermark < highWatermark)) {
            throw new ConfigException("low-watermark", lowWatermark, "a fraction in [0, high-watermark " + highWatermark + ")");
        }
        if (maxConcurrentMoves < 1) {
            throw new ConfigException("max-concurrent-moves", maxConcurrentMoves, "an integer >= 1");
        }
        if (bandwidthBytesPerSecond < 0) {
            throw new ConfigException("bandwidth", bandwidthBytesPerSecond, "a size per second >= 0 (0 = unlimited)");
        }
    }

    public static Builder builder(String name, long capacityBytes) {
        return new Builder(name, capacityBytes);
    }

    /** Bytes above which the tier should demote. */
    public long highBytes() {
        return (long) (capacityBytes * highWatermark);
    }

    /** Bytes demotion brings usage down to. */
    public long lowBytes() {
        return (long) (capacityBytes * lowWatermark);
    }

    /** Builder with the defaults documented on {@link TierSpec}. */
    public static final class Builder {
        private final String name;
        private final long capacityBytes;
        private double high = DEFAULT_HIGH_WATERMARK;
        private double low = DEFAULT_LOW_WATERMARK;
        private int moves = DEFAULT_MAX_CONCURRENT_MOVES;
        private long bandwidth;

        private Builder(String name, long capacityBytes) {
            this.name = name;
            this.capacityBytes = capacityBytes;
        }

        public Builder highWatermark(double v) { this.high = v; return this; }
        public Builder lowWatermark(double v) { this.low = v; return this; }
        public Builder maxConcurrentMoves(int v) { this.moves = v; return this; }
        public Builder bandwidthBytesPerSecond(long v) { this.bandwidth = v; return this; }

        public TierSpec build() {
            return new TierSpec(name, capacityBytes, high, low, moves, bandwidth);
        }
    }
}
