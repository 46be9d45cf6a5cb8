package io.thermocline.nvmeof.kernel;

import io.thermocline.nvmeof.host.LoopbackFabric;
import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.testkit.BlockDeviceContractTest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;

/**
 * KernelNvmeDevice against the block device contract on this machine's own kernel: its nvme-tcp
 * host connects to Thermocline's Java NVMe/TCP target on 127.0.0.1. Needs root, nvme-cli and a
 * kernel with the nvme-tcp module (loaded, or loadable with modprobe); where any is missing, each
 * test is skipped with the reason. The it module runs the same contract over kernel TCP and RDMA
 * inside a qemu guest, which needs none of these.
 */
class KernelNvmeDeviceHostKernelTest extends BlockDeviceContractTest {

    private static final String NQN = "nqn.2026-11.io.thermocline:host-kernel-contract";
    private static String unavailable;
    private static boolean checked;

    @TempDir
    Path dir;
    private final List<LoopbackFabric> fabrics = new ArrayList<>();
    private final List<KernelNvmeDevice> devices = new ArrayList<>();

    /** Why this machine's kernel cannot run the test, or null if it can. */
    private static synchronized String unavailableReason() {
        if (checked) {
            return unavailable;
        }
        checked = true;
        if (!"Linux".equals(System.getProperty("os.name"))) {
            unavailable = "not Linux: " + System.getProperty("os.name");
        } else if (!"root".equals(System.getProperty("user.name"))) {
            unavailable = "nvme connect needs root; running as " + System.getProperty("user.name");
        } else {
            try {
                NvmeCli.locate("nvme");
                if (!Files.isDirectory(Path.of("/sys/module/nvme_tcp"))) {
                    String modprobe = run("modprobe", "nvme-tcp");
                    if (!Files.isDirectory(Path.of("/sys/module/nvme_tcp"))) {
                        unavailable = "this machine's kernel (" + System.getProperty("os.version") + ") has no nvme-tcp "
                                + "module loaded, and 'modprobe nvme-tcp' could not load it: " + modprobe;
                    }
                }
                if (unavailable == null && !Files.exists(Path.of("/dev/nvme-fabrics"))) {
                    unavailable = "nvme-tcp is loaded but /dev/nvme-fabrics is missing (a container without the device?)";
                }
            } catch (RuntimeException e) {
                unavailable = e.getMessage();
            }
        }
        if (unavailable != null) {
            System.err.println("SKIPPED: kernel NVMe/TCP host on this machine: " + unavailable);
        }
        return unavailable;
    }

    private static String run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String output = new String(p.getInputStream().readAllBytes()).strip();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return "timed out";
            }
            return "exit " + p.exitValue() + (output.isEmpty() ? "" : ": " + output);
        } catch (IOException e) {
            return e.toString();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }

    private KernelNvmeOptions options(LoopbackFabric fabric) {
        return KernelNvmeOptions.builder(KernelNvmeOptions.Transport.TCP, "127.0.0.1",
                        Integer.toString(fabric.address().getPort()), NQN)
                .hostNqn(LoopbackFabric.HOST_NQN)
                .hostId("6c9f7a6e-1111-4c2e-9e8a-0c3ad3a7f0aa")
                .nrIoQueues(2)
                .ctrlLossTimeout(Duration.ofSeconds(5))
                .build();
    }

    @Override
    protected BlockDevice newDevice(long sizeInBytes) {
        String reason = unavailableReason();
        Assumptions.assumeTrue(reason == null, reason);
        LoopbackFabric fabric = LoopbackFabric.start(dir.resolve("namespace"), sizeInBytes, 4096, NQN);
        fabrics.add(fabric);
        KernelNvmeDevice device = KernelNvmeDevice.connect(options(fabric));
        devices.add(device);
        return device;
    }

    @Override
    protected BlockDevice reopen(BlockDevice device) {
        KernelNvmeOptions options = ((KernelNvmeDevice) device).options();
        device.close();
        KernelNvmeDevice again = KernelNvmeDevice.connect(options);
        devices.add(again);
        return again;
    }

    /** Disconnects before the target stops (this runs before the contract's own close). */
    @AfterEach
    void disconnectThenStopTarget() {
        devices.forEach(KernelNvmeDevice::close);
        fabrics.forEach(LoopbackFabric::close);
    }
}
