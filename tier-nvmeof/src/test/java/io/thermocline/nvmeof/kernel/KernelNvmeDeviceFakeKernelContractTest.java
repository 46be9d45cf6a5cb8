package io.thermocline.nvmeof.kernel;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.testkit.BlockDeviceContractTest;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * KernelNvmeDevice against the block device contract on a {@link FakeKernel}: the real connect,
 * sysfs discovery, O_DIRECT I/O with 512-byte blocks, flush, reopen (disconnect and connect
 * again) and close, with a script in place of nvme-cli and a file in place of the namespace. Trim
 * and write-zeroes take their fallbacks here (a regular file refuses the block ioctls with
 * ENOTTY). The kernel proper is exercised in the it module's qemu guest.
 */
class KernelNvmeDeviceFakeKernelContractTest extends BlockDeviceContractTest {

    @TempDir
    Path dir;
    private FakeKernel kernel;

    @BeforeEach
    void fakeKernel() throws Exception {
        if (kernel == null) {
            kernel = FakeKernel.create(dir.resolve("kernel"));
        }
    }

    @Override
    protected BlockDevice newDevice(long sizeInBytes) throws Exception {
        fakeKernel();
        kernel.set("size-mib", Long.toString(sizeInBytes >> 20));
        return KernelNvmeDevice.connect(kernel.options().build());
    }

    @Override
    protected BlockDevice reopen(BlockDevice device) {
        KernelNvmeOptions options = ((KernelNvmeDevice) device).options();
        device.close();
        return KernelNvmeDevice.connect(options);
    }
}
