package io.thermocline.placement;

/**
 * The value judgements of fast-tier admission, shared by the planner's displacement step and the
 * trace simulator's policy so that the two decide alike.
 *
 * <p>Byte hit ratio is the goal, so an object's worth in the fast tier is the bytes its reads
 * would be served from there per byte it occupies: its read frequency, whatever its size (an
 * object of size {@code s} read {@code f} times serves {@code f·s} bytes from {@code s} bytes of
 * room). A candidate therefore displaces a set of residents only if {@code frequency × size} of the
 * candidate exceeds the sum of {@code value × size} over them (TinyLFU's admission test, after
 * Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache Admission Policy", ACM ToS 2017,
 * weighted by size because the tier holds bytes, not entries).
 *
 * <p>A resident's frequency is discounted by how long it has gone unread, relative to a window
 * of a few tier turnovers ({@link #residentValue}). A frequency estimate learned in a burst
 * (a model's hot shards, each read a dozen times while the model loads) would otherwise keep the
 * objects of a model that is not loaded again for a long time in the tier until the estimate
 * ages; the discount lets them go before objects that are still being read, while a resident read
 * within the window keeps its full frequency. Pure functions; thread-safe.
 */
public final class Admission {

    /**
     * The idle window in accesses per object the tier holds: a resident keeps its full frequency
     * while it was read within about this many turnovers of the tier's contents.
     */
    public static final int IDLE_WINDOW_PER_RESIDENT = 7;

    private Admission() {
    }

    /**
     * The worth of keeping a resident: {@code frequency / max(1, idle / window)}.
     *
     * @param frequency its estimated recent read frequency (non-negative)
     * @param idle      how long since its last read, in the same unit as {@code window} (accesses
     *                  in the simulator, milliseconds in the planner)
     * @param window    the idle window; positive
     * @throws IllegalArgumentException if {@code window} is not positive
     */
    public static double residentValue(double frequency, double idle, double window) {
        if (!(window > 0)) {
            throw new IllegalArgumentException("window: " + window + " (expected: > 0)");
        }
        return frequency / Math.max(1.0, idle / window);
    }

    /**
     * Whether a candidate should displace victims.
     *
     * @param candidateFrequency its estimated read frequency
     * @param candidateSize      its size in bytes
     * @param victimValueBytes   the sum of {@code residentValue × size} over the victims
     * @return true if the candidate would serve more bytes than the victims; on a tie, true only
     *         for a candidate read at least twice, so recency decides among equals without
     *         letting objects read once in
     */
    public static boolean admits(double candidateFrequency, long candidateSize, double victimValueBytes) {
        double candidate = candidateFrequency * candidateSize;
        return candidate > victimValueBytes || candidate == victimValueBytes && candidateFrequency >= 2;
    }
}
