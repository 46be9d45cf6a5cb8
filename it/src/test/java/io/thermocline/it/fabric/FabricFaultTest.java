package io.thermocline.it.fabric;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.fault.TcpFaultProxy;
import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.IoPolicy;
import io.thermocline.nvmeof.host.MultipathBlockDevice;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeTcpBlockDevice;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.pdu.AnaState;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import io.thermocline.tier.testkit.TestTimeouts;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Faults on the NVMe/TCP fabric under a queue-depth-32 write load (a path reset, blackholed, cut
 * one way, flapping; the target killed and restarted; ANA changes; every path down), each scenario ending with a
 * byte-for-byte check of the namespace against the model of the writes that succeeded
 * ({@link WriteLoad}): no acknowledged write is ever lost, and — unless every path is gone for
 * longer than ctrl-loss-tmo — no error reaches the application.
 *
 * <p>Two paths are two Java targets (two ports of one subsystem, ANA group 1) serving one file,
 * each behind a {@link TcpFaultProxy}; the kill scenario runs its target in a child JVM.
 * Timeouts are scaled down (keep-alive-tmo 2 s, reconnect-delay 0.5 s) so the whole set takes
 * about two minutes, most of it the flapping path: {@code -Dthermocline.flap.seconds=N} (default
 * 60) sets how long it flaps.
 */
@ScaledTimeout(150)
class FabricFaultTest {
    private static final Logger log = LoggerFactory.getLogger(FabricFaultTest.class);
    private static final String NQN = "nqn.2026-11.io.thermocline:fabric-faults";
    private static final int DEPTH = 32;
    private static final int CHUNKS_PER_SLOT = 16;
    /** Writes above the 16 KiB in-capsule limit, so they go through R2T and H2CData. */
    private static final int CHUNK = 32 << 10;
    private static final long SIZE = (long) DEPTH * CHUNKS_PER_SLOT * CHUNK;
    private static final Duration KATO = Duration.ofSeconds(2);
    private static final Duration RECONNECT = Duration.ofMillis(500);

    @TempDir
    Path dir;
    private Path file;
    private final HostIdentity host = HostIdentity.random();
    private final List<AutoCloseable> closing = new ArrayList<>();
    private NvmeEventLoops loops;
    private NvmeTcpTarget targetA;
    private NvmeTcpTarget targetB;
    private TcpFaultProxy proxyA;
    private TcpFaultProxy proxyB;

    @BeforeEach
    void start() {
        file = dir.resolve("namespace.img");
        loops = new NvmeEventLoops(2);
        closing.add(loops);
    }

