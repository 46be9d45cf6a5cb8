package io.thermocline.region;

import io.thermocline.tier.ObjectKey;
import java.lang.foreign.MemorySegment;

/**
 * A key prepared for the region: its UTF-8 bytes and hash, computed once. Hot paths keep
 * {@code RegionKey}s instead of re-encoding an {@link ObjectKey} on every lookup. Immutable.
 */
public final class RegionKey {

    private final ObjectKey key;
    private final byte[] utf8;
    private final long hash;
    /** The key's bytes as native-order longs, zero-padded: compared word by word with the arena. */
    private final long[] words;
    /** {@code utf8.length}, kept here so a lookup does not load the array to learn it. */
    private final int length;
    /** Selects the key's bytes in its last word (the rest of that word is padding). */
    private final long lastWordMask;

    private RegionKey(ObjectKey key) {
        this.key = key;
        this.utf8 = key.toUtf8();
        this.hash = KeyHash.of(utf8);
        java.nio.ByteBuffer padded = java.nio.ByteBuffer.allocate((utf8.length + 7) / 8 * 8)
                .order(java.nio.ByteOrder.nativeOrder()).put(utf8);
        this.words = new long[padded.capacity() / 8];
        for (int i = 0; i < words.length; i++) {
            words[i] = padded.getLong(i * 8);
        }
        this.length = utf8.length;
        int tail = length - (words.length - 1) * 8;
        long mask = tail >= 8 ? -1L : (1L << (tail * 8)) - 1;
        this.lastWordMask = java.nio.ByteOrder.nativeOrder() == java.nio.ByteOrder.BIG_ENDIAN ? Long.reverseBytes(mask) : mask;
    }

    long lastWordMask() {
        return lastWordMask;
    }

    long[] words() {
        return words;
    }

    public static RegionKey of(ObjectKey key) {
        return new RegionKey(key);
    }

    public static RegionKey of(String key) {
        return new RegionKey(ObjectKey.of(key));
    }

    public ObjectKey key() {
        return key;
    }

    public long hash() {
        return hash;
    }

    public int length() {
        return length;
    }

    /** The key's bytes, for an insert (made on demand: lookups never need it, and keys stay small). */
    MemorySegment segment() {
        return MemorySegment.ofArray(utf8);
    }

    @Override
    public String toString() {
        return key.toString();
    }
}
