package io.thermocline.it.kernel;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thermocline.tier.testkit.TestTimeouts;
import java.io.BufferedReader;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Shows that {@link KernelGuest} gives tests a working kernel NVMe/TCP target and host: one guest
 * boots for the class, exports a 512-byte and a 4096-byte LBA subsystem, answers a hand-written
 * ICReq on the forwarded port, and connects its own kernel host back to those subsystems through
 * the host (guest -> 10.0.2.100:4420 -> 127.0.0.1:P -> guest:4420), which exercises both forwards,
 * several connections at once (one per queue), digests and O_DIRECT I/O.
 */
@ScaledTimeout(value = 5, unit = TimeUnit.MINUTES)
class KernelGuestTest {

    private static final String NQN_512 = "nqn.2025-01.io.thermocline:kernel-guest-test-512";
    private static final String NQN_4K = "nqn.2025-01.io.thermocline:kernel-guest-test-4k";
    private static final long NAMESPACE_BYTES = 64L << 20;
    private static final int LINE_PORT_IN_GUEST = 7000;

    private static SharedKernelGuest shared;
    private static KernelGuest guest;
    private static ServerSocket lineServer;
    private static final AtomicInteger lineConnections = new AtomicInteger();
    private static final CountDownLatch twoLineConnections = new CountDownLatch(2);
    private static final List<String> lineRequests = new CopyOnWriteArrayList<>();
    private static NvmetSubsystem target512;
    private static NvmetSubsystem target4k;

    @BeforeAll
    static void bootGuest() throws IOException {
        lineServer = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread.ofPlatform().daemon().name("line-server").start(KernelGuestTest::serveLines);
        int loopPort;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            loopPort = probe.getLocalPort();
        }
        long started = System.nanoTime();
        shared = SharedKernelGuest.start(KernelGuest.Options.defaults()
                .targetPort(loopPort)
                .hostNvmeTarget(loopPort)
                .forwardToHost(LINE_PORT_IN_GUEST, lineServer.getLocalPort()));
        if (shared.ifAvailable().isEmpty()) {
            return;
        }
        guest = shared.ifAvailable().get();
        System.err.printf("kernel guest %s (qemu pid %d) answered after %d ms%n", guest.kernelRelease(), guest.pid(),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
        target512 = guest.startNvmetTarget(NQN_512, 512, NAMESPACE_BYTES);
        target4k = guest.startNvmetTarget(NQN_4K, 4096, NAMESPACE_BYTES);
    }

    @BeforeEach
    void requireGuest() {
        shared.get();
    }

    @AfterAll
    static void stopGuest() throws IOException {
        try {
            if (shared != null) {
                shared.close();
            }
            if (guest != null) {
                assertThat(ProcessHandle.of(guest.pid()).map(ProcessHandle::isAlive).orElse(false))
                        .as("qemu is gone after close").isFalse();
            }
        } finally {
            if (lineServer != null) {
                lineServer.close();
            }
        }
    }

    /** Answers each connection's first line with "pong N LINE" once two connections are open at the same time. */
    private static void serveLines() {
        while (!lineServer.isClosed()) {
            Socket socket;
            try {
                socket = lineServer.accept();
            } catch (IOException closed) {
                return;
            }
            int number = lineConnections.incrementAndGet();
            twoLineConnections.countDown();
            Thread.ofVirtual().start(() -> {
                try (socket) {
                    socket.setSoTimeout(20_000);
                    String line = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8))
                            .readLine();
                    lineRequests.add(line);
                    twoLineConnections.await(TestTimeouts.millis(15), TimeUnit.MILLISECONDS);
                    OutputStream out = socket.getOutputStream();
                    out.write(("pong " + number + " " + line + "\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                } catch (IOException | InterruptedException e) {
                    System.err.println("line server: " + e);
                }
            });
        }
    }

