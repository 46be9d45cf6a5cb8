package io.thermocline.bench;

import io.thermocline.engine.EngineConfig;
import io.thermocline.engine.EngineReader;
import io.thermocline.engine.PutOptions;
import io.thermocline.engine.StandardTiers;
import io.thermocline.engine.TierEngine;
import io.thermocline.placement.PolicyConfig;
import io.thermocline.placement.TierSpec;
import io.thermocline.region.RegionConfig;
import io.thermocline.region.RegionKey;
import io.thermocline.region.SharedRegion;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.local.LocalTier;
import io.thermocline.tier.local.LocalTierConfig;

import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;

/**
 * Driver behind {@code bench/engine-overhead.sh}: what TierEngine costs on top of the tier it
 * reads from, for a hot object on the local tier, measured against a LocalTier opened directly on
 * an identical copy, in the same JVM, alternating the two sides.
 *
 * <ul>
 *   <li><b>stream</b>: the whole object read sequentially, BLOCK bytes per request, DEPTH in
 *       flight, every chunk CRC32C-verified by the tier; MB/s each side.</li>
 *   <li><b>small</b>: 4 KiB reads at random offsets, one at a time, through a reader opened once;
 *       ns per read call each side, and the difference.</li>
 *   <li><b>heat</b>: what the engine adds per read call in the shared region — a lookup of the key
 *       and an atomic heat update ({@code ObjectTable.addHeat(RegionKey, bytes)}) — alone, in a loop
 *       over a region holding the bench's objects; ns per call.</li>
 * </ul>
 * Prints one {@code side ...} line per measurement and a final {@code summary ...} line.
 *
 * <pre>EngineOverheadBench DIR SIZE_BYTES BLOCK DEPTH RUNS</pre>
 */
public final class EngineOverheadBench {

