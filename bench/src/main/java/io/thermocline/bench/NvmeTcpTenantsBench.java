package io.thermocline.bench;

import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeTcpBlockDevice;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.load.BlockLoad;
import io.thermocline.nvmeof.load.LatencyHistogram;
import io.thermocline.nvmeof.target.HostRateLimit;
import io.thermocline.nvmeof.target.HostRateStats;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;

/**
 * Two tenants on one subsystem of the Java target over 127.0.0.1: a victim doing 4 KiB random
 * reads at QD 1 (1 I/O queue), and a scanner doing 128 KiB sequential reads at QD 16 over 2 I/O
 * queues, each host on its own event loop. Three phases, each on a fresh target: the victim
 * alone; next to the scanner without a limit; next to the scanner limited by a per-host rate
 * limit of {@code limitMiBps} MiB/s. Prints the victim's p50/p99 and the scanner's MiB/s in each,
 * then {@code RESULT nvmetcp-tenants ratio=<victim p99 alone / victim p99 next to the throttled scanner>}
 * (1.0: the scanner costs the victim nothing at p99).
 *
 * <pre>
 *   NvmeTcpTenantsBench [seconds] [limitMiBps]
 * </pre>
 */
public final class NvmeTcpTenantsBench {
    private static final String NQN = "nqn.2026-11.io.thermocline:tenants-bench";
    private static final long NAMESPACE_BYTES = 256L << 20;

    private NvmeTcpTenantsBench() {
    }

    private record Phase(LatencyHistogram victim, double victimIops, double scanMiBps, HostRateStats scanStats) {
    }

