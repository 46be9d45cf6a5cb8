package io.thermocline.engine;

import io.thermocline.placement.WriteMode;
import io.thermocline.tier.ObjectInfo;

import java.util.Optional;

/**
 * How {@link TierEngine#put} writes an object. Immutable; start from {@link #defaults()}.
 *
 * @param writeMode  overrides the matching rule's write mode; null = the rule's
 * @param tier       the fast tier to write; null = the rule's first preferred tier (or the fastest)
 * @param contentType stored with the object; null = {@link ObjectInfo#DEFAULT_CONTENT_TYPE}
 * @param chunkSizeInBytes checksum chunk size; 0 = {@link ObjectInfo#DEFAULT_CHUNK_SIZE_IN_BYTES}
 * @param replace    whether an existing object under the key may be replaced (default false:
 *                   objects are immutable and a second put of a key is refused)
 * @param expected   checksums the bytes must match (a verified copy); null = none
 */
public record PutOptions(WriteMode writeMode, String tier, String contentType, int chunkSizeInBytes, boolean replace,
                         ObjectInfo expected) {

    private static final PutOptions DEFAULTS = new PutOptions(null, null, null, 0, false, null);

    public static PutOptions defaults() {
        return DEFAULTS;
    }

    public PutOptions withWriteMode(WriteMode v) {
        return new PutOptions(v, tier, contentType, chunkSizeInBytes, replace, expected);
    }

    public PutOptions withTier(String v) {
        return new PutOptions(writeMode, v, contentType, chunkSizeInBytes, replace, expected);
    }

    public PutOptions withContentType(String v) {
        return new PutOptions(writeMode, tier, v, chunkSizeInBytes, replace, expected);
    }

    public PutOptions withChunkSize(int v) {
        return new PutOptions(writeMode, tier, contentType, v, replace, expected);
    }

    public PutOptions withReplace(boolean v) {
        return new PutOptions(writeMode, tier, contentType, chunkSizeInBytes, v, expected);
    }

    public PutOptions withExpected(ObjectInfo v) {
        return new PutOptions(writeMode, tier, contentType, chunkSizeInBytes, replace, v);
    }

    Optional<WriteMode> mode() {
        return Optional.ofNullable(writeMode);
    }
}
