package io.thermocline.nvmeof.block;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.support.ObjectInfoCodec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * One committed object in the catalog: its {@link ObjectInfo} and the extents that hold its bytes.
 *
 * <pre>
 * Value in the "objects" column family (little-endian)
 *   0         2         4              8
 *   +---------+---------+--------------+---------------------------------+
 *   | VERSION | FLAGS   | EXTENT_COUNT | EXTENT_COUNT x (START_UNIT u64, |
 *   | (1)     | (0)     |              |                 UNIT_COUNT u64) |
 *   +---------+---------+--------------+---------------------------------+
 *   8 + 16 x EXTENT_COUNT
 *   +----------------------------------------------+--------+
 *   | ObjectInfoCodec record (key, size, chunk     | CRC32C |
 *   | CRC32Cs, times, content type, metadata)      |        |
 *   +----------------------------------------------+--------+
 *   CRC32C: over every byte before it.
 * </pre>
 *
 * @param info the object's info
 * @param extents the extents in the order the object fills them; empty for an empty object
 */
record CatalogEntry(ObjectInfo info, List<Extent> extents) {

    static final short VERSION = 1;
    static final int VERSION_OFFSET = 0;
    static final int FLAGS_OFFSET = VERSION_OFFSET + Short.BYTES;
    static final int EXTENT_COUNT_OFFSET = FLAGS_OFFSET + Short.BYTES;
    static final int EXTENTS_OFFSET = EXTENT_COUNT_OFFSET + Integer.BYTES;
    static final int EXTENT_LENGTH = 2 * Long.BYTES;

    CatalogEntry {
        extents = List.copyOf(extents);
    }

    /** A value that cannot be decoded; the message says where and what. */
    static final class MalformedEntryException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        MalformedEntryException(String message) {
            super(message);
        }
    }

    long unitCount() {
        long n = 0;
        for (Extent e : extents) {
            n += e.unitCount();
        }
        return n;
    }

    byte[] encode() {
        int infoLength = ObjectInfoCodec.encodedLength(info);
        int length = EXTENTS_OFFSET + EXTENT_LENGTH * extents.size() + infoLength + Integer.BYTES;
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort(VERSION).putShort((short) 0).putInt(extents.size());
        for (Extent e : extents) {
            b.putLong(e.startUnit()).putLong(e.unitCount());
        }
        ObjectInfoCodec.encode(info, b);
        b.putInt(Crc32c.of(b.array(), 0, b.position()));
        return b.array();
    }

    /**
     * Decodes a value stored under {@code key}.
     *
     * @throws MalformedEntryException naming the offset and what was found
     */
    static CatalogEntry decode(ObjectKey key, byte[] value) {
        if (value.length < EXTENTS_OFFSET + Integer.BYTES) {
            throw new MalformedEntryException("entry of " + value.length + " bytes (expected at least "
                    + (EXTENTS_OFFSET + Integer.BYTES) + ")");
        }
        ByteBuffer b = ByteBuffer.wrap(value).order(ByteOrder.LITTLE_ENDIAN);
        int crcAt = value.length - Integer.BYTES;
        int stored = b.getInt(crcAt);
        int actual = Crc32c.of(value, 0, crcAt);
        if (stored != actual) {
            throw new MalformedEntryException("entry CRC32C " + Crc32c.hex(actual) + " (expected " + Crc32c.hex(stored)
                    + " as recorded at offset " + crcAt + ")");
        }
        short version = b.getShort(VERSION_OFFSET);
        if (version != VERSION) {
            throw new MalformedEntryException("entry version " + version + " at offset " + VERSION_OFFSET
                    + " (this build reads " + VERSION + ")");
        }
        int count = b.getInt(EXTENT_COUNT_OFFSET);
        if (count < 0 || count > (crcAt - EXTENTS_OFFSET) / EXTENT_LENGTH) {
            throw new MalformedEntryException("extent count " + count + " at offset " + EXTENT_COUNT_OFFSET
                    + " does not fit an entry of " + value.length + " bytes");
        }
        List<Extent> extents = new ArrayList<>(count);
        b.position(EXTENTS_OFFSET);
        for (int i = 0; i < count; i++) {
            long start = b.getLong();
            long units = b.getLong();
            try {
                extents.add(new Extent(start, units));
            } catch (IllegalArgumentException e) {
                throw new MalformedEntryException("extent " + i + " at offset " + (EXTENTS_OFFSET + i * EXTENT_LENGTH)
                        + ": " + e.getMessage());
            }
        }
        ObjectInfo info;
        try {
            info = ObjectInfoCodec.decode(b.slice(b.position(), crcAt - b.position()).order(ByteOrder.LITTLE_ENDIAN));
        } catch (ObjectInfoCodec.MalformedRecordException e) {
            throw new MalformedEntryException("object record at offset " + (b.position() + e.offset()) + ": " + e.getMessage());
        }
        if (!info.key().equals(key)) {
            throw new MalformedEntryException("object record names key " + info.key() + " (expected " + key + ")");
        }
        return new CatalogEntry(info, extents);
    }
}
