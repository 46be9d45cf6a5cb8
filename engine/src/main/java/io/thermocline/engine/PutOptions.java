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
 * @param resumeId   what the source is, for resuming a cut-off put of it: a file's absolute path,
 *                   size and modification time, say; one line. When set and the source is a
 *                   {@link java.nio.channels.SeekableByteChannel} (a file), the put checkpoints
 *                   what the tiers hold as it goes, and a later put of the same key with the same
 *                   resumeId takes up what a cut-off one left instead of writing it again (each
 *                   kept chunk is checked against the source first). null = no resume
 */
public record PutOptions(WriteMode writeMode, String tier, String contentType, int chunkSizeInBytes, boolean replace,
                         ObjectInfo expected, String resumeId) {

    private static final PutOptions DEFAULTS = new PutOptions(null, null, null, 0, false, null, null);

    public PutOptions {
        if (resumeId != null && resumeId.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
            throw io.thermocline.tier.InvalidArgumentException.of("resumeId", "'" + resumeId + "'", "one line with no control characters");
        }
    }

    public static PutOptions defaults() {
        return DEFAULTS;
    }

    public PutOptions withWriteMode(WriteMode v) {
        return new PutOptions(v, tier, contentType, chunkSizeInBytes, replace, expected, resumeId);
    }

    public PutOptions withTier(String v) {
        return new PutOptions(writeMode, v, contentType, chunkSizeInBytes, replace, expected, resumeId);
    }

    public PutOptions withContentType(String v) {
        return new PutOptions(writeMode, tier, v, chunkSizeInBytes, replace, expected, resumeId);
    }

    public PutOptions withChunkSize(int v) {
        return new PutOptions(writeMode, tier, contentType, v, replace, expected, resumeId);
    }

    public PutOptions withReplace(boolean v) {
        return new PutOptions(writeMode, tier, contentType, chunkSizeInBytes, v, expected, resumeId);
    }

    public PutOptions withExpected(ObjectInfo v) {
        return new PutOptions(writeMode, tier, contentType, chunkSizeInBytes, replace, v, resumeId);
    }

    public PutOptions withResumeId(String v) {
        return new PutOptions(writeMode, tier, contentType, chunkSizeInBytes, replace, expected, v);
    }

    Optional<WriteMode> mode() {
        return Optional.ofNullable(writeMode);
    }
}
