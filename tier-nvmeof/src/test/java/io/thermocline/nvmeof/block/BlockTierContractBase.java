package io.thermocline.nvmeof.block;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.Tier;
import io.thermocline.tier.testkit.TierContractTest;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link BlockTier} against the whole tier contract, over whatever {@link BlockDevice} a subclass
 * supplies: a file here, an NVMe/TCP namespace elsewhere. Each tier gets a freshly formatted
 * device sized for the capacity the contract asks for, and its own catalog directory.
 *
 * <p>A "reopen after a crash" releases the first instance's catalog lock as a dead process would
 * and opens the same device and catalog again; the first instance writes nothing more.
 */
abstract class BlockTierContractBase extends TierContractTest {

    static final String HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:6b1f3c52-54d4-4a39-9d2c-2f6a1c0e5b11";

    @TempDir
    Path dir;
    private final List<BlockTier> tiers = new ArrayList<>();
    private final List<BlockDevice> devices = new ArrayList<>();
    private int instances;

    /** A new device of exactly {@code sizeInBytes} with {@link #blockSizeInBytes()} blocks; contents unspecified. */
    protected abstract BlockDevice newDevice(long sizeInBytes) throws Exception;

    /** The logical block size of the devices {@link #newDevice} returns. */
    protected abstract int blockSizeInBytes();

    /** The allocation unit tiers are formatted with. */
    protected int allocationUnitInBytes() {
        return 64 * 1024;
    }

    /** Settings for a tier whose catalog lives in {@code catalogDirectory}. */
    protected BlockTierConfig.Builder config(Path catalogDirectory) {
        return BlockTierConfig.builder(catalogDirectory, HOST_NQN).allocationUnitInBytes(allocationUnitInBytes());
    }

    @Override
    protected Tier newTier(long capacityInBytes) throws Exception {
        long size = BlockTier.deviceSizeFor(capacityInBytes, allocationUnitInBytes(), blockSizeInBytes());
        BlockDevice device = newDevice(size);
        devices.add(device);
        assertEquals(blockSizeInBytes(), device.blockSizeInBytes(), "block size of " + device.name());
        BlockTier t = BlockTier.format(device, config(dir.resolve("catalog-" + instances++)).build());
        tiers.add(t);
        return t;
    }

    @Override
    protected Tier reopen(Tier tier) {
        BlockTier old = (BlockTier) tier;
        old.simulateCrash();
        BlockTier again = BlockTier.open(old.device(), old.config());
        tiers.add(again);
        return again;
    }

    @Override
    protected void corruptStoredByte(Tier tier, ObjectKey key, long offset) {
        BlockTier t = (BlockTier) tier;
        long deviceOffset = t.extentMap(t.entry(key).extents()).deviceOffset(offset);
        flipByte(t.device(), deviceOffset);
    }

    /** Flips one byte of a device behind everyone's back: reads its block, changes it, writes it back. */
    static void flipByte(BlockDevice device, long deviceOffset) {
        int block = device.blockSizeInBytes();
        long blockStart = deviceOffset / block * block;
        ByteBuffer buf = ByteBuffer.allocate(block);
        device.read(blockStart, buf).join();
        int at = (int) (deviceOffset - blockStart);
        buf.put(at, (byte) (buf.get(at) ^ 0x5a));
        device.write(blockStart, buf.clear()).join();
        device.flush().join();
    }

    /** Tiers before devices: a tier writes its last superblock generation when it closes. */
    @AfterEach
    void closeTiersThenDevices() {
        for (BlockTier t : tiers.reversed()) {
            t.close();
        }
        for (BlockDevice d : devices.reversed()) {
            d.close();
        }
    }
}
