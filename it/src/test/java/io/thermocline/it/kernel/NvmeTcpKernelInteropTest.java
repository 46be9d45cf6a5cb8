package io.thermocline.it.kernel;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.discovery.DiscoveryLogEntry;
import io.thermocline.nvmeof.discovery.NvmeDiscovery;
import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeTcpBlockDevice;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Interoperability with the Linux kernel's NVMe/TCP stack (Debian's, in a qemu guest), both ways:
 *
 * <ul>
 *   <li>Thermocline's user-space host against the kernel's nvmet-tcp target (null_blk namespaces):
 *       discovery, bring-up, in-capsule and R2T writes, reads, flush, write zeroes, and the bytes
 *       checked on the kernel's own backing device;</li>
 *   <li>the kernel's nvme-tcp host against Thermocline's Java target (file namespaces):
 *       {@code nvme discover}, {@code nvme connect}, O_DIRECT writes and reads in the guest, and
 *       the bytes checked in the target's file.</li>
 * </ul>
 * Each direction runs at 512-byte and 4 KiB LBAs, with no digests, header digests, data digests,
 * and both. One guest boots for the class; without qemu the tests are skipped with the reason.
 */
@ScaledTimeout(value = 10, unit = TimeUnit.MINUTES)
class NvmeTcpKernelInteropTest {
    private static final String KERNEL_NQN = "nqn.2026-11.io.thermocline:kernel-target-";
    private static final String JAVA_NQN = "nqn.2026-11.io.thermocline:java-target-";
    private static final long NAMESPACE_BYTES = 64L << 20;

    private static SharedKernelGuest shared;
    private static NvmeTcpTarget javaTarget;
    private static NvmeEventLoops loops;
    private static Path dir;
    private static int kernelTargetPort;
    private static final Map<String, NvmetSubsystem> kernelTargets = new HashMap<>();

    @BeforeAll
    static void boot() throws IOException {
        int javaTargetPort;
        try (ServerSocket a = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             ServerSocket b = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            kernelTargetPort = a.getLocalPort();
            javaTargetPort = b.getLocalPort();
        }
        shared = SharedKernelGuest.start(KernelGuest.Options.defaults().targetPort(kernelTargetPort).hostNvmeTarget(javaTargetPort));
        if (shared.ifAvailable().isEmpty()) {
            return;
        }
        KernelGuest guest = shared.get();
        for (int lba : new int[] {512, 4096}) {
            kernelTargets.put(KERNEL_NQN + lba, guest.startNvmetTarget(KERNEL_NQN + lba, lba, NAMESPACE_BYTES));
        }

        dir = Files.createTempDirectory("thermocline-interop");
        NvmeTcpTarget.Builder target = NvmeTcpTarget.builder().port(javaTargetPort);
        for (int lba : new int[] {512, 4096}) {
            target.subsystem(Subsystem.builder(JAVA_NQN + lba).allowHost(guest.hostNqn())
                    .namespace(Namespace.openFile(dir.resolve("ns-" + lba), NAMESPACE_BYTES, lba, false)).build());
        }
        javaTarget = target.build();
        javaTarget.start();
        loops = new NvmeEventLoops(2);
    }

    @AfterAll
    static void shutDown() throws IOException {
        if (javaTarget != null) {
            javaTarget.close();
        }
        if (loops != null) {
            loops.close();
        }
        if (shared != null) {
            shared.close();
        }
        if (dir != null) {
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(dir);
        }
    }

    // --- Thermocline host -> Linux nvmet-tcp ---