    public static void main(String[] args) throws Exception {
        int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        long limitMiBps = args.length > 1 ? Long.parseLong(args[1]) : 100;
        Duration run = Duration.ofSeconds(seconds);
        Path dir = Path.of(System.getProperty("bench.dir", Files.isDirectory(Path.of("/dev/shm")) ? "/dev/shm" : System.getProperty("java.io.tmpdir")));
        Path file = Files.createTempFile(dir, "thermocline-tenants-bench", ".ns");
        HostIdentity victim = HostIdentity.random();
        HostIdentity scanner = HostIdentity.random();
        try {
            System.out.printf("machine: %d cpus, %s; namespace %d MiB in %s; %d s per phase%n",
                    Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.version"), NAMESPACE_BYTES >> 20, dir, seconds);
            fill(file, victim);
            Phase alone = phase(file, victim, scanner, null, false, run);
            print("victim alone", alone);
            Phase free = phase(file, victim, scanner, null, true, run);
            print("victim + scanner (no limit)", free);
            HostRateLimit limit = HostRateLimit.of(0, limitMiBps << 20);
            Phase held = phase(file, victim, scanner, limit, true, run);
            print("victim + scanner (limit " + limitMiBps + " MiB/s)", held);
            double p99Alone = alone.victim.quantileNanos(0.99);
            System.out.printf(Locale.ROOT, "RESULT nvmetcp-tenants ratio=%.3f unthrottled_ratio=%.3f victim_p99_alone_us=%.1f "
                            + "victim_p99_unthrottled_us=%.1f victim_p99_throttled_us=%.1f scan_mib_s_unthrottled=%.0f "
                            + "scan_mib_s_throttled=%.0f limit_mib_s=%d (ratio: victim p99 alone / victim p99 next to the throttled scan)%n",
                    p99Alone / held.victim.quantileNanos(0.99), p99Alone / free.victim.quantileNanos(0.99), p99Alone / 1e3,
                    free.victim.quantileNanos(0.99) / 1e3, held.victim.quantileNanos(0.99) / 1e3, free.scanMiBps, held.scanMiBps,
                    limitMiBps);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private static void print(String what, Phase p) {
        LatencyHistogram h = p.victim;
        System.out.printf(Locale.ROOT, "%-60s victim 4 KiB randread QD1: %.0f IOPS, p50 %.1f us, p99 %.1f us, p99.9 %.1f us; "
                        + "scanner 128 KiB QD16: %s%s%n", what, p.victimIops, h.quantileNanos(0.5) / 1e3, h.quantileNanos(0.99) / 1e3,
                h.quantileNanos(0.999) / 1e3, p.scanMiBps < 0 ? "-" : String.format(Locale.ROOT, "%.0f MiB/s", p.scanMiBps),
                p.scanStats == null ? "" : " (" + p.scanStats.deferredCommands() + " of " + p.scanStats.admittedCommands()
                        + " reads held by the limiter)");
    }

    private static NvmeTcpTarget target(Path file, HostIdentity victim, HostIdentity scanner, HostRateLimit scanLimit) {
        Subsystem.Builder s = Subsystem.builder(NQN).allowHost(victim.hostNqn()).allowHost(scanner.hostNqn())
                .namespace(Namespace.openFile(file, NAMESPACE_BYTES, 4096, false));
        if (scanLimit != null) {
            s.hostRateLimit(scanner.hostNqn(), scanLimit);
        }
        return NvmeTcpTarget.builder().port(0).eventLoopThreads(1).subsystem(s.build()).build();
    }

    private static NvmeTcpHostOptions options(InetSocketAddress at, HostIdentity id, int queues) {
        return NvmeTcpHostOptions.builder("127.0.0.1", at.getPort(), NQN).identity(id).nrIoQueues(queues).queueSize(64)
                .keepAliveTimeout(Duration.ofSeconds(10)).commandTimeout(Duration.ofSeconds(60)).build();
    }

    private static void fill(Path file, HostIdentity host) {
        try (NvmeTcpTarget t = target(file, host, HostIdentity.random(), null); NvmeEventLoops loops = new NvmeEventLoops(1)) {
            InetSocketAddress at = t.start();
            try (NvmeTcpController c = NvmeTcpController.connectAndWait(loops, options(at, host, 1))) {
                NvmeTcpBlockDevice d = c.openNamespace(1);
                ByteBuffer b = ByteBuffer.allocateDirect(1 << 20);
                byte[] noise = new byte[1 << 20];
                new java.util.Random(1).nextBytes(noise);
                b.put(noise).flip();
                for (long pos = 0; pos < d.sizeInBytes(); pos += b.capacity()) {
                    d.write(pos, b.duplicate()).join();
                }
                d.flush().join();
            }
        }
    }

    private static Phase phase(Path file, HostIdentity victim, HostIdentity scanner, HostRateLimit scanLimit, boolean scan,
                               Duration run) throws Exception {
        try (NvmeTcpTarget t = target(file, victim, scanner, scanLimit);
             NvmeEventLoops victimLoops = new NvmeEventLoops(1);
             NvmeEventLoops scanLoops = new NvmeEventLoops(1)) {
            InetSocketAddress at = t.start();
            try (NvmeTcpController v = NvmeTcpController.connectAndWait(victimLoops, options(at, victim, 1));
                 NvmeTcpController s = scan ? NvmeTcpController.connectAndWait(scanLoops, options(at, scanner, 2)) : null) {
                NvmeTcpBlockDevice vd = v.openNamespace(1);
                Duration warm = Duration.ofSeconds(1);
                CompletableFuture<BlockLoad.Result> scanning = null;
                if (s != null) {
                    NvmeTcpBlockDevice sd = s.openNamespace(1);
                    // the scan starts first and outlasts the victim's run
                    scanning = CompletableFuture.supplyAsync(() -> {
                        try {
                            return BlockLoad.run(sd, new BlockLoad.Spec(BlockLoad.Mode.READ, 128 << 10, 16, run.plus(warm).plusSeconds(1),
                                    0, NAMESPACE_BYTES, false, 2));
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            throw new IllegalStateException(e);
                        }
                    });
                }
                BlockLoad.run(vd, new BlockLoad.Spec(BlockLoad.Mode.RANDREAD, 4096, 1, warm, 0, NAMESPACE_BYTES, false, 3));
                BlockLoad.Result r = BlockLoad.run(vd, new BlockLoad.Spec(BlockLoad.Mode.RANDREAD, 4096, 1, run, 0, NAMESPACE_BYTES, false, 4));
                double scanMiBps = -1;
                if (scanning != null) {
                    BlockLoad.Result sr = scanning.join();
                    scanMiBps = sr.bytes() * 1e9 / sr.elapsedNanos() / (1 << 20);
                }
                return new Phase(r.latency(), r.iops(), scanMiBps, scanLimit == null ? null : t.rateLimitStats(NQN, scanner.hostNqn()));
            }
        }
    }
}
