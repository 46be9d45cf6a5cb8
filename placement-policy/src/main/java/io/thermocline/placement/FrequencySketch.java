package io.thermocline.placement;

/**
 * A count-min sketch of 4-bit counters with periodic aging: the frequency estimator of TinyLFU
 * (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache Admission Policy", ACM
 * Transactions on Storage 13(4), 2017). Each key maps to one counter in each of four rows; the
 * estimate is the smallest of the four. After {@code sampleSize} increments every counter is
 * halved (the paper's "reset"), so the estimate follows recent popularity.
 *
 * <p>Caffeine keeps its own sketch package-private, so this is a small one of the same design.
 * Deterministic: the hashes are fixed functions of the key's 64-bit hash. Not thread-safe.
 */
public final class FrequencySketch {

    private static final long[] SEEDS = {0xc3a5c85c97cb3127L, 0xb492b66fbe98f273L, 0x9ae16a3b2f90404fL, 0xcbf29ce484222325L};
    private static final int ROWS = 4;
    private static final int MAX = 15;

    private final byte[][] table;
    private final int mask;
    private final int sampleSize;
    private int additions;

    /**
     * @param expectedKeys how many distinct keys are expected to matter (the width is the next
     *                     power of two at or above it, at least 64)
     */
    public FrequencySketch(int expectedKeys) {
        this(expectedKeys, 0);
    }

    /**
     * @param expectedKeys how many distinct keys are expected (the width is the next power of two
     *                     at or above it, at least 64)
     * @param sampleSize   increments between agings; 0 = ten times the width (TinyLFU's default)
     */
    public FrequencySketch(int expectedKeys, int sampleSize) {
        int width = Integer.highestOneBit(Math.max(64, expectedKeys) - 1) << 1;
        this.table = new byte[ROWS][width];
        this.mask = width - 1;
        if (sampleSize < 0) {
            throw new IllegalArgumentException("sampleSize: " + sampleSize + " (expected: >= 0)");
        }
        this.sampleSize = sampleSize == 0 ? 10 * width : Math.max(16, sampleSize);
    }

    /** Counts one occurrence of the key with 64-bit hash {@code hash}. */
    public void increment(long hash) {
        int min = frequency(hash);
        if (min >= MAX) {
            return;
        }
        // conservative update: raise only the counters at the minimum
        for (int r = 0; r < ROWS; r++) {
            int i = index(hash, r);
            if (table[r][i] == min) {
                table[r][i]++;
            }
        }
        if (++additions >= sampleSize) {
            reset();
        }
    }

    /** The estimated recent frequency, 0..15. */
    public int frequency(long hash) {
        int min = MAX;
        for (int r = 0; r < ROWS; r++) {
            min = Math.min(min, table[r][index(hash, r)]);
        }
        return min;
    }

    /** How many increments the sketch takes between agings. */
    public int sampleSize() {
        return sampleSize;
    }

    private void reset() {
        for (byte[] row : table) {
            for (int i = 0; i < row.length; i++) {
                row[i] = (byte) (row[i] >>> 1);
            }
        }
        additions /= 2;
    }

    private int index(long hash, int row) {
        long h = (hash ^ SEEDS[row]) * 0x9e3779b97f4a7c15L;
        h ^= h >>> 29;
        h *= 0xbf58476d1ce4e5b9L;
        h ^= h >>> 32;
        return (int) h & mask;
    }

    /** A 64-bit hash of a string key (FNV-1a over its UTF-16 units, then mixed). */
    public static long hash(String key) {
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < key.length(); i++) {
            h ^= key.charAt(i);
            h *= 0x100000001b3L;
        }
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        return h;
    }
}
