package io.thermocline.bench;

import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeTcpBlockDevice;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.load.BlockLoad;
import io.thermocline.nvmeof.load.LatencyHistogram;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;

/**
 * NVMe/TCP benchmarks: the user-space host against the Java target over 127.0.0.1, with the
 * namespace a file in memory (/dev/shm by default), each beside its TCP reference from the same
 * run ({@link TcpReference}).
 *
 * <pre>
 *   NvmeTcpBench latency    [seconds]   4 KiB random reads at QD 1, 1 I/O queue; vs a 72 B / 4 KiB+24 B ping-pong
 *   NvmeTcpBench throughput [seconds]   128 KiB sequential reads at QD 16 over 2 I/O queues; vs one raw TCP stream
 *   NvmeTcpBench cpu        [seconds]   4 KiB random reads at QD 32: IOPS and CPU per I/O on host and target threads
 * </pre>
 * Each prints both sides and ends with a {@code RESULT} line.
 */
public final class NvmeTcpBench {
    private static final String NQN = "nqn.2026-11.io.thermocline:bench";
    private static final long NAMESPACE_BYTES = 256L << 20;

    private NvmeTcpBench() {
    }

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "latency";
        int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        Duration run = Duration.ofSeconds(seconds);
        Duration warm = Duration.ofSeconds(Math.max(2, seconds / 3));
        Path dir = Path.of(System.getProperty("bench.dir", Files.isDirectory(Path.of("/dev/shm")) ? "/dev/shm" : System.getProperty("java.io.tmpdir")));
        Path file = Files.createTempFile(dir, "thermocline-nvme-bench", ".ns");
        HostIdentity host = HostIdentity.random();
        NvmeTcpTarget target = NvmeTcpTarget.builder().port(0).eventLoopThreads(1)
                .subsystem(Subsystem.builder(NQN).allowHost(host.hostNqn())
                        .namespace(Namespace.openFile(file, NAMESPACE_BYTES, 4096, false)).build())
                .build();
        try {
            InetSocketAddress address = target.start();
            int queues = mode.equals("latency") ? 1 : 2;
            try (NvmeEventLoops loops = new NvmeEventLoops(1);
                 NvmeTcpController controller = NvmeTcpController.connectAndWait(loops,
                         NvmeTcpHostOptions.builder("127.0.0.1", address.getPort(), NQN).identity(host).nrIoQueues(queues)
                                 .queueSize(64).keepAliveTimeout(Duration.ofSeconds(10)).build())) {
                NvmeTcpBlockDevice device = controller.openNamespace(1);
                fill(device);
                System.out.printf("machine: %d cpus, %s; transport %s; namespace %s (%d MiB in %s)%n",
                        Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.version"), loops.transport(),
                        device.name(), NAMESPACE_BYTES >> 20, dir);
                switch (mode) {
                    case "latency" -> latency(device, warm, run);
                    case "throughput" -> throughput(device, warm, run);
                    case "cpu" -> cpu(device, warm, run);
                    default -> throw new IllegalArgumentException("mode: " + mode + " (expected latency, throughput or cpu)");
                }
            }
        } finally {
            target.close();
            Files.deleteIfExists(file);
        }
    }

    private static void fill(NvmeTcpBlockDevice device) {
        ByteBuffer b = ByteBuffer.allocateDirect(1 << 20);
        byte[] noise = new byte[1 << 20];
        new java.util.Random(1).nextBytes(noise);
        b.put(noise).flip();
        for (long at = 0; at < device.sizeInBytes(); at += b.capacity()) {
            device.write(at, b.duplicate()).join();
        }
        device.flush().join();
    }

    private static BlockLoad.Result load(NvmeTcpBlockDevice device, BlockLoad.Mode mode, int bs, int qd, Duration runtime) throws InterruptedException {
        return BlockLoad.run(device, new BlockLoad.Spec(mode, bs, qd, runtime, 0, NAMESPACE_BYTES, false, 1));
    }

    private static void latency(NvmeTcpBlockDevice device, Duration warm, Duration run) throws Exception {
        load(device, BlockLoad.Mode.RANDREAD, 4096, 1, warm);
        LatencyHistogram ref = TcpReference.pingPong(72, 4096 + 24, warm, run);
        BlockLoad.Result ours = load(device, BlockLoad.Mode.RANDREAD, 4096, 1, run);
        LatencyHistogram h = ours.latency();
        double p50Ratio = (double) h.quantileNanos(0.5) / ref.quantileNanos(0.5);
        double p99Ratio = (double) h.quantileNanos(0.99) / ref.quantileNanos(0.99);
        System.out.printf("reference  TCP ping-pong 72 B -> 4120 B, TCP_NODELAY: %d round trips, p50 %.1f us, p99 %.1f us, p99.9 %.1f us%n",
                ref.count(), ref.quantileNanos(0.5) / 1e3, ref.quantileNanos(0.99) / 1e3, ref.quantileNanos(0.999) / 1e3);
        System.out.printf("thermocline 4 KiB randread QD1 (user-space host -> Java target): %d I/Os, %.0f IOPS, p50 %.1f us, p99 %.1f us, p99.9 %.1f us%n",
                ours.ios(), ours.iops(), h.quantileNanos(0.5) / 1e3, h.quantileNanos(0.99) / 1e3, h.quantileNanos(0.999) / 1e3);
        System.out.printf(Locale.ROOT, "RESULT nvmetcp-latency ratio=%.3f p50_us=%.1f ref_p50_us=%.1f p99_ratio=%.3f p99_us=%.1f ref_p99_us=%.1f goal_p50<=1.3 goal_p99<=2.0%n",
                p50Ratio, h.quantileNanos(0.5) / 1e3, ref.quantileNanos(0.5) / 1e3, p99Ratio, h.quantileNanos(0.99) / 1e3,
                ref.quantileNanos(0.99) / 1e3);
    }

    private static void throughput(NvmeTcpBlockDevice device, Duration warm, Duration run) throws Exception {
        load(device, BlockLoad.Mode.READ, 128 << 10, 16, warm);
        double ref = TcpReference.stream(128 << 10, warm, run);
        BlockLoad.Result ours = load(device, BlockLoad.Mode.READ, 128 << 10, 16, run);
        double oursRate = ours.bytes() * 1e9 / ours.elapsedNanos();
        System.out.printf("reference  one loopback TCP stream, 128 KiB writes: %.0f MiB/s%n", ref / (1 << 20));
        System.out.printf("thermocline 128 KiB sequential reads, QD16 over 2 I/O queues: %.0f MiB/s (%.0f IOPS)%n",
                oursRate / (1 << 20), ours.iops());
        System.out.printf(Locale.ROOT, "RESULT nvmetcp-throughput ratio=%.3f ours_mib_s=%.0f stream_mib_s=%.0f goal>=0.7%n",
                oursRate / ref, oursRate / (1 << 20), ref / (1 << 20));
    }

    private static void cpu(NvmeTcpBlockDevice device, Duration warm, Duration run) throws Exception {
        load(device, BlockLoad.Mode.RANDREAD, 4096, 32, warm);
        long[] before = cpuByPrefix();
        long start = System.nanoTime();
        BlockLoad.Result ours = load(device, BlockLoad.Mode.RANDREAD, 4096, 32, run);
        long wall = System.nanoTime() - start;
        long[] after = cpuByPrefix();
        double hostNs = (after[0] - before[0]) / (double) ours.ios();
        double targetNs = (after[1] - before[1]) / (double) ours.ios();
        double otherNs = (after[2] - before[2]) / (double) ours.ios();
        System.out.printf("thermocline 4 KiB randread QD32, 2 I/O queues: %.0f IOPS, p50 %.1f us, p99 %.1f us%n",
                ours.iops(), ours.latency().quantileNanos(0.5) / 1e3, ours.latency().quantileNanos(0.99) / 1e3);
        System.out.printf("CPU per I/O: host event loop %.2f us, target event loop %.2f us, other JVM threads %.2f us (wall %.1f s)%n",
                hostNs / 1e3, targetNs / 1e3, otherNs / 1e3, wall / 1e9);
        System.out.printf(Locale.ROOT, "RESULT nvmetcp-cpu ratio=%.3f iops=%.0f host_cpu_us_per_io=%.2f target_cpu_us_per_io=%.2f (ratio: host+target CPU per I/O in us)%n",
                (hostNs + targetNs) / 1e3, ours.iops(), hostNs / 1e3, targetNs / 1e3);
    }

    /** CPU nanoseconds so far of threads named nvme-host*, nvme-target*, and all others. */
    private static long[] cpuByPrefix() {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        long[] sums = new long[3];
        for (long id : mx.getAllThreadIds()) {
            ThreadInfo info = mx.getThreadInfo(id);
            long cpu = mx.getThreadCpuTime(id);
            if (info == null || cpu < 0) {
                continue;
            }
            String name = info.getThreadName();
            sums[name.startsWith("nvme-host") ? 0 : name.startsWith("nvme-target") ? 1 : 2] += cpu;
        }
        return sums;
    }
}
