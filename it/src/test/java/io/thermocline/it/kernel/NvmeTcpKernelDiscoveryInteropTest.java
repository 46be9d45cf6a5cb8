package io.thermocline.it.kernel;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.discovery.DiscoveryListener;
import io.thermocline.nvmeof.discovery.DiscoveryLogChange;
import io.thermocline.nvmeof.discovery.DiscoveryLogEntry;
import io.thermocline.nvmeof.discovery.PersistentDiscovery;
import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeTcpBlockDevice;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.target.DiscoveryReferral;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Discovery against the Linux kernel (Debian's, in a qemu guest), both ways:
 * <ul>
 *   <li>the kernel's host ({@code nvme discover}) against Thermocline's target: the log it sees is
 *       filtered by its host NQN and lists a referral; with {@code --persistent} the kernel keeps
 *       the discovery controller alive with keep-alive, enables Discovery Log Page Change notices
 *       and takes the notice (traced as NVME_AEN=0x70f002) when a subsystem is added at run time;</li>
 *   <li>Thermocline's {@link PersistentDiscovery} against the kernel's nvmet discovery controller:
 *       a subsystem linked to nvmet's port at run time is announced, read with the new generation
 *       and auto-connected, and I/O goes through it.</li>
 * </ul>
 * One guest boots for the class; without qemu the tests are skipped with the reason.
 */
@ScaledTimeout(value = 10, unit = TimeUnit.MINUTES)
class NvmeTcpKernelDiscoveryInteropTest {
    private static final String JAVA_NQN = "nqn.2026-11.io.thermocline:java-disc-";
    private static final String KERNEL_NQN = "nqn.2026-11.io.thermocline:kernel-disc-";
    private static final String OTHER_HOST = "nqn.2014-08.org.nvmexpress:uuid:0d15c0e1-0000-4000-8000-000000000001";

    private static SharedKernelGuest shared;
    private static NvmeTcpTarget javaTarget;
    private static NvmeEventLoops loops;
    private static Path dir;
    private static int kernelTargetPort;

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
        guest.startNvmetTarget(KERNEL_NQN + "first", 4096, 16L << 20);
        dir = Files.createTempDirectory("thermocline-discovery-interop");
        javaTarget = NvmeTcpTarget.builder().port(javaTargetPort)
                .subsystem(Subsystem.builder(JAVA_NQN + "mine").allowHost(guest.hostNqn())
                        .namespace(Namespace.openFile(dir.resolve("mine"), 16L << 20, 4096, false)).build())
                .subsystem(Subsystem.builder(JAVA_NQN + "not-mine").allowHost(OTHER_HOST)
                        .namespace(Namespace.openFile(dir.resolve("not-mine"), 16L << 20, 4096, false)).build())
                .referral(new DiscoveryReferral("10.0.2.15", 4420, 3))
                .build();
        javaTarget.start();
        loops = new NvmeEventLoops(1);
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

    @Test
    void kernelHost_seesItsFilteredLogAndTheReferral_andKeepsAPersistentConnectionThatTakesTheChangeNotice() throws Exception {
        KernelGuest guest = shared.get();
        String log = guest.nvmeDiscover();
        assertTrue(log.contains(JAVA_NQN + "mine"), log);
        assertFalse(log.contains(JAVA_NQN + "not-mine"), "another host's subsystem is not listed: " + log);
        assertTrue(log.contains("referral"), "the referral entry: " + log);
        assertTrue(log.contains("10.0.2.15"), log);

        boolean traced = guest.exec("""
                grep -q tracefs /proc/mounts || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
                [ -d /sys/kernel/tracing/events/nvme/nvme_async_event ] || exit 1
                echo > /sys/kernel/tracing/trace
                echo 1 > /sys/kernel/tracing/events/nvme/nvme_async_event/enable
                """, Duration.ofSeconds(20)).ok();
        ExecResult persistent = guest.exec("nvme discover -t tcp -a " + KernelGuest.HOST_ADDRESS + " -s " + KernelGuest.NVME_TCP_PORT
                + " -p -k 2", Duration.ofSeconds(60));
        Assumptions.assumeTrue(persistent.ok() || !persistent.output().contains("unrecognized option"),
                "the guest's nvme-cli has no --persistent: " + persistent.output());
        assertTrue(persistent.ok(), persistent.toString());
        String controller = discoveryController(guest);
        assertNotNull(controller, "a persistent discovery controller stays after nvme discover -p: "
                + guest.exec("grep . /sys/class/nvme/nvme*/subsysnqn /sys/class/nvme/nvme*/state").output());
        try {
            Thread.sleep(5000);  // more than twice the 2 s keep-alive timeout
            assertEquals("live", guest.execOk("cat /sys/class/nvme/" + controller + "/state", Duration.ofSeconds(10)).output().trim(),
                    "keep-alive holds the discovery controller");

            long generation = javaTarget.discoveryGeneration();
            javaTarget.addSubsystem(Subsystem.builder(JAVA_NQN + "late").allowHost(guest.hostNqn())
                    .namespace(Namespace.openFile(dir.resolve("late"), 16L << 20, 4096, false)).build());
            assertEquals(generation + 1, javaTarget.discoveryGeneration());
            String reread = guest.execOk("nvme discover -d " + controller, Duration.ofSeconds(30)).output();
            assertTrue(reread.contains(JAVA_NQN + "late"), "the persistent controller's log lists the new subsystem: " + reread);
            if (traced) {
                String trace = "";
                long deadline = System.nanoTime() + TestTimeouts.seconds(10).toNanos();
                while (!trace.contains("0x70f002") && System.nanoTime() < deadline) {
                    Thread.sleep(200);
                    trace = guest.execOk("cat /sys/kernel/tracing/trace", Duration.ofSeconds(10)).output();
                }
                assertTrue(trace.contains("NVME_AEN=0x70f002"), "the kernel took the Discovery Log Page Change notice: " + trace);
            } else {
                System.err.println("NOTE: no nvme tracepoints in the guest kernel: the notice itself is not checked on the kernel side");
            }
        } finally {
            guest.exec("nvme disconnect -d " + controller + "; echo 0 > /sys/kernel/tracing/events/nvme/nvme_async_event/enable",
                    Duration.ofSeconds(30));
            javaTarget.removeSubsystem(JAVA_NQN + "late");
        }
    }

    /** The guest's live controller of the discovery subsystem, e.g. nvme0, or null. */
    private static String discoveryController(KernelGuest guest) throws IOException {
        String out = guest.exec("""
                for c in /sys/class/nvme/nvme*; do
                  [ "$(cat "$c/subsysnqn" 2>/dev/null)" = nqn.2014-08.org.nvmexpress.discovery ] || continue
                  [ "$(cat "$c/state" 2>/dev/null)" = live ] || continue
                  echo "controller=${c##*/}"
                done
                """, Duration.ofSeconds(20)).output();
        Matcher m = Pattern.compile("(?m)^controller=(\\S+)$").matcher(out);
        return m.find() ? m.group(1) : null;
    }

    @Test
    void javaPersistentDiscovery_againstNvmet_hearsASubsystemLinkedAtRunTime_andAutoConnects() throws Exception {
        KernelGuest guest = shared.get();
        BlockingQueue<DiscoveryLogChange> changes = new LinkedBlockingQueue<>();
        BlockingQueue<NvmeTcpController> connected = new LinkedBlockingQueue<>();
        BlockingQueue<Throwable> failures = new LinkedBlockingQueue<>();
        HostIdentity me = HostIdentity.random();
        boolean lateLinked = false;
        NvmeTcpHostOptions template = NvmeTcpHostOptions.builder("127.0.0.1", kernelTargetPort, "nqn.2026-11.io.thermocline:unused")
                .identity(me).nrIoQueues(1).commandTimeout(Duration.ofSeconds(60)).connectTimeout(Duration.ofSeconds(30)).build();
        try (PersistentDiscovery d = PersistentDiscovery.builder(loops,
                        PersistentDiscovery.options("127.0.0.1", kernelTargetPort).identity(me).keepAliveTimeout(Duration.ofSeconds(5))
                                .commandTimeout(Duration.ofSeconds(60)).connectTimeout(Duration.ofSeconds(30)).build())
                .listener(new DiscoveryListener() {
                    @Override
                    public void logChanged(DiscoveryLogChange change) {
                        changes.add(change);
                    }

                    @Override
                    public void connected(DiscoveryLogEntry entry, NvmeTcpController controller) {
                        connected.add(controller);
                    }

                    @Override
                    public void connectFailed(DiscoveryLogEntry entry, Throwable cause) {
                        failures.add(cause);
                    }
                })
                // nvmet lists its guest address, 10.0.2.15:4420; the host reaches that port through qemu's forward
                .autoConnect(e -> e.subnqn().startsWith(KERNEL_NQN) ? template.toBuilder().nqn(e.subnqn()).build() : null)
                .open()) {
            DiscoveryLogChange initial = changes.poll(30, TimeUnit.SECONDS);
            assertNotNull(initial);
            assertTrue(initial.entries().stream().anyMatch(e -> e.subnqn().equals(KERNEL_NQN + "first")), initial.toString());
            assertNotNull(connected.poll(60, TimeUnit.SECONDS), "auto-connect to the subsystem nvmet listed at the start: " + failures);

            long linked = System.nanoTime();
            guest.startNvmetTarget(KERNEL_NQN + "late", 4096, 16L << 20);
            lateLinked = true;
            DiscoveryLogChange change = changes.poll(30, TimeUnit.SECONDS);
            assertNotNull(change, "nvmet's Discovery Log Page Change notice for the subsystem linked to its port");
            System.err.println("nvmet discovery change heard " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - linked)
                    + " ms after the link (including the guest command)");
            assertTrue(change.generation() > initial.generation(), change.toString());
            assertEquals(List.of(KERNEL_NQN + "late"), change.added().stream().map(DiscoveryLogEntry::subnqn)
                    .filter(n -> n.startsWith(KERNEL_NQN)).toList());
            NvmeTcpController late = connected.poll(60, TimeUnit.SECONDS);
            assertNotNull(late, "auto-connect to the new subsystem: " + failures);
            assertEquals(KERNEL_NQN + "late", late.options().nqn());
            try (NvmeTcpBlockDevice device = late.openNamespace(late.activeNamespaces().getFirst())) {
                ByteBuffer data = ByteBuffer.allocate(8192);
                for (int i = 0; i < data.capacity(); i++) {
                    data.put((byte) (i * 13));
                }
                device.write(4096, data.flip()).join();
                ByteBuffer back = ByteBuffer.allocate(8192);
                device.read(4096, back).join();
                assertEquals(data.rewind(), back.flip());
            }
        } finally {
            if (lateLinked) {
                guest.stopNvmetTarget(KERNEL_NQN + "late");
            }
        }
    }
}
