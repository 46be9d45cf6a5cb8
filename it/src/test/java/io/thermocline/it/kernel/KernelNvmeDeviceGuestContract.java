package io.thermocline.it.kernel;

import io.thermocline.nvmeof.kernel.KernelNvmeDevice;
import io.thermocline.nvmeof.kernel.KernelNvmeOptions;
import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.testkit.BlockDeviceContractTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The BlockDevice contract against {@link KernelNvmeDevice} on the real Linux NVMe over Fabrics
 * host. Not a test of its own (its name keeps surefire away): {@link KernelNvmeDeviceGuestTest}
 * runs it inside a {@link KernelGuest} through {@link GuestJUnitMain}, once over RDMA (Soft-RoCE)
 * and once over TCP, against subsystems the guest's nvmet exports. Every {@code newDevice} is an
 * {@code nvme connect}, every close an {@code nvme disconnect}; the namespace (a memory-backed
 * null_blk device) keeps its data in between, which is what the flush-and-reopen test reads.
 *
 * <p>System properties: {@code thermocline.kernelNvme.transport}, {@code .traddr},
 * {@code .trsvcid}, {@code .nqn}.
 */
public class KernelNvmeDeviceGuestContract extends BlockDeviceContractTest {

    static final String PREFIX = "thermocline.kernelNvme.";

    private static KernelNvmeOptions options() {
        return KernelNvmeOptions.builder(KernelNvmeOptions.Transport.of(property("transport")), property("traddr"),
                        property("trsvcid"), property("nqn"))
                .nrIoQueues(2)
                .keepAliveTimeout(Duration.ofSeconds(5))
                .ctrlLossTimeout(Duration.ofSeconds(60))
                .fastIoFailTimeout(Duration.ofSeconds(20))
                .connectTimeout(Duration.ofSeconds(60))
                .build();
    }

    private static String property(String name) {
        String value = System.getProperty(PREFIX + name);
        if (value == null) {
            throw new IllegalStateException("system property " + PREFIX + name + " is not set");
        }
        return value;
    }

    /** The kernel took the options: the controller's sysfs attributes show them. */
    @Test
    void connect_appliesTheOptionsToTheKernelController() throws Exception {
        KernelNvmeDevice kernelDevice = (KernelNvmeDevice) device;
        assertTrue(kernelDevice.connectedHere(), "connected by this JVM");
        Path controller = Path.of("/sys/class/nvme", kernelDevice.controllerName());
        assertEquals(property("transport"), read(controller.resolve("transport")));
        assertEquals(property("nqn"), read(controller.resolve("subsysnqn")));
        assertEquals("live", read(controller.resolve("state")));
        assertEquals("5", read(controller.resolve("kato")));
        assertEquals("60", read(controller.resolve("ctrl_loss_tmo")));
        // nvme-cli 2.3 has no --fast_io_fail_tmo: the device wrote the attribute itself
        assertEquals("20", read(controller.resolve("fast_io_fail_tmo")));
        assertEquals("3", read(controller.resolve("queue_count")), "admin queue and nr-io-queues 2");
        assertTrue(kernelDevice.devicePath().toString().matches("/dev/nvme\\d+n\\d+"), kernelDevice.devicePath().toString());
    }

    private static String read(Path file) throws Exception {
        return Files.readString(file).trim();
    }

    @Override
    protected BlockDevice newDevice(long sizeInBytes) {
        return KernelNvmeDevice.connect(options());
    }

    @Override
    protected BlockDevice reopen(BlockDevice device) {
        device.close();
        return KernelNvmeDevice.connect(options());
    }
}
