package io.thermocline.nvmeof.host;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.discovery.DiscoveryLogEntry;
import io.thermocline.nvmeof.discovery.NvmeDiscovery;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.NvmeStatus;
import io.thermocline.tier.TierIoException;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@ScaledTimeout(60)
class NvmeTcpHostTest {
    private static final String NQN = "nqn.2026-11.io.thermocline:host-test";

    @TempDir
    Path dir;
    private LoopbackFabric fabric;

    @BeforeEach
    void start() {
        fabric = LoopbackFabric.start(dir.resolve("ns"), 8 << 20, 4096, NQN);
    }

    @AfterEach
    void stop() {
        fabric.close();
    }

    @Test
    void connect_bringsTheControllerUp_andReportsIdentify() {
        try (NvmeTcpController c = fabric.connect(fabric.options().nrIoQueues(3).queueSize(16).build())) {
            assertTrue(c.isConnected());
            assertEquals(3, c.ioQueueCount());
            assertEquals(NQN, c.info().subsystemNqn());
            assertEquals(1, c.info().controllerType(), "an I/O controller");
            assertEquals(java.util.List.of(1), c.activeNamespaces());
            assertTrue(c.inCapsuleDataSizeInBytes() > 0, "the target takes in-capsule data on I/O queues");
            NamespaceInfo ns = c.identifyNamespace(1).join();
            assertEquals(4096, ns.blockSizeInBytes());
            assertEquals((8 << 20) / 4096, ns.sizeInBlocks());
        }
    }

    @Test
    void identifyOfAMissingNamespace_failsWithTheStatus() {
        try (NvmeTcpController c = fabric.connect()) {
            CompletionException e = assertThrows(CompletionException.class, () -> c.identifyNamespace(7).join());
            NvmeException ne = (NvmeException) e.getCause();
            assertEquals(NvmeException.Scope.COMMAND, ne.scope());
            assertNotEquals(NvmeStatus.SUCCESS, ne.status());
            assertTrue(c.isConnected(), "a failed command leaves the association up");
        }
    }

    @Test
    void hostNotAllowed_getsConnectInvalidHost_namingTheHost() {
        HostIdentity stranger = HostIdentity.random();
        NvmeException e = assertThrows(NvmeException.class,
                () -> fabric.connect(fabric.options().identity(stranger).build()));
        assertEquals(NvmeStatus.CONNECT_INVALID_HOST, e.status());
        assertTrue(e.getMessage().contains(stranger.hostNqn()), e.getMessage());
        assertTrue(e.getMessage().contains(NQN), e.getMessage());
    }

    @Test
    void discovery_listsTheSubsystemAtTheTargetsOwnAddress() {
        NvmeDiscovery.Log log = NvmeDiscovery.discover(fabric.loops(), "127.0.0.1", fabric.address().getPort(),
                new HostIdentity(LoopbackFabric.HOST_NQN, UUID.randomUUID()), Duration.ofSeconds(10));
        DiscoveryLogEntry entry = log.entries().stream().filter(x -> x.subnqn().equals(NQN)).findFirst().orElseThrow();
        assertEquals("tcp", entry.trtypeName());
        assertEquals("ipv4", entry.adrfamName());
        assertEquals("127.0.0.1", entry.traddr());
        assertEquals(Integer.toString(fabric.address().getPort()), entry.trsvcid());
    }

    @Test
    void discovery_hidesSubsystemsFromHostsNotAllowed() {
        NvmeDiscovery.Log log = NvmeDiscovery.discover(fabric.loops(), "127.0.0.1", fabric.address().getPort(),
                HostIdentity.random(), Duration.ofSeconds(10));
        assertFalse(log.entries().stream().anyMatch(x -> x.subnqn().equals(NQN)), log.toString());
    }

    @Test
    void aTargetThatNeverAnswers_failsTheCommandWithinItsTimeout() throws Exception {
        try (ServerSocket silent = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread t = Thread.ofVirtual().start(() -> {
                try (Socket s = silent.accept(); InputStream in = s.getInputStream()) {
                    in.readNBytes(128); // the ICReq, never answered
                    in.read();
                } catch (Exception ignored) {
                    // closed by the host
                }
            });
            long start = System.nanoTime();
            NvmeTcpHostOptions o = NvmeTcpHostOptions.builder("127.0.0.1", silent.getLocalPort(), NQN)
                    .identity(HostIdentity.random()).connectTimeout(Duration.ofMillis(500)).build();
            NvmeException e = assertThrows(NvmeException.class, () -> NvmeTcpController.connectAndWait(fabric.loops(), o));
            long tookMillis = (System.nanoTime() - start) / 1_000_000;
            assertTrue(e.getMessage().contains("ICResp"), e.getMessage());
            assertTrue(tookMillis >= 450 && tookMillis < TestTimeouts.millis(5), "took " + tookMillis + " ms");
            t.join(TestTimeouts.millis(5));
        }
    }

