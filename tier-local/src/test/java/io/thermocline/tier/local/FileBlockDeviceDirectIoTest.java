package io.thermocline.tier.local;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.thermocline.tier.BlockDevice;

/** FileBlockDevice with O_DIRECT against the block device contract. */
class FileBlockDeviceDirectIoTest extends FileBlockDeviceTest {

    @Override
    protected FileBlockDevice.Options options() {
        return FileBlockDevice.options().directIo(true);
    }

    @Override
    protected BlockDevice newDevice(long sizeInBytes) {
        String reason = LocalTierDirectIoTest.DirectIoSupport.unsupportedReason(dir);
        if (reason != null) {
            System.out.println("SKIPPED " + getClass().getSimpleName() + ": " + reason);
        }
        assumeTrue(reason == null, reason);
        return super.newDevice(sizeInBytes);
    }
}
