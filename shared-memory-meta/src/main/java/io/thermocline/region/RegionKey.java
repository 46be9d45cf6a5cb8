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
    private final MemorySegment segment;
    private final long hash;
    /** The key's bytes as native-order longs, zero-padded: compared word by word with the arena. */
    private final long[] words;

    private RegionKey(ObjectKey key) {
        this.key = key;
        this.utf8 = key.toUtf8();
        this.segment = MemorySegment.ofArray(utf8);
        this.hash = KeyHash.of(utf8);
        java.nio.ByteBuffer padded = java.nio.ByteBuffer.allocate((utf8.length + 7) / 8 * 8)
                .order(java.nio.ByteOrder.nativeOrder()).put(utf8);
        this.words = new long[padded.capacity() / 8];
        for (int i = 0; i < words.length; i++) {
            words[i] = padded.getLong(i * 8);
        }
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
        return utf8.length;
    }

    MemorySegment segment() {
        return segment;
    }

    @Override
    public String toString() {
        return key.toString();
    }
}