    @AfterEach
    void stop() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            try {
                closing.get(i).close();
            } catch (Exception e) {
                log.warn("cleanup: {}", e.toString());
            }
        }
    }

    private NvmeTcpTarget target() {
        NvmeTcpTarget t = NvmeTcpTarget.builder().port(0).eventLoopThreads(1).shutdownTimeout(Duration.ofSeconds(1))
                .subsystem(Subsystem.builder(NQN).allowHost(host.hostNqn())
                        .namespace(Namespace.openFile(file, SIZE, 4096, false), 1).build())
                .build();
        t.start();
        closing.add(t);
        return t;
    }

    /** Two targets on one file, each behind a proxy, and the multipath device over both. */
    private MultipathBlockDevice twoPaths(Duration ctrlLoss) {
        targetA = target();
        targetB = target();
        proxyA = TcpFaultProxy.start(targetA.address());
        closing.add(proxyA);
        proxyB = TcpFaultProxy.start(targetB.address());
        closing.add(proxyB);
        NvmeTcpHostOptions a = options(proxyA.port()).ctrlLossTimeout(ctrlLoss).build();
        NvmeTcpHostOptions b = a.toBuilder().trsvcid(proxyB.port()).build();
        MultipathBlockDevice d = MultipathBlockDevice.connect(loops, List.of(a, b), 1, IoPolicy.ROUND_ROBIN);
        closing.add(d);
        return d;
    }

    /** The latency-sensitive preset with the delays scaled down for a test. */
    private NvmeTcpHostOptions.Builder options(int port) {
        return NvmeTcpHostOptions.builder("127.0.0.1", port, NQN).identity(host)
                .preset(NvmeTcpHostOptions.Preset.LATENCY_SENSITIVE)
                .keepAliveTimeout(KATO).reconnectDelay(RECONNECT).nrIoQueues(2).queueSize(64);
    }

    private static void down(TcpFaultProxy p) {
        p.refuse(true);
        p.reset();
    }

    private static void await(BooleanSupplier condition, long seconds, String what) {
        TestTimeouts.await(what, Duration.ofSeconds(seconds), condition);
    }

    /**
     * Lets the load run for at least {@code millis} and until it has acknowledged more writes than
     * before, so that what follows always sees I/O in flight, however slowly a loaded machine runs it.
     */
    private static void running(WriteLoad load, long millis) throws InterruptedException {
        long before = load.acks();
        Thread.sleep(millis);
        await(() -> load.acks() > before || load.errors() > 0, 30, "the write load making progress");
    }

    private void finish(WriteLoad load, boolean errorsAllowed) throws Exception {
        load.stop(60);
        log.info("load: {} writes acknowledged, {} failed, longest stall {} ms", load.acks(), load.errors(), load.longestGapMillis());
        if (!errorsAllowed) {
            assertEquals(0, load.errors(), "errors that reached the application: " + load.errorSamples());
        }
        assertTrue(load.acks() > 0, "no write was acknowledged");
        List<String> problems = load.verify(file);
        assertTrue(problems.isEmpty(), "namespace differs from the acknowledged writes: " + problems);
    }

    @Test
    void pathReset_duringQd32Writes_failsOverAtOnce() throws Exception {
        MultipathBlockDevice d = twoPaths(Duration.ofSeconds(30));
        WriteLoad load = new WriteLoad(d, DEPTH, CHUNKS_PER_SLOT, CHUNK);
        closing.add(load);
        load.start();
        running(load, 1500);
        down(proxyA);
        await(() -> d.paths().getFirst().state() == NvmeTcpController.State.RECONNECTING, 10, "path A reconnecting");
        proxyA.refuse(false);
        await(() -> d.paths().getFirst().state() == NvmeTcpController.State.LIVE, 10, "path A reconnected");
        running(load, 1000);
        finish(load, false);
        assertTrue(load.longestGapMillis() < TestTimeouts.millis(2), "I/O stalled " + load.longestGapMillis() + " ms after a reset (expected a failover at once)");
    }

    @Test
    void pathBlackholed_isDetectedByKeepAlive_andIoGoesOnOnTheOther() throws Exception {
        MultipathBlockDevice d = twoPaths(Duration.ofSeconds(30));
        WriteLoad load = new WriteLoad(d, DEPTH, CHUNKS_PER_SLOT, CHUNK);
        closing.add(load);
        load.start();
        running(load, 1000);
        proxyA.blackhole(true);
        long start = System.nanoTime();
        await(() -> d.paths().getFirst().state() != NvmeTcpController.State.LIVE, 10, "the silent path noticed");
        long noticedMillis = (System.nanoTime() - start) / 1_000_000;
        Thread.sleep(1500);
        proxyA.blackhole(false);
        await(() -> d.paths().getFirst().state() == NvmeTcpController.State.LIVE, 10, "path A reconnected");
        running(load, 1000);
        finish(load, false);
        log.info("blackhole noticed after {} ms (keep-alive-tmo {} ms)", noticedMillis, KATO.toMillis());
        assertTrue(noticedMillis < KATO.toMillis() + TestTimeouts.millis(2), "noticed after " + noticedMillis + " ms (expected about keep-alive-tmo)");
    }

    @Test
    void pathCutOneWay_completionsLost_isDetectedByKeepAlive_andIoGoesOn() throws Exception {
        MultipathBlockDevice d = twoPaths(Duration.ofSeconds(30));
        WriteLoad load = new WriteLoad(d, DEPTH, CHUNKS_PER_SLOT, CHUNK);
        closing.add(load);
        load.start();
        running(load, 1000);
        // commands still reach target A and are carried out; their completions never come back
        proxyA.cut(TcpFaultProxy.Direction.TO_HOST, true);
        await(() -> d.paths().getFirst().state() != NvmeTcpController.State.LIVE, 10, "the one-way cut noticed");
        Thread.sleep(1000);
        proxyA.cut(TcpFaultProxy.Direction.TO_HOST, false);
        await(() -> d.paths().getFirst().state() == NvmeTcpController.State.LIVE, 10, "path A reconnected");
        running(load, 500);
        finish(load, false);
        assertTrue(proxyA.droppedBytes() > 0, "the cut dropped completions");
    }

    @Test
    void pathFlapping_everyTwoSeconds() throws Exception {
        int seconds = Integer.getInteger("thermocline.flap.seconds", 60);
        MultipathBlockDevice d = twoPaths(Duration.ofSeconds(30));
        WriteLoad load = new WriteLoad(d, DEPTH, CHUNKS_PER_SLOT, CHUNK);
        closing.add(load);
        load.start();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        int flaps = 0;
        while (System.nanoTime() < end) {
            down(proxyA);  // down for one second, up for one: a flap every 2 s
            Thread.sleep(1000);
            proxyA.refuse(false);
            Thread.sleep(1000);
            flaps++;
        }
        await(() -> d.paths().getFirst().state() == NvmeTcpController.State.LIVE, 10, "path A reconnected");
        running(load, 500);
        finish(load, false);
        long reconnects = d.paths().getFirst().reconnectAttempts();
        log.info("{} flaps in {} s, {} reconnect attempts", flaps, seconds, reconnects);
        assertTrue(reconnects >= flaps / 2, reconnects + " reconnect attempts for " + flaps + " flaps");
    }

    @Test
    void targetKilledAndRestarted_duringHeavyWrites() throws Exception {
        TargetProcess first = TargetProcess.start(file, SIZE, NQN, host.hostNqn(), 0);
        closing.add(first);
        int port = first.port();
        NvmeTcpController c = NvmeTcpController.connectAndWait(loops, options(port).build());
        closing.add(c);
        NvmeTcpBlockDevice d = c.openNamespace(1);
        WriteLoad load = new WriteLoad(d, DEPTH, CHUNKS_PER_SLOT, CHUNK);
        closing.add(load);
        load.start();
        running(load, 2000);
        long before = load.acks();
        first.kill();
        await(() -> c.state() == NvmeTcpController.State.RECONNECTING, 10, "the host reconnecting to the killed target");
        TargetProcess second = TargetProcess.start(file, SIZE, NQN, host.hostNqn(), port);
        closing.add(second);
        await(() -> c.state() == NvmeTcpController.State.LIVE, 15, "reconnected to the restarted target");
        long resumed = load.acks();
        running(load, 2000);
        finish(load, false);
        assertTrue(before > 0 && load.acks() > resumed, "writes before " + before + ", after the restart " + (load.acks() - resumed));
    }

    @Test
    void anaStateChanges_midIo() throws Exception {
        MultipathBlockDevice d = twoPaths(Duration.ofSeconds(30));
        WriteLoad load = new WriteLoad(d, DEPTH, CHUNKS_PER_SLOT, CHUNK);
        closing.add(load);
        load.start();
        AnaState[][] steps = {
                {AnaState.INACCESSIBLE, AnaState.OPTIMIZED},
                {AnaState.OPTIMIZED, AnaState.NON_OPTIMIZED},
                {AnaState.CHANGE, AnaState.NON_OPTIMIZED},
                {AnaState.NON_OPTIMIZED, AnaState.INACCESSIBLE},
                {AnaState.PERSISTENT_LOSS, AnaState.OPTIMIZED},
                {AnaState.OPTIMIZED, AnaState.OPTIMIZED},
        };
        for (AnaState[] step : steps) {
            targetA.anaState(NQN, 1, step[0]);
            targetB.anaState(NQN, 1, step[1]);
            await(() -> d.paths().get(0).ana() == step[0] && d.paths().get(1).ana() == step[1], 5,
                    "the host saw A " + step[0] + ", B " + step[1]);
            // once the host knows, nothing new goes to a path it may not use: wait for what it had sent there
            // before it knew (refused, and retried elsewhere) to come back, then count
            await(() -> (step[0].usable() || d.paths().get(0).outstanding() == 0) && (step[1].usable() || d.paths().get(1).outstanding() == 0),
                    5, "commands sent before the change came back");
            long refusedA = targetA.anaRefusals();
            long refusedB = targetB.anaRefusals();
            long acks = load.acks();
            // a window of writes long enough to have reached the refused path, had the host still used it
            await(() -> load.acks() > acks + DEPTH, 10, "writes going on with A " + step[0] + ", B " + step[1]);
            assertEquals(refusedA, targetA.anaRefusals(), "I/O sent to A while the host knew it was " + step[0]);
            assertEquals(refusedB, targetB.anaRefusals(), "I/O sent to B while the host knew it was " + step[1]);
            assertTrue(load.acks() > acks, "writes went on with A " + step[0] + ", B " + step[1]);
        }
        finish(load, false);
    }

    @Test
    void everyPathDown_forLessThanCtrlLossTmo_ioWaitsAndCompletes() throws Exception {
        MultipathBlockDevice d = twoPaths(Duration.ofSeconds(8));
        WriteLoad load = new WriteLoad(d, DEPTH, CHUNKS_PER_SLOT, CHUNK);
        closing.add(load);
        load.start();
        running(load, 1000);
        down(proxyA);
        down(proxyB);
        Thread.sleep(3000);
        proxyA.refuse(false);
        proxyB.refuse(false);
        await(() -> d.paths().stream().allMatch(p -> p.state() == NvmeTcpController.State.LIVE), 10, "both paths back");
        running(load, 1000);
        finish(load, false);
        assertTrue(load.longestGapMillis() >= 2500, "I/O stalled only " + load.longestGapMillis() + " ms while every path was down for 3 s");
    }

    @Test
    void everyPathDown_forLongerThanCtrlLossTmo_ioFailsClearly_afterCtrlLossTmo() throws Exception {
        Duration ctrlLoss = Duration.ofSeconds(2);
        MultipathBlockDevice d = twoPaths(ctrlLoss);
        WriteLoad load = new WriteLoad(d, DEPTH, CHUNKS_PER_SLOT, CHUNK);
        closing.add(load);
        load.start();
        running(load, 1000);
        long downAt = System.nanoTime();
        down(proxyA);
        down(proxyB);
        await(() -> load.errors() > 0, 15, "I/O failed after ctrl-loss-tmo");
        long failedAfterMillis = (load.firstErrorNanos() - downAt) / 1_000_000;
        load.stop(30);
        proxyA.refuse(false);
        proxyB.refuse(false);
        String message = load.errorSamples().getFirst().getMessage();
        log.info("first error {} ms after every path went down: {}", failedAfterMillis, message);
        assertTrue(message.contains("no usable path") && message.contains("DELETED"), message);
        assertTrue(failedAfterMillis >= ctrlLoss.toMillis() - RECONNECT.toMillis() - 200 && failedAfterMillis < ctrlLoss.toMillis() + TestTimeouts.millis(3),
                "failed " + failedAfterMillis + " ms after the paths went down (expected about ctrl-loss-tmo, " + ctrlLoss.toMillis() + " ms)");
        assertTrue(d.paths().stream().allMatch(p -> p.state() == NvmeTcpController.State.DELETED), d.paths().toString());
        finish(load, true);
    }
}
