package io.thermocline.nvmeof.block;

import io.thermocline.tier.local.FileBlockDevice;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * Block tiers on small file devices of 512-byte blocks and 16 KiB allocation units, sized in
 * units so that tests can fill them exactly; everything opened is closed after each test.
 */
abstract class SmallDeviceTestBase {

    static final String HOST = BlockTierContractBase.HOST_NQN;
    /** Allocation unit of the tiers: one test chunk. */
    static final int AU = TestObjects.CHUNK;

    @TempDir
    Path dir;
    final List<AutoCloseable> open = new ArrayList<>();
    int devices;

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open.reversed()) {
            c.close();
        }
    }

    /** A device whose data area holds exactly {@code units} allocation units. */
    ObservedDevice device(long units) {
        long size = BlockTier.deviceSizeFor(units * AU, AU, 512);
        ObservedDevice d = new ObservedDevice(FileBlockDevice.open(dir.resolve("dev-" + devices++),
                FileBlockDevice.options().sizeInBytes(size).blockSizeInBytes(512)));
        open.add(d);
        return d;
    }

    /** Settings of a tier whose catalog is the latest device's. */
    BlockTierConfig.Builder config() {
        return BlockTierConfig.builder(dir.resolve("catalog-" + devices), HOST).allocationUnitInBytes(AU);
    }
}
