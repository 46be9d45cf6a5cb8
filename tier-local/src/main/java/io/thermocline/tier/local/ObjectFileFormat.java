package io.thermocline.tier.local;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.support.ObjectInfoCodec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;

/**
 * The former layout of one object file ({@code objects/xx/<sha-256 of key>.obj}), which
 * {@link LocalTier} now only reads, to convert such roots into plain files with a {@link SumFile}
 * sidecar at open; also the 4 KiB alignment helpers. The file was self-describing: the object's
 * bytes from offset 0, then a trailer.
 *
 * <pre>
 *  0                      size        dataEnd = alignUp(size, 4096)              fileEnd
 *  +----------------------+-----------+--------------------------+--------+---------+
 *  | object bytes         | zero pad  | trailer record           |zero pad| footer  |
 *  +----------------------+-----------+--------------------------+--------+---------+
 *                                      fileEnd is a multiple of 4096; the footer is its last 16 bytes
 *
 * Trailer record, starting at dataEnd: an {@link ObjectInfoCodec} record.
 *
 * Footer (last 16 bytes of the file):
 *   0                 8                12                 16
 *   +-----------------+----------------+------------------+
 *   | trailerOffset   | recordLength   | CRC32C(record)   |
 *   +-----------------+----------------+------------------+
 * </pre>
 *
 * <p>The record's own versioning is {@link ObjectInfoCodec}'s.
 */
final class ObjectFileFormat {

    static final int ALIGNMENT = 4096;
    static final int SIZE_OFFSET = ObjectInfoCodec.SIZE_OFFSET;

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
        return ObjectInfoCodec.encodedLength(key, chunkCount, contentType, userMetadata);
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
            || recordLength < ObjectInfoCodec.FIXED_LENGTH || trailerOffset + recordLength + FOOTER_LENGTH > fileLength) {
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
        ObjectInfo info;
        try {
            info = ObjectInfoCodec.decode(record);
        } catch (ObjectInfoCodec.MalformedRecordException e) {
            throw new CorruptObjectFileException(resource, trailerOffset + e.offset(), e.getMessage());
        }
        if (alignUp(info.sizeInBytes()) != trailerOffset) {
            throw new CorruptObjectFileException(resource, trailerOffset + SIZE_OFFSET, "object size "
                    + info.sizeInBytes() + " does not end where the trailer starts (" + trailerOffset + ")");
        }
        return info;
    }
}
