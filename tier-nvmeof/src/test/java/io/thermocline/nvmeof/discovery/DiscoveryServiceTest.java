package io.thermocline.nvmeof.discovery;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.fault.TcpFaultProxy;
import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeTcpBlockDevice;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.pdu.IdentifyLayout.DiscoveryLog;
import io.thermocline.nvmeof.target.DiscoveryReferral;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import io.thermocline.tier.testkit.TestTimeouts;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Discovery against Java targets on 127.0.0.1: the log filtered by host NQN, its generation
 * counter, referrals (followed with a bound and through loops), and a persistent connection that
 * hears Discovery Log Page Change notices and auto-connects.
 */
@ScaledTimeout(90)
class DiscoveryServiceTest {
    private static final HostIdentity HOST_A = new HostIdentity("nqn.2014-08.org.nvmexpress:uuid:aaaaaaaa-0000-4000-8000-00000000000a",
            UUID.fromString("aaaaaaaa-0000-4000-8000-00000000000a"));
    private static final HostIdentity HOST_B = new HostIdentity("nqn.2014-08.org.nvmexpress:uuid:bbbbbbbb-0000-4000-8000-00000000000b",
            UUID.fromString("bbbbbbbb-0000-4000-8000-00000000000b"));
    private static final HostIdentity STRANGER = new HostIdentity("nqn.2014-08.org.nvmexpress:uuid:cccccccc-0000-4000-8000-00000000000c",
            UUID.fromString("cccccccc-0000-4000-8000-00000000000c"));
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path dir;
    private NvmeEventLoops loops;
    private final List<AutoCloseable> closeLast = new ArrayList<>();
    private int files;

    @BeforeEach
    void start() {
        loops = new NvmeEventLoops(1);
    }

    @AfterEach
    void stop() throws Exception {
        for (int i = closeLast.size() - 1; i >= 0; i--) {
            closeLast.get(i).close();
        }
        loops.close();
    }

    private Namespace namespace() {
        return Namespace.openFile(dir.resolve("ns" + files++), 1 << 20, 4096, false);
    }

    private Subsystem subsystem(String nqn, HostIdentity... hosts) {
        Subsystem.Builder b = Subsystem.builder(nqn).namespace(namespace());
        if (hosts.length == 0) {
            b.allowAnyHost(true);
        }
        for (HostIdentity h : hosts) {
            b.allowHost(h.hostNqn());
        }
        return b.build();
    }

    private NvmeTcpTarget target(NvmeTcpTarget.Builder b) {
        NvmeTcpTarget t = b.port(0).eventLoopThreads(1).build();
        closeLast.add(t);
        t.start();
        return t;
    }

    private NvmeDiscovery.Log discover(NvmeTcpTarget t, HostIdentity who) {
        return NvmeDiscovery.discover(loops, "127.0.0.1", t.address().getPort(), who, TIMEOUT);
    }

    private static List<String> nqns(NvmeDiscovery.Log log) {
        return log.entries().stream().filter(e -> e.subtype() == DiscoveryLog.SUBTYPE_NVME).map(DiscoveryLogEntry::subnqn).sorted().toList();
    }

    // ------------------------------------------------------------------ filtering and generation

    @Test
    void log_isFilteredByHostNqn_andAllowAnyHostSubsystemsAreSeenByAll() {
        NvmeTcpTarget t = target(NvmeTcpTarget.builder()
                .subsystem(subsystem("nqn.2026-11.io.thermocline:only-a", HOST_A))
                .subsystem(subsystem("nqn.2026-11.io.thermocline:only-b", HOST_B))
                .subsystem(subsystem("nqn.2026-11.io.thermocline:a-and-b", HOST_A, HOST_B))
                .subsystem(subsystem("nqn.2026-11.io.thermocline:anyone")));
        assertEquals(List.of("nqn.2026-11.io.thermocline:a-and-b", "nqn.2026-11.io.thermocline:anyone",
                "nqn.2026-11.io.thermocline:only-a"), nqns(discover(t, HOST_A)));
        assertEquals(List.of("nqn.2026-11.io.thermocline:a-and-b", "nqn.2026-11.io.thermocline:anyone",
                "nqn.2026-11.io.thermocline:only-b"), nqns(discover(t, HOST_B)));
        assertEquals(List.of("nqn.2026-11.io.thermocline:anyone"), nqns(discover(t, STRANGER)));
        DiscoveryLogEntry e = discover(t, STRANGER).entries().getFirst();
        assertEquals("127.0.0.1", e.traddr());
        assertEquals(Integer.toString(t.address().getPort()), e.trsvcid());
    }

