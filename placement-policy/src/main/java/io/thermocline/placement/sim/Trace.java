package io.thermocline.placement.sim;

import java.util.List;

/**
 * An access trace held in arrays: access {@code i} is at {@code timestampMillis[i]} on object
 * {@code keyIds[i]} (named {@code keys.get(keyIds[i])}), reading or writing {@code lengths[i]} bytes at
 * {@code offsets[i]}. An object's size is the largest {@code offset + length} seen for it.
 */
public record Trace(long[] timestampMillis, int[] keyIds, long[] offsets, long[] lengths, boolean[] writes,
                    List<String> keys, long[] sizes) {

    /** Number of accesses. */
    public int length() {
        return keyIds.length;
    }

    /** Total size of all distinct objects, write-only objects included. */
    public long totalBytes() {
        long t = 0;
        for (long s : sizes) {
            t += s;
        }
        return t;
    }

    /** Bytes of all reads. */
    public long readBytes() {
        long t = 0;
        for (int i = 0; i < keyIds.length; i++) {
            if (!writes[i]) {
                t += lengths[i];
            }
        }
        return t;
    }
}
