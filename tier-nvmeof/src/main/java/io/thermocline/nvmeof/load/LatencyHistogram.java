package io.thermocline.nvmeof.load;

/**
 * A log-linear histogram of latencies in nanoseconds: 64 linear sub-buckets per power of two,
 * so any recorded value is reported within 1/64 (~1.6%) of itself, up to 2^47 ns (~39 hours). Fixed size, no allocation when recording.
 *
 * <p>Not thread-safe: one per recording thread, then {@link #add} them together.
 */
public final class LatencyHistogram {
    private static final int SUB_BITS = 6;
    private static final int SUB = 1 << SUB_BITS;
    private static final int MAX_EXPONENT = 40;
    private static final int BUCKETS = (MAX_EXPONENT + 2) * SUB;
    private final long[] counts = new long[BUCKETS];
    private long total;
    private long max;
    private long sum;

    public void record(long nanos) {
        long v = Math.max(0, nanos);
        counts[index(v)]++;
        total++;
        sum += v;
        if (v > max) {
            max = v;
        }
    }

    static int index(long v) {
        if (v < SUB) {
            return (int) v;
        }
        int exponent = 63 - Long.numberOfLeadingZeros(v) - SUB_BITS; // v >>> exponent is in [SUB, 2 * SUB)
        if (exponent > MAX_EXPONENT) {
            return BUCKETS - 1;
        }
        return (exponent + 1) * SUB + (int) ((v >>> exponent) - SUB);
    }

    /** The largest value that falls in bucket {@code i}. */
    static long upperBound(int i) {
        if (i < SUB) {
            return i;
        }
        int exponent = i / SUB - 1;
        long sub = i % SUB;
        return ((SUB + sub + 1) << exponent) - 1;
    }

    public void add(LatencyHistogram other) {
        for (int i = 0; i < counts.length; i++) {
            counts[i] += other.counts[i];
        }
        total += other.total;
        sum += other.sum;
        max = Math.max(max, other.max);
    }

    public long count() {
        return total;
    }

    public long maxNanos() {
        return max;
    }

    public double meanNanos() {
        return total == 0 ? 0 : (double) sum / total;
    }

    /** The value at quantile {@code q} (0..1), as the upper bound of its bucket. */
    public long quantileNanos(double q) {
        if (total == 0) {
            return 0;
        }
        long rank = (long) Math.ceil(q * total);
        long seen = 0;
        for (int i = 0; i < counts.length; i++) {
            seen += counts[i];
            if (seen >= Math.max(1, rank)) {
                return Math.min(upperBound(i), max);
            }
        }
        return max;
    }
}
