package io.thermocline.it.kernel;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.netty.buffer.ByteBuf;
import io.thermocline.nvmeof.host.FabricReadLatency;
import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeTcpBlockDevice;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.VendorIdentify;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The read latency split against a target that is not Thermocline: the Linux kernel's nvmet-tcp
 * (Debian's, in a qemu guest). Its Identify Controller has nothing of ours in the vendor specific
 * area, so the user-space host does not opt in, and every read is reported as host time and
 * round trip only. Without qemu the test is skipped with the reason.
 */
@ScaledTimeout(value = 10, unit = TimeUnit.MINUTES)
class NvmeTcpKernelLatencyInteropTest {
    private static final String NQN = "nqn.2026-11.io.thermocline:kernel-latency";
    private static final long NAMESPACE_BYTES = 16L << 20;
    private static final int READS = 200;

    private static SharedKernelGuest shared;
    private static NvmeEventLoops loops;
    private static int kernelTargetPort;

    @BeforeAll
    static void boot() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            kernelTargetPort = s.getLocalPort();
        }
        shared = SharedKernelGuest.start(KernelGuest.Options.defaults().targetPort(kernelTargetPort));
        if (shared.ifAvailable().isEmpty()) {
            return;
        }
        shared.get().startNvmetTarget(NQN, 4096, NAMESPACE_BYTES);
        loops = new NvmeEventLoops(1);
    }

    @AfterAll
    static void shutDown() {
        if (loops != null) {
            loops.close();
        }
        if (shared != null) {
            shared.close();
        }
    }

    @Test
    void javaHost_againstKernelTarget_doesNotOptIn_andReportsHostAndRoundTripOnly() throws Exception {
        shared.get();
        NvmeTcpHostOptions options = NvmeTcpHostOptions.builder("127.0.0.1", kernelTargetPort, NQN)
                .identity(HostIdentity.random()).nrIoQueues(1).commandTimeout(Duration.ofSeconds(60))
                .connectTimeout(Duration.ofSeconds(30)).build();
        try (NvmeTcpController c = NvmeTcpController.connectAndWait(loops, options)) {
            ByteBuf id = c.identify(NvmeOpcodes.CNS_CONTROLLER, 0).join();
            try {
                assertFalse(VendorIdentify.offersServiceTime(id), "nvmet's Identify Controller offers no service times");
            } finally {
                id.release();
            }
            assertFalse(c.reportsServiceTime());
            NvmeTcpBlockDevice d = c.openNamespace(c.activeNamespaces().getFirst());
            ByteBuffer buf = ByteBuffer.allocateDirect(4096);
            for (int i = 0; i < READS; i++) {
                buf.clear();
                d.read((long) i * 4096, buf).get(TestTimeouts.millis(60), TimeUnit.MILLISECONDS);
            }
            FabricReadLatency.Snapshot s = c.readLatency().snapshot();
            assertEquals(READS, s.reads());
            assertEquals(READS, s.roundTrip().count());
            assertFalse(s.targetReported());
            assertEquals(0, s.transit().count());
        }
    }
}
