package io.thermocline.bench;

import io.thermocline.nvmeof.fault.TcpFaultProxy;
import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.IoPolicy;
import io.thermocline.nvmeof.host.MultipathBlockDevice;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Multipath failover of the user-space NVMe/TCP host: two Java targets serving one namespace
 * file (two ports of one subsystem, ANA group 1 Optimized on both), each behind a
 * {@link TcpFaultProxy} on 127.0.0.1, the host with the {@code latency-sensitive} preset
 * (keep-alive-tmo 5 s, reconnect-delay 2 s, ctrl-loss-tmo 30 s), round-robin, under a 4 KiB
 * random read/write load at queue depth 16.
 *
 * <p>For each trial one path is broken — reset (RST both ways) or blackholed (every byte dropped,
 * connections left open) — and the bench measures the <em>failover time</em>: from the fault to
 * the completion of the last I/O that the fault caught, i.e. the last I/O issued before the host
 * marked the path down, which completes on the surviving path. That is when the application's
 * I/O flows again in full. It also reports when the host marked the path down, and counts I/O
 * errors that reached the application (the goal: none). The path is healed and reconnects before
 * the next trial.
 *
 * <pre>
 *   NvmeTcpFailoverBench [trials]   (default 3 of each kind)
 * </pre>
 * Ends with {@code RESULT nvmetcp-failover ratio=<median blackhole failover / (keep-alive-tmo + 1 s)> ...}.
 */
public final class NvmeTcpFailoverBench {
    private static final String NQN = "nqn.2026-11.io.thermocline:failover-bench";
    private static final long NAMESPACE_BYTES = 64L << 20;
    private static final int QD = 16;

    private record Op(long startNanos, long endNanos) {
    }

    private record Trial(String kind, long detectedMillis, long failoverMillis, long caught) {
    }

    private final MultipathBlockDevice device;
    private final AtomicLong errors = new AtomicLong();
    private final AtomicLong completed = new AtomicLong();
    private final ConcurrentLinkedQueue<Op> ops = new ConcurrentLinkedQueue<>();
    private volatile boolean recording;
    private volatile boolean stopping;
    private volatile Throwable firstError;

    private NvmeTcpFailoverBench(MultipathBlockDevice device) {
        this.device = device;
    }

    public static void main(String[] args) throws Exception {
        int trials = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        Path dir = Path.of(System.getProperty("bench.dir", Files.isDirectory(Path.of("/dev/shm")) ? "/dev/shm" : System.getProperty("java.io.tmpdir")));
        Path file = Files.createTempFile(dir, "thermocline-failover", ".ns");
        HostIdentity host = HostIdentity.random();
        List<AutoCloseable> closing = new ArrayList<>();
        try {
            NvmeTcpTarget a = target(file, host, closing);
            NvmeTcpTarget b = target(file, host, closing);
            TcpFaultProxy proxyA = TcpFaultProxy.start(a.address());
            closing.add(proxyA);
            TcpFaultProxy proxyB = TcpFaultProxy.start(b.address());
            closing.add(proxyB);
            NvmeEventLoops loops = new NvmeEventLoops(2);
            closing.add(loops);
            NvmeTcpHostOptions oa = NvmeTcpHostOptions.builder("127.0.0.1", proxyA.port(), NQN).identity(host)
                    .preset(NvmeTcpHostOptions.Preset.LATENCY_SENSITIVE).build();
            NvmeTcpHostOptions ob = oa.toBuilder().trsvcid(proxyB.port()).build();
            MultipathBlockDevice device = MultipathBlockDevice.connect(loops, List.of(oa, ob), 1, IoPolicy.ROUND_ROBIN);
            closing.add(device);
            long katoMillis = oa.keepAliveTimeout().toMillis();
            System.out.printf("machine: %d cpus, %s; transport %s; %s; preset latency-sensitive (keep-alive-tmo %d ms, "
                            + "reconnect-delay %d ms, ctrl-loss-tmo %d s); 4 KiB random 50%% writes at QD %d, round-robin%n",
                    Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.version"), loops.transport(), device.name(),
                    katoMillis, oa.reconnectDelay().toMillis(), oa.ctrlLossTimeout().toSeconds(), QD);
            NvmeTcpFailoverBench bench = new NvmeTcpFailoverBench(device);
            bench.start();
            Thread.sleep(1000);
            List<Trial> results = new ArrayList<>();
            for (int i = 0; i < trials; i++) {
                results.add(bench.trial("reset", proxyA, () -> {
                    proxyA.refuse(true);
                    proxyA.reset();
                }, () -> proxyA.refuse(false)));
            }
            for (int i = 0; i < trials; i++) {
                results.add(bench.trial("blackhole", proxyA, () -> proxyA.blackhole(true), () -> proxyA.blackhole(false)));
            }
            bench.stop();
            long reset = median(results, "reset");
            long blackhole = median(results, "blackhole");
            double goalBlackhole = katoMillis + 1000.0;
            System.out.printf("goal     reset failover <= 1000 ms; blackhole failover <= keep-alive-tmo + 1 s = %.0f ms; no I/O error%n", goalBlackhole);
            System.out.printf("measured reset failover median %d ms; blackhole failover median %d ms; %d I/Os completed, %d errors reached the application%s%n",
                    reset, blackhole, bench.completed.get(), bench.errors.get(),
                    bench.firstError == null ? "" : " (first: " + bench.firstError + ")");
            System.out.printf(Locale.ROOT, "RESULT nvmetcp-failover ratio=%.3f blackhole_ms=%d reset_ms=%d kato_ms=%d errors=%d trials=%d "
                            + "reset_ratio=%.3f goal_reset_ms<=1000 goal_ratio<=1.0%n",
                    blackhole / goalBlackhole, blackhole, reset, katoMillis, bench.errors.get(), trials, reset / 1000.0);
        } finally {
            for (int i = closing.size() - 1; i >= 0; i--) {
                try {
                    closing.get(i).close();
                } catch (Exception e) {
                    System.err.println("cleanup: " + e);
                }
            }
            Files.deleteIfExists(file);
        }
    }

