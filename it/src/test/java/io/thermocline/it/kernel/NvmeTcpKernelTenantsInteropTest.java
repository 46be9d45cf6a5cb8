package io.thermocline.it.kernel;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.target.HostRateLimit;
import io.thermocline.nvmeof.target.HostRateStats;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Linux kernel's nvme-tcp host (6.1, in a qemu guest) as one tenant of a Java target subsystem
 * shared with another host: it attaches only the namespaces granted to it (the Active Namespace ID
 * list and zero-filled Identify Namespace of the others), reads and writes correctly while a
 * per-host rate limit holds its commands back, and, never having opted in to service times (Set
 * Features C0h), gets standard completions although Identify Controller advertises them in its
 * vendor specific area. Without qemu the test is skipped with the reason.
 */
@ScaledTimeout(value = 10, unit = TimeUnit.MINUTES)
class NvmeTcpKernelTenantsInteropTest {
    private static final String NQN = "nqn.2026-11.io.thermocline:tenants";
    private static final String OTHER_HOST = "nqn.2014-08.org.nvmexpress:uuid:0b9c6a4e-5f3d-4a7e-9c1b-2d8e7f6a5b4c";
    private static final long NAMESPACE_BYTES = 16L << 20;
    /** 2 MiB/s with a 256 KiB burst: the guest's 1 MiB write and read-back have to wait for it. */
    private static final HostRateLimit GUEST_LIMIT = new HostRateLimit(0, 2L << 20, 1, 256 << 10);

    private static SharedKernelGuest shared;
    private static NvmeTcpTarget javaTarget;
    private static Path dir;

    @BeforeAll
    static void boot() throws IOException {
        int javaTargetPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            javaTargetPort = s.getLocalPort();
        }
        shared = SharedKernelGuest.start(KernelGuest.Options.defaults().hostNvmeTarget(javaTargetPort));
        if (shared.ifAvailable().isEmpty()) {
            return;
        }
        String guestHost = shared.get().hostNqn();
        dir = Files.createTempDirectory("thermocline-tenants-interop");
        Subsystem s = Subsystem.builder(NQN).allowHost(guestHost).allowHost(OTHER_HOST)
                .namespace(Namespace.openFile(dir.resolve("ns-guest"), NAMESPACE_BYTES, 4096, false))
                .namespace(Namespace.openFile(dir.resolve("ns-other"), NAMESPACE_BYTES, 4096, false))
                .namespace(Namespace.openFile(dir.resolve("ns-shared"), NAMESPACE_BYTES, 4096, false))
                .namespaceHosts(1, List.of(guestHost))
                .namespaceHosts(2, List.of(OTHER_HOST))
                .hostRateLimit(guestHost, GUEST_LIMIT)
                .build();
        javaTarget = NvmeTcpTarget.builder().port(javaTargetPort).subsystem(s).build();
        javaTarget.start();
    }

    @AfterAll
    static void shutDown() throws IOException {
        if (javaTarget != null) {
            javaTarget.close();
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

    @Test
    void kernelHost_attachesItsNamespacesOnly_worksUnderItsRateLimit_andGetsStandardCompletions() throws Exception {
        KernelGuest guest = shared.get();
        NvmeConnection conn = guest.nvmeConnect(NQN, false, false);
        try {
            List<Integer> nsids = conn.namespaces().stream().map(NvmeConnection.Namespace::nsid).toList();
            assertEquals(List.of(1, 3), nsids, "namespaces the guest attached: " + conn.namespaces());

            String device = conn.namespaces().getFirst().device();
            long offset = 1L << 20;
            int length = 1 << 20;
            String sha = guest.writeRandomAndVerify(device, offset, length);
            assertEquals(sha, sha256OfFile(dir.resolve("ns-guest"), offset, length),
                    "the bytes the kernel host wrote, in the granted namespace's file");
            assertArrayEquals(new byte[length], read(dir.resolve("ns-other"), offset, length),
                    "the other tenant's namespace is untouched");

            HostRateStats stats = javaTarget.rateLimitStats(NQN, guest.hostNqn());
            assertNotNull(stats, "the guest's I/O went through its limiter");
            assertTrue(stats.admittedBytes() >= 2L * length, "admitted " + stats);
            assertTrue(stats.deferredCommands() > 0, "the limit held some of the guest's commands: " + stats);

            // the kernel never asked for service times: the vendor specific feature is still off
            ExecResult feature = guest.exec("nvme get-feature /dev/" + conn.controller() + " -f 0xc0 2>&1", Duration.ofSeconds(30));
            Matcher value = Pattern.compile("(?i)current value:\\s*(?:0x)?([0-9a-f]+)").matcher(feature.output());
            assertTrue(feature.ok() && value.find(), "nvme get-feature -f 0xc0: " + feature);
            assertEquals(0, Long.parseLong(value.group(1), 16), "C0h as the kernel left it: " + feature.output());
        } finally {
            assertEquals(1, guest.nvmeDisconnect(NQN));
        }
    }

    private static byte[] read(Path file, long offset, int length) throws IOException {
        byte[] b = new byte[length];
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            f.seek(offset);
            f.readFully(b);
        }
        return b;
    }

    private static String sha256OfFile(Path file, long offset, int length) throws IOException {
        return KernelGuest.sha256(read(file, offset, length));
    }
}
