package io.thermocline.nvmeof.host;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.fault.TcpFaultProxy;
import io.thermocline.nvmeof.pdu.AnaState;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.local.FileBlockDevice;
import io.thermocline.tier.testkit.TestTimeouts;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Native multipath over two Java targets serving one file as the same namespace (two ports of
 * one subsystem), with ANA groups changed at run time.
 */
@ScaledTimeout(60)
class MultipathBlockDeviceTest {
    private static final String NQN = "nqn.2026-11.io.thermocline:multipath-test";
    private static final long SIZE = 8 << 20;

    @TempDir
    Path dir;
    private final List<AutoCloseable> closing = new ArrayList<>();
    private NvmeTcpTarget a;
    private NvmeTcpTarget b;
    private Counting devA;
    private Counting devB;
    private TcpFaultProxy proxyA;
    private NvmeEventLoops loops;
    private final HostIdentity host = new HostIdentity(LoopbackFabric.HOST_NQN, UUID.fromString("6c9f7a6e-1111-4c2e-9e8a-0c3ad3a7f0aa"));

    /** Counts the writes that reach a target's namespace. */
    static final class Counting implements BlockDevice {
        final BlockDevice d;
        final AtomicLong writes = new AtomicLong();

        Counting(BlockDevice d) {
            this.d = d;
        }

        @Override public String name() { return d.name(); }
        @Override public long sizeInBytes() { return d.sizeInBytes(); }
        @Override public int blockSizeInBytes() { return d.blockSizeInBytes(); }
        @Override public CompletableFuture<Void> read(long offset, ByteBuffer dst) { return d.read(offset, dst); }
        @Override public CompletableFuture<Void> write(long offset, ByteBuffer src) {
            writes.incrementAndGet();
            return d.write(offset, src);
        }
        @Override public CompletableFuture<Void> flush() { return d.flush(); }
        @Override public CompletableFuture<Void> trim(long offset, long length) { return d.trim(offset, length); }
        @Override public CompletableFuture<Void> writeZeroes(long offset, long length) { return d.writeZeroes(offset, length); }
        @Override public void close() { d.close(); }
    }

    private NvmeTcpTarget target(Counting dev, AnaState initial) {
        NvmeTcpTarget t = NvmeTcpTarget.builder().port(0).eventLoopThreads(1).anaTransitionTime(Duration.ofSeconds(1))
                .subsystem(Subsystem.builder(NQN).allowHost(LoopbackFabric.HOST_NQN).namespace(Namespace.of(dev), 7).build())
                .anaState(NQN, 7, initial)
                .build();
        t.start();
        return t;
    }

    @BeforeEach
    void start() {
        Path file = dir.resolve("shared.img");
        devA = new Counting(FileBlockDevice.open(file, FileBlockDevice.options().sizeInBytes(SIZE).blockSizeInBytes(4096)));
        devB = new Counting(FileBlockDevice.open(file, FileBlockDevice.options().sizeInBytes(SIZE).blockSizeInBytes(4096)));
        loops = new NvmeEventLoops(2);
        closing.add(loops);
        closing.add(devA);
        closing.add(devB);
    }

