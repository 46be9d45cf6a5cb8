package io.thermocline.nvmeof.target;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeTcpBlockDevice;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.pdu.Fabrics;
import io.thermocline.nvmeof.pdu.IdentifyLayout;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.NvmeStatus;
import io.thermocline.tier.testkit.TestTimeouts;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** One subsystem, several tenants: per-host namespace visibility and per-host rate limits. */
class NvmeTcpTargetTenantsTest {
    static final String NQN = "nqn.2024-01.io.thermocline.test:tenants";
    static final String HOST_A = RawHost.HOST_NQN;
    static final String HOST_B = NvmeTcpTargetTest.OTHER_HOST;
    static final int BS = 4096;

    @RegisterExtension
    static final RawTargetFixture fixture = new RawTargetFixture(2);

    @TempDir
    Path dir;

    private Namespace file(String name) {
        return Namespace.openFile(dir.resolve(name), 1 << 20, BS, false);
    }

    /** Namespace 1 for host A, 2 for host B, 3 for both (granted to no one in particular). */
    private void startThreeNamespaces() {
        Subsystem s = Subsystem.builder(NQN).allowHost(HOST_A).allowHost(HOST_B)
                .namespace(file("a.img")).namespace(file("b.img")).namespace(file("shared.img"))
                .namespaceHosts(1, List.of(HOST_A)).namespaceHosts(2, List.of(HOST_B))
                .build();
        fixture.start(NvmeTcpTarget.builder().port(0).eventLoopThreads(2).subsystem(s).build());
    }

