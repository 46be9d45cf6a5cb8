package io.thermocline.tier.support;

import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The binary form of an {@link ObjectInfo}, stored beside an object's bytes by every tier that
 * cannot keep it elsewhere (the local tier's file trailer, the S3 tier's checksum object).
 *
 * <pre>
 * Record (little-endian)
 *   0        4       6       8               16           20           24          28
 *   +--------+-------+-------+---------------+------------+------------+-----------+
 *   | MAGIC  | major | minor | sizeInBytes   | chunkSize  | chunkCount | crc32c    |
 *   +--------+-------+-------+---------------+------------+------------+-----------+
 *   28             36             40            44          48
 *   +--------------+--------------+-------------+-----------+
 *   | createdSecs  | createdNanos | keyLength   | ctLength  |
 *   +--------------+--------------+-------------+-----------+
 *   48            52
 *   +-------------+----------------+-------------------+----------------------+-------------------------+
 *   | mdCount     | key (UTF-8)    | contentType(ASCII)| chunk CRC32C x count | mdCount x (u32 nameLen, |
 *   |             |                |                   | (u32 each)           | name, u32 valueLen, val)|
 *   +-------------+----------------+-------------------+----------------------+-------------------------+
 * </pre>
 *
 * <p>A reader rejects another major version; minor versions only append fields. Decoding checks
 * every length against the bytes that remain, so a damaged record fails with
 * {@link MalformedRecordException} instead of allocating or reading out of bounds.
 */
public final class ObjectInfoCodec {

    /** "TCLO" read as a little-endian int. */
    public static final int MAGIC = 0x4f4c4354;
    public static final short MAJOR_VERSION = 1;
    public static final short MINOR_VERSION = 0;

    public static final int MAGIC_OFFSET = 0;
    public static final int MAJOR_OFFSET = MAGIC_OFFSET + Integer.BYTES;
    public static final int MINOR_OFFSET = MAJOR_OFFSET + Short.BYTES;
    public static final int SIZE_OFFSET = MINOR_OFFSET + Short.BYTES;
    public static final int CHUNK_SIZE_OFFSET = SIZE_OFFSET + Long.BYTES;
    public static final int CHUNK_COUNT_OFFSET = CHUNK_SIZE_OFFSET + Integer.BYTES;
    public static final int CRC_OFFSET = CHUNK_COUNT_OFFSET + Integer.BYTES;
    public static final int CREATED_SECONDS_OFFSET = CRC_OFFSET + Integer.BYTES;
    public static final int CREATED_NANOS_OFFSET = CREATED_SECONDS_OFFSET + Long.BYTES;
    public static final int KEY_LENGTH_OFFSET = CREATED_NANOS_OFFSET + Integer.BYTES;
    public static final int CONTENT_TYPE_LENGTH_OFFSET = KEY_LENGTH_OFFSET + Integer.BYTES;
    public static final int METADATA_COUNT_OFFSET = CONTENT_TYPE_LENGTH_OFFSET + Integer.BYTES;
    public static final int FIXED_LENGTH = METADATA_COUNT_OFFSET + Integer.BYTES;

    /** A record that cannot be decoded; {@link #offset()} is where, within the record. */
    public static final class MalformedRecordException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final long offset;

        MalformedRecordException(long offset, String found) {
            super(found);
            this.offset = offset;
        }

