package io.thermocline.nvmeof.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.testkit.TestData;
import io.thermocline.tier.testkit.TestTimeouts;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How KernelNvmeDevice drives nvme-cli and reads sysfs, on a {@link FakeKernel}. */
class KernelNvmeDeviceConnectTest {

    @TempDir
    Path dir;
    private FakeKernel kernel;

    @BeforeEach
    void fakeKernel() throws Exception {
        kernel = FakeKernel.create(dir.resolve("kernel"));
    }

    @Test
    void connect_runsNvmeConnectWithNvmeCliFlags_andCloseDisconnectsTheController() throws Exception {
        KernelNvmeDevice device = KernelNvmeDevice.connect(kernel.options()
                .hostNqn("nqn.2014-08.org.nvmexpress:uuid:0c0ffee0-0000-4000-8000-000000000001")
                .nrIoQueues(2).nrWriteQueues(1).queueSize(64).keepAliveTimeout(Duration.ofSeconds(7))
                .reconnectDelay(Duration.ofSeconds(2)).ctrlLossTimeout(Duration.ofSeconds(30)).build());
        assertThat(kernel.calls()).contains("connect -t tcp -a 127.0.0.1 -s 4420 -n " + FakeKernel.NQN
                + " -q nqn.2014-08.org.nvmexpress:uuid:0c0ffee0-0000-4000-8000-000000000001 --nr-io-queues=2"
                + " --nr-write-queues=1 --queue-size=64 --keep-alive-tmo=7 --reconnect-delay=2 --ctrl-loss-tmo=30");
        assertThat(device.controllerName()).isEqualTo("nvme0");
        assertThat(device.devicePath()).isEqualTo(kernel.root.resolve("dev/nvme0n1"));
        assertThat(device.blockSizeInBytes()).isEqualTo(512);
        assertThat(device.sizeInBytes()).isEqualTo(16L << 20);
        assertThat(device.connectedHere()).isTrue();
        assertThat(device.name()).contains("nvme0n1", FakeKernel.NQN, "nsid 1", "tcp 127.0.0.1:4420");

        device.close();
        assertThat(kernel.calls()).last().isEqualTo("disconnect -d nvme0");
        assertThat(kernel.controllerExists("nvme0")).isFalse();
        device.close();
        assertThat(kernel.calls().stream().filter(c -> c.startsWith("disconnect"))).hasSize(1);
    }

    @Test
    void fastIoFailTimeout_goesToSysfsWhenNvmeCliLacksTheFlag() throws Exception {
        try (KernelNvmeDevice device = KernelNvmeDevice.connect(kernel.options()
                .fastIoFailTimeout(Duration.ofSeconds(3)).build())) {
            assertThat(kernel.calls()).noneMatch(c -> c.contains("fast_io_fail_tmo="));
            assertThat(Files.readString(kernel.root.resolve("sys/class/nvme/nvme0/fast_io_fail_tmo")).trim())
                    .isEqualTo("3");
        }
    }