    /** An admin queue for {@code hostNqn}, enabled; returns it (its CNTLID in {@code cntlid[0]}). */
    private RawHost admin(String hostNqn, int[] cntlid) {
        RawHost admin = fixture.host();
        admin.initialize(false, false);
        RawHost.Response r = admin.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NQN, hostNqn, 0).assertSuccess();
        cntlid[0] = r.cqe().dw0() & 0xFFFF;
        admin.enable();
        return admin;
    }

    private RawHost ioQueue(String hostNqn, int cntlid) {
        RawHost io = fixture.host();
        io.initialize(false, false);
        io.connect(1, 32, 0, cntlid, NQN, hostNqn, 0).assertSuccess();
        return io;
    }

    private static int[] activeList(RawHost admin) {
        byte[] d = admin.identify(NvmeOpcodes.CNS_ACTIVE_NAMESPACES, 0).assertSuccess().data();
        ByteBuffer b = ByteBuffer.wrap(d).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        List<Integer> ids = new ArrayList<>();
        while (b.remaining() >= 4) {
            int id = b.getInt();
            if (id == 0) {
                break;
            }
            ids.add(id);
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    private static long nsze(byte[] identifyNamespace) {
        return ByteBuffer.wrap(identifyNamespace).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(IdentifyLayout.Namespace.NSZE);
    }

    @Test
    void namespaceHosts_twoHosts_eachSeesItsOwnAndTheSharedNamespaceOnly() {
        startThreeNamespaces();
        int[] a = new int[1];
        int[] b = new int[1];
        RawHost adminA = admin(HOST_A, a);
        RawHost adminB = admin(HOST_B, b);

        assertArrayEquals(new int[] {1, 3}, activeList(adminA));
        assertArrayEquals(new int[] {2, 3}, activeList(adminB));

        // Identify Namespace of an inactive NSID: success with a zero-filled structure
        byte[] hidden = adminA.identify(NvmeOpcodes.CNS_NAMESPACE, 2).assertSuccess().data();
        assertEquals(4096, hidden.length);
        assertTrue(Arrays.equals(new byte[4096], hidden), "Identify Namespace 2 for host A is zero-filled");
        byte[] hiddenIndependent = adminB.identify(0x08, 1).assertSuccess().data();
        assertTrue(Arrays.equals(new byte[4096], hiddenIndependent), "CNS 08h of namespace 1 for host B is zero-filled");
        assertEquals(256, nsze(adminB.identify(NvmeOpcodes.CNS_NAMESPACE, 2).assertSuccess().data()));
        assertEquals(256, nsze(adminA.identify(NvmeOpcodes.CNS_NAMESPACE, 3).assertSuccess().data()));
        adminA.identify(NvmeOpcodes.CNS_NAMESPACE_DESCRIPTORS, 2).assertStatus(NvmeStatus.INVALID_NAMESPACE);
        adminA.identify(NvmeOpcodes.CNS_NAMESPACE_DESCRIPTORS, 1).assertSuccess();
        // NN still reports the subsystem's largest NSID: NSIDs are not renumbered per host
        byte[] ctrl = adminA.identify(NvmeOpcodes.CNS_CONTROLLER, 0).assertSuccess().data();
        assertEquals(3, ByteBuffer.wrap(ctrl).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(IdentifyLayout.Controller.NN));

        RawHost ioA = ioQueue(HOST_A, a[0]);
        RawHost ioB = ioQueue(HOST_B, b[0]);
        byte[] secret = new byte[BS];
        Arrays.fill(secret, (byte) 0x5B);
        ioB.writeInCapsule(2, 0, secret, BS).assertSuccess();

        // host A cannot read, write, flush or trim namespace 2
        ioA.read(2, 0, 1, BS).assertStatus(NvmeStatus.INVALID_NAMESPACE);
        byte[] junk = new byte[BS];
        Arrays.fill(junk, (byte) 0x11);
        ioA.writeInCapsule(2, 0, junk, BS).assertStatus(NvmeStatus.INVALID_NAMESPACE);
        ioA.writeWithR2t(2, 1, new byte[2 * BS], BS).assertStatus(NvmeStatus.INVALID_NAMESPACE);
        ioA.run(new io.thermocline.nvmeof.pdu.Sqe().opcode(NvmeOpcodes.IO_FLUSH).nsid(2), null, null)
                .assertStatus(NvmeStatus.INVALID_NAMESPACE);
        ioA.run(new io.thermocline.nvmeof.pdu.Sqe().opcode(NvmeOpcodes.IO_WRITE_ZEROES).nsid(2).cdw10And11(0).cdw(12, 0), null, null)
                .assertStatus(NvmeStatus.INVALID_NAMESPACE);
        // a broadcast flush is fine: it reaches host A's namespaces only
        ioA.run(new io.thermocline.nvmeof.pdu.Sqe().opcode(NvmeOpcodes.IO_FLUSH).nsid(-1), null, null).assertSuccess();
        // its own namespaces work
        ioA.writeInCapsule(1, 0, junk, BS).assertSuccess();
        assertArrayEquals(junk, ioA.read(1, 0, 1, BS).assertSuccess().data());
        // the shared namespace is shared
        ioA.writeInCapsule(3, 0, junk, BS).assertSuccess();
        assertArrayEquals(junk, ioB.read(3, 0, 1, BS).assertSuccess().data());
        // and namespace 2 still holds host B's data
        assertArrayEquals(secret, ioB.read(2, 0, 1, BS).assertSuccess().data());
        ioB.read(1, 0, 1, BS).assertStatus(NvmeStatus.INVALID_NAMESPACE);
    }

    @Test
    void namespaceHosts_javaHost_listsAndOpensOnlyItsNamespaces() throws Exception {
        startThreeNamespaces();
        try (NvmeEventLoops loops = new NvmeEventLoops(1);
             NvmeTcpController a = NvmeTcpController.connectAndWait(loops, options(HOST_A).build())) {
            assertEquals(List.of(1, 3), a.activeNamespaces());
            ByteBuf id = a.identify(NvmeOpcodes.CNS_NAMESPACE, 2).join();
            try {
                for (int i = 0; i < id.capacity(); i++) {
                    assertEquals(0, id.getByte(i), "byte " + i + " of Identify Namespace 2 for host A");
                }
            } finally {
                id.release();
            }
            NvmeTcpBlockDevice own = a.openNamespace(1);
            own.read(0, ByteBuffer.allocateDirect(BS)).join();
        }
    }

    @Test
    void namespaceHosts_anaLogPage_listsOnlyTheNamespacesAttachedToTheHost() {
        Subsystem s = Subsystem.builder(NQN).allowHost(HOST_A).allowHost(HOST_B)
                .namespace(file("a.img"), 1).namespace(file("b.img"), 1).namespace(file("shared.img"), 2)
                .namespaceHosts(1, List.of(HOST_A)).namespaceHosts(2, List.of(HOST_B))
                .build();
        fixture.start(NvmeTcpTarget.builder().port(0).eventLoopThreads(1).subsystem(s).build());
        RawHost admin = admin(HOST_A, new int[1]);
        byte[] log = admin.logPage(NvmeOpcodes.LOG_ANA, 0, 4096).assertSuccess().data();
        ByteBuffer b = ByteBuffer.wrap(log).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        assertEquals(2, b.getShort(IdentifyLayout.AnaLog.DESCRIPTOR_COUNT));
        List<Integer> listed = new ArrayList<>();
        int at = IdentifyLayout.AnaLog.HEADER_LENGTH;
        for (int d = 0; d < 2; d++) {
            int count = b.getInt(at + IdentifyLayout.AnaLog.NSID_COUNT);
            at += IdentifyLayout.AnaLog.DESCRIPTOR_LENGTH;
            for (int i = 0; i < count; i++) {
                listed.add(b.getInt(at));
                at += 4;
            }
        }
        assertEquals(List.of(1, 3), listed, "NSIDs in host A's ANA log page");
    }

    @Test
    void hostRateLimit_subsystemAddedAgainUnderTheSameNqn_startsWithItsOwnLimit() {
        HostRateLimit first = new HostRateLimit(1000, 0, 10, 1);
        HostRateLimit second = new HostRateLimit(50, 0, 5, 1);
        fixture.start(NvmeTcpTarget.builder().port(0).eventLoopThreads(1)
                .subsystem(Subsystem.builder(NQN).allowHost(HOST_A).namespace(file("one.img")).hostRateLimit(HOST_A, first).build())
                .build());
        int[] cntlid = new int[1];
        admin(HOST_A, cntlid);
        ioQueue(HOST_A, cntlid[0]).read(1, 0, 1, BS).assertSuccess();
        assertEquals(first, fixture.target().rateLimitStats(NQN, HOST_A).limit());
        assertEquals(1, fixture.target().rateLimitStats(NQN, HOST_A).admittedCommands());

        assertTrue(fixture.target().removeSubsystem(NQN));
        fixture.target().addSubsystem(Subsystem.builder(NQN).allowHost(HOST_A).namespace(file("two.img")).hostRateLimit(HOST_A, second).build());
        assertNull(fixture.target().rateLimitStats(NQN, HOST_A), "no I/O queue of the new subsystem yet");
        admin(HOST_A, cntlid);
        ioQueue(HOST_A, cntlid[0]).read(1, 0, 1, BS).assertSuccess();
        HostRateStats stats = fixture.target().rateLimitStats(NQN, HOST_A);
        assertEquals(second, stats.limit());
        assertEquals(1, stats.admittedCommands());
    }

    @Test
    void namespaceHosts_unknownNsid_isRefusedAtBuild() {
        IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> Subsystem.builder(NQN).allowHost(HOST_A).namespace(file("x.img")).namespaceHosts(2, List.of(HOST_A)).build());
        assertTrue(e.getMessage().contains("namespace 2"), e.getMessage());
    }

    private NvmeTcpHostOptions.Builder options(String hostNqn) {
        return NvmeTcpHostOptions.builder(fixture.address().getHostString(), fixture.address().getPort(), NQN)
                .identity(new HostIdentity(hostNqn, UUID.nameUUIDFromBytes(hostNqn.getBytes())))
                .nrIoQueues(1).commandTimeout(Duration.ofSeconds(30));
    }

    /**
     * A scanning tenant limited to 20 reads per second (burst 5) shares one target event loop with
     * an unlimited tenant. The scanner keeps 16 reads in flight; the limiter holds them on the
     * loop with timers. Checked without judging the machine's speed: the scanner never gets more
     * than the token bucket allows over the time it ran (burst + rate × time + 1, with slack), it
     * did run into the limit (commands were held), and meanwhile the victim completed more reads
     * than the scanner's budget would have allowed it over the same time — which a loop blocked
     * by throttling, or a shared budget, would not permit.
     */
    @Test
    void hostRateLimit_scanningTenant_isHeldToItsBudgetWhileTheOtherTenantReadsFreely() throws Exception {
        HostRateLimit limit = new HostRateLimit(20, 0, 5, 1);
        Subsystem s = Subsystem.builder(NQN).allowHost(HOST_A).allowHost(HOST_B)
                .namespace(file("shared.img"))
                .hostRateLimit(HOST_A, limit)
                .build();
        fixture.start(NvmeTcpTarget.builder().port(0).eventLoopThreads(1).subsystem(s).build());
        try (NvmeEventLoops loops = new NvmeEventLoops(2);
             NvmeTcpController scanner = NvmeTcpController.connectAndWait(loops, options(HOST_A).build());
             NvmeTcpController victim = NvmeTcpController.connectAndWait(loops, options(HOST_B).build())) {
            NvmeTcpBlockDevice scan = scanner.openNamespace(1);
            NvmeTcpBlockDevice read = victim.openNamespace(1);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong scanned = new AtomicLong();
            long start = System.nanoTime();
            List<CompletableFuture<Void>> lanes = new ArrayList<>();
            for (int lane = 0; lane < 16; lane++) {
                CompletableFuture<Void> done = new CompletableFuture<>();
                lanes.add(done);
                scanLane(scan, lane, stop, scanned, done);
            }
            int victimReads = 200;
            long victimStart = System.nanoTime();
            ByteBuffer buf = ByteBuffer.allocateDirect(BS);
            for (int i = 0; i < victimReads; i++) {
                buf.clear();
                read.read((long) (i % 256) * BS, buf).get(TestTimeouts.millis(30), TimeUnit.MILLISECONDS);
            }
            double victimSeconds = (System.nanoTime() - victimStart) / 1e9;
            // keep the scan going for at least a second in all
            while (System.nanoTime() - start < TimeUnit.SECONDS.toNanos(1)) {
                Thread.sleep(20);
            }
            long admittedBeforeStop = fixture.target().rateLimitStats(NQN, HOST_A).admittedCommands();
            double seconds = (System.nanoTime() - start) / 1e9;
            stop.set(true);
            CompletableFuture.allOf(lanes.toArray(CompletableFuture[]::new)).get(TestTimeouts.millis(30), TimeUnit.MILLISECONDS);

            double bound = limit.burstIos() + limit.iops() * seconds + 1;
            assertTrue(admittedBeforeStop <= bound * 1.25 + 2, "scanner admitted " + admittedBeforeStop + " reads in "
                    + seconds + " s (expected at most " + bound + " by the token bucket)");
            HostRateStats stats = fixture.target().rateLimitStats(NQN, HOST_A);
            assertNotNull(stats);
            assertTrue(stats.deferredCommands() > 0, "the scanner ran into its limit: " + stats);
            assertEquals(scanned.get(), stats.admittedCommands(), "every read the scanner completed went through the limiter");
            assertNull(fixture.target().rateLimitStats(NQN, HOST_B), "the victim is not limited");
            double scannerBudget = limit.burstIos() + limit.iops() * victimSeconds + 1;
            assertTrue(victimReads > scannerBudget, "the victim did " + victimReads + " reads in " + victimSeconds
                    + " s, no more than the scanner's budget of " + scannerBudget + " for that time");
        }
    }

    /** One read in flight, then the next, until {@code stop}. */
    private static void scanLane(NvmeTcpBlockDevice dev, int lane, AtomicBoolean stop, AtomicLong done,
                                 CompletableFuture<Void> finished) {
        if (stop.get()) {
            finished.complete(null);
            return;
        }
        ByteBuffer b = ByteBuffer.allocateDirect(BS);
        dev.read((long) lane * BS, b).whenComplete((v, e) -> {
            if (e != null) {
                finished.completeExceptionally(e);
                return;
            }
            done.incrementAndGet();
            scanLane(dev, lane, stop, done, finished);
        });
    }
}
