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

    private RegionKey(ObjectKey key) {
        this.key = key;
        this.utf8 = key.toUtf8();
        this.segment = MemorySegment.ofArray(utf8);
        this.hash = KeyHash.of(utf8);
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