    private static NvmeTcpTarget target(Path file, HostIdentity host, List<AutoCloseable> closing) {
        NvmeTcpTarget t = NvmeTcpTarget.builder().port(0).eventLoopThreads(1).shutdownTimeout(Duration.ofSeconds(1))
                .subsystem(Subsystem.builder(NQN).allowHost(host.hostNqn())
                        .namespace(Namespace.openFile(file, NAMESPACE_BYTES, 4096, false), 1).build())
                .build();
        t.start();
        closing.add(t);
        return t;
    }

    private static long median(List<Trial> results, String kind) {
        long[] v = results.stream().filter(t -> t.kind().equals(kind)).mapToLong(Trial::failoverMillis).sorted().toArray();
        return v[v.length / 2];
    }

    private void start() {
        for (int i = 0; i < QD; i++) {
            next();
        }
    }

    private void next() {
        if (stopping) {
            return;
        }
        ThreadLocalRandom r = ThreadLocalRandom.current();
        long offset = r.nextLong(NAMESPACE_BYTES / 4096) * 4096;
        ByteBuffer buf = ByteBuffer.allocateDirect(4096);
        boolean write = r.nextBoolean();
        long start = System.nanoTime();
        (write ? device.write(offset, buf) : device.read(offset, buf)).whenComplete((v, t) -> {
            long end = System.nanoTime();
            if (t != null) {
                errors.incrementAndGet();
                if (firstError == null) {
                    firstError = t;
                }
            } else {
                completed.incrementAndGet();
            }
            if (recording) {
                ops.add(new Op(start, end));
            }
            Thread.ofVirtual().start(this::next);
        });
    }

    private void stop() throws InterruptedException {
        stopping = true;
        Thread.sleep(500);
    }

    private Trial trial(String kind, TcpFaultProxy proxy, Runnable fault, Runnable heal) throws InterruptedException {
        NvmeTcpController controller = device.controllers().getFirst();
        ops.clear();
        recording = true;
        Thread.sleep(300);
        long faultAt = System.nanoTime();
        fault.run();
        while (controller.state() == NvmeTcpController.State.LIVE && System.nanoTime() - faultAt < TimeUnit.SECONDS.toNanos(30)) {
            Thread.onSpinWait();
        }
        long detectedAt = System.nanoTime();
        Thread.sleep(1000);  // the caught I/O is retried on the surviving path at once; leave time for stragglers
        recording = false;
        long lastEnd = faultAt;
        long caught = 0;
        for (Op op : ops) {
            if (op.startNanos() < detectedAt && op.endNanos() > faultAt) {
                lastEnd = Math.max(lastEnd, op.endNanos());
                caught++;
            }
        }
        Trial t = new Trial(kind, TimeUnit.NANOSECONDS.toMillis(detectedAt - faultAt), TimeUnit.NANOSECONDS.toMillis(lastEnd - faultAt), caught);
        System.out.printf("%-9s path marked down after %5d ms; failover (last caught I/O done) %5d ms; %d I/Os in flight or issued until then; errors so far %d%n",
                kind, t.detectedMillis(), t.failoverMillis(), caught, errors.get());
        heal.run();
        long healAt = System.nanoTime();
        while (controller.state() != NvmeTcpController.State.LIVE && System.nanoTime() - healAt < TimeUnit.SECONDS.toNanos(30)) {
            Thread.sleep(10);
        }
        Thread.sleep(500);
        return t;
    }
}
