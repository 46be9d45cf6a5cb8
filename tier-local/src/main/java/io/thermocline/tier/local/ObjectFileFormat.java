package io.thermocline.tier.local;

import io.thermocline.tier.Crc32c;
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
 * The layout of one object file. The file is self-describing, so the object directory alone
 * rebuilds the tier's index after a crash; the object's bytes start at offset 0 so they can be
 * read with O_DIRECT at their own offsets.
 *
 * <pre>
 *  0                      size        dataEnd = alignUp(size, 4096)              fileEnd
 *  +----------------------+-----------+--------------------------+--------+---------+
 *  | object bytes         | zero pad  | trailer record           |zero pad| footer  |
 *  +----------------------+-----------+--------------------------+--------+---------+
 *                                      fileEnd is a multiple of 4096; the footer is its last 16 bytes
 *
 * Trailer record (little-endian), starting at dataEnd:
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
 *
 * Footer (last 16 bytes of the file):
 *   0                 8                12                 16
 *   +-----------------+----------------+------------------+
 *   | trailerOffset   | recordLength   | CRC32C(record)   |
 *   +-----------------+----------------+------------------+
 * </pre>
 *
 * <p>A reader rejects a different major version; minor versions only append fields.
 */
final class ObjectFileFormat {

    static final int ALIGNMENT = 4096;
    /** "TCLO" read as a little-endian int. */
    static final int MAGIC = 0x4f4c4354;
    static final short MAJOR_VERSION = 1;
    static final short MINOR_VERSION = 0;

    static final int MAGIC_OFFSET = 0;
    static final int MAJOR_OFFSET = MAGIC_OFFSET + Integer.BYTES;
    static final int MINOR_OFFSET = MAJOR_OFFSET + Short.BYTES;
    static final int SIZE_OFFSET = MINOR_OFFSET + Short.BYTES;
    static final int CHUNK_SIZE_OFFSET = SIZE_OFFSET + Long.BYTES;
    static final int CHUNK_COUNT_OFFSET = CHUNK_SIZE_OFFSET + Integer.BYTES;
    static final int CRC_OFFSET = CHUNK_COUNT_OFFSET + Integer.BYTES;
    static final int CREATED_SECONDS_OFFSET = CRC_OFFSET + Integer.BYTES;
    static final int CREATED_NANOS_OFFSET = CREATED_SECONDS_OFFSET + Long.BYTES;
    static final int KEY_LENGTH_OFFSET = CREATED_NANOS_OFFSET + Integer.BYTES;
    static final int CONTENT_TYPE_LENGTH_OFFSET = KEY_LENGTH_OFFSET + Integer.BYTES;
    static final int METADATA_COUNT_OFFSET = CONTENT_TYPE_LENGTH_OFFSET + Integer.BYTES;
    static final int FIXED_LENGTH = METADATA_COUNT_OFFSET + Integer.BYTES;

    static final int FOOTER_TRAILER_OFFSET_OFFSET = 0;
    static final int FOOTER_RECORD_LENGTH_OFFSET = FOOTER_TRAILER_OFFSET_OFFSET + Long.BYTES;
    static final int FOOTER_CRC_OFFSET = FOOTER_RECORD_LENGTH_OFFSET + Integer.BYTES;
    static final int FOOTER_LENGTH = FOOTER_CRC_OFFSET + Integer.BYTES;

    private ObjectFileFormat() {
    }

    static long alignUp(long value) {
        return (value + ALIGNMENT - 1) & -ALIGNMENT;
    }

    static long alignDown(long value) {
        return value & -ALIGNMENT;
    }

    /** Length of the trailer record for an object with these descriptive fields. */
    static int recordLength(ObjectKey key, int chunkCount, String contentType, Map<String, String> userMetadata) {
        long length = FIXED_LENGTH + key.toUtf8().length + contentType.length() + 4L * chunkCount;
        for (Map.Entry<String, String> e : userMetadata.entrySet()) {
            length += 8L + utf8(e.getKey()).length + utf8(e.getValue()).length;
        }
        if (length > Integer.MAX_VALUE - ALIGNMENT) {
            throw InvalidArgumentException.of("chunk count", chunkCount, "a trailer under 2 GiB");
        }
        return (int) length;
    }

    /** Bytes the file occupies: data rounded up, plus the trailer and footer rounded up. */
    static long footprint(long sizeInBytes, int recordLength) {
        return alignUp(sizeInBytes) + alignUp((long) recordLength + FOOTER_LENGTH);
    }

