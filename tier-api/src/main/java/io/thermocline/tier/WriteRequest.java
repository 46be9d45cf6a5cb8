package io.thermocline.tier;

import java.time.Instant;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * What {@link Tier#create(WriteRequest)} is asked to write: the key, the exact size, the chunking
 * and the descriptive metadata — and, for a copy from another tier, the {@link ObjectInfo} the
 * bytes must match. When {@link #expected()} is present the writer refuses to commit unless every
 * chunk checksum matches it, so a corrupted copy is never published.
 *
 * <p>Immutable and thread-safe.
 */
public final class WriteRequest {

    private final ObjectKey key;
    private final long sizeInBytes;
    private final int chunkSizeInBytes;
    private final String contentType;
    private final Map<String, String> userMetadata;
    private final Instant createdAt;
    private final ObjectInfo expected;

    private WriteRequest(Builder b) {
        this.key = Objects.requireNonNull(b.key, "key");
        this.sizeInBytes = ObjectInfo.requireSize(b.sizeInBytes);
        this.chunkSizeInBytes = ObjectInfo.requireChunkSize(b.chunkSizeInBytes);
        ObjectInfo.chunkCount(sizeInBytes, chunkSizeInBytes);
        this.contentType = ObjectInfo.requireContentType(b.contentType);
        this.userMetadata = ObjectInfo.requireUserMetadata(b.userMetadata);
        this.createdAt = b.createdAt;
        this.expected = b.expected;
        if (expected != null && (expected.sizeInBytes() != sizeInBytes
                                 || expected.chunkSizeInBytes() != chunkSizeInBytes)) {
            throw new InvalidArgumentException("write of " + key + ": size " + sizeInBytes + " and chunk size "
                    + chunkSizeInBytes + " differ from the expected object's " + expected.sizeInBytes() + " and "
                    + expected.chunkSizeInBytes());
        }
    }

    /** A new object of exactly {@code sizeInBytes} bytes. */
    public static Builder builder(ObjectKey key, long sizeInBytes) {
        return new Builder(key, sizeInBytes);
    }

    /** Shorthand for {@code builder(key, sizeInBytes).build()}. */
    public static WriteRequest of(ObjectKey key, long sizeInBytes) {
        return builder(key, sizeInBytes).build();
    }

    /**
     * A verified copy of {@code source} under the same key: same size, chunking, metadata and
     * creation time, and the commit checks every chunk against {@code source}'s checksums.
     */
    public static WriteRequest copyOf(ObjectInfo source) {
        return builder(source.key(), source.sizeInBytes())
                .chunkSizeInBytes(source.chunkSizeInBytes())
                .contentType(source.contentType())
                .userMetadata(source.userMetadata())
                .createdAt(source.createdAt())
                .expected(source)
                .build();
    }

    public Builder toBuilder() {
        return new Builder(key, sizeInBytes).chunkSizeInBytes(chunkSizeInBytes).contentType(contentType)
                .userMetadata(userMetadata).createdAt(createdAt).expected(expected);
    }

    public ObjectKey key() {
        return key;
    }

    public long sizeInBytes() {
        return sizeInBytes;
    }

    public int chunkSizeInBytes() {
        return chunkSizeInBytes;
    }

    public int chunkCount() {
        return ObjectInfo.chunkCount(sizeInBytes, chunkSizeInBytes);
    }

    public String contentType() {
        return contentType;
    }

    public Map<String, String> userMetadata() {
        return userMetadata;
    }

    /** The creation time to record; empty means the time of commit. */
    public Optional<Instant> createdAt() {
        return Optional.ofNullable(createdAt);
    }

    /** The checksums the written bytes must match, for a copy between tiers. */
    public Optional<ObjectInfo> expected() {
        return Optional.ofNullable(expected);
    }

    @Override
    public String toString() {
        return "WriteRequest[key=" + key + ", size=" + sizeInBytes + ", chunkSize=" + chunkSizeInBytes
               + (expected != null ? ", expected crc32c=" + Crc32c.hex(expected.crc32c()) : "") + "]";
    }

    /** Builds a {@link WriteRequest}; not thread-safe. */
    public static final class Builder {
        private final ObjectKey key;
        private final long sizeInBytes;
        private int chunkSizeInBytes = ObjectInfo.DEFAULT_CHUNK_SIZE_IN_BYTES;
        private String contentType = ObjectInfo.DEFAULT_CONTENT_TYPE;
        private Map<String, String> userMetadata = Map.of();
        private Instant createdAt;
        private ObjectInfo expected;

        private Builder(ObjectKey key, long sizeInBytes) {
            this.key = key;
            this.sizeInBytes = sizeInBytes;
        }

        /** Default {@value ObjectInfo#DEFAULT_CHUNK_SIZE_IN_BYTES}. */
        public Builder chunkSizeInBytes(int chunkSizeInBytes) {
            this.chunkSizeInBytes = chunkSizeInBytes;
            return this;
        }

        /** Default {@value ObjectInfo#DEFAULT_CONTENT_TYPE}. */
        public Builder contentType(String contentType) {
            this.contentType = contentType;
            return this;
        }

        public Builder userMetadata(Map<String, String> userMetadata) {
            this.userMetadata = userMetadata;
            return this;
        }

        public Builder createdAt(Instant createdAt) {
            this.createdAt = createdAt;
            return this;
        }

        public Builder expected(ObjectInfo expected) {
            this.expected = expected;
            return this;
        }

        /** @throws InvalidArgumentException naming the first invalid field */
        public WriteRequest build() {
            return new WriteRequest(this);
        }
    }
}