        public long offset() {
            return offset;
        }
    }

    private ObjectInfoCodec() {
    }

    /** Length of the record for an object with these descriptive fields. */
    public static int encodedLength(ObjectKey key, int chunkCount, String contentType, Map<String, String> userMetadata) {
        long length = FIXED_LENGTH + key.toUtf8().length + contentType.length() + 4L * chunkCount;
        for (Map.Entry<String, String> e : userMetadata.entrySet()) {
            length += 8L + utf8(e.getKey()).length + utf8(e.getValue()).length;
        }
        if (length > Integer.MAX_VALUE - 65536) {
            throw InvalidArgumentException.of("chunk count", chunkCount, "a checksum record under 2 GiB");
        }
        return (int) length;
    }

    public static int encodedLength(ObjectInfo info) {
        return encodedLength(info.key(), info.chunkCount(), info.contentType(), info.userMetadata());
    }

    /** Writes the record at {@code dst}'s position and advances it. */
    public static void encode(ObjectInfo info, ByteBuffer dst) {
        int length = encodedLength(info);
        ByteBuffer b = dst.slice(dst.position(), length).order(ByteOrder.LITTLE_ENDIAN);
        byte[] key = info.key().toUtf8();
        byte[] contentType = info.contentType().getBytes(StandardCharsets.US_ASCII);
        b.putInt(MAGIC).putShort(MAJOR_VERSION).putShort(MINOR_VERSION)
                .putLong(info.sizeInBytes()).putInt(info.chunkSizeInBytes()).putInt(info.chunkCount())
                .putInt(info.crc32c())
                .putLong(info.createdAt().getEpochSecond()).putInt(info.createdAt().getNano())
                .putInt(key.length).putInt(contentType.length).putInt(info.userMetadata().size())
                .put(key).put(contentType);
        for (int i = 0; i < info.chunkCount(); i++) {
            b.putInt(info.chunkCrc32c(i));
        }
        for (Map.Entry<String, String> e : info.userMetadata().entrySet()) {
            byte[] name = utf8(e.getKey());
            byte[] value = utf8(e.getValue());
            b.putInt(name.length).put(name).putInt(value.length).put(value);
        }
        if (b.position() != length) {
            throw new IllegalStateException("record is " + b.position() + " bytes, computed " + length);
        }
        dst.position(dst.position() + length);
    }

    /** The record as a new array. */
    public static byte[] encode(ObjectInfo info) {
        ByteBuffer b = ByteBuffer.allocate(encodedLength(info));
        encode(info, b);
        return b.array();
    }

    /**
     * Decodes a record; {@code record}'s remaining bytes are exactly the record. Does not move it.
     *
     * @throws MalformedRecordException naming the offset within the record and what was found
     */
    public static ObjectInfo decode(ByteBuffer record) {
        ByteBuffer b = record.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int start = b.position();
        if (b.remaining() < FIXED_LENGTH) {
            throw new MalformedRecordException(0, "record of " + b.remaining() + " bytes is shorter than " + FIXED_LENGTH);
        }
        int magic = b.getInt();
        if (magic != MAGIC) {
            throw new MalformedRecordException(MAGIC_OFFSET, String.format("magic is 0x%08x (expected 0x%08x)", magic, MAGIC));
        }
        short major = b.getShort();
        b.getShort(); // minor: later minors only append fields
        if (major != MAJOR_VERSION) {
            throw new MalformedRecordException(MAJOR_OFFSET, "major version " + major + " (this build reads " + MAJOR_VERSION + ")");
        }
        try {
            long size = b.getLong();
            int chunkSize = b.getInt();
            int chunkCount = b.getInt();
            int crc = b.getInt();
            long seconds = b.getLong();
            int nanos = b.getInt();
            int keyLength = b.getInt();
            int contentTypeLength = b.getInt();
            int metadataCount = b.getInt();
            ObjectKey key = ObjectKey.of(new String(bytes(b, keyLength), StandardCharsets.UTF_8));
            String contentType = new String(bytes(b, contentTypeLength), StandardCharsets.US_ASCII);
            if (chunkCount != ObjectInfo.chunkCount(size, chunkSize) || chunkCount > b.remaining() / 4) {
                throw new MalformedRecordException(CHUNK_COUNT_OFFSET,
                        "chunk count " + chunkCount + " does not fit size " + size + " and chunk size " + chunkSize);
            }
            int[] chunkCrc = new int[chunkCount];
            for (int i = 0; i < chunkCount; i++) {
                chunkCrc[i] = b.getInt();
            }
            Map<String, String> metadata = new LinkedHashMap<>();
            for (int i = 0; i < metadataCount; i++) {
                String name = new String(bytes(b, b.getInt()), StandardCharsets.UTF_8);
                metadata.put(name, new String(bytes(b, b.getInt()), StandardCharsets.UTF_8));
            }
            return ObjectInfo.builder(key, size).chunkSizeInBytes(chunkSize).chunkCrc32c(chunkCrc).crc32c(crc)
                    .createdAt(Instant.ofEpochSecond(seconds, nanos)).contentType(contentType)
                    .userMetadata(metadata).build();
        } catch (MalformedRecordException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new MalformedRecordException(b.position() - start, "malformed record: " + e.getMessage());
        }
    }

    private static byte[] bytes(ByteBuffer b, int length) {
        if (length < 0 || length > b.remaining()) {
            throw new IllegalArgumentException("field length " + length + " exceeds the " + b.remaining() + " bytes left");
        }
        byte[] out = new byte[length];
        b.get(out);
        return out;
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
