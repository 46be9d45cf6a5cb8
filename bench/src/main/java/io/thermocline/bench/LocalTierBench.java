package io.thermocline.bench;

import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.local.LocalTier;
import io.thermocline.tier.local.LocalTierConfig;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Whole-process driver behind {@code bench/local-read.sh} and {@code bench/local-write.sh}:
 * sequential publish or read of one object on a LocalTier, with {@code depth} requests of
 * {@code block} bytes in flight, like fio's {@code --iodepth}. Prints one line:
 * {@code ours <op> bytes=<n> seconds=<s> MBps=<r>}.
 *
 * <pre>
 * LocalTierBench write ROOT SIZE BLOCK DEPTH DIRECT [WARMUP]  publish key "bench/object" (create to commit, fsyncs included)
 * LocalTierBench read  ROOT SIZE BLOCK DEPTH DIRECT [WARMUP]  read it back, every chunk verified against its CRC32C
 * </pre>
 *
 * <p>WARMUP (bytes, default 256 MiB) is first published and read back under another key, untimed, so
 * that the figure is the steady state of a running process (JIT-compiled CRC32C and I/O paths), as in
 * the serving processes that embed the tier, rather than the first second of a cold JVM.
 */
public final class LocalTierBench {

    private static final ObjectKey KEY = ObjectKey.of("bench/object");
    private static final ObjectKey WARMUP_KEY = ObjectKey.of("bench/warmup");

    public static void main(String[] args) throws Exception {
        if (args.length != 6 && args.length != 7) {
            System.err.println("usage: LocalTierBench write|read ROOT SIZE_BYTES BLOCK_BYTES DEPTH DIRECT(true|false) [WARMUP_BYTES]");
            System.exit(2);
        }
        String op = args[0];
        Path root = Path.of(args[1]);
        long size = Long.parseLong(args[2]);
        int block = Integer.parseInt(args[3]);
        int depth = Integer.parseInt(args[4]);
        boolean direct = Boolean.parseBoolean(args[5]);
        long warmup = args.length == 7 ? Long.parseLong(args[6]) : 256L << 20;
        try (LocalTier tier = LocalTier.open(LocalTierConfig.builder(root).directIo(direct).build())) {
            ByteBuffer[] buffers = new ByteBuffer[depth];
            for (int i = 0; i < depth; i++) {
                buffers[i] = Arena.ofAuto().allocate(block, 4096).asByteBuffer();
                if (op.equals("write")) {
                    byte[] noise = new byte[block];
                    ThreadLocalRandom.current().nextBytes(noise);
                    buffers[i].put(noise).flip();
                }
            }
            if (warmup > 0) {
                write(tier, WARMUP_KEY, warmup, block, buffers);
                read(tier, WARMUP_KEY, warmup, block, buffers);
                tier.delete(WARMUP_KEY).join();
            }
            long t0 = System.nanoTime();
            switch (op) {
                case "write" -> write(tier, KEY, size, block, buffers);
                case "read" -> read(tier, KEY, size, block, buffers);
                default -> throw new IllegalArgumentException("op: " + op + " (expected: write or read)");
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "ours %s bytes=%d seconds=%.3f MBps=%.1f%n", op, size, seconds, size / 1e6 / seconds);
        }
    }

    private static void write(LocalTier tier, ObjectKey key, long size, int block, ByteBuffer[] buffers) {
        WriteRequest request = WriteRequest.builder(key, size).chunkSizeInBytes(ObjectInfo.DEFAULT_CHUNK_SIZE_IN_BYTES).build();
        try (ObjectWriter w = tier.create(request).join()) {
            @SuppressWarnings({"unchecked", "rawtypes"})
            CompletableFuture<Void>[] inFlight = new CompletableFuture[buffers.length];
            int slot = 0;
            for (long p = 0; p < size; p += block) {
                if (inFlight[slot] != null) {
                    inFlight[slot].join();
                }
                int n = (int) Math.min(block, size - p);
                inFlight[slot] = w.write(p, buffers[slot].clear().limit(n));
                slot = (slot + 1) % buffers.length;
            }
            CompletableFuture.allOf(java.util.Arrays.stream(inFlight).filter(f -> f != null)
                    .toArray(CompletableFuture[]::new)).join();
            long tw = System.nanoTime();
            w.commit().join();
            if (System.getenv("BENCH_TRACE") != null) {
                System.err.printf("commit ms=%.1f%n", (System.nanoTime() - tw) / 1e6);
            }
        }
    }

    private static void read(LocalTier tier, ObjectKey key, long size, int block, ByteBuffer[] buffers) {
        try (ObjectReader r = tier.openReader(key).join()) {
            if (r.info().sizeInBytes() != size) {
                throw new IllegalStateException("object is " + r.info().sizeInBytes() + " bytes, expected " + size);
            }
            @SuppressWarnings({"unchecked", "rawtypes"})
            CompletableFuture<Integer>[] inFlight = new CompletableFuture[buffers.length];
            int slot = 0;
            long total = 0;
            for (long p = 0; p < size; p += block) {
                if (inFlight[slot] != null) {
                    total += inFlight[slot].join();
                }
                inFlight[slot] = r.read(p, buffers[slot].clear());
                slot = (slot + 1) % buffers.length;
            }
            for (CompletableFuture<Integer> f : inFlight) {
                if (f != null) {
                    total += f.join();
                }
            }
            if (total != size) {
                throw new IllegalStateException("read " + total + " bytes, expected " + size);
            }
        }
    }
}
