package io.thermocline.nvmeof.block;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.local.FileBlockDevice;

/** BlockTier over a sparse file with buffered I/O and 512-byte blocks, against the tier contract. */
class BlockTierFileTest extends BlockTierContractBase {

    private int devices;

    @Override
    protected int blockSizeInBytes() {
        return 512;
    }

    protected FileBlockDevice.Options options() {
        return FileBlockDevice.options().blockSizeInBytes(blockSizeInBytes());
    }

    @Override
    protected BlockDevice newDevice(long sizeInBytes) {
        return FileBlockDevice.open(dir.resolve("device-" + devices++), options().sizeInBytes(sizeInBytes));
    }
}
