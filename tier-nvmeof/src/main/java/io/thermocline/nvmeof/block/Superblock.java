package io.thermocline.nvmeof.block;

import io.thermocline.tier.InvalidArgumentException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Objects;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * One generation of a {@link BlockTier}'s superblock: who the device belongs to, how its data
 * area is cut into allocation units, and which generation of the superblock journal this is.
 * Immutable; the bytes are laid out here and nowhere else.
 *
 * <pre>
 * Device
 *  +--------------------------------------------------------------+ 0
 *  | superblock slot 0 (SLOT_LENGTH = max(4096, block size))      |
 *  +--------------------------------------------------------------+ 1 x SLOT_LENGTH
 *  | superblock slot 1                                            |
 *  +--------------------------------------------------------------+ 2 x SLOT_LENGTH
 *  | unused up to the first allocation unit boundary              |
 *  +--------------------------------------------------------------+ DATA_OFFSET = alignUp(2 x SLOT_LENGTH, AU)
 *  | data area: UNIT_COUNT allocation units of ALLOCATION_UNIT    |
 *  | bytes; objects live in extents of whole units                |
 *  +--------------------------------------------------------------+ DATA_OFFSET + UNIT_COUNT x AU (&lt;= device size)
 *
 * Superblock record, at the start of its slot (little-endian; the rest of the slot is zeros)
 *   0                8        10       12              16       20       24
 *   +----------------+--------+--------+---------------+--------+--------+
 *   | MAGIC          | MAJOR  | MINOR  | CHECKED_LENGTH| CRC32C | STATE  |
 *   +----------------+--------+--------+---------------+--------+--------+
 *   24               32               40               48       52       56
 *   +----------------+----------------+----------------+--------+--------+
 *   | GENERATION     | UUID_HIGH      | UUID_LOW       | ALLOC_ | BLOCK_ |
 *   |                |                |                | UNIT   | SIZE   |
 *   +----------------+----------------+----------------+--------+--------+
 *   56               64               72               80               88               96               104
 *   +----------------+----------------+----------------+----------------+----------------+----------------+
 *   | DEVICE_SIZE    | DATA_OFFSET    | UNIT_COUNT     | FORMATTED_AT   | WRITTEN_AT     | OPEN_COUNT     |
 *   |                |                |                | (epoch millis) | (epoch millis) |                |
 *   +----------------+----------------+----------------+----------------+----------------+----------------+
 *   104      108                                    364
 *   +--------+--------------------------------------+
 *   | NQN_LEN| OWNER_NQN (256 bytes, UTF-8, zero-   |
 *   |        | padded; at most 223 bytes are used)  |
 *   +--------+--------------------------------------+ RECORD_LENGTH = 364
 *
 *   CRC32C: over bytes [0, CHECKED_LENGTH) of the slot with the CRC32C field itself taken as zero.
 *   CHECKED_LENGTH: RECORD_LENGTH of the minor version that wrote the slot; later minor versions
 *   only append fields, so an older reader still checks every byte the writer meant.
 * </pre>
 *
 * <p>The journal (see {@link SuperblockJournal}) writes generation {@code g} into slot
 * {@code (g - 1) % SLOT_COUNT}, so a new generation never overwrites the newest valid one. The
 * record fits in the first 512 bytes of its slot, one logical block on any device; NVMe
 * guarantees at least one logical block is written atomically across a power failure (NVMe Base
 * 2.0, Identify Controller AWUPF is a 0's based count of blocks), and the CRC32C catches
 * anything else that tears or rots a slot.
 *
 * @param majorVersion the layout's major version; a reader rejects any other
 * @param minorVersion the layout's minor version; later minors only append fields
 * @param generation the journal generation, 1 at format, +1 for every rewrite
 * @param deviceUuid the identity given to the device at format; the catalog records it
 * @param allocationUnitInBytes the size of one allocation unit
 * @param blockSizeInBytes the device's logical block size at format
 * @param deviceSizeInBytes the device's size at format
 * @param dataOffsetInBytes where the data area starts
 * @param unitCount the allocation units in the data area
 * @param formattedAt when the device was formatted
 * @param writtenAt when this generation was written
 * @param openCount how many times the tier has been opened on this device
 * @param state whether a tier had the device open when this generation was written
 * @param ownerHostNqn the NQN of the host that owns the device (NVMe Base 2.0 §4.5)
 */
public record Superblock(int majorVersion, int minorVersion, long generation, UUID deviceUuid,
                         int allocationUnitInBytes, int blockSizeInBytes, long deviceSizeInBytes,
                         long dataOffsetInBytes, long unitCount, Instant formattedAt, Instant writtenAt,
                         long openCount, State state, String ownerHostNqn) {

    /** "TCLBLKSB" read as a little-endian long. */
    public static final long MAGIC = 0x42534B4C424C4354L;
    public static final int MAJOR_VERSION = 1;
    public static final int MINOR_VERSION = 0;

    /** Superblock slots at the start of the device, written in turn. */
    public static final int SLOT_COUNT = 2;
    /** Smallest slot: 4 KiB, so that slots and the data area stay aligned for O_DIRECT. */
    public static final int MIN_SLOT_LENGTH = 4096;
    /** Longest NQN, in UTF-8 bytes (NVMe Base 2.0 §4.5). */
    public static final int MAX_NQN_LENGTH = 223;
    /** Bytes reserved for the NQN, as in the Fabrics Connect data (NVMe-oF 1.1 §3.3). */
    public static final int NQN_FIELD_LENGTH = 256;

    public static final int MAGIC_OFFSET = 0;
    public static final int MAJOR_OFFSET = MAGIC_OFFSET + Long.BYTES;
    public static final int MINOR_OFFSET = MAJOR_OFFSET + Short.BYTES;
    public static final int CHECKED_LENGTH_OFFSET = MINOR_OFFSET + Short.BYTES;
    public static final int CRC_OFFSET = CHECKED_LENGTH_OFFSET + Integer.BYTES;
    public static final int STATE_OFFSET = CRC_OFFSET + Integer.BYTES;
    public static final int GENERATION_OFFSET = STATE_OFFSET + Integer.BYTES;
    public static final int UUID_HIGH_OFFSET = GENERATION_OFFSET + Long.BYTES;
    public static final int UUID_LOW_OFFSET = UUID_HIGH_OFFSET + Long.BYTES;
    public static final int ALLOCATION_UNIT_OFFSET = UUID_LOW_OFFSET + Long.BYTES;
    public static final int BLOCK_SIZE_OFFSET = ALLOCATION_UNIT_OFFSET + Integer.BYTES;
    public static final int DEVICE_SIZE_OFFSET = BLOCK_SIZE_OFFSET + Integer.BYTES;
    public static final int DATA_OFFSET_OFFSET = DEVICE_SIZE_OFFSET + Long.BYTES;
    public static final int UNIT_COUNT_OFFSET = DATA_OFFSET_OFFSET + Long.BYTES;
    public static final int FORMATTED_AT_OFFSET = UNIT_COUNT_OFFSET + Long.BYTES;
    public static final int WRITTEN_AT_OFFSET = FORMATTED_AT_OFFSET + Long.BYTES;
    public static final int OPEN_COUNT_OFFSET = WRITTEN_AT_OFFSET + Long.BYTES;
    public static final int NQN_LENGTH_OFFSET = OPEN_COUNT_OFFSET + Long.BYTES;
    public static final int NQN_OFFSET = NQN_LENGTH_OFFSET + Integer.BYTES;
    public static final int RECORD_LENGTH = NQN_OFFSET + NQN_FIELD_LENGTH;

    /** Whether a tier had the device open when a generation was written. */
    public enum State {
        /** Written at open: a tier is (or was, if it crashed) using the device. */
        OPEN(1),
        /** Written by a clean close. */
        CLEAN(2);

        private final int code;

        State(int code) {
            this.code = code;
        }

        public int code() {
            return code;
        }

        static State of(int code) {
            for (State s : values()) {
                if (s.code == code) {
                    return s;
                }
            }
            return null;
        }
    }

    public Superblock {
        Objects.requireNonNull(deviceUuid, "deviceUuid");
        Objects.requireNonNull(formattedAt, "formattedAt");
        Objects.requireNonNull(writtenAt, "writtenAt");
        Objects.requireNonNull(state, "state");
        requireNqn(ownerHostNqn);
        if (generation < 1) {
            throw InvalidArgumentException.of("generation", generation, ">= 1");
        }
    }

    /** Length of a slot on a device with this logical block size. */
    public static int slotLength(int blockSizeInBytes) {
        return Math.max(MIN_SLOT_LENGTH, blockSizeInBytes);
    }

    /** Offset of superblock slot {@code slot}. */
    public static long slotOffset(int slot, int blockSizeInBytes) {
        Objects.checkIndex(slot, SLOT_COUNT);
        return (long) slot * slotLength(blockSizeInBytes);
    }

    /** The slot that holds generation {@code generation}. */
    public static int slotOf(long generation) {
        return (int) ((generation - 1) % SLOT_COUNT);
    }

    /** Where the data area starts: after every slot, rounded up to a whole allocation unit. */
    public static long dataOffset(int blockSizeInBytes, int allocationUnitInBytes) {
        long slots = (long) SLOT_COUNT * slotLength(blockSizeInBytes);
        return (slots + allocationUnitInBytes - 1) / allocationUnitInBytes * allocationUnitInBytes;
    }

    /** The slot this generation is written to. */
    public int slot() {
        return slotOf(generation);
    }

    /** Bytes of data the tier can place: {@code unitCount x allocationUnitInBytes}. */
    public long capacityInBytes() {
        return unitCount * allocationUnitInBytes;
    }

    /** The next generation: same identity and geometry, new state, owner and time. */
    Superblock next(State newState, String newOwner, boolean opening, Instant now) {
        return new Superblock(MAJOR_VERSION, MINOR_VERSION, generation + 1, deviceUuid, allocationUnitInBytes,
                blockSizeInBytes, deviceSizeInBytes, dataOffsetInBytes, unitCount, formattedAt, now,
                opening ? openCount + 1 : openCount, newState, newOwner);
    }

    /** The record in a zero-filled buffer of {@code slotLength} bytes (position 0, limit slotLength). */
    ByteBuffer encode(ByteBuffer slot) {
        byte[] nqn = ownerHostNqn.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = slot.order(ByteOrder.LITTLE_ENDIAN);
        b.put(0, new byte[b.limit()]);
        b.putLong(MAGIC_OFFSET, MAGIC)
                .putShort(MAJOR_OFFSET, (short) majorVersion)
                .putShort(MINOR_OFFSET, (short) minorVersion)
                .putInt(CHECKED_LENGTH_OFFSET, RECORD_LENGTH)
                .putInt(CRC_OFFSET, 0)
                .putInt(STATE_OFFSET, state.code())
                .putLong(GENERATION_OFFSET, generation)
                .putLong(UUID_HIGH_OFFSET, deviceUuid.getMostSignificantBits())
                .putLong(UUID_LOW_OFFSET, deviceUuid.getLeastSignificantBits())
                .putInt(ALLOCATION_UNIT_OFFSET, allocationUnitInBytes)
                .putInt(BLOCK_SIZE_OFFSET, blockSizeInBytes)
                .putLong(DEVICE_SIZE_OFFSET, deviceSizeInBytes)
                .putLong(DATA_OFFSET_OFFSET, dataOffsetInBytes)
                .putLong(UNIT_COUNT_OFFSET, unitCount)
                .putLong(FORMATTED_AT_OFFSET, formattedAt.toEpochMilli())
                .putLong(WRITTEN_AT_OFFSET, writtenAt.toEpochMilli())
                .putLong(OPEN_COUNT_OFFSET, openCount)
                .putInt(NQN_LENGTH_OFFSET, nqn.length)
                .put(NQN_OFFSET, nqn);
        b.putInt(CRC_OFFSET, checksum(b, RECORD_LENGTH));
        return b;
    }

    /** CRC32C of the first {@code checkedLength} bytes of a slot, with its CRC32C field as zero. */
    static int checksum(ByteBuffer slot, int checkedLength) {
        CRC32C crc = new CRC32C();
        crc.update(slot.duplicate().position(0).limit(CRC_OFFSET));
        crc.update(new byte[Integer.BYTES]);
        crc.update(slot.duplicate().position(CRC_OFFSET + Integer.BYTES).limit(checkedLength));
        return (int) crc.getValue();
    }

    /**
     * Decodes a slot whose magic, major version and checksum have been checked.
     *
     * @throws IllegalArgumentException naming the first field that is out of range
     */
    static Superblock decodeChecked(ByteBuffer slot) {
        ByteBuffer b = slot.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int stateCode = b.getInt(STATE_OFFSET);
        State state = State.of(stateCode);
        if (state == null) {
            throw new IllegalArgumentException("state " + stateCode + " at offset " + STATE_OFFSET
                    + " (expected " + State.OPEN.code() + " or " + State.CLEAN.code() + ")");
        }
        int nqnLength = b.getInt(NQN_LENGTH_OFFSET);
        if (nqnLength < 1 || nqnLength > MAX_NQN_LENGTH) {
            throw new IllegalArgumentException("owner NQN length " + nqnLength + " at offset " + NQN_LENGTH_OFFSET
                    + " (expected 1.." + MAX_NQN_LENGTH + ")");
        }
        byte[] nqn = new byte[nqnLength];
        b.get(NQN_OFFSET, nqn);
        try {
            return new Superblock(Short.toUnsignedInt(b.getShort(MAJOR_OFFSET)), Short.toUnsignedInt(b.getShort(MINOR_OFFSET)),
                    b.getLong(GENERATION_OFFSET), new UUID(b.getLong(UUID_HIGH_OFFSET), b.getLong(UUID_LOW_OFFSET)),
                    b.getInt(ALLOCATION_UNIT_OFFSET), b.getInt(BLOCK_SIZE_OFFSET), b.getLong(DEVICE_SIZE_OFFSET),
                    b.getLong(DATA_OFFSET_OFFSET), b.getLong(UNIT_COUNT_OFFSET),
                    Instant.ofEpochMilli(b.getLong(FORMATTED_AT_OFFSET)), Instant.ofEpochMilli(b.getLong(WRITTEN_AT_OFFSET)),
                    b.getLong(OPEN_COUNT_OFFSET), state, new String(nqn, StandardCharsets.UTF_8));
        } catch (InvalidArgumentException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    /**
     * Checks an NQN: starts with {@code nqn.}, 1..223 bytes of UTF-8 (NVMe Base 2.0 §4.5), no
     * control characters.
     *
     * @throws InvalidArgumentException naming the value and the rule
     */
    public static String requireNqn(String nqn) {
        Objects.requireNonNull(nqn, "host NQN");
        int length = nqn.getBytes(StandardCharsets.UTF_8).length;
        if (!nqn.startsWith("nqn.") || length > MAX_NQN_LENGTH || nqn.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
            throw InvalidArgumentException.of("host NQN", '"' + nqn + '"',
                    "nqn.<yyyy-mm>.<reverse domain>:<name> or nqn.2014-08.org.nvmexpress:uuid:<uuid>, at most "
                    + MAX_NQN_LENGTH + " bytes of UTF-8 without control characters (NVMe Base 2.0 §4.5)");
        }
        return nqn;
    }

    @Override
    public String toString() {
        return "Superblock[v" + majorVersion + "." + minorVersion + " generation " + generation + ", uuid " + deviceUuid
               + ", allocation unit " + allocationUnitInBytes + ", block " + blockSizeInBytes + ", data at "
               + dataOffsetInBytes + " x " + unitCount + " units, " + state + ", opened " + openCount + " times, owner "
               + ownerHostNqn + ", written " + writtenAt + "]";
    }
}
