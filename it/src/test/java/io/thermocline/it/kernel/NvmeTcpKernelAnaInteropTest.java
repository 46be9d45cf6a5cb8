package io.thermocline.it.kernel;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.pdu.AnaState;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Linux kernel's native NVMe multipath (Debian's, in a qemu guest) against two ports of one
 * Thermocline subsystem that reports ANA: the kernel reads the ANA log page, takes an ANA Change
 * notice, shows each path's state in sysfs, and keeps I/O going through the usable path while the
 * other is Inaccessible. Without qemu the test is skipped with the reason.
 */
@ScaledTimeout(value = 10, unit = TimeUnit.MINUTES)
class NvmeTcpKernelAnaInteropTest {
    private static final String NQN = "nqn.2026-11.io.thermocline:java-ana-target";
    private static final long NAMESPACE_BYTES = 64L << 20;
    private static final int GUEST_PORT_B = 4421;

    private static SharedKernelGuest shared;
    private static NvmeTcpTarget portA;
    private static NvmeTcpTarget portB;
    private static Path dir;

    @BeforeAll
    static void boot() throws IOException {
        int hostPortA;
        int hostPortB;
        try (ServerSocket a = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             ServerSocket b = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            hostPortA = a.getLocalPort();
            hostPortB = b.getLocalPort();
        }
        shared = SharedKernelGuest.start(KernelGuest.Options.defaults().hostNvmeTarget(hostPortA).forwardToHost(GUEST_PORT_B, hostPortB));
        if (shared.ifAvailable().isEmpty()) {
            return;
        }
        String hostNqn = shared.get().hostNqn();
        dir = Files.createTempDirectory("thermocline-ana-interop");
        Path file = dir.resolve("ns");
        portA = port(hostPortA, 1, file, hostNqn);
        portB = port(hostPortB, 2, file, hostNqn);
    }

    /** One port of the subsystem; the ports hand out disjoint controller IDs, which Linux requires. */
    private static NvmeTcpTarget port(int port, int portId, Path file, String hostNqn) {
        NvmeTcpTarget t = NvmeTcpTarget.builder().port(port).portId(portId).controllerIds(portId * 0x100, portId * 0x100 + 0xFF)
                .subsystem(Subsystem.builder(NQN).allowHost(hostNqn).namespace(Namespace.openFile(file, NAMESPACE_BYTES, 4096, false), 1).build())
                .build();
        t.start();
        return t;
    }

    @AfterAll
    static void shutDown() throws IOException {
        if (portA != null) {
            portA.close();
        }
        if (portB != null) {
            portB.close();
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

    /** The ANA state the kernel shows for namespace 1 through controller {@code ctrl} (e.g. nvme0), from sysfs. */
    private static String anaState(KernelGuest guest, String ctrl) throws IOException {
        String n = ctrl.substring("nvme".length());
        return guest.execOk("cat /sys/block/nvme*c" + n + "n1/ana_state", Duration.ofSeconds(10)).output().trim();
    }

    private static void awaitAnaState(KernelGuest guest, String ctrl, String expected) throws Exception {
        long deadline = System.nanoTime() + TestTimeouts.seconds(15).toNanos();
        String state = anaState(guest, ctrl);
        while (!state.equals(expected) && System.nanoTime() < deadline) {
            Thread.sleep(200);
            state = anaState(guest, ctrl);
        }
        assertEquals(expected, state, "ANA state of namespace 1 through " + ctrl + " as the kernel shows it");
    }

    @Test
    void kernelMultipath_followsAnaChanges_andKeepsIoOnTheUsablePath() throws Exception {
        KernelGuest guest = shared.get();
        NvmeConnection a = guest.nvmeConnect(NQN, false, false);
        try {
            NvmeConnection b = guest.nvmeConnect(KernelGuest.HOST_ADDRESS, GUEST_PORT_B, NQN, false, false);
            assertEquals(a.device(), b.device(), "one multipath block device for both paths");
            awaitAnaState(guest, a.controller(), "optimized");
            awaitAnaState(guest, b.controller(), "optimized");

            portA.anaState(NQN, 1, AnaState.INACCESSIBLE);
            portB.anaState(NQN, 1, AnaState.NON_OPTIMIZED);
            awaitAnaState(guest, a.controller(), "inaccessible");
            awaitAnaState(guest, b.controller(), "non-optimized");

            long refusedBefore = portA.anaRefusals();
            byte[] data = new byte[256 << 10];
            new Random(7).nextBytes(data);
            guest.writeDirect(a.device(), 1L << 20, data);
            assertArrayEquals(data, guest.readDirect(a.device(), 1L << 20, data.length), "read back through the multipath device");
            assertArrayEquals(data, readFile(dir.resolve("ns"), 1L << 20, data.length), "the bytes in the target's file");
            assertEquals(refusedBefore, portA.anaRefusals(), "the kernel sent nothing to the inaccessible path");

            portA.anaState(NQN, 1, AnaState.OPTIMIZED);
            portB.anaState(NQN, 1, AnaState.OPTIMIZED);
            awaitAnaState(guest, a.controller(), "optimized");
            awaitAnaState(guest, b.controller(), "optimized");
            String dmesg = guest.dmesg();
            assertFalse(dmesg.contains("ANA log page size") || dmesg.contains("invalid ANA"), dmesg);
            assertTrue(guest.nvmeDisconnect(NQN) >= 2, "both controllers disconnected");
        } catch (Throwable t) {
            guest.nvmeDisconnect(NQN);
            throw t;
        }
    }

    private static byte[] readFile(Path file, long offset, int length) throws IOException {
        byte[] b = new byte[length];
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            f.seek(offset);
            f.readFully(b);
        }
        return b;
    }
}