    @Test
    void generationCounter_movesWithEachChange_andTheLogFollows() {
        NvmeTcpTarget t = target(NvmeTcpTarget.builder().subsystem(subsystem("nqn.2026-11.io.thermocline:g1")));
        NvmeDiscovery.Log first = discover(t, HOST_A);
        assertEquals(1, first.generation());
        assertEquals(1, t.discoveryGeneration());

        t.addSubsystem(subsystem("nqn.2026-11.io.thermocline:g2", HOST_A));
        NvmeDiscovery.Log second = discover(t, HOST_A);
        assertEquals(2, second.generation());
        assertEquals(List.of("nqn.2026-11.io.thermocline:g1", "nqn.2026-11.io.thermocline:g2"), nqns(second));

        assertTrue(t.addReferral(new DiscoveryReferral("127.0.0.1", 65000, 7)));
        assertFalse(t.addReferral(new DiscoveryReferral("127.0.0.1", 65000, 7)), "the same referral twice is one referral");
        NvmeDiscovery.Log third = discover(t, HOST_A);
        assertEquals(3, third.generation());
        DiscoveryLogEntry referral = third.entries().getLast();
        assertEquals(DiscoveryLog.SUBTYPE_REFERRAL, referral.subtype());
        assertEquals("discovery subsystem referral", referral.subtypeName());
        assertEquals("nqn.2014-08.org.nvmexpress.discovery", referral.subnqn());
        assertEquals("65000", referral.trsvcid());
        assertEquals(7, referral.portId());
        assertEquals("ipv4", referral.adrfamName());

        assertTrue(t.removeSubsystem("nqn.2026-11.io.thermocline:g1"));
        assertFalse(t.removeSubsystem("nqn.2026-11.io.thermocline:g1"));
        NvmeDiscovery.Log fourth = discover(t, HOST_A);
        assertEquals(4, fourth.generation());
        assertEquals(List.of("nqn.2026-11.io.thermocline:g2"), nqns(fourth));
        assertThrows(IllegalArgumentException.class, () -> t.addSubsystem(subsystem("nqn.2026-11.io.thermocline:g2")),
                "an NQN served already");
        assertEquals(4, t.discoveryGeneration(), "a refused change changes nothing");
    }

    @Test
    void removingASubsystem_endsItsControllers_andRefusesNewConnects() {
        NvmeTcpTarget t = target(NvmeTcpTarget.builder().subsystem(subsystem("nqn.2026-11.io.thermocline:going")));
        NvmeTcpHostOptions o = NvmeTcpHostOptions.builder("127.0.0.1", t.address().getPort(), "nqn.2026-11.io.thermocline:going")
                .identity(HOST_A).nrIoQueues(1).ctrlLossTimeout(Duration.ZERO).build();
        try (NvmeTcpController c = NvmeTcpController.connectAndWait(loops, o)) {
            assertTrue(t.removeSubsystem("nqn.2026-11.io.thermocline:going"));
            long deadline = System.nanoTime() + TestTimeouts.seconds(10).toNanos();
            while (c.state() == NvmeTcpController.State.LIVE && System.nanoTime() < deadline) {
                c.nextChange().completeOnTimeout(null, 100, TimeUnit.MILLISECONDS).join();
            }
            assertFalse(c.state() == NvmeTcpController.State.LIVE, "the association of a removed subsystem ends");
        }
        assertThrows(RuntimeException.class, () -> NvmeTcpController.connectAndWait(loops, o));
    }

    // ------------------------------------------------------------------ referrals

