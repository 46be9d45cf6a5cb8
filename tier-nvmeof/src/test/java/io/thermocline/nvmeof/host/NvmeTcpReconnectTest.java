package io.thermocline.nvmeof.host;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.fault.TcpFaultProxy;
import io.thermocline.tier.TierIoException;
import io.thermocline.tier.testkit.TestTimeouts;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reconnect and the timeouts (keep-alive-tmo, reconnect-delay, ctrl-loss-tmo, fast-io-fail-tmo) over a fault proxy. */
@ScaledTimeout(60)
class NvmeTcpReconnectTest {
    private static final String NQN = "nqn.2026-11.io.thermocline:reconnect-test";

    @TempDir
    Path dir;
    private LoopbackFabric fabric;
    private TcpFaultProxy proxy;

    @BeforeEach
    void start() {
        fabric = LoopbackFabric.start(dir.resolve("ns.img"), 8 << 20, 4096, NQN);
        proxy = TcpFaultProxy.start(fabric.address());
    }

    @AfterEach
    void stop() {
        proxy.close();
        fabric.close();
    }

    private NvmeTcpHostOptions.Builder viaProxy() {
        return fabric.options().traddr("127.0.0.1").trsvcid(proxy.port())
                .keepAliveTimeout(Duration.ofMillis(1000)).reconnectDelay(Duration.ofMillis(200));
    }