    private static final ObjectKey KEY = ObjectKey.of("models/bench/shard-00001.safetensors");
    private static final int SMALL = 4096;
    private static final int SMALL_READS = 200_000;

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: EngineOverheadBench DIR SIZE_BYTES BLOCK_BYTES DEPTH RUNS");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        long size = Long.parseLong(args[1]);
        int block = Integer.parseInt(args[2]);
        int depth = Integer.parseInt(args[3]);
        int runs = Integer.parseInt(args[4]);
        EngineConfig config = EngineConfig.builder(dir.resolve("engine"))
                .regionPath(dir.resolve("region"))
                .regionMaxObjects(4096)
                .tier(StandardTiers.local(TierSpec.builder("local", 4 * size + (1L << 30)).build(), dir.resolve("engine-local"), false))
                .tier(StandardTiers.local(TierSpec.builder("backing", 4 * size + (1L << 30)).build(), dir.resolve("engine-backing"), false))
                .policy(PolicyConfig.builder().build())
                .plannerInterval(Duration.ofHours(1))
                .build();
        ByteBuffer[] buffers = new ByteBuffer[depth];
        for (int i = 0; i < depth; i++) {
            buffers[i] = Arena.ofAuto().allocate(block, 4096).asByteBuffer();
        }
        try (TierEngine engine = TierEngine.open(config);
             LocalTier direct = LocalTier.open(LocalTierConfig.builder(dir.resolve("direct")).build())) {
            engine.put(KEY, noise(size), size, PutOptions.defaults().withTier("local")).join();
            publish(direct, size, buffers[0]);
            // a realistic table: the object among a few thousand others
            for (int i = 0; i < 2_000; i++) {
                engine.put(ObjectKey.of("models/other/shard-" + i), noise(1), 1, PutOptions.defaults().withTier("local")).join();
            }
            Supplier<ObjectReader> viaEngine = () -> engine.read(KEY).join();
            Supplier<ObjectReader> viaTier = () -> direct.openReader(KEY).join();
            try (EngineReader r = engine.read(KEY).join()) {
                if (!r.tier().equals("local")) {
                    throw new IllegalStateException("the engine reads the object from " + r.tier() + ", expected local");
                }
            }
            // warm-up: both paths JIT-compiled before anything is timed
            for (int i = 0; i < 2; i++) {
                stream(viaEngine, size, buffers);
                stream(viaTier, size, buffers);
                small(viaEngine, size, SMALL_READS / 4);
                small(viaTier, size, SMALL_READS / 4);
            }
            List<Double> engineMBps = new ArrayList<>();
            List<Double> tierMBps = new ArrayList<>();
            List<Double> engineNs = new ArrayList<>();
            List<Double> tierNs = new ArrayList<>();
            for (int run = 1; run <= runs; run++) {
                double t = stream(viaTier, size, buffers);
                double e = stream(viaEngine, size, buffers);
                tierMBps.add(t);
                engineMBps.add(e);
                double ts = small(viaTier, size, SMALL_READS);
                double es = small(viaEngine, size, SMALL_READS);
                tierNs.add(ts);
                engineNs.add(es);
                System.out.printf(Locale.ROOT, "side run=%d stream LocalTier=%.1f MB/s TierEngine=%.1f MB/s ratio=%.3f;"
                        + " 4KiB read LocalTier=%.0f ns TierEngine=%.0f ns added=%.0f ns%n", run, t, e, e / t, ts, es, es - ts);
            }
            double heatNs = heat(config);
            System.out.printf(Locale.ROOT, "side heat lookup+addHeat=%.1f ns per read call%n", heatNs);
            double t = median(tierMBps);
            double e = median(engineMBps);
            System.out.printf(Locale.ROOT, "summary stream_ratio=%.3f engine_MBps=%.1f tier_MBps=%.1f small_tier_ns=%.0f small_engine_ns=%.0f"
                            + " small_added_ns=%.0f heat_ns=%.1f size=%d block=%d depth=%d runs=%d%n",
                    e / t, e, t, median(tierNs), median(engineNs), median(engineNs) - median(tierNs), heatNs, size, block, depth, runs);
        }
    }

    private static ReadableByteChannel noise(long size) {
        return new ReadableByteChannel() {
            private long left = size;

            @Override
            public int read(ByteBuffer dst) {
                if (left == 0) {
                    return -1;
                }
                int n = (int) Math.min(dst.remaining(), left);
                for (int i = 0; i < n; i++) {
                    dst.put((byte) ThreadLocalRandom.current().nextInt());
                }
                left -= n;
                return n;
            }

            @Override
            public boolean isOpen() {
                return true;
            }

            @Override
            public void close() {
            }
        };
    }

    private static void publish(LocalTier tier, long size, ByteBuffer buf) {
        WriteRequest request = WriteRequest.builder(KEY, size).chunkSizeInBytes(ObjectInfo.DEFAULT_CHUNK_SIZE_IN_BYTES).build();
        try (ObjectWriter w = tier.create(request).join()) {
            ReadableByteChannel src = noise(size);
            long position = 0;
            while (position < size) {
                buf.clear();
                buf.limit((int) Math.min(buf.capacity(), size - position));
                while (buf.hasRemaining()) {
                    try {
                        src.read(buf);
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
                buf.flip();
                int n = buf.remaining();
                w.write(position, buf).join();
                position += n;
            }
            w.commit().join();
        }
    }

    /** Whole object, sequential, {@code buffers.length} requests in flight; MB/s. */
    private static double stream(Supplier<ObjectReader> open, long size, ByteBuffer[] buffers) {
        long t0 = System.nanoTime();
        try (ObjectReader r = open.get()) {
            int block = buffers[0].capacity();
            @SuppressWarnings({"unchecked", "rawtypes"})
            CompletableFuture<Integer>[] inFlight = new CompletableFuture[buffers.length];
            long next = 0;
            int slot = 0;
            while (next < size || inFlight[slot] != null) {
                if (inFlight[slot] != null) {
                    inFlight[slot].join();
                    inFlight[slot] = null;
                }
                if (next < size) {
                    ByteBuffer b = buffers[slot].clear();
                    b.limit((int) Math.min(block, size - next));
                    inFlight[slot] = r.read(next, b);
                    next += b.limit();
                }
                slot = (slot + 1) % buffers.length;
                if (next >= size) {
                    for (int i = 0; i < inFlight.length; i++) {
                        if (inFlight[i] != null) {
                            inFlight[i].join();
                            inFlight[i] = null;
                        }
                    }
                }
            }
        }
        return size / 1e6 / ((System.nanoTime() - t0) / 1e9);
    }

    /** 4 KiB reads at random 4 KiB-aligned offsets, one at a time; ns per read call. */
    private static double small(Supplier<ObjectReader> open, long size, int reads) {
        ByteBuffer b = ByteBuffer.allocateDirect(SMALL);
        long blocks = size / SMALL;
        ThreadLocalRandom random = ThreadLocalRandom.current();
        try (ObjectReader r = open.get()) {
            long t0 = System.nanoTime();
            for (int i = 0; i < reads; i++) {
                b.clear();
                r.read(random.nextLong(blocks) * SMALL, b).join();
            }
            return (System.nanoTime() - t0) / (double) reads;
        }
    }

    /** The region work the engine does per read call, attached to the engine's own region. */
    private static double heat(EngineConfig config) {
        RegionConfig rc = RegionConfig.builder(config.regionPath()).maxObjects(config.regionMaxObjects())
                .tierCount(config.tiers().size()).heatHalfLife(config.policy().halfLife()).build();
        try (SharedRegion region = SharedRegion.openOrCreate(rc)) {
            RegionKey key = RegionKey.of(KEY);
            int n = 5_000_000;
            List<Double> samples = new ArrayList<>();
            for (int round = 0; round < 7; round++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    if (!region.table().addHeat(key, SMALL)) {
                        throw new IllegalStateException(KEY + " is not in the engine's region");
                    }
                }
                samples.add((System.nanoTime() - t0) / (double) n);
            }
            return median(samples.subList(2, samples.size()));
        }
    }

    private static double median(List<Double> values) {
        List<Double> v = new ArrayList<>(values);
        Collections.sort(v);
        int n = v.size();
        return n % 2 == 1 ? v.get(n / 2) : (v.get(n / 2 - 1) + v.get(n / 2)) / 2;
    }
}
