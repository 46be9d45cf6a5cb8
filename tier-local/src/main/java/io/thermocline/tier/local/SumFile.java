package io.thermocline.tier.local;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.support.ObjectInfoCodec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The checksum record of one object: a small sidecar file {@code root/sums/xx/<sha-256 of key>.sum}
 * beside (not inside) the object's plain file, so that the object file holds exactly the object's
 * bytes. All integers little-endian.
 *
 * <pre>
 *  0        8      9         10       12             16      24      32             40            40+n
 *  +--------+------+---------+--------+--------------+-------+-------+--------------+-------------+--------+
 *  | magic  |state |location |reserved| recordLength | inode | size  | mtime (ns)   | record (n)  | CRC32C |
 *  +--------+------+---------+--------+--------------+-------+-------+--------------+-------------+--------+
 * </pre>
 *
 * <ul>
 *   <li>magic: the 8 bytes {@code TCLSUM01};</li>
 *   <li>state: 1 = committed (inode, size and mtime identify the data file as it was published);
 *       2 = converting (a data file of the old self-describing format is being moved into the plain
 *       layout; inode, size and mtime are not yet known and are zero);</li>
 *   <li>location: 0 = the object is the plain file {@code root/files/<key>}; 1 = it has an escaped
 *       name, {@code root/escaped/xx/<sha-256 of key>} (see {@link KeyPaths});</li>
 *   <li>record: an {@link ObjectInfoCodec} record (key, size, chunk size, chunk CRC32Cs, ...);</li>
 *   <li>CRC32C of every byte before it.</li>
 * </ul>
 */
final class SumFile {

    static final byte[] MAGIC = "TCLSUM01".getBytes(StandardCharsets.US_ASCII);
    static final int STATE_COMMITTED = 1;
    static final int STATE_CONVERTING = 2;
    static final int LOCATION_PLAIN = 0;
    static final int LOCATION_ESCAPED = 1;
    static final int HEADER_LENGTH = 40;
    static final int MAX_LENGTH = 64 << 20;

    /** What identifies a data file as the one a record was made for. */
    record Identity(long inode, long size, long mtimeNanos) {
        static final Identity UNKNOWN = new Identity(0, 0, 0);
    }

    /** A decoded sidecar. */
    record Sum(int state, boolean escaped, Identity identity, ObjectInfo info, int recordLength) {
    }

    private SumFile() {
    }

    /** Length of a sidecar holding a record of {@code recordLength} bytes. */
    static int length(int recordLength) {
        return HEADER_LENGTH + recordLength + Integer.BYTES;
    }

    /** Bytes an object takes on disk: its data rounded up to 4 KiB, and its sidecar rounded up. */
    static long footprint(long sizeInBytes, int recordLength) {
        return ObjectFileFormat.alignUp(sizeInBytes) + ObjectFileFormat.alignUp(length(recordLength));
    }

    static ByteBuffer encode(int state, boolean escaped, Identity id, ObjectInfo info) {
        int recordLength = ObjectInfoCodec.encodedLength(info);
        ByteBuffer b = ByteBuffer.allocate(length(recordLength)).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).put((byte) state).put((byte) (escaped ? LOCATION_ESCAPED : LOCATION_PLAIN)).putShort((short) 0)
                .putInt(recordLength).putLong(id.inode()).putLong(id.size()).putLong(id.mtimeNanos());
        ObjectInfoCodec.encode(info, b);
        b.putInt(Crc32c.of(b.duplicate().flip()));
        return b.flip();
    }

    /**
     * Decodes a whole sidecar.
     *
     * @throws CorruptObjectFileException naming the file, the offset and what was found
     */
    static Sum decode(ByteBuffer whole, String resource) {
        ByteBuffer b = whole.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int length = b.remaining();
        if (length < HEADER_LENGTH + ObjectInfoCodec.FIXED_LENGTH + Integer.BYTES) {
            throw new CorruptObjectFileException(resource, 0, "record file is " + length + " bytes, too short");
        }
        byte[] magic = new byte[MAGIC.length];
        b.get(0, magic);
        if (!java.util.Arrays.equals(magic, MAGIC)) {
            throw new CorruptObjectFileException(resource, 0, "magic is not TCLSUM01");
        }
        int expectedCrc = b.getInt(length - Integer.BYTES);
        int actualCrc = Crc32c.of(b.slice(0, length - Integer.BYTES));
        if (expectedCrc != actualCrc) {
            throw new CorruptObjectFileException(resource, length - Integer.BYTES, String.format(
                    "CRC32C is 0x%08x, the record says 0x%08x", actualCrc, expectedCrc));
        }
        int state = b.get(8);
        int location = b.get(9);
        int recordLength = b.getInt(12);
        if ((state != STATE_COMMITTED && state != STATE_CONVERTING)
            || (location != LOCATION_PLAIN && location != LOCATION_ESCAPED)
            || recordLength != length - HEADER_LENGTH - Integer.BYTES) {
            throw new CorruptObjectFileException(resource, 8, "state " + state + ", location " + location
                    + ", record length " + recordLength + " in a file of " + length + " bytes");
        }
        Identity id = new Identity(b.getLong(16), b.getLong(24), b.getLong(32));
        ObjectInfo info;
        try {
            info = ObjectInfoCodec.decode(b.slice(HEADER_LENGTH, recordLength).order(ByteOrder.LITTLE_ENDIAN));
        } catch (ObjectInfoCodec.MalformedRecordException e) {
            throw new CorruptObjectFileException(resource, HEADER_LENGTH + e.offset(), e.getMessage());
        }
        return new Sum(state, location == LOCATION_ESCAPED, id, info, recordLength);
    }
}