    @ParameterizedTest(name = "lba={0} hdgst={1} ddgst={2}")
    @CsvSource({"512,false,false", "512,true,true", "4096,true,false", "4096,false,true", "4096,false,false", "512,true,false"})
    void javaHost_againstKernelTarget(int lba, boolean hdgst, boolean ddgst) throws Exception {
        KernelGuest guest = shared.get();
        String nqn = KERNEL_NQN + lba;
        NvmeTcpHostOptions options = NvmeTcpHostOptions.builder("127.0.0.1", kernelTargetPort, nqn)
                .identity(HostIdentity.random()).headerDigest(hdgst).dataDigest(ddgst).nrIoQueues(2).queueSize(32)
                .commandTimeout(Duration.ofSeconds(60)).connectTimeout(Duration.ofSeconds(30)).build();
        try (NvmeTcpController c = NvmeTcpController.connectAndWait(loops, options)) {
            assertEquals(nqn, c.info().subsystemNqn());
            assertEquals(2, c.ioQueueCount());
            NvmeTcpBlockDevice d = c.openNamespace(c.activeNamespaces().getFirst());
            assertEquals(lba, d.blockSizeInBytes());
            assertEquals(NAMESPACE_BYTES, d.sizeInBytes());

            Random random = new Random(lba * 31L + (hdgst ? 1 : 0) + (ddgst ? 2 : 0));
            // 4 KiB goes in-capsule (nvmet-tcp takes 16 KiB in-capsule); 1 MiB + one block goes through R2T and H2CData
            for (int length : new int[] {4096, (1 << 20) + lba}) {
                long offset = (long) random.nextInt((int) ((NAMESPACE_BYTES - length) / lba)) * lba;
                byte[] data = new byte[length];
                random.nextBytes(data);
                d.write(offset, ByteBuffer.wrap(data)).join();
                ByteBuffer back = ByteBuffer.allocateDirect(length);
                d.read(offset, back).join();
                byte[] got = new byte[length];
                back.flip().get(got);
                assertArrayEquals(data, got, "read back at " + offset);
                String onDevice = guest.sha256Direct(kernelTargets.get(nqn).backingDevice(), offset, length);
                assertEquals(KernelGuest.sha256(data), onDevice, "the bytes on the kernel target's null_blk device");
            }
            d.flush().join();
            d.writeZeroes(8L * lba, 16L * lba).join();
            ByteBuffer zeros = ByteBuffer.allocate(16 * lba);
            d.read(8L * lba, zeros).join();
            assertArrayEquals(new byte[16 * lba], zeros.array());
        }
    }

    @org.junit.jupiter.api.Test
    void javaDiscovery_againstKernelDiscoveryController() {
        shared.get();
        NvmeDiscovery.Log log = NvmeDiscovery.discover(loops, "127.0.0.1", kernelTargetPort, HostIdentity.random(), Duration.ofSeconds(30));
        List<String> nqns = log.entries().stream().map(DiscoveryLogEntry::subnqn).toList();
        assertTrue(nqns.contains(KERNEL_NQN + 512) && nqns.contains(KERNEL_NQN + 4096), nqns.toString());
        DiscoveryLogEntry e = log.entries().stream().filter(x -> x.subnqn().equals(KERNEL_NQN + 512)).findFirst().orElseThrow();
        assertEquals("tcp", e.trtypeName());
        assertEquals("10.0.2.15", e.traddr(), "the kernel reports its own socket address");
        assertEquals("4420", e.trsvcid());
    }

    // --- Linux nvme-tcp host -> Thermocline target ---

    @ParameterizedTest(name = "lba={0} hdgst={1} ddgst={2}")
    @CsvSource({"512,false,false", "512,true,true", "4096,true,false", "4096,false,true", "4096,false,false", "512,false,true"})
    void kernelHost_againstJavaTarget(int lba, boolean hdgst, boolean ddgst) throws Exception {
        KernelGuest guest = shared.get();
        String nqn = JAVA_NQN + lba;
        String discovered = guest.nvmeDiscover();
        assertTrue(discovered.contains(nqn), discovered);
        NvmeConnection conn = guest.nvmeConnect(nqn, hdgst, ddgst);
        try {
            NvmeConnection.Namespace ns = conn.namespaces().getFirst();
            assertEquals(lba, ns.logicalBlockSize());
            assertEquals(NAMESPACE_BYTES, ns.sizeBytes());
            for (long[] io : new long[][] {{lba * 3L, 4096}, {1L << 20, (256 << 10) + lba}}) {
                String sha = guest.writeRandomAndVerify(ns.device(), io[0], io[1]);
                assertEquals(sha, sha256OfFile(dir.resolve("ns-" + lba), io[0], (int) io[1]),
                        "the bytes the kernel host wrote, in the Java target's file");
            }
        } finally {
            assertEquals(1, guest.nvmeDisconnect(nqn));
        }
    }

    private static String sha256OfFile(Path file, long offset, int length) throws IOException {
        byte[] b = new byte[length];
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            f.seek(offset);
            f.readFully(b);
        }
        return KernelGuest.sha256(b);
    }
}