    @Test
    void referrals_areFollowed_eachControllerOnce_throughALoop() throws Exception {
        // t1 -> t2 -> t3 -> t1 (a loop), t2 -> t2 (itself), t3 -> a dead port
        NvmeTcpTarget t1 = target(NvmeTcpTarget.builder().subsystem(subsystem("nqn.2026-11.io.thermocline:one")));
        NvmeTcpTarget t2 = target(NvmeTcpTarget.builder().subsystem(subsystem("nqn.2026-11.io.thermocline:two", HOST_A)));
        NvmeTcpTarget t3 = target(NvmeTcpTarget.builder().subsystem(subsystem("nqn.2026-11.io.thermocline:three")));
        int dead;
        try (ServerSocket s = new ServerSocket(0)) {
            dead = s.getLocalPort();
        }
        t1.addReferral(new DiscoveryReferral("127.0.0.1", port(t2)));
        t2.addReferral(new DiscoveryReferral("127.0.0.1", port(t3)));
        t2.addReferral(new DiscoveryReferral("127.0.0.1", port(t2)));
        t3.addReferral(new DiscoveryReferral("127.0.0.1", port(t1)));
        t3.addReferral(new DiscoveryReferral("127.0.0.1", dead));

        List<NvmeDiscovery.Visit> visits = NvmeDiscovery.discoverFollowingReferrals(loops,
                NvmeDiscovery.options("127.0.0.1", port(t1), HOST_A, Duration.ofSeconds(3)).build(), NvmeDiscovery.DEFAULT_MAX_REFERRAL_DEPTH);
        assertEquals(4, visits.size(), visits.toString());
        assertEquals(port(t1), visits.get(0).trsvcid());
        assertEquals(0, visits.get(0).depth());
        assertNull(visits.get(0).referredBy());
        assertEquals(List.of("nqn.2026-11.io.thermocline:one"), nqns(visits.get(0).log()));
        assertEquals(port(t2), visits.get(1).trsvcid());
        assertEquals(1, visits.get(1).depth());
        assertEquals(List.of("nqn.2026-11.io.thermocline:two"), nqns(visits.get(1).log()), "t2 filters by host too");
        assertEquals(port(t3), visits.get(2).trsvcid());
        assertEquals(2, visits.get(2).depth());
        NvmeDiscovery.Visit failed = visits.get(3);
        assertEquals(dead, failed.trsvcid());
        assertFalse(failed.succeeded());
        assertNotNull(failed.failure());

        // another host does not see t2's subsystem, but follows the same referrals
        List<NvmeDiscovery.Visit> stranger = NvmeDiscovery.discoverFollowingReferrals(loops,
                NvmeDiscovery.options("127.0.0.1", port(t1), STRANGER, Duration.ofSeconds(3)).build(), 4);
        assertEquals(List.of(), nqns(stranger.get(1).log()));
    }

    @Test
    void referrals_beyondTheDepthBound_areRecordedNotFollowed() {
        NvmeTcpTarget t1 = target(NvmeTcpTarget.builder());
        NvmeTcpTarget t2 = target(NvmeTcpTarget.builder());
        NvmeTcpTarget t3 = target(NvmeTcpTarget.builder().subsystem(subsystem("nqn.2026-11.io.thermocline:deep")));
        t1.addReferral(new DiscoveryReferral("127.0.0.1", port(t2)));
        t2.addReferral(new DiscoveryReferral("127.0.0.1", port(t3)));
        List<NvmeDiscovery.Visit> visits = NvmeDiscovery.discoverFollowingReferrals(loops,
                NvmeDiscovery.options("127.0.0.1", port(t1), HOST_A, TIMEOUT).build(), 1);
        assertEquals(3, visits.size());
        assertTrue(visits.get(1).succeeded());
        assertFalse(visits.get(2).succeeded());
        assertTrue(visits.get(2).failure().getMessage().contains("2 hops deep (expected at most 1)"), visits.get(2).failure().getMessage());
        assertEquals(3, NvmeDiscovery.discoverFollowingReferrals(loops,
                NvmeDiscovery.options("127.0.0.1", port(t1), HOST_A, TIMEOUT).build(), 2).stream()
                .filter(NvmeDiscovery.Visit::succeeded).count());
    }

    // ------------------------------------------------------------------ persistent connection

