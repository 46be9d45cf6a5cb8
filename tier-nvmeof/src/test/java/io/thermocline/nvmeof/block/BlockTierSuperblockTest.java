package io.thermocline.nvmeof.block;

import io.thermocline.tier.support.AlignedBufferPool;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.local.FileBlockDevice;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The superblock journal, the layout version, device identity and ownership. */
class BlockTierSuperblockTest {

    private static final String HOST_A = "nqn.2014-08.org.nvmexpress:uuid:0d3a7f5e-1b0c-4a52-8e57-7a9a0c51f001";
    private static final String HOST_B = "nqn.2024-01.io.thermocline:host-b";
    private static final int AU = 64 * 1024;
    private static final long DEVICE_SIZE = 4L << 20;

    @TempDir
    Path dir;
    private final List<AutoCloseable> open = new ArrayList<>();
    private final AlignedBufferPool buffers = new AlignedBufferPool(2);

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open.reversed()) {
            c.close();
        }
    }

    private BlockDevice device(String name, int block) {
        BlockDevice d = FileBlockDevice.open(dir.resolve(name), FileBlockDevice.options().sizeInBytes(DEVICE_SIZE).blockSizeInBytes(block));
        open.add(d);
        return d;
    }

    private BlockTierConfig.Builder config(String catalog, String host) {
        return BlockTierConfig.builder(dir.resolve(catalog), host).allocationUnitInBytes(AU);
    }

    private BlockTier track(BlockTier tier) {
        open.add(tier);
        return tier;
    }

    private Superblock slot(BlockDevice device, int slot) {
        SuperblockJournal.SlotReading reading = SuperblockJournal.readAll(device, buffers).get(slot);
        return assertInstanceOf(SuperblockJournal.Valid.class, reading, "slot " + slot + ": " + reading).superblock();
    }

    /** The raw bytes of a slot. */
    private ByteBuffer rawSlot(BlockDevice device, int slot) {
        ByteBuffer b = ByteBuffer.allocate(Superblock.slotLength(device.blockSizeInBytes())).order(ByteOrder.LITTLE_ENDIAN);
        device.read(Superblock.slotOffset(slot, device.blockSizeInBytes()), b).join();
        return b.flip();
    }

    private void writeSlot(BlockDevice device, int slot, ByteBuffer bytes) {
        device.write(Superblock.slotOffset(slot, device.blockSizeInBytes()), bytes.duplicate().clear()).join();
        device.flush().join();
    }

    @Test
    void layout_offsetsAreTheOnesTheDiagramShows_andTheRecordFitsOneSector() {
        assertEquals(8, Superblock.MAJOR_OFFSET);
        assertEquals(12, Superblock.CHECKED_LENGTH_OFFSET);
        assertEquals(16, Superblock.CRC_OFFSET);
        assertEquals(20, Superblock.STATE_OFFSET);
        assertEquals(24, Superblock.GENERATION_OFFSET);
        assertEquals(32, Superblock.UUID_HIGH_OFFSET);
        assertEquals(48, Superblock.ALLOCATION_UNIT_OFFSET);
        assertEquals(56, Superblock.DEVICE_SIZE_OFFSET);
        assertEquals(80, Superblock.FORMATTED_AT_OFFSET);
        assertEquals(104, Superblock.NQN_LENGTH_OFFSET);
        assertEquals(108, Superblock.NQN_OFFSET);
        assertEquals(364, Superblock.RECORD_LENGTH);
        assertTrue(Superblock.RECORD_LENGTH <= 512, "the record must fit the first logical block of any device");
        byte[] magic = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(Superblock.MAGIC).array();
        assertEquals("TCLBLKSB", new String(magic, StandardCharsets.US_ASCII));
        assertEquals(64 * 1024, Superblock.dataOffset(512, 64 * 1024));
        assertEquals(8192, Superblock.dataOffset(4096, 4096));
        assertEquals(1 << 20, Superblock.dataOffset(4096, 1 << 20));
    }

    @Test
    void encodeThenClassify_roundTripsEveryField() {
        Superblock sb = new Superblock(1, 0, 7, UUID.randomUUID(), AU, 512, DEVICE_SIZE, AU, 63,
                Instant.ofEpochMilli(1_700_000_000_123L), Instant.ofEpochMilli(1_700_000_100_456L), 5,
                Superblock.State.OPEN, HOST_A);
        ByteBuffer slot = sb.encode(ByteBuffer.allocate(4096));
        SuperblockJournal.SlotReading reading = SuperblockJournal.classify(0, slot);
        assertEquals(sb, assertInstanceOf(SuperblockJournal.Valid.class, reading).superblock());
        for (int at : new int[] {Superblock.GENERATION_OFFSET + 3, Superblock.NQN_OFFSET + 10, Superblock.STATE_OFFSET}) {
            ByteBuffer damaged = ByteBuffer.allocate(4096).put(slot.duplicate().clear()).flip();
            damaged.put(at, (byte) (damaged.get(at) ^ 0x10));
            SuperblockJournal.Damaged d = assertInstanceOf(SuperblockJournal.Damaged.class, SuperblockJournal.classify(0, damaged),
                    "byte " + at + " flipped");
            assertThat(d.reason()).contains("CRC32C");
            assertTrue(d.carriesMagic());
        }
    }

    @Test
    void generations_alternateBetweenSlots_andRecordStateOwnerAndOpenCount() {
        BlockDevice device = device("dev", 512);
        BlockTier tier = BlockTier.format(device, config("cat", HOST_A).build());
        assertEquals(2, tier.superblock().generation(), "format writes generation 1, its open generation 2");
        assertEquals(Superblock.State.CLEAN, slot(device, 0).state());
        assertEquals(1, slot(device, 0).generation());
        assertEquals(Superblock.State.OPEN, slot(device, 1).state());
        assertEquals(1, slot(device, 1).openCount());
        tier.close();
        assertEquals(3, slot(device, 0).generation());
        assertEquals(Superblock.State.CLEAN, slot(device, 0).state());
        try (BlockTier again = BlockTier.open(device, config("cat", HOST_A).build())) {
            Superblock sb = again.superblock();
            assertEquals(4, sb.generation());
            assertEquals(1, sb.slot());
            assertEquals(2, sb.openCount());
            assertEquals(HOST_A, sb.ownerHostNqn());
            assertEquals(slot(device, 0).deviceUuid(), sb.deviceUuid());
            assertEquals(AU, sb.allocationUnitInBytes());
            assertEquals((DEVICE_SIZE - AU) / AU, sb.unitCount());
            assertEquals(sb.capacityInBytes(), again.usage().capacityInBytes());
        }
    }

    @Test
    void corruptedNewestSlot_fallsBackToThePreviousGeneration_andIsRewritten() {
        BlockDevice device = device("dev", 512);
        try (BlockTier tier = BlockTier.format(device, config("cat", HOST_A).build())) {
            TestObjects.put(tier, "kept", 1, 100_000);
        }
        // slot 0: generation 3 (CLEAN, by close); slot 1: generation 2 (OPEN)
        ByteBuffer newest = rawSlot(device, 0);
        newest.put(Superblock.NQN_OFFSET + 5, (byte) (newest.get(Superblock.NQN_OFFSET + 5) ^ 0x20));
        writeSlot(device, 0, newest);

        List<SuperblockJournal.SlotReading> slots = SuperblockJournal.readAll(device, buffers);
        assertThat(assertInstanceOf(SuperblockJournal.Damaged.class, slots.get(0)).reason()).contains("CRC32C");
        Superblock chosen = SuperblockJournal.newest(device, slots);
        assertEquals(2, chosen.generation());
        assertEquals(Superblock.State.OPEN, chosen.state());

        try (BlockTier tier = track(BlockTier.open(device, config("cat", HOST_A).build()))) {
            assertEquals(3, tier.superblock().generation(), "the next generation after the fallback");
            assertEquals(0, tier.superblock().slot(), "written over the damaged slot, not over the one it fell back to");
            TestObjects.assertContent(tier, "kept", 1, 100_000);
        }
        assertEquals(4, slot(device, 1).generation(), "close wrote the following generation");
        assertEquals(3, slot(device, 0).generation());
    }

    @Test
    void tornNewestSlot_fallsBackToThePreviousGeneration() {
        BlockDevice device = device("dev", 512);
        BlockTier.format(device, config("cat", HOST_A).build()).close();
        Superblock newest = slot(device, 0);
        assertEquals(3, newest.generation());
        // the next generation goes to slot 1; tear it: only its first 40 bytes land over generation 2
        Superblock next = newest.next(Superblock.State.OPEN, HOST_B, true, Instant.now());
        ByteBuffer image = next.encode(ByteBuffer.allocate(Superblock.slotLength(512)));
        ByteBuffer torn = rawSlot(device, 1);
        torn.put(0, image, 0, 40);
        writeSlot(device, 1, torn);

        List<SuperblockJournal.SlotReading> slots = SuperblockJournal.readAll(device, buffers);
        assertInstanceOf(SuperblockJournal.Damaged.class, slots.get(1));
        assertEquals(3, SuperblockJournal.newest(device, slots).generation());
        try (BlockTier tier = track(BlockTier.open(device, config("cat", HOST_A).build()))) {
            assertEquals(HOST_A, tier.superblock().ownerHostNqn(), "the torn owner change never happened");
            assertEquals(4, tier.superblock().generation());
        }
    }

    @Test
    void wrongMagicInEverySlot_isRejectedNamingWhatWasFound() {
        BlockDevice device = device("dev", 4096);
        BlockTier.format(device, config("cat", HOST_A).build()).close();
        for (int s = 0; s < Superblock.SLOT_COUNT; s++) {
            ByteBuffer b = rawSlot(device, s);
            b.putLong(Superblock.MAGIC_OFFSET, 0x0123456789abcdefL);
            writeSlot(device, s, b);
        }
        TierUnavailableException e = assertThrows(TierUnavailableException.class,
                () -> BlockTier.open(device, config("cat", HOST_A).build()));
        assertThat(e.getMessage()).contains(device.name()).contains("no valid superblock")
                .contains("magic 0x0123456789abcdef").contains(String.format("0x%016x", Superblock.MAGIC))
                .contains("slot 0 at offset 0").contains("slot 1 at offset 4096");
    }

    @Test
    void blankDevice_isNotFormatted_andOpenOrFormatFormatsOnlyThat() {
        BlockDevice device = device("dev", 4096);
        TierUnavailableException e = assertThrows(TierUnavailableException.class,
                () -> BlockTier.open(device, config("cat", HOST_A).build()));
        assertThat(e.getMessage()).contains("is not formatted").contains("BlockTier.format");
        try (BlockTier tier = BlockTier.openOrFormat(device, config("cat", HOST_A).build())) {
            TestObjects.put(tier, "a", 2, 5000);
        }
        try (BlockTier tier = BlockTier.openOrFormat(device, config("cat", HOST_A).build())) {
            assertEquals(1, tier.usage().objectCount(), "the second call opened, it did not format");
            TestObjects.assertContent(tier, "a", 2, 5000);
        }
    }

    @Test
    void anotherMajorVersion_isRejected_evenThoughAnOlderSlotIsValid() {
        BlockDevice device = device("dev", 512);
        BlockTier.format(device, config("cat", HOST_A).build()).close();
        ByteBuffer b = rawSlot(device, 0);
        b.putShort(Superblock.MAJOR_OFFSET, (short) 2).putShort(Superblock.MINOR_OFFSET, (short) 3);
        b.putInt(Superblock.CRC_OFFSET, Superblock.checksum(b, Superblock.RECORD_LENGTH));
        writeSlot(device, 0, b);
        TierUnavailableException e = assertThrows(TierUnavailableException.class,
                () -> BlockTier.open(device, config("cat", HOST_A).build()));
        assertThat(e.getMessage()).contains("slot 0").contains("layout version 2.3").contains("reads major version 1");
        // format will not overwrite it unless told to
        TierUnavailableException refused = assertThrows(TierUnavailableException.class,
                () -> BlockTier.format(device, config("cat2", HOST_A).build()));
        assertThat(refused.getMessage()).contains("already carries a BlockTier superblock").contains("allowReformat");
        try (BlockTier tier = BlockTier.format(device, config("cat2", HOST_A).allowReformat(true).build())) {
            assertEquals(0, tier.usage().objectCount());
        }
    }

    @Test
    void catalogOfAnotherDevice_isRejectedNamingBothUuids() {
        BlockDevice a = device("a", 512);
        BlockDevice b = device("b", 512);
        UUID uuidA;
        UUID uuidB;
        try (BlockTier ta = BlockTier.format(a, config("cat-a", HOST_A).build());
             BlockTier tb = BlockTier.format(b, config("cat-b", HOST_A).build())) {
            uuidA = ta.superblock().deviceUuid();
            uuidB = tb.superblock().deviceUuid();
        }
        TierUnavailableException e = assertThrows(TierUnavailableException.class,
                () -> BlockTier.open(b, config("cat-a", HOST_A).build()));
        assertThat(e.getMessage()).contains(uuidA.toString()).contains(uuidB.toString())
                .contains(dir.resolve("cat-a").toString()).contains(b.name());
        // the refused open changed nothing: both still open with their own catalogs
        BlockTier.open(a, config("cat-a", HOST_A).build()).close();
        BlockTier.open(b, config("cat-b", HOST_A).build()).close();
    }

    @Test
    void missingCatalog_isRejected_andAFullCatalogIsNotReformatted() {
        BlockDevice device = device("dev", 512);
        try (BlockTier tier = BlockTier.format(device, config("cat", HOST_A).build())) {
            TestObjects.put(tier, "x", 3, 10);
        }
        TierUnavailableException missing = assertThrows(TierUnavailableException.class,
                () -> BlockTier.open(device, config("elsewhere", HOST_A).build()));
        assertThat(missing.getMessage()).contains("holds no catalog").contains(dir.resolve("elsewhere").toString());
        BlockDevice other = device("other", 512);
        TierUnavailableException full = assertThrows(TierUnavailableException.class,
                () -> BlockTier.format(other, config("cat", HOST_A).build()));
        assertThat(full.getMessage()).contains("already holds objects");
    }

    @Test
    void deviceOwnedByAnotherHost_isRefused_untilTakenOver() {
        BlockDevice device = device("dev", 512);
        BlockTier.format(device, config("cat", HOST_A).build()).close();
        TierUnavailableException e = assertThrows(TierUnavailableException.class,
                () -> BlockTier.open(device, config("cat", HOST_B).build()));
        assertThat(e.getMessage()).contains("owned by host " + HOST_A).contains("this host is " + HOST_B)
                .contains("takeOwnership");
        try (BlockTier tier = BlockTier.open(device, config("cat", HOST_B).takeOwnership(true).build())) {
            assertEquals(HOST_B, tier.superblock().ownerHostNqn());
        }
        assertThrows(TierUnavailableException.class, () -> BlockTier.open(device, config("cat", HOST_A).build()));
    }

    @Test
    void configAndFormat_rejectUnsuitableValues() {
        assertThrows(InvalidArgumentException.class, () -> config("c", "host-without-nqn-prefix").build());
        assertThrows(InvalidArgumentException.class, () -> config("c", "nqn." + "x".repeat(220)).build());
        assertThrows(InvalidArgumentException.class, () -> config("c", HOST_A).allocationUnitInBytes(6000).build());
        BlockDevice tiny = FileBlockDevice.open(dir.resolve("tiny"), FileBlockDevice.options().sizeInBytes(AU + 4096));
        open.add(tiny);
        InvalidArgumentException e = assertThrows(InvalidArgumentException.class,
                () -> BlockTier.format(tiny, config("c", HOST_A).build()));
        assertThat(e.getMessage()).contains(String.valueOf(AU + 4096)).contains(String.valueOf(2L * AU));
        BlockDevice big = new ObservedDevice(device("big-blocks", 4096), 8192);
        InvalidArgumentException unit = assertThrows(InvalidArgumentException.class,
                () -> BlockTier.format(big, config("c", HOST_A).allocationUnitInBytes(12 * 1024).build()));
        assertThat(unit.getMessage()).contains("12288").contains("8192");
    }

    @Test
    void chunkSize_mustBeAMultipleOfTheDeviceBlockSize() {
        BlockDevice big = new ObservedDevice(device("dev", 4096), 8192);
        try (BlockTier tier = BlockTier.format(big, config("cat", HOST_A).allocationUnitInBytes(16 * 1024).build())) {
            InvalidArgumentException e = assertThrows(InvalidArgumentException.class, () -> TestObjects.join(
                    tier.create(io.thermocline.tier.WriteRequest.builder(ObjectKey.of("k"), 10_000).chunkSizeInBytes(4096).build())));
            assertThat(e.getMessage()).contains("4096").contains("8192").contains("k");
            TestObjects.put(tier, "fine", 4, 40_000);
            TestObjects.assertContent(tier, "fine", 4, 40_000);
        }
    }
}