    @Test
    void fastIoFailTimeout_isAFlagWhenNvmeCliHasIt() throws Exception {
        kernel.set("new-cli", "");
        // the flag check is remembered per executable: use another path to the same script
        Path copy = kernel.root.resolve("bin/nvme-new");
        Files.copy(kernel.root.resolve("bin/nvme"), copy, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
        try (KernelNvmeDevice device = KernelNvmeDevice.connect(kernel.options().nvmeCommand(copy.toString())
                .fastIoFailTimeout(Duration.ofSeconds(4)).build())) {
            assertThat(kernel.calls()).anyMatch(c -> c.startsWith("connect ") && c.endsWith("--fast_io_fail_tmo=4"));
            assertThat(Files.readString(kernel.root.resolve("sys/class/nvme/nvme0/fast_io_fail_tmo")).trim())
                    .isEqualTo("off");
        }
    }

    @Test
    void devicesOfOneSubsystem_shareTheController_andTheLastCloseDisconnects() throws Exception {
        KernelNvmeDevice first = KernelNvmeDevice.connect(kernel.options().build());
        KernelNvmeDevice second = KernelNvmeDevice.connect(kernel.options().build());
        assertThat(second.controllerName()).isEqualTo(first.controllerName());
        assertThat(kernel.calls().stream().filter(c -> c.startsWith("connect -t"))).hasSize(1);
        first.write(0, TestData.bytes(3, 0, 4096)).join();
        ByteBuffer back = ByteBuffer.allocate(4096);
        second.read(0, back).join();
        assertThat(TestData.firstMismatch(3, 0, back.flip())).isEqualTo(-1);
        first.close();
        assertThat(kernel.controllerExists("nvme0")).isTrue();
        second.close();
        assertThat(kernel.controllerExists("nvme0")).isFalse();
    }

    @Test
    void aControllerConnectedElsewhere_isUsed_andLeftConnected() throws Exception {
        // someone else's nvme connect
        new ProcessBuilder(kernel.root.resolve("bin/nvme").toString(), "connect", "-t", "tcp", "-a", "127.0.0.1",
                "-s", "4420", "-n", FakeKernel.NQN).inheritIO().start().waitFor();
        int calls = kernel.calls().size();
        try (KernelNvmeDevice device = KernelNvmeDevice.connect(kernel.options().build())) {
            assertThat(device.connectedHere()).isFalse();
            assertThat(device.controllerName()).isEqualTo("nvme0");
        }
        assertThat(kernel.calls()).hasSize(calls);
        assertThat(kernel.controllerExists("nvme0")).isTrue();
    }

    @Test
    void aControllerToAnotherPort_isNotMistakenForOurs() throws Exception {
        new ProcessBuilder(kernel.root.resolve("bin/nvme").toString(), "connect", "-t", "tcp", "-a", "127.0.0.1",
                "-s", "4421", "-n", FakeKernel.NQN).inheritIO().start().waitFor();
        try (KernelNvmeDevice device = KernelNvmeDevice.connect(kernel.options().build())) {
            assertThat(device.connectedHere()).isTrue();
            assertThat(device.controllerName()).isEqualTo("nvme1");
        }
        assertThat(kernel.controllerExists("nvme0")).isTrue();
        assertThat(kernel.controllerExists("nvme1")).isFalse();
    }

    @Test
    void a4096ByteNamespace_takes4096ByteIo() throws Exception {
        kernel.set("lba", "4096");
        try (KernelNvmeDevice device = KernelNvmeDevice.connect(kernel.options().build())) {
            assertThat(device.blockSizeInBytes()).isEqualTo(4096);
            device.write(8192, TestData.bytes(9, 0, 8192)).join();
            ByteBuffer back = ByteBuffer.allocate(8192);
            device.read(8192, back).join();
            assertThat(TestData.firstMismatch(9, 0, back.flip())).isEqualTo(-1);
            assertThatThrownBy(() -> device.read(512, ByteBuffer.allocate(512)).join())
                    .hasMessageContaining("multiples of 4096");
        }
    }

    @Test
    void missingNvmeCli_saysWhichPackageToInstall() {
        assertThatThrownBy(() -> KernelNvmeDevice.connect(kernel.options()
                .nvmeCommand("nvme-cli-that-is-not-installed").build()))
                .isInstanceOf(TierUnavailableException.class)
                .hasMessageContaining("nvme-cli is not installed")
                .hasMessageContaining("'nvme-cli-that-is-not-installed' was found neither on PATH")
                .hasMessageContaining("apt-get install nvme-cli")
                .matches(e -> !((TierUnavailableException) e).retryable());
    }

    @Test
    void missingFabricsDevice_namesTheModuleToLoad() throws Exception {
        Files.delete(kernel.root.resolve("dev/nvme-fabrics"));
        assertThatThrownBy(() -> KernelNvmeDevice.connect(kernel.options()
                .transport(KernelNvmeOptions.Transport.RDMA).build()))
                .isInstanceOf(TierUnavailableException.class)
                .hasMessageContaining("nvme-fabrics does not exist")
                .hasMessageContaining("modprobe nvme-rdma");
        assertThat(kernel.calls()).isEmpty();
    }

    @Test
    void rdmaConnectFailure_withoutModuleOrRdmaDevice_saysWhatIsMissing() throws Exception {
        kernel.set("fail-connect", "Failed to write to /dev/nvme-fabrics: Invalid argument");
        assertThatThrownBy(() -> KernelNvmeDevice.connect(kernel.options()
                .transport(KernelNvmeOptions.Transport.RDMA).build()))
                .isInstanceOf(TierUnavailableException.class)
                .hasMessageContaining("exited with 1: Failed to write to /dev/nvme-fabrics: Invalid argument")
                .hasMessageContaining("kernel module nvme-rdma is not loaded")
                .hasMessageContaining("modprobe rdma_rxe")
                .hasMessageContaining("rdma link add rxe0 type rxe netdev eth0")
                .matches(e -> !((TierUnavailableException) e).retryable());
    }

    @Test
    void connectFailure_withTheModuleLoaded_isRetryable() throws Exception {
        kernel.set("fail-connect", "Failed to write to /dev/nvme-fabrics: Connection refused");
        assertThatThrownBy(() -> KernelNvmeDevice.connect(kernel.options().build()))
                .isInstanceOf(TierUnavailableException.class)
                .hasMessageContaining("Connection refused")
                .hasMessageNotContaining("modprobe")
                .matches(e -> ((TierUnavailableException) e).retryable());
    }

    @Test
    void aNamespaceThatNeverAppears_failsAfterTheConnectTimeout_andDisconnects() throws Exception {
        // the timeout covers the (fake) nvme connect too: long enough for it on a loaded machine,
        // so that what runs out is the wait for the namespace
        Duration timeout = TestTimeouts.seconds(3);
        long start = System.nanoTime();
        assertThatThrownBy(() -> KernelNvmeDevice.connect(kernel.options().nsid(2)
                .connectTimeout(timeout).build()))
                .isInstanceOf(TierUnavailableException.class)
                .hasMessageContaining("namespace 2 of " + FakeKernel.NQN + " did not appear")
                .hasMessageContaining("controller state: live");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(timeout);
        assertThat(kernel.calls()).last().isEqualTo("disconnect -d nvme0");
    }

    @Test
    void ioAfterClose_failsAsUnavailable() throws Exception {
        KernelNvmeDevice device = KernelNvmeDevice.connect(kernel.options().build());
        device.close();
        assertThatThrownBy(() -> device.read(0, ByteBuffer.allocate(512)).join())
                .hasCauseInstanceOf(TierUnavailableException.class)
                .hasMessageContaining("is closed");
    }
}