    private static ByteBuffer block(int seed) {
        ByteBuffer b = ByteBuffer.allocateDirect(4096);
        for (int i = 0; i < 4096; i++) {
            b.put(i, (byte) (seed * 31 + i));
        }
        return b;
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] a = new byte[b.remaining()];
        b.duplicate().get(a);
        return a;
    }

    @Test
    void reset_isNoticedAtOnce_andIoGoesOnAfterTheReconnect() throws Exception {
        try (NvmeTcpController c = fabric.connect(viaProxy().build())) {
            NvmeTcpBlockDevice d = c.openNamespace(1);
            d.write(0, block(1)).join();
            proxy.refuse(true);
            proxy.reset();
            long deadline = System.nanoTime() + TestTimeouts.seconds(2).toNanos();
            while (c.state() == NvmeTcpController.State.LIVE && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(NvmeTcpController.State.RECONNECTING, c.state(), "a reset ends the association at once");
            CompletableFuture<Void> w = d.write(4096, block(2));  // waits for the path
            Thread.sleep(500);
            assertFalse(w.isDone(), "I/O waits while reconnecting");
            proxy.refuse(false);
            w.get(TestTimeouts.millis(10), TimeUnit.MILLISECONDS);
            assertEquals(NvmeTcpController.State.LIVE, c.state());
            assertTrue(c.reconnectAttempts() >= 1);
            ByteBuffer back = ByteBuffer.allocateDirect(8192);
            d.read(0, back).join();
            assertArrayEquals(bytes(block(1)), bytes(back.slice(0, 4096)));
            assertArrayEquals(bytes(block(2)), bytes(back.slice(4096, 4096)));
        }
    }

    @Test
    void blackhole_isNoticedWithinKeepAliveTmo_andInFlightIoCompletesAfterTheReconnect() throws Exception {
        try (NvmeTcpController c = fabric.connect(viaProxy().build())) {
            NvmeTcpBlockDevice d = c.openNamespace(1);
            proxy.blackhole(true);
            long start = System.nanoTime();
            CompletableFuture<Void> w = d.write(8192, block(3));
            while (c.state() == NvmeTcpController.State.LIVE && System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5)) {
                Thread.sleep(5);
            }
            long noticedMillis = (System.nanoTime() - start) / 1_000_000;
            assertEquals(NvmeTcpController.State.RECONNECTING, c.state());
            assertTrue(noticedMillis >= 900 && noticedMillis < TestTimeouts.scaled(Duration.ofMillis(1600)).toMillis(), "silence noticed after " + noticedMillis
                    + " ms (expected about keep-alive-tmo, 1000 ms)");
            assertFalse(w.isDone());
            proxy.heal();
            w.get(TestTimeouts.millis(10), TimeUnit.MILLISECONDS);
            ByteBuffer back = ByteBuffer.allocateDirect(4096);
            d.read(8192, back).join();
            back.flip();
            assertArrayEquals(bytes(block(3)), bytes(back));
        }
    }

    @Test
    void aSlowCommand_onATargetThatAnswersKeepAlive_doesNotEndTheAssociation() throws Exception {
        String nqn = "nqn.2026-11.io.thermocline:slow-flush";
        io.thermocline.tier.BlockDevice file = io.thermocline.tier.local.FileBlockDevice.open(dir.resolve("slow.img"),
                io.thermocline.tier.local.FileBlockDevice.options().sizeInBytes(1 << 20).blockSizeInBytes(4096));
        io.thermocline.tier.BlockDevice slow = new io.thermocline.tier.BlockDevice() {
            @Override public String name() { return "slow-flush"; }
            @Override public long sizeInBytes() { return file.sizeInBytes(); }
            @Override public int blockSizeInBytes() { return file.blockSizeInBytes(); }
            @Override public CompletableFuture<Void> read(long offset, ByteBuffer dst) { return file.read(offset, dst); }
            @Override public CompletableFuture<Void> write(long offset, ByteBuffer src) { return file.write(offset, src); }
            @Override public CompletableFuture<Void> trim(long offset, long length) { return file.trim(offset, length); }
            @Override public CompletableFuture<Void> writeZeroes(long offset, long length) { return file.writeZeroes(offset, length); }
            @Override public void close() { file.close(); }

            @Override
            public CompletableFuture<Void> flush() {
                return CompletableFuture.runAsync(() -> { }, CompletableFuture.delayedExecutor(2500, TimeUnit.MILLISECONDS))
                        .thenCompose(v -> file.flush());
            }
        };
        try (io.thermocline.nvmeof.target.NvmeTcpTarget t = io.thermocline.nvmeof.target.NvmeTcpTarget.builder().port(0).eventLoopThreads(1)
                .subsystem(io.thermocline.nvmeof.target.Subsystem.builder(nqn).allowHost(LoopbackFabric.HOST_NQN)
                        .namespace(io.thermocline.nvmeof.target.Namespace.of(slow)).build()).build();
             slow) {
            t.start();
            try (NvmeTcpController c = fabric.connect(fabric.options().trsvcid(t.address().getPort()).nqn(nqn)
                    .keepAliveTimeout(Duration.ofMillis(1000)).reconnectDelay(Duration.ofMillis(200)).build())) {
                NvmeTcpBlockDevice d = c.openNamespace(1);
                d.write(0, block(4)).join();
                long start = System.nanoTime();
                d.flush().get(TestTimeouts.millis(10), TimeUnit.MILLISECONDS);
                long tookMillis = (System.nanoTime() - start) / 1_000_000;
                assertTrue(tookMillis >= 2400, "flush took " + tookMillis + " ms (expected the target's 2.5 s)");
                assertEquals(NvmeTcpController.State.LIVE, c.state());
                assertEquals(0, c.reconnectAttempts(), "a 2.5 s flush with keep-alive answered is no silence (keep-alive-tmo 1 s)");
            }
        }
    }

    @Test
    void pathDownBeyondCtrlLossTmo_failsIoWithAClearError() throws Exception {
        try (NvmeTcpController c = fabric.connect(viaProxy().ctrlLossTimeout(Duration.ofMillis(700)).build())) {
            NvmeTcpBlockDevice d = c.openNamespace(1);
            proxy.refuse(true);
            proxy.reset();
            long start = System.nanoTime();
            CompletionException e = assertThrows(CompletionException.class, () -> d.read(0, ByteBuffer.allocate(4096)).join());
            long tookMillis = (System.nanoTime() - start) / 1_000_000;
            TierIoException io = (TierIoException) e.getCause();
            assertTrue(io.getMessage().contains("no usable path") && io.getMessage().contains("DELETED"), io.getMessage());
            assertTrue(tookMillis >= 400 && tookMillis < TestTimeouts.millis(3), "failed after " + tookMillis + " ms (expected about ctrl-loss-tmo, 700 ms)");
            assertEquals(NvmeTcpController.State.DELETED, c.state());
            proxy.refuse(false);
            Thread.sleep(500);
            assertEquals(NvmeTcpController.State.DELETED, c.state(), "a deleted controller does not come back");
        }
    }

    @Test
    void fastIoFailTmo_failsIoEarly_whileReconnectAttemptsGoOn() throws Exception {
        try (NvmeTcpController c = fabric.connect(viaProxy().fastIoFailTimeout(Duration.ofMillis(300)).build())) {
            NvmeTcpBlockDevice d = c.openNamespace(1);
            proxy.refuse(true);
            proxy.reset();
            long start = System.nanoTime();
            CompletionException e = assertThrows(CompletionException.class, () -> d.read(0, ByteBuffer.allocate(4096)).join());
            long tookMillis = (System.nanoTime() - start) / 1_000_000;
            assertTrue(e.getCause().getMessage().contains("fast-io-fail-tmo"), e.getCause().getMessage());
            assertTrue(tookMillis < TestTimeouts.millis(2), "failed after " + tookMillis + " ms (expected about fast-io-fail-tmo, 300 ms)");
            assertEquals(NvmeTcpController.State.RECONNECTING, c.state());
            proxy.refuse(false);
            long deadline = System.nanoTime() + TestTimeouts.seconds(5).toNanos();
            while (c.state() != NvmeTcpController.State.LIVE && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertEquals(NvmeTcpController.State.LIVE, c.state(), "reconnect attempts went on");
            d.read(0, ByteBuffer.allocate(4096)).get(TestTimeouts.millis(5), TimeUnit.MILLISECONDS);
        }
    }

    @Test
    void writeQueues_carryTheWrites() throws Exception {
        try (NvmeTcpController c = fabric.connect(fabric.options().nrIoQueues(1).nrWriteQueues(2).build())) {
            assertEquals(3, c.ioQueueCount());
            assertEquals(1, c.ioQueue(false).qid);
            assertEquals(1, c.ioQueue(false).qid);
            int a = c.ioQueue(true).qid;
            int b = c.ioQueue(true).qid;
            assertTrue(a >= 2 && b >= 2 && a != b, "writes on queues " + a + ", " + b + " (expected 2 and 3)");
            NvmeTcpBlockDevice d = c.openNamespace(1);
            d.write(0, block(9)).join();
            ByteBuffer back = ByteBuffer.allocateDirect(4096);
            d.read(0, back).join();
            back.flip();
            assertArrayEquals(bytes(block(9)), bytes(back));
        }
    }

    @Test
    void presets_haveTheDocumentedValues() {
        NvmeTcpHostOptions l = fabric.options().preset(NvmeTcpHostOptions.Preset.of("latency-sensitive")).build();
        assertEquals(Duration.ofSeconds(30), l.ctrlLossTimeout());
        assertEquals(Duration.ofSeconds(2), l.reconnectDelay());
        assertEquals(Duration.ofSeconds(5), l.keepAliveTimeout());
        NvmeTcpHostOptions c = fabric.options().preset(NvmeTcpHostOptions.Preset.CONSERVATIVE).build();
        assertEquals(Duration.ofSeconds(600), c.ctrlLossTimeout());
        assertEquals(Duration.ofSeconds(10), c.reconnectDelay());
        NvmeTcpHostOptions d = fabric.options().build();
        assertEquals(c.ctrlLossTimeout(), d.ctrlLossTimeout(), "the defaults are the kernel's");
        assertEquals(NvmeTcpHostOptions.OFF, d.fastIoFailTimeout());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NvmeTcpHostOptions.Preset.of("fast"));
        assertTrue(e.getMessage().contains("latency-sensitive"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> fabric.options().reconnectDelay(Duration.ZERO).build());
        assertTrue(e.getMessage().startsWith("reconnect-delay"), e.getMessage());
    }
}