    @Test
    void nothingListening_failsClearly() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        NvmeTcpHostOptions o = NvmeTcpHostOptions.builder("127.0.0.1", port, NQN).identity(HostIdentity.random()).build();
        NvmeException e = assertThrows(NvmeException.class, () -> NvmeTcpController.connectAndWait(fabric.loops(), o));
        assertTrue(e.getMessage().contains("127.0.0.1:" + port), e.getMessage());
        assertTrue(e.retryable());
    }

    @Test
    void ioAfterTheTargetStops_withCtrlLossTmoZero_failsAtOnce_andNeverHangs() {
        try (NvmeTcpController c = fabric.connect(fabric.options().ctrlLossTimeout(Duration.ZERO).build())) {
            NvmeTcpBlockDevice d = c.openNamespace(1);
            d.write(0, ByteBuffer.allocate(4096)).join();
            fabric.target().close();
            CompletionException e = assertThrows(CompletionException.class, () -> d.read(0, ByteBuffer.allocate(4096)).join());
            TierIoException io = (TierIoException) e.getCause();
            assertTrue(io.getMessage().contains("no usable path"), io.getMessage());
            assertFalse(io.retryable(), "the controller is gone for good");
            assertFalse(c.isConnected());
            assertEquals(NvmeTcpController.State.DELETED, c.state());
        }
    }

    @Test
    void keepAlive_isSentAtHalfKato() throws Exception {
        try (NvmeTcpController c = fabric.connect(fabric.options().keepAliveTimeout(Duration.ofMillis(400)).build())) {
            Thread.sleep(1500); // three KATO periods: the target would end an association that sent nothing
            assertTrue(c.isConnected());
            c.openNamespace(1).read(0, ByteBuffer.allocate(4096)).join();
        }
    }

    @Test
    void hostIdentity_isGeneratedOnceAndPersisted() throws Exception {
        Path etc = dir.resolve("etc-nvme");
        Path state = dir.resolve("state");
        HostIdentity first = HostIdentity.resolve(null, etc, state);
        HostIdentity second = HostIdentity.resolve(null, etc, state);
        assertEquals(first, second);
        assertTrue(first.hostNqn().startsWith("nqn.2014-08.org.nvmexpress:uuid:"));
        Files.createDirectories(etc);
        Files.writeString(etc.resolve("hostnqn"), "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555\n");
        HostIdentity fromEtc = HostIdentity.resolve(null, etc, state);
        assertEquals("nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555", fromEtc.hostNqn());
        assertEquals(UUID.fromString("11111111-2222-3333-4444-555555555555"), fromEtc.hostId());
        assertEquals("nqn.2026-11.example:me", HostIdentity.resolve("nqn.2026-11.example:me", etc, state).hostNqn());
        assertThrows(IllegalArgumentException.class, () -> new HostIdentity("not-an-nqn", UUID.randomUUID()));
    }

    @Test
    void options_rejectBadValues_namingThem() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> fabric.options().queueSize(1).build());
        assertTrue(e.getMessage().startsWith("queue-size: 1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> fabric.options().nrIoQueues(-1).build());
        assertTrue(e.getMessage().startsWith("nr-io-queues: -1"), e.getMessage());
    }

    @Test
    void getLogPage_readsTheDiscoveryLogThroughTheAdminQueue() {
        NvmeTcpHostOptions o = NvmeTcpHostOptions.builder("127.0.0.1", fabric.address().getPort(), NvmeOpcodes.DISCOVERY_NQN)
                .identity(new HostIdentity(LoopbackFabric.HOST_NQN, UUID.randomUUID())).nrIoQueues(0)
                .keepAliveTimeout(Duration.ZERO).build();
        try (NvmeTcpController c = fabric.connect(o)) {
            assertEquals(2, c.info().controllerType(), "a discovery controller");
            assertEquals(0, c.ioQueueCount());
            assertTrue(NvmeDiscovery.readLog(c).entries().size() >= 1);
        }
    }
    @Test
    void aReadIntoABufferTheIoThreadCannotWrite_failsThatReadAndTheConnectionGoesOn() {
        try (NvmeTcpController c = fabric.connect(); NvmeTcpBlockDevice dev = c.openNamespace(1);
             java.lang.foreign.Arena confined = java.lang.foreign.Arena.ofConfined()) {
            java.nio.ByteBuffer bad = confined.allocate(8192, 4096).asByteBuffer();
            CompletionException e = assertThrows(CompletionException.class, () -> dev.read(0, bad).join());
            assertTrue(e.getCause() instanceof TierIoException t && !t.retryable(), e.getCause().toString());
            assertTrue(e.getCause().getMessage().contains("cannot be written from the I/O thread"), e.getCause().getMessage());
            // the same queue serves the next read
            java.nio.ByteBuffer good = java.nio.ByteBuffer.allocateDirect(8192);
            dev.read(0, good).join();
            assertTrue(c.isConnected());
        }
    }
}
