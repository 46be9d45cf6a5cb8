package io.thermocline.nvmeof.block;

import io.thermocline.tier.support.AlignedBufferPool;
import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.Crc32c;
import io.thermocline.tier.TierUnavailableException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The copy-on-write journal of the superblock: {@link Superblock#SLOT_COUNT} slots at the start
 * of the device, generation {@code g} in slot {@code (g - 1) % SLOT_COUNT}. A new generation
 * goes into the slot after the newest valid one and is flushed before it is trusted, so a
 * write torn by a crash leaves the previous generation intact; open takes the newest slot that
 * passes every check.
 *
 * <p>What a slot may be:
 * <ul>
 *   <li><b>blank</b>: all of its first bytes are zero (never written, or cleared by format);</li>
 *   <li><b>valid</b>: right magic, major version {@value Superblock#MAJOR_VERSION}, a checked
 *       length within the slot, a matching CRC32C and fields in range;</li>
 *   <li><b>damaged</b>: anything else that does not carry our magic and major version — a torn
 *       or rotten write, or another format's data; ignored when another slot is valid;</li>
 *   <li><b>foreign version</b>: our magic with another major version. Never ignored: falling
 *       back to an older generation of ours would silently undo what a newer build wrote, so
 *       open fails. Magic and version share the first logical block, which is written
 *       atomically, so a torn write cannot produce this.</li>
 * </ul>
 *
 * <p>Blocking; called at format, open and close.
 */
final class SuperblockJournal {

    private SuperblockJournal() {
    }

    /** What one slot holds. */
    sealed interface SlotReading permits Blank, Valid, Damaged, ForeignVersion {
        int slot();
    }

    record Blank(int slot) implements SlotReading {
    }

    record Valid(int slot, Superblock superblock) implements SlotReading {
    }

    /** @param carriesMagic whether the slot starts with this format's magic (a damaged superblock of ours) */
    record Damaged(int slot, String reason, boolean carriesMagic) implements SlotReading {
    }

    record ForeignVersion(int slot, int major, int minor) implements SlotReading {
    }

    /** Reads and classifies every slot. */
    static List<SlotReading> readAll(BlockDevice device, AlignedBufferPool buffers) {
        int slotLength = Superblock.slotLength(device.blockSizeInBytes());
        List<SlotReading> out = new ArrayList<>(Superblock.SLOT_COUNT);
        ByteBuffer buf = buffers.acquire(slotLength);
        try {
            for (int slot = 0; slot < Superblock.SLOT_COUNT; slot++) {
                long offset = Superblock.slotOffset(slot, device.blockSizeInBytes());
                if (offset + slotLength > device.sizeInBytes()) {
                    out.add(new Damaged(slot, "slot at offset " + offset + " lies beyond the end of the device ("
                            + device.sizeInBytes() + " bytes)", false));
                    continue;
                }
                buf.clear().limit(slotLength);
                int index = slot;
                DeviceIo.await(device.read(offset, buf), () -> "read of superblock slot " + index + " of " + device.name());
                out.add(classify(slot, buf.flip()));
            }
        } finally {
            buffers.release(buf);
        }
        return out;
    }

    /** Classifies the bytes of one slot (position 0, limit the slot length). */
    static SlotReading classify(int slot, ByteBuffer bytes) {
        ByteBuffer b = bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long magic = b.getLong(Superblock.MAGIC_OFFSET);
        if (magic != Superblock.MAGIC) {
            if (isZero(b, Superblock.RECORD_LENGTH)) {
                return new Blank(slot);
            }
            return new Damaged(slot, String.format("magic 0x%016x (expected 0x%016x)", magic, Superblock.MAGIC), false);
        }
        int major = Short.toUnsignedInt(b.getShort(Superblock.MAJOR_OFFSET));
        int minor = Short.toUnsignedInt(b.getShort(Superblock.MINOR_OFFSET));
        if (major != Superblock.MAJOR_VERSION) {
            return new ForeignVersion(slot, major, minor);
        }
        int checkedLength = b.getInt(Superblock.CHECKED_LENGTH_OFFSET);
        if (checkedLength < Superblock.RECORD_LENGTH || checkedLength > b.limit()) {
            return new Damaged(slot, "checked length " + checkedLength + " (expected " + Superblock.RECORD_LENGTH + ".."
                    + b.limit() + ")", true);
        }
        int stored = b.getInt(Superblock.CRC_OFFSET);
        int actual = Superblock.checksum(b, checkedLength);
        if (stored != actual) {
            return new Damaged(slot, "CRC32C " + Crc32c.hex(actual) + " of " + checkedLength + " bytes (expected "
                    + Crc32c.hex(stored) + " as recorded)", true);
        }
        try {
            return new Valid(slot, Superblock.decodeChecked(b));
        } catch (IllegalArgumentException e) {
            return new Damaged(slot, e.getMessage(), true);
        }
    }

    /** True if every slot is blank: the device has never been formatted (or was zeroed). */
    static boolean isBlank(List<SlotReading> slots) {
        return slots.stream().allMatch(s -> s instanceof Blank);
    }

    /**
     * The newest valid generation.
     *
     * @throws TierUnavailableException if a slot carries another major version, or none is valid;
     *         the message describes every slot
     */
    static Superblock newest(BlockDevice device, List<SlotReading> slots) {
        Superblock newest = null;
        for (SlotReading s : slots) {
            if (s instanceof ForeignVersion f) {
                throw new TierUnavailableException("superblock slot " + f.slot() + " of " + device.name() + " at offset "
                        + Superblock.slotOffset(f.slot(), device.blockSizeInBytes()) + " has layout version " + f.major()
                        + "." + f.minor() + " (this build reads major version " + Superblock.MAJOR_VERSION
                        + "); it was formatted or last written by another Thermocline version", false);
            }
            if (s instanceof Valid v && (newest == null || v.superblock().generation() > newest.generation())) {
                newest = v.superblock();
            }
        }
        if (newest != null) {
            return newest;
        }
        if (isBlank(slots)) {
            throw new TierUnavailableException("device " + device.name() + " is not formatted: all " + Superblock.SLOT_COUNT
                    + " superblock slots are blank (expected a device prepared by BlockTier.format)", false);
        }
        throw new TierUnavailableException("device " + device.name() + " has no valid superblock: " + describe(device, slots)
                + " (expected magic " + String.format("0x%016x", Superblock.MAGIC) + ", major version "
                + Superblock.MAJOR_VERSION + " and a matching CRC32C in at least one slot)", false);
    }

    /** One line per slot, for messages. */
    static String describe(BlockDevice device, List<SlotReading> slots) {
        StringBuilder out = new StringBuilder();
        for (SlotReading s : slots) {
            if (!out.isEmpty()) {
                out.append("; ");
            }
            out.append("slot ").append(s.slot()).append(" at offset ")
                    .append(Superblock.slotOffset(s.slot(), device.blockSizeInBytes())).append(": ");
            switch (s) {
                case Blank b -> out.append("blank");
                case Valid v -> out.append("generation ").append(v.superblock().generation());
                case Damaged d -> out.append(d.reason());
                case ForeignVersion f -> out.append("version ").append(f.major()).append('.').append(f.minor());
            }
        }
        return out.toString();
    }

    /** Writes {@code superblock} into its slot and flushes the device: the generation is durable on return. */
    static void write(BlockDevice device, AlignedBufferPool buffers, Superblock superblock) {
        int slotLength = Superblock.slotLength(device.blockSizeInBytes());
        long offset = Superblock.slotOffset(superblock.slot(), device.blockSizeInBytes());
        ByteBuffer buf = buffers.acquire(slotLength);
        try {
            superblock.encode(buf.clear().limit(slotLength));
            DeviceIo.await(device.write(offset, buf), () -> "write of superblock generation " + superblock.generation()
                    + " to slot " + superblock.slot() + " of " + device.name());
            DeviceIo.await(device.flush(), () -> "flush after superblock generation " + superblock.generation()
                    + " of " + device.name());
        } finally {
            buffers.release(buf);
        }
    }

    /** Zeroes every slot, then flushes: afterwards the device reads as never formatted. */
    static void clear(BlockDevice device) {
        long length = (long) Superblock.SLOT_COUNT * Superblock.slotLength(device.blockSizeInBytes());
        DeviceIo.await(device.writeZeroes(0, length), () -> "clearing the superblock slots of " + device.name());
        DeviceIo.await(device.flush(), () -> "flush of " + device.name());
    }

    private static boolean isZero(ByteBuffer b, int length) {
        for (int i = 0; i < length; i++) {
            if (b.get(i) != 0) {
                return false;
            }
        }
        return true;
    }
}
