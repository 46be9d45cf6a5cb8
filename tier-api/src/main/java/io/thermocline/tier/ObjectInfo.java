package io.thermocline.tier;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * What every tier knows about a committed object: its size, its checksums and its descriptive
 * metadata. The same {@code ObjectInfo} travels with every copy of the object, so a copy on any
 * tier can be verified against it.
 *
 * <p>The object is cut into chunks of {@link #chunkSizeInBytes()} bytes (the last may be
 * shorter); each chunk has a CRC32C and the whole object has one too, which must equal the
 * combination of the chunk checksums ({@link Crc32c#ofChunks}). An empty object has no chunks
 * and a CRC32C of 0.
 *
 * <p>Immutable and thread-safe.
 */
public final class ObjectInfo {

    /** Default chunk size: 1 MiB. */
    public static final int DEFAULT_CHUNK_SIZE_IN_BYTES = 1 << 20;
    /** Smallest chunk size: one 4 KiB block, so chunks start on O_DIRECT-aligned offsets. */
    public static final int MIN_CHUNK_SIZE_IN_BYTES = 4096;
    /** Largest chunk size: 256 MiB. */
    public static final int MAX_CHUNK_SIZE_IN_BYTES = 256 << 20;
    /** Default content type. */
    public static final String DEFAULT_CONTENT_TYPE = "application/octet-stream";
    /** Most bytes of user metadata (names plus values, UTF-8), as S3 allows. */
    public static final int MAX_USER_METADATA_BYTES = 2048;

    private static final Pattern METADATA_NAME = Pattern.compile("[A-Za-z0-9._-]{1,128}");
    private static final Pattern CONTENT_TYPE = Pattern.compile("[\\x21-\\x7e][\\x20-\\x7e]{0,254}");

    private final ObjectKey key;
    private final long sizeInBytes;
    private final int chunkSizeInBytes;
    private final int[] chunkCrc32c;
    private final int crc32c;
    private final Instant createdAt;
    private final String contentType;
    private final Map<String, String> userMetadata;

    private ObjectInfo(Builder b) {
        this.key = Objects.requireNonNull(b.key, "key");
        this.sizeInBytes = requireSize(b.sizeInBytes);
        this.chunkSizeInBytes = requireChunkSize(b.chunkSizeInBytes);
        this.chunkCrc32c = Objects.requireNonNull(b.chunkCrc32c, "chunkCrc32c").clone();
        this.createdAt = Objects.requireNonNull(b.createdAt, "createdAt");
        this.contentType = requireContentType(b.contentType);
        this.userMetadata = requireUserMetadata(b.userMetadata);
        int combined = Crc32c.ofChunks(chunkCrc32c, sizeInBytes, chunkSizeInBytes);
        if (b.crc32c != null && b.crc32c != combined) {
            throw new InvalidArgumentException("object " + key + ": crc32c " + Crc32c.hex(b.crc32c)
                    + " does not match its chunk checksums (expected: " + Crc32c.hex(combined) + ")");
        }
        this.crc32c = combined;
    }

    public static Builder builder(ObjectKey key, long sizeInBytes) {
        return new Builder().key(key).sizeInBytes(sizeInBytes);
    }

    public Builder toBuilder() {
        return new Builder().key(key).sizeInBytes(sizeInBytes).chunkSizeInBytes(chunkSizeInBytes)
                .chunkCrc32c(chunkCrc32c).crc32c(crc32c).createdAt(createdAt).contentType(contentType)
                .userMetadata(userMetadata);
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
        return chunkCrc32c.length;
    }

    /** CRC32C of chunk {@code index}. */
    public int chunkCrc32c(int index) {
        Objects.checkIndex(index, chunkCrc32c.length);
        return chunkCrc32c[index];
    }

    /** A copy of all chunk CRC32Cs. */
    public int[] chunkCrc32cs() {
        return chunkCrc32c.clone();
    }

    /** CRC32C of the whole object. */
    public int crc32c() {
        return crc32c;
    }

    public Instant createdAt() {
        return createdAt;
    }

    public String contentType() {
        return contentType;
    }

    /** Unmodifiable, in insertion order. */
    public Map<String, String> userMetadata() {
        return userMetadata;
    }

    /** Offset of chunk {@code index} from the start of the object. */
    public long chunkOffset(int index) {
        Objects.checkIndex(index, chunkCrc32c.length);
        return (long) index * chunkSizeInBytes;
    }

    /** Length of chunk {@code index}: the chunk size, or less for the last chunk. */
    public int chunkLength(int index) {
        return chunkLength(sizeInBytes, chunkSizeInBytes, index);
    }

    /** The chunk that holds byte {@code offset}. */
    public int chunkIndexOf(long offset) {
        if (offset < 0 || offset >= sizeInBytes) {
            throw InvalidArgumentException.of("offset", offset, "0.." + (sizeInBytes - 1) + " in object " + key);
        }
        return (int) (offset / chunkSizeInBytes);
    }

    /** Whether two infos describe the same bytes: same size, chunking and checksums. */
    public boolean sameContentAs(ObjectInfo other) {
        return sizeInBytes == other.sizeInBytes && chunkSizeInBytes == other.chunkSizeInBytes
               && crc32c == other.crc32c && Arrays.equals(chunkCrc32c, other.chunkCrc32c);
    }

    /** Number of chunks for an object of {@code sizeInBytes} cut into {@code chunkSizeInBytes}. */
    public static int chunkCount(long sizeInBytes, int chunkSizeInBytes) {
        long count = (requireSize(sizeInBytes) + requireChunkSize(chunkSizeInBytes) - 1) / chunkSizeInBytes;
        if (count > Integer.MAX_VALUE) {
            throw InvalidArgumentException.of("sizeInBytes", sizeInBytes,
                    "at most " + Integer.MAX_VALUE + " chunks of " + chunkSizeInBytes + " bytes");
        }
        return (int) count;
    }

    /** Length of chunk {@code index} of an object of {@code sizeInBytes}. */
    public static int chunkLength(long sizeInBytes, int chunkSizeInBytes, int index) {
        Objects.checkIndex(index, chunkCount(sizeInBytes, chunkSizeInBytes));
        return (int) Math.min(chunkSizeInBytes, sizeInBytes - (long) index * chunkSizeInBytes);
    }

    static long requireSize(long sizeInBytes) {
        if (sizeInBytes < 0) {
            throw InvalidArgumentException.of("sizeInBytes", sizeInBytes, ">= 0");
        }
        return sizeInBytes;
    }

    /** Validates a chunk size: a multiple of 4096 from 4 KiB to 256 MiB. */
    public static int requireChunkSize(int chunkSizeInBytes) {
        if (chunkSizeInBytes < MIN_CHUNK_SIZE_IN_BYTES || chunkSizeInBytes > MAX_CHUNK_SIZE_IN_BYTES
            || chunkSizeInBytes % MIN_CHUNK_SIZE_IN_BYTES != 0) {
            throw InvalidArgumentException.of("chunkSizeInBytes", chunkSizeInBytes,
                    "a multiple of 4096 from " + MIN_CHUNK_SIZE_IN_BYTES + " to " + MAX_CHUNK_SIZE_IN_BYTES);
        }
        return chunkSizeInBytes;
    }

    static String requireContentType(String contentType) {
        Objects.requireNonNull(contentType, "contentType");
        if (!CONTENT_TYPE.matcher(contentType).matches()) {
            throw InvalidArgumentException.of("contentType", '"' + contentType + '"',
                    "1..255 printable ASCII characters, e.g. application/octet-stream");
        }
        return contentType;
    }

    static Map<String, String> requireUserMetadata(Map<String, String> metadata) {
        Objects.requireNonNull(metadata, "userMetadata");
        int bytes = 0;
        for (Map.Entry<String, String> e : metadata.entrySet()) {
            String name = Objects.requireNonNull(e.getKey(), "userMetadata name");
            String value = Objects.requireNonNull(e.getValue(), "userMetadata value of " + name);
            if (!METADATA_NAME.matcher(name).matches()) {
                throw InvalidArgumentException.of("userMetadata name", '"' + name + '"',
                        "1..128 characters from A-Z a-z 0-9 . _ -");
            }
            for (int i = 0; i < value.length(); i++) {
                if (value.charAt(i) < 0x20 || value.charAt(i) == 0x7f) {
                    throw InvalidArgumentException.of("userMetadata value of " + name, '"' + value + '"',
                            "no control characters");
                }
            }
            bytes += name.getBytes(StandardCharsets.UTF_8).length + value.getBytes(StandardCharsets.UTF_8).length;
        }
        if (bytes > MAX_USER_METADATA_BYTES) {
            throw InvalidArgumentException.of("userMetadata", bytes + " bytes", "at most " + MAX_USER_METADATA_BYTES);
        }
        return Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ObjectInfo other && key.equals(other.key) && sameContentAs(other)
               && createdAt.equals(other.createdAt) && contentType.equals(other.contentType)
               && userMetadata.equals(other.userMetadata);
    }

    @Override
    public int hashCode() {
        return Objects.hash(key, sizeInBytes, crc32c, createdAt);
    }

    @Override
    public String toString() {
        return "ObjectInfo[key=" + key + ", size=" + sizeInBytes + ", chunkSize=" + chunkSizeInBytes
               + ", chunks=" + chunkCrc32c.length + ", crc32c=" + Crc32c.hex(crc32c) + ", createdAt=" + createdAt
               + ", contentType=" + contentType + ", userMetadata=" + userMetadata + "]";
    }

    /** Builds an {@link ObjectInfo}; not thread-safe. */
    public static final class Builder {
        private ObjectKey key;
        private long sizeInBytes;
        private int chunkSizeInBytes = DEFAULT_CHUNK_SIZE_IN_BYTES;
        private int[] chunkCrc32c;
        private Integer crc32c;
        private Instant createdAt = Instant.now();
        private String contentType = DEFAULT_CONTENT_TYPE;
        private Map<String, String> userMetadata = Map.of();

        private Builder() {
        }

        public Builder key(ObjectKey key) {
            this.key = key;
            return this;
        }

        public Builder sizeInBytes(long sizeInBytes) {
            this.sizeInBytes = sizeInBytes;
            return this;
        }

        public Builder chunkSizeInBytes(int chunkSizeInBytes) {
            this.chunkSizeInBytes = chunkSizeInBytes;
            return this;
        }

        public Builder chunkCrc32c(int[] chunkCrc32c) {
            this.chunkCrc32c = chunkCrc32c.clone();
            return this;
        }

        /** Optional: when set, it must equal the combination of the chunk checksums. */
        public Builder crc32c(int crc32c) {
            this.crc32c = crc32c;
            return this;
        }

        public Builder createdAt(Instant createdAt) {
            this.createdAt = createdAt;
            return this;
        }

        public Builder contentType(String contentType) {
            this.contentType = contentType;
            return this;
        }

        public Builder userMetadata(Map<String, String> userMetadata) {
            this.userMetadata = userMetadata;
            return this;
        }

        /** @throws InvalidArgumentException naming the first invalid field */
        public ObjectInfo build() {
            return new ObjectInfo(this);
        }
    }
}
