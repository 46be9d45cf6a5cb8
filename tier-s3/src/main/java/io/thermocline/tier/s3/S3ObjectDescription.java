package io.thermocline.tier.s3;

import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import java.time.Instant;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * What {@link S3Tier#describe(ObjectKey)} knows of an S3 object, whoever wrote it.
 *
 * <p>An object written by Thermocline has its {@link ObjectInfo} (chunk CRC32Cs). An object
 * written by another tool has none: its size, ETag and content type are known, its checksums are
 * not — unless S3 keeps a full-object CRC32C for it ({@code x-amz-checksum-crc32c}, answered to
 * {@code x-amz-checksum-mode: ENABLED}), in which case a whole download can be checked against
 * it. {@link #verification()} says which of these holds.
 *
 * @param info Thermocline's checksums; empty for another tool's object
 * @param s3Crc32c S3's full-object CRC32C; empty when the server keeps none, keeps only a composite
 *        checksum of a multipart upload's parts, or was not asked ({@code additionalChecksums=OFF})
 */
public record S3ObjectDescription(ObjectKey key, long sizeInBytes, String eTag, Instant lastModified, String contentType,
                                  Optional<ObjectInfo> info, OptionalInt s3Crc32c, Verification verification) {

    /** How reads of an object are verified. */
    public enum Verification {
        /** Thermocline's chunk CRC32Cs: every read and every download is checked chunk by chunk before use. */
        CHUNK_CRC32C,
        /**
         * Another tool's object with S3's full-object CRC32C: a download is checked against it once
         * every byte is in (a mismatch fails it and leaves no file); positional reads cannot be verified.
         */
        OBJECT_CRC32C,
        /** Another tool's object and no checksum to check it against: downloads are unverified, and say so. */
        NONE
    }
}