    @Test
    void guestRunsCommandsAndReportsExitStatusAndOutput() throws IOException {
        assertThat(ProcessHandle.of(guest.pid()).map(ProcessHandle::isAlive)).contains(true);
        assertThat(guest.execOk("uname -r", Duration.ofSeconds(10)).output().trim()).isEqualTo(guest.kernelRelease());

        ExecResult result = guest.exec("echo to-stdout; echo to-stderr >&2; exit 7", Duration.ofSeconds(10));
        assertThat(result.exitCode()).isEqualTo(7);
        assertThat(result.output()).contains("to-stdout", "to-stderr");

        ExecResult killed = guest.exec("sleep 30", Duration.ofSeconds(1));
        assertThat(killed.exitCode()).isEqualTo(137);
        assertThat(guest.execOk("echo still-serving", Duration.ofSeconds(10)).output()).contains("still-serving");

        assertThat(guest.hostNqn()).startsWith("nqn.2014-08.org.nvmexpress:uuid:");
        assertThat(guest.execOk("lsmod", Duration.ofSeconds(10)).output())
                .contains("nvmet_tcp", "nvme_tcp", "null_blk");
    }

    /**
     * Sends an ICReq to the kernel target through the forwarded port and checks its ICResp, per the
     * NVM Express TCP Transport Specification 1.0: Figure 19 (PDU common header: PDU-Type, FLAGS,
     * HLEN, PDO, PLEN little-endian), Figure 20 (ICReq: PFV at byte 8, HPDA at 10, DGST at 11 with
     * bit 0 = header digest and bit 1 = data digest, MAXR2T at 12, 0's based) and Figure 21 (ICResp:
     * PFV at 8, CPDA at 10, DGST at 11, MAXH2CDATA at 12).
     */
    @ParameterizedTest(name = "header digest {0}, data digest {1}")
    @CsvSource({"false,false", "true,true", "true,false"})
    void kernelTargetAnswersIcReqOnTheForwardedPort(boolean headerDigest, boolean dataDigest) throws IOException {
        int digests = (headerDigest ? 0x01 : 0) | (dataDigest ? 0x02 : 0);
        ByteBuffer icReq = ByteBuffer.allocate(128).order(ByteOrder.LITTLE_ENDIAN);
        icReq.put(0, (byte) 0x00);            // PDU-Type: ICReq
        icReq.put(1, (byte) 0x00);            // FLAGS
        icReq.put(2, (byte) 128);             // HLEN
        icReq.put(3, (byte) 0);               // PDO
        icReq.putInt(4, 128);                 // PLEN
        icReq.putShort(8, (short) 0);         // PFV: version 1.0
        icReq.put(10, (byte) 0);              // HPDA: no alignment padding
        icReq.put(11, (byte) digests);        // DGST
        icReq.putInt(12, 0);                  // MAXR2T: one outstanding R2T

        byte[] reply = new byte[128];
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), guest.targetPort())) {
            socket.setSoTimeout(20_000);
            socket.setTcpNoDelay(true);
            socket.getOutputStream().write(icReq.array());
            new DataInputStream(socket.getInputStream()).readFully(reply);
        }
        ByteBuffer icResp = ByteBuffer.wrap(reply).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(icResp.get(0)).as("PDU-Type ICResp").isEqualTo((byte) 0x01);
        assertThat(icResp.get(2) & 0xff).as("HLEN").isEqualTo(128);
        assertThat(icResp.get(3) & 0xff).as("PDO").isZero();
        assertThat(icResp.getInt(4)).as("PLEN").isEqualTo(128);
        assertThat(icResp.getShort(8)).as("PFV").isZero();
        assertThat(icResp.get(11) & 0x03).as("DGST echoes the request").isEqualTo(digests);
        assertThat(Integer.toUnsignedLong(icResp.getInt(12))).as("MAXH2CDATA").isGreaterThanOrEqualTo(4096);
    }

    @Test
    void guestReachesHostWithOneHostConnectionPerGuestConnection() throws IOException {
        int before = lineConnections.get();
        String script = """
                (echo first | timeout 20 nc %1$s %2$d > /tmp/line-first) &
                (echo second | timeout 20 nc %1$s %2$d > /tmp/line-second) &
                wait
                cat /tmp/line-first /tmp/line-second
                """.formatted(KernelGuest.HOST_ADDRESS, LINE_PORT_IN_GUEST);
        String output = guest.execOk(script, Duration.ofSeconds(30)).output();

        assertThat(lineConnections.get() - before).isEqualTo(2);
        assertThat(lineRequests).contains("first", "second");
        List<String> replies = output.lines().filter(line -> line.startsWith("pong ")).toList();
        assertThat(replies).hasSize(2);
        assertThat(replies).anySatisfy(line -> assertThat(line).endsWith(" first"));
        assertThat(replies).anySatisfy(line -> assertThat(line).endsWith(" second"));
        assertThat(replies.stream().map(line -> line.split(" ")[1]).distinct()).hasSize(2);
    }

    @Test
    void kernelHostDiscoversSubsystemsThroughTheHostUntilOneIsStopped() throws IOException {
        String extraNqn = "nqn.2025-01.io.thermocline:kernel-guest-test-extra";
        guest.startNvmetTarget(extraNqn, 512, 8L << 20);
        assertThat(guest.nvmeDiscover()).contains(NQN_512, NQN_4K, extraNqn, "trtype:  tcp");
        guest.stopNvmetTarget(extraNqn);
        assertThat(guest.nvmeDiscover()).contains(NQN_512).doesNotContain(extraNqn);
    }

    @ParameterizedTest(name = "LBA {0}, header digest {1}, data digest {2}")
    @CsvSource({"512,false,false", "4096,true,true"})
    void kernelHostDoesDirectIoOnKernelTarget(int lbaSize, boolean headerDigest, boolean dataDigest)
            throws IOException {
        NvmetSubsystem target = lbaSize == 512 ? target512 : target4k;
        NvmeConnection connection = guest.nvmeConnect(target.nqn(), headerDigest, dataDigest);
        try {
            assertThat(connection.namespaces()).hasSize(1);
            NvmeConnection.Namespace namespace = connection.namespaces().getFirst();
            assertThat(namespace.nsid()).isEqualTo(1);
            assertThat(namespace.logicalBlockSize()).isEqualTo(lbaSize);
            assertThat(namespace.sizeBytes()).isEqualTo(NAMESPACE_BYTES);
            assertThat(guest.execOk("ls /sys/class/nvme/" + connection.controller(), Duration.ofSeconds(10)).output())
                    .contains("subsysnqn");

            byte[] data = new byte[3 * lbaSize];
            new Random(lbaSize).nextBytes(data);
            long offset = 5L * lbaSize;
            guest.writeDirect(connection.device(), offset, data);
            assertThat(guest.readDirect(connection.device(), offset, data.length)).isEqualTo(data);
            assertThat(guest.readDirect(target.backingDevice(), offset, data.length))
                    .as("the bytes reached the target's backing device").isEqualTo(data);

            long bulkOffset = 1L << 20;
            long bulkLength = 1L << 20;
            String written = guest.writeRandomAndVerify(connection.device(), bulkOffset, bulkLength);
            assertThat(guest.sha256Direct(target.backingDevice(), bulkOffset, bulkLength)).isEqualTo(written);

            assertThat(guest.execOk("cat /sys/class/nvme/" + connection.controller() + "/queue_count",
                    Duration.ofSeconds(10)).output().trim())
                    .as("admin queue plus one I/O queue per CPU, each its own forwarded connection").isEqualTo("3");
        } finally {
            assertThat(guest.nvmeDisconnect(target.nqn())).isEqualTo(1);
        }
    }

    @Test
    void directIoRejectsUnalignedRanges() {
        assertThatThrownBy(
                        () -> guest.readDirect(target4k.backingDevice(), 512, 4096))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("logical block size 4096");
    }
}
