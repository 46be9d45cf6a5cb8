package io.thermocline.bench;

import io.thermocline.nvmeof.auth.TlsPsk;
import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeTcpBlockDevice;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.load.BlockLoad;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Locale;

/**
 * The throughput cost of NVMe/TCP TLS 1.3 (configured PSK, TLS_AES_128_GCM_SHA256, AES-GCM through
 * the JCA): the user-space host against the Java target over 127.0.0.1, the namespace a file in
 * memory, 128 KiB sequential reads and then writes at QD 16 over 2 I/O queues — once in cleartext
 * and once over TLS, in the same JVM, cleartext first.
 *
 * <pre>
 *   NvmeTcpTlsBench [seconds]
 * </pre>
 * Prints both sides and ends with {@code RESULT nvmetcp-tls ratio=<TLS MiB/s / cleartext MiB/s of the reads>}.
 */
public final class NvmeTcpTlsBench {
    private static final String NQN = "nqn.2026-11.io.thermocline:bench-tls";
    private static final long NAMESPACE_BYTES = 256L << 20;

    private NvmeTcpTlsBench() {
    }

    private record Rates(double readMiBs, double writeMiBs) {
    }

    public static void main(String[] args) throws Exception {
        int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        Duration run = Duration.ofSeconds(seconds);
        Duration warm = Duration.ofSeconds(Math.max(2, seconds / 3));
        Path dir = Path.of(System.getProperty("bench.dir", Files.isDirectory(Path.of("/dev/shm")) ? "/dev/shm" : System.getProperty("java.io.tmpdir")));
        TlsPsk key = TlsPsk.generate(1, new SecureRandom());
        System.out.printf("machine: %d cpus, %s; namespace %d MiB in %s; 128 KiB sequential I/O, QD16, 2 I/O queues%n",
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.version"), NAMESPACE_BYTES >> 20, dir);
        Rates clear = side(dir, null, warm, run);
        System.out.printf(Locale.ROOT, "cleartext  reads %.0f MiB/s, writes %.0f MiB/s%n", clear.readMiBs, clear.writeMiBs);
        Rates tls = side(dir, key, warm, run);
        System.out.printf(Locale.ROOT, "TLS 1.3    reads %.0f MiB/s, writes %.0f MiB/s (PSK identity NVMe0R01, TLS_AES_128_GCM_SHA256)%n",
                tls.readMiBs, tls.writeMiBs);
        System.out.printf(Locale.ROOT, "RESULT nvmetcp-tls ratio=%.3f tls_read_mib_s=%.0f clear_read_mib_s=%.0f write_ratio=%.3f "
                        + "tls_write_mib_s=%.0f clear_write_mib_s=%.0f%n", tls.readMiBs / clear.readMiBs, tls.readMiBs,
                clear.readMiBs, tls.writeMiBs / clear.writeMiBs, tls.writeMiBs, clear.writeMiBs);
    }

    private static Rates side(Path dir, TlsPsk key, Duration warm, Duration run) throws Exception {
        Path file = Files.createTempFile(dir, "thermocline-nvme-tls-bench", ".ns");
        HostIdentity host = HostIdentity.random();
        NvmeTcpTarget.Builder tb = NvmeTcpTarget.builder().port(0).eventLoopThreads(1)
                .subsystem(Subsystem.builder(NQN).allowHost(host.hostNqn())
                        .namespace(Namespace.openFile(file, NAMESPACE_BYTES, 4096, false)).build());
        if (key != null) {
            tb.tlsKey(host.hostNqn(), key);
        }
        NvmeTcpTarget target = tb.build();
        try {
            InetSocketAddress address = target.start();
            NvmeTcpHostOptions.Builder ob = NvmeTcpHostOptions.builder("127.0.0.1", address.getPort(), NQN).identity(host)
                    .nrIoQueues(2).queueSize(64).keepAliveTimeout(Duration.ofSeconds(10));
            if (key != null) {
                ob.tlsKey(key.format());
            }
            try (NvmeEventLoops loops = new NvmeEventLoops(1);
                 NvmeTcpController controller = NvmeTcpController.connectAndWait(loops, ob.build())) {
                NvmeTcpBlockDevice device = controller.openNamespace(1);
                fill(device);
                load(device, BlockLoad.Mode.READ, warm);
                BlockLoad.Result reads = load(device, BlockLoad.Mode.READ, run);
                load(device, BlockLoad.Mode.WRITE, warm);
                BlockLoad.Result writes = load(device, BlockLoad.Mode.WRITE, run);
                return new Rates(reads.bytes() * 1e9 / reads.elapsedNanos() / (1 << 20),
                        writes.bytes() * 1e9 / writes.elapsedNanos() / (1 << 20));
            }
        } finally {
            target.close();
            Files.deleteIfExists(file);
        }
    }

    private static BlockLoad.Result load(NvmeTcpBlockDevice device, BlockLoad.Mode mode, Duration runtime) throws InterruptedException {
        return BlockLoad.run(device, new BlockLoad.Spec(mode, 128 << 10, 16, runtime, 0, NAMESPACE_BYTES, false, 1));
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
}
