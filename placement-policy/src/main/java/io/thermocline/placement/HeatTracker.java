package io.thermocline.placement;

import java.time.InstantSource;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Decayed access rates per object: reads and bytes read, each halving every {@code halfLife}
 * without new accesses. Time comes from an injected {@link InstantSource}, so tests and the
 * trace simulator drive it. Not thread-safe.
 *
 * <p>A value {@code h} recorded at {@code t0} reads at {@code t} as {@code h * 2^-((t - t0) / halfLife)};
 * an access adds 1 to the read heat and its length to the byte heat after decaying to now.
 */
public final class HeatTracker {

    /** The heat of one object at one instant: decayed reads and decayed bytes. */
    public record Heat(double reads, double bytes) {
        /** No accesses. */
        public static final Heat ZERO = new Heat(0, 0);
    }

    private static final class Entry {
        double reads;
        double bytes;
        long updatedMillis;
        long lastAccessMillis;
    }

    private final InstantSource clock;
    private final double halfLifeMillis;
    private final Map<String, Entry> entries = new HashMap<>();

    /**
     * @param clock    the time source (the simulator's follows the trace's timestamps)
     * @param halfLife how long until heat without accesses halves; positive
     */
    public HeatTracker(InstantSource clock, java.time.Duration halfLife) {
        this.clock = Objects.requireNonNull(clock, "clock");
        if (halfLife.isNegative() || halfLife.isZero()) {
            throw new IllegalArgumentException("halfLife: " + halfLife + " (expected: a positive duration)");
        }
        this.halfLifeMillis = halfLife.toMillis();
    }

    /** Records one read of {@code length} bytes of {@code key} now. */
    public void recordRead(String key, long length) {
        long now = clock.millis();
        Entry e = entries.computeIfAbsent(key, k -> new Entry());
        decay(e, now);
        e.reads += 1;
        e.bytes += length;
        e.lastAccessMillis = now;
        e.updatedMillis = now;
    }

    /** The heat of {@code key} now; {@link Heat#ZERO} for a key never read. */
    public Heat heat(String key) {
        Entry e = entries.get(key);
        if (e == null) {
            return Heat.ZERO;
        }
        double f = factor(clock.millis() - e.updatedMillis);
        return new Heat(e.reads * f, e.bytes * f);
    }

    /** Milliseconds since {@code key} was last read, or {@link Long#MAX_VALUE} if never. */
    public long idleMillis(String key) {
        Entry e = entries.get(key);
        return e == null ? Long.MAX_VALUE : clock.millis() - e.lastAccessMillis;
    }

    /** Forgets {@code key} (the object was deleted). */
    public void forget(String key) {
        entries.remove(key);
    }

    /** How many keys have heat. */
    public int size() {
        return entries.size();
    }

    private void decay(Entry e, long now) {
        double f = factor(now - e.updatedMillis);
        e.reads *= f;
        e.bytes *= f;
    }

    private double factor(long elapsedMillis) {
        return elapsedMillis <= 0 ? 1.0 : Math.pow(2.0, -elapsedMillis / halfLifeMillis);
    }
}