    @AfterEach
    void stop() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
    }

    private MultipathBlockDevice connect(AnaState stateA, AnaState stateB, IoPolicy policy) {
        return connect(stateA, stateB, policy, false);
    }

    private MultipathBlockDevice connect(AnaState stateA, AnaState stateB, IoPolicy policy, boolean pathADown) {
        a = target(devA, stateA);
        closing.add(a);
        b = target(devB, stateB);
        closing.add(b);
        proxyA = TcpFaultProxy.start(a.address());
        closing.add(proxyA);
        proxyA.refuse(pathADown);
        NvmeTcpHostOptions oa = NvmeTcpHostOptions.builder("127.0.0.1", proxyA.port(), NQN).identity(host)
                .keepAliveTimeout(Duration.ofSeconds(1)).reconnectDelay(Duration.ofMillis(200)).build();
        NvmeTcpHostOptions ob = oa.toBuilder().trsvcid(b.address().getPort()).build();
        MultipathBlockDevice d = MultipathBlockDevice.connect(loops, List.of(oa, ob), 1, policy);
        closing.add(d);
        return d;
    }

    private static ByteBuffer block(int seed) {
        ByteBuffer buf = ByteBuffer.allocateDirect(4096);
        for (int i = 0; i < 4096; i++) {
            buf.put(i, (byte) (seed * 17 + i * 3));
        }
        return buf;
    }

    private static void writeMany(BlockDevice d, int count, int seed) {
        CompletableFuture<?>[] fs = new CompletableFuture<?>[count];
        for (int i = 0; i < count; i++) {
            fs[i] = d.write((long) (i % 64) * 4096, block(seed + i));
        }
        CompletableFuture.allOf(fs).join();
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TestTimeouts.seconds(5).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within 5 s: " + what);
            }
            Thread.sleep(10);
        }
    }

    @Test
    void roundRobin_spreadsOverBothOptimizedPaths() {
        MultipathBlockDevice d = connect(AnaState.OPTIMIZED, AnaState.OPTIMIZED, IoPolicy.ROUND_ROBIN);
        assertEquals(List.of(AnaState.OPTIMIZED, AnaState.OPTIMIZED), d.paths().stream().map(MultipathBlockDevice.PathStatus::ana).toList());
        writeMany(d, 100, 1);
        assertTrue(devA.writes.get() >= 40 && devB.writes.get() >= 40, "writes " + devA.writes + " / " + devB.writes);
    }

    @Test
    void queueDepth_usesBothPaths() {
        MultipathBlockDevice d = connect(AnaState.OPTIMIZED, AnaState.OPTIMIZED, IoPolicy.QUEUE_DEPTH);
        writeMany(d, 200, 1);
        assertTrue(devA.writes.get() > 0 && devB.writes.get() > 0, "writes " + devA.writes + " / " + devB.writes);
    }

    @Test
    void nonOptimizedPath_isUsedOnlyWhenNoOptimizedPathIs() throws Exception {
        MultipathBlockDevice d = connect(AnaState.OPTIMIZED, AnaState.NON_OPTIMIZED, IoPolicy.ROUND_ROBIN);
        assertEquals(AnaState.NON_OPTIMIZED, d.paths().get(1).ana(), "read from the ANA log page at connect");
        writeMany(d, 50, 1);
        assertEquals(0, devB.writes.get(), "nothing to the non-optimized path");
        a.anaState(NQN, 7, AnaState.INACCESSIBLE);
        await(() -> d.paths().getFirst().ana() == AnaState.INACCESSIBLE, "the ANA Change notice re-read the log page");
        long before = devA.writes.get();
        long refused = a.anaRefusals();
        writeMany(d, 50, 2);
        assertEquals(before, devA.writes.get(), "nothing to the inaccessible path");
        assertEquals(refused, a.anaRefusals(), "the host sent nothing to the inaccessible path once it knew");
        assertEquals(50, devB.writes.get());
    }

    @Test
    void everyPathInaccessible_ioWaits_andCompletesWhenOneBecomesUsable() throws Exception {
        MultipathBlockDevice d = connect(AnaState.OPTIMIZED, AnaState.OPTIMIZED, IoPolicy.ROUND_ROBIN);
        a.anaState(NQN, 7, AnaState.INACCESSIBLE);
        b.anaState(NQN, 7, AnaState.CHANGE);
        await(() -> d.paths().stream().noneMatch(p -> p.ana().usable()), "both notices");
        long writes = devA.writes.get() + devB.writes.get();
        CompletableFuture<Void> w = d.write(0, block(5));
        Thread.sleep(300);
        assertFalse(w.isDone(), "I/O waits while no path is usable");
        assertEquals(writes, devA.writes.get() + devB.writes.get());
        b.anaState(NQN, 7, AnaState.NON_OPTIMIZED);
        w.get(TestTimeouts.millis(5), TimeUnit.MILLISECONDS);
        ByteBuffer back = ByteBuffer.allocateDirect(4096);
        d.read(0, back).join();
        back.flip();
        assertEquals(block(5), back);
    }

    @Test
    void staleAnaView_pathStatusSendsTheCommandElsewhere() throws Exception {
        MultipathBlockDevice d = connect(AnaState.OPTIMIZED, AnaState.OPTIMIZED, IoPolicy.ROUND_ROBIN);
        // the host has not enabled notices for this yet: change the state and write at once, many times
        a.anaState(NQN, 7, AnaState.INACCESSIBLE);
        writeMany(d, 64, 3);
        assertTrue(a.anaRefusals() > 0 || d.paths().getFirst().ana() == AnaState.INACCESSIBLE,
                "the change reached the host by a refusal or by the notice");
        ByteBuffer back = ByteBuffer.allocateDirect(4096);
        d.read(0, back).join();
        back.flip();
        assertEquals(block(3), back);
    }

    @Test
    void resetPath_failsOverWithoutErrors_andComesBack() throws Exception {
        MultipathBlockDevice d = connect(AnaState.OPTIMIZED, AnaState.OPTIMIZED, IoPolicy.ROUND_ROBIN);
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            writes.add(d.write((long) i * 4096, block(100 + i)));
        }
        proxyA.refuse(true);
        proxyA.reset();
        for (int i = 32; i < 96; i++) {
            writes.add(d.write((long) i * 4096, block(100 + i)));  // distinct blocks: concurrent writes to one block have no order
        }
        CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).get(TestTimeouts.millis(10), TimeUnit.MILLISECONDS);
        assertEquals(NvmeTcpController.State.RECONNECTING, d.paths().getFirst().state());
        proxyA.refuse(false);
        await(() -> d.paths().getFirst().state() == NvmeTcpController.State.LIVE, "the path reconnected");
        for (int i = 0; i < 96; i++) {
            ByteBuffer back = ByteBuffer.allocateDirect(4096);
            d.read((long) i * 4096, back).join();
            back.flip();
            ByteBuffer expected = block(100 + i);
            assertEquals(expected, back, "block " + i);
        }
    }

    @Test
    void pathsToDifferentNamespaces_areRefused() {
        NvmeTcpTarget other = NvmeTcpTarget.builder().port(0).eventLoopThreads(1)
                .subsystem(Subsystem.builder(NQN).allowHost(LoopbackFabric.HOST_NQN)
                        .namespace(Namespace.openFile(dir.resolve("other.img"), SIZE / 2, 4096, false)).build()).build();
        closing.add(other);
        other.start();
        a = target(devA, AnaState.OPTIMIZED);
        closing.add(a);
        NvmeTcpHostOptions oa = NvmeTcpHostOptions.builder("127.0.0.1", a.address().getPort(), NQN).identity(host).build();
        NvmeTcpHostOptions oo = oa.toBuilder().trsvcid(other.address().getPort()).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> MultipathBlockDevice.connect(loops, List.of(oa, oo), 1, IoPolicy.ROUND_ROBIN));
        assertTrue(e.getMessage().contains("expected the namespace of the first path"), e.getMessage());
    }

    @Test
    void identifyAndAnaLogPage_haveTheSpecLayout() {
        MultipathBlockDevice d = connect(AnaState.OPTIMIZED, AnaState.NON_OPTIMIZED, IoPolicy.ROUND_ROBIN);
        NvmeTcpController cb = d.controllers().get(1);
        ControllerInfo info = cb.info();
        assertTrue(info.reportsAna() && info.sendsAnaChangeNotices(), "CMIC bit 3 and OAES bit 11");
        assertEquals(7, info.anaGroupCount(), "NANAGRPID");
        assertEquals(7, info.anaGroupMax(), "ANAGRPMAX");
        assertEquals(0x5F, info.anaCapabilities(), "ANACAP: every state reported, ANAGRPID fixed");
        assertTrue(info.anaTransitionSeconds() > 0, "ANATT");
        assertEquals(7, d.namespace().anaGroupId(), "ANAGRPID in Identify Namespace");
        ByteBuffer log = ByteBuffer.allocate(16 + 32 + 4);
        cb.getLogPage(0x0C, 0, log).join();
        io.netty.buffer.ByteBuf b = io.netty.buffer.Unpooled.wrappedBuffer(log.array());
        assertTrue(b.getLongLE(0) >= 1, "change count");
        assertEquals(1, b.getUnsignedShortLE(8), "one group descriptor");
        assertEquals(7, b.getIntLE(16), "ANAGRPID");
        assertEquals(1, b.getIntLE(16 + 4), "one NSID");
        assertEquals(AnaState.NON_OPTIMIZED.code(), b.getUnsignedByte(16 + 16), "state of group 7 on port B");
        assertEquals(1, b.getIntLE(16 + 32), "NSID 1");
    }

    @Test
    void groupStuckInChange_pastTwiceAnatt_resetsThatController_andIoGoesOn() throws Exception {
        MultipathBlockDevice d = connect(AnaState.OPTIMIZED, AnaState.OPTIMIZED, IoPolicy.ROUND_ROBIN);
        assertEquals(1, d.controllers().getFirst().info().anaTransitionSeconds());
        a.anaState(NQN, 7, AnaState.CHANGE);
        await(() -> d.paths().getFirst().ana() == AnaState.CHANGE, "the notice");
        writeMany(d, 20, 1);
        long deadline = System.nanoTime() + TestTimeouts.seconds(5).toNanos();
        while (d.controllers().getFirst().reconnectAttempts() == 0 && d.paths().getFirst().state() == NvmeTcpController.State.LIVE
                && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        Throwable why = d.controllers().getFirst().lastFailure();
        assertTrue(why != null && why.getMessage().contains("twice ANATT"), String.valueOf(why));
        a.anaState(NQN, 7, AnaState.OPTIMIZED);
        await(() -> d.paths().getFirst().state() == NvmeTcpController.State.LIVE && d.paths().getFirst().ana() == AnaState.OPTIMIZED,
                "reconnected, optimized again");
        writeMany(d, 20, 2);
    }

    @Test
    void pathDownAtStart_isTriedAgain_andJoinsWhenItComesUp() throws Exception {
        MultipathBlockDevice d = connect(AnaState.OPTIMIZED, AnaState.OPTIMIZED, IoPolicy.ROUND_ROBIN, true);
        assertEquals(1, d.controllers().size());
        assertEquals(2, d.paths().size());
        MultipathBlockDevice.PathStatus pendingA = d.paths().get(1);
        assertEquals("127.0.0.1:" + proxyA.port(), pendingA.address());
        assertEquals(NvmeTcpController.State.RECONNECTING, pendingA.state());
        writeMany(d, 40, 1);
        assertEquals(0, devA.writes.get(), "nothing through the path that is down");
        proxyA.refuse(false);
        await(() -> d.controllers().size() == 2, "path A joined");
        await(() -> d.paths().stream().allMatch(p -> p.state() == NvmeTcpController.State.LIVE), "both live");
        writeMany(d, 100, 2);
        assertTrue(devA.writes.get() >= 30, "path A carries its share once it joined: " + devA.writes + " / " + devB.writes);
    }

    @Test
    void everyPathDownAtStart_failsTheConnect() {
        a = target(devA, AnaState.OPTIMIZED);
        closing.add(a);
        proxyA = TcpFaultProxy.start(a.address());
        closing.add(proxyA);
        proxyA.refuse(true);
        NvmeTcpHostOptions oa = NvmeTcpHostOptions.builder("127.0.0.1", proxyA.port(), NQN).identity(host).build();
        assertThrows(NvmeException.class, () -> MultipathBlockDevice.connect(loops, List.of(oa), 1, IoPolicy.ROUND_ROBIN));
    }

    @Test
    void targetAnaApi_checksItsArguments() {
        a = target(devA, AnaState.OPTIMIZED);
        closing.add(a);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.anaState(NQN, 3, AnaState.OPTIMIZED));
        assertTrue(e.getMessage().contains("expected one of [7]"), e.getMessage());
        assertEquals(AnaState.OPTIMIZED, a.anaState(NQN, 7));
    }
}