    /**
     * Encodes the trailer region (record, padding, footer) of an object into {@code dst}, which
     * must have {@code alignUp(recordLength + FOOTER_LENGTH)} bytes remaining. Advances its position.
     */
    static void writeTrailer(ObjectInfo info, ByteBuffer dst) {
        int start = dst.position();
        int recordLength = recordLength(info.key(), info.chunkCount(), info.contentType(), info.userMetadata());
        int regionLength = (int) alignUp((long) recordLength + FOOTER_LENGTH);
        ByteBuffer b = dst.slice(start, regionLength).order(ByteOrder.LITTLE_ENDIAN);
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
        if (b.position() != recordLength) {
            throw new IllegalStateException("trailer record is " + b.position() + " bytes, computed " + recordLength);
        }
        while (b.position() < regionLength - FOOTER_LENGTH) {
            b.put((byte) 0);
        }
        int recordCrc = Crc32c.of(b.slice(0, recordLength));
        b.putLong(alignUp(info.sizeInBytes())).putInt(recordLength).putInt(recordCrc);
        dst.position(start + regionLength);
    }

    /**
     * Reads the footer in the last 16 bytes of {@code lastBlock} (the file's last 4096 bytes) and
     * returns {@code [trailerOffset, recordLength, recordCrc]}, validated against the file length.
     */
    static long[] readFooter(ByteBuffer lastBlock, long fileLength, String resource) {
        ByteBuffer b = lastBlock.slice(lastBlock.limit() - FOOTER_LENGTH, FOOTER_LENGTH).order(ByteOrder.LITTLE_ENDIAN);
        long trailerOffset = b.getLong(FOOTER_TRAILER_OFFSET_OFFSET);
        int recordLength = b.getInt(FOOTER_RECORD_LENGTH_OFFSET);
        int recordCrc = b.getInt(FOOTER_CRC_OFFSET);
        if (fileLength % ALIGNMENT != 0 || trailerOffset < 0 || trailerOffset % ALIGNMENT != 0
            || recordLength < FIXED_LENGTH || trailerOffset + recordLength + FOOTER_LENGTH > fileLength) {
            throw new CorruptObjectFileException(resource, fileLength - FOOTER_LENGTH,
                    "footer says trailer at " + trailerOffset + " of " + recordLength + " bytes in a file of "
                    + fileLength + " bytes");
        }
        return new long[] {trailerOffset, recordLength, recordCrc & 0xffffffffL};
    }

    /** Decodes and checks a trailer record; {@code record} holds exactly the record bytes. */
    static ObjectInfo readRecord(ByteBuffer record, long trailerOffset, int expectedCrc, String resource) {
        int actualCrc = Crc32c.of(record);
        if (actualCrc != expectedCrc) {
            throw new CorruptObjectFileException(resource, trailerOffset, String.format(
                    "trailer CRC32C is 0x%08x, footer says 0x%08x", actualCrc, expectedCrc));
        }
        ByteBuffer b = record.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int magic = b.getInt();
        if (magic != MAGIC) {
            throw new CorruptObjectFileException(resource, trailerOffset,
                    String.format("trailer magic is 0x%08x (expected 0x%08x)", magic, MAGIC));
        }
        short major = b.getShort();
        b.getShort(); // minor: later minors only append fields
        if (major != MAJOR_VERSION) {
            throw new CorruptObjectFileException(resource, trailerOffset + MAJOR_OFFSET,
                    "object file major version " + major + " (this build reads " + MAJOR_VERSION + ")");
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
            if (alignUp(size) != trailerOffset) {
                throw new CorruptObjectFileException(resource, trailerOffset + SIZE_OFFSET,
                        "object size " + size + " does not end where the trailer starts (" + trailerOffset + ")");
            }
            ObjectKey key = ObjectKey.of(new String(bytes(b, keyLength), StandardCharsets.UTF_8));
            String contentType = new String(bytes(b, contentTypeLength), StandardCharsets.US_ASCII);
            if (chunkCount != ObjectInfo.chunkCount(size, chunkSize) || chunkCount > b.remaining() / 4) {
                throw new CorruptObjectFileException(resource, trailerOffset + CHUNK_COUNT_OFFSET,
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
        } catch (RuntimeException e) {
            if (e instanceof CorruptObjectFileException c) {
                throw c;
            }
            throw new CorruptObjectFileException(resource, trailerOffset, "malformed trailer: " + e.getMessage());
        }
    }

    private static byte[] bytes(ByteBuffer b, int length) {
        if (length < 0 || length > b.remaining()) {
            throw new IllegalArgumentException("field length " + length + " exceeds the " + b.remaining()
                    + " bytes left in the trailer");
        }
        byte[] out = new byte[length];
        b.get(out);
        return out;
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
