package io.thermocline.tier.local;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.testkit.BlockDeviceContractTest;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** FileBlockDevice over a sparse file with buffered I/O against the block device contract. */
class FileBlockDeviceTest extends BlockDeviceContractTest {

    @TempDir
    Path dir;

    protected FileBlockDevice.Options options() {
        return FileBlockDevice.options();
    }

    @Override
    protected BlockDevice newDevice(long sizeInBytes) {
        return FileBlockDevice.open(dir.resolve("namespace.img"), options().sizeInBytes(sizeInBytes));
    }

    @Override
    protected BlockDevice reopen(BlockDevice device) {
        device.close();
        return FileBlockDevice.open(dir.resolve("namespace.img"), options());
    }
}