    @Test
    void persistentConnection_hearsASubsystemAddedAtRunTime_andAutoConnects() throws Exception {
        NvmeTcpTarget t = target(NvmeTcpTarget.builder().subsystem(subsystem("nqn.2026-11.io.thermocline:first", HOST_A)));
        BlockingQueue<DiscoveryLogChange> changes = new LinkedBlockingQueue<>();
        BlockingQueue<NvmeTcpController> connected = new LinkedBlockingQueue<>();
        DiscoveryListener listener = new DiscoveryListener() {
            @Override
            public void logChanged(DiscoveryLogChange change) {
                changes.add(change);
            }

            @Override
            public void connected(DiscoveryLogEntry entry, NvmeTcpController controller) {
                connected.add(controller);
            }
        };
        NvmeTcpHostOptions template = NvmeTcpHostOptions.builder("unused", 1, "nqn.2026-11.io.thermocline:unused")
                .identity(HOST_A).nrIoQueues(1).build();
        try (PersistentDiscovery d = PersistentDiscovery.builder(loops,
                PersistentDiscovery.options("127.0.0.1", port(t)).identity(HOST_A).keepAliveTimeout(Duration.ofSeconds(2)).build())
                .listener(listener).autoConnect(template).open()) {
            DiscoveryLogChange initial = changes.poll(5, TimeUnit.SECONDS);
            assertNotNull(initial);
            assertTrue(initial.initial());
            assertEquals(1, initial.generation());
            assertEquals(List.of("nqn.2026-11.io.thermocline:first"), initial.added().stream().map(DiscoveryLogEntry::subnqn).toList());
            NvmeTcpController first = connected.poll(10, TimeUnit.SECONDS);
            assertNotNull(first, "auto-connect to the subsystem listed at the start");
            assertEquals("nqn.2026-11.io.thermocline:first", first.options().nqn());

            // a subsystem this host may not see: no notice for it
            t.addSubsystem(subsystem("nqn.2026-11.io.thermocline:someone-else", HOST_B));
            assertNull(changes.poll(700, TimeUnit.MILLISECONDS), "a change another host's log only is not announced here");

            long added = System.nanoTime();
            t.addSubsystem(subsystem("nqn.2026-11.io.thermocline:second", HOST_A));
            DiscoveryLogChange change = changes.poll(5, TimeUnit.SECONDS);
            long heardMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - added);
            assertNotNull(change, "the new subsystem is announced within 5 s");
            assertTrue(heardMillis < TestTimeouts.millis(5), heardMillis + " ms");
            assertEquals(1, change.previousGeneration());
            assertEquals(3, change.generation(), "GENCTR counts both changes, the one not shown to this host too");
            assertEquals(List.of("nqn.2026-11.io.thermocline:second"), change.added().stream().map(DiscoveryLogEntry::subnqn).toList());
            assertEquals(List.of(), change.removed());
            assertTrue(d.notices() >= 1);
            assertEquals(3, d.generation());

            NvmeTcpController second = connected.poll(10, TimeUnit.SECONDS);
            assertNotNull(second, "auto-connect to the new subsystem");
            assertEquals("nqn.2026-11.io.thermocline:second", second.options().nqn());
            try (NvmeTcpBlockDevice device = second.openNamespace(1)) {
                ByteBuffer data = ByteBuffer.allocate(4096);
                for (int i = 0; i < 4096; i++) {
                    data.put((byte) (i * 7));
                }
                device.write(8192, data.flip()).join();
                ByteBuffer back = ByteBuffer.allocate(4096);
                device.read(8192, back).join();
                assertArrayEquals(data.array(), back.array());
            }
            assertEquals(2, d.connectedControllers().size());

            // removal is heard too; the controller is left to its own reconnect rules
            t.removeSubsystem("nqn.2026-11.io.thermocline:first");
            DiscoveryLogChange removal = changes.poll(5, TimeUnit.SECONDS);
            assertNotNull(removal);
            assertEquals(List.of("nqn.2026-11.io.thermocline:first"), removal.removed().stream().map(DiscoveryLogEntry::subnqn).toList());
            assertEquals(List.of(), removal.added());
            assertEquals(4, removal.generation());

            // a referral added is a change every host hears
            t.addReferral(new DiscoveryReferral("127.0.0.1", 65001));
            DiscoveryLogChange referral = changes.poll(5, TimeUnit.SECONDS);
            assertNotNull(referral);
            assertEquals(DiscoveryLog.SUBTYPE_REFERRAL, referral.added().getFirst().subtype());
            assertNull(connected.poll(500, TimeUnit.MILLISECONDS), "referrals are not auto-connected");
            assertEquals(2, d.connectedControllers().size());
        }
    }

    @Test
    void autoConnect_withAnOptionsFunction_connectsWhereItSays_andSkipsWhatItDeclines() throws Exception {
        NvmeTcpTarget t = target(NvmeTcpTarget.builder()
                .subsystem(subsystem("nqn.2026-11.io.thermocline:wanted"))
                .subsystem(subsystem("nqn.2026-11.io.thermocline:unwanted")));
        // the host reaches the target through a forwarded port, not the address the log lists
        TcpFaultProxy forward = TcpFaultProxy.start(new InetSocketAddress("127.0.0.1", port(t)));
        closeLast.add(forward);
        BlockingQueue<NvmeTcpController> connected = new LinkedBlockingQueue<>();
        NvmeTcpHostOptions template = NvmeTcpHostOptions.builder("127.0.0.1", forward.port(), "nqn.2026-11.io.thermocline:x")
                .identity(HOST_A).nrIoQueues(1).build();
        try (PersistentDiscovery d = PersistentDiscovery.builder(loops,
                        PersistentDiscovery.options("127.0.0.1", port(t)).identity(HOST_A).build())
                .listener(new DiscoveryListener() {
                    @Override
                    public void logChanged(DiscoveryLogChange change) {
                    }

                    @Override
                    public void connected(DiscoveryLogEntry entry, NvmeTcpController controller) {
                        connected.add(controller);
                    }
                })
                .autoConnect(e -> e.subnqn().endsWith(":wanted") ? template.toBuilder().nqn(e.subnqn()).build() : null)
                .open()) {
            NvmeTcpController c = connected.poll(10, TimeUnit.SECONDS);
            assertNotNull(c);
            assertEquals("nqn.2026-11.io.thermocline:wanted", c.options().nqn());
            assertEquals(forward.port(), c.options().trsvcid(), "connected where the function said");
            assertTrue(forward.acceptedConnections() >= 2, "admin and I/O queue through the forward");
            assertNull(connected.poll(500, TimeUnit.MILLISECONDS), "the declined entry is left alone");
            assertEquals(1, d.connectedControllers().size());
        }
    }

    @Test
    void persistentConnection_afterItsPathIsReset_reportsWhatChangedMeanwhile() throws Exception {
        NvmeTcpTarget t = target(NvmeTcpTarget.builder().subsystem(subsystem("nqn.2026-11.io.thermocline:before")));
        TcpFaultProxy proxy = TcpFaultProxy.start(new InetSocketAddress("127.0.0.1", port(t)));
        closeLast.add(proxy);
        BlockingQueue<DiscoveryLogChange> changes = new LinkedBlockingQueue<>();
        try (PersistentDiscovery d = PersistentDiscovery.builder(loops,
                PersistentDiscovery.options("127.0.0.1", proxy.port()).identity(HOST_A)
                        .keepAliveTimeout(Duration.ofSeconds(2)).reconnectDelay(Duration.ofMillis(200)).build())
                .listener(changes::add).open()) {
            assertNotNull(changes.poll(5, TimeUnit.SECONDS));
            proxy.refuse(true);
            proxy.reset();
            long deadline = System.nanoTime() + TestTimeouts.seconds(10).toNanos();
            while (d.discoveryController().state() == NvmeTcpController.State.LIVE && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertEquals(NvmeTcpController.State.RECONNECTING, d.discoveryController().state());
            t.addSubsystem(subsystem("nqn.2026-11.io.thermocline:while-down"));
            proxy.refuse(false);
            DiscoveryLogChange change = changes.poll(10, TimeUnit.SECONDS);
            assertNotNull(change, "the change made while the connection was down is reported after it comes back");
            assertEquals(2, change.generation());
            assertEquals(List.of("nqn.2026-11.io.thermocline:while-down"), change.added().stream().map(DiscoveryLogEntry::subnqn).toList());
            // and notices flow again on the new association
            t.removeSubsystem("nqn.2026-11.io.thermocline:before");
            DiscoveryLogChange removal = changes.poll(5, TimeUnit.SECONDS);
            assertNotNull(removal);
            assertEquals(3, removal.generation());
        }
    }

    private static int port(NvmeTcpTarget t) {
        return t.address().getPort();
    }
}
