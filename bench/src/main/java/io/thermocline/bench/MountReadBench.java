package io.thermocline.bench;

import io.thermocline.engine.EngineReader;
import io.thermocline.engine.PutOptions;
import io.thermocline.engine.TierEngine;
import io.thermocline.examples.EmbeddedTiers;
import io.thermocline.mount.ThermoclineMount;
import io.thermocline.placement.Rule;
import io.thermocline.placement.WriteMode;
import io.thermocline.tier.ObjectKey;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The reads behind {@code bench/mount-read.sh}: a model read sequentially through
 * {@code thermocline mount}, each time from a cold page cache, set against the same bytes read
 * without the mount in the same run:
 *
 * <ul>
 *   <li><b>local</b>: through the mount while the model is on the local tier, against the local
 *       tier's plain files read directly (the same 1 MiB sequential reads);</li>
 *   <li><b>s3</b>: through the mount while the model is only in S3 (read through), against the S3
 *       tier's own parallel ranged GETs of the same objects into memory ({@value #RANGE_MIB} MiB
 *       ranges, {@value #PARALLEL} in flight, verified, through {@link TierEngine#read});</li>
 *   <li><b>fabric</b>: through the mount while the model is only on the NVMe/TCP block tier,
 *       against the block tier's own reads, of the same shape as S3's;</li>
 *   <li><b>load_file</b> (reported, not in the ratio): Python {@code safetensors.numpy.load_file}
 *       of every shard through the mount (model on local) against the plain files.</li>
 * </ul>
 *
 * Each tier's copy of the model lives under its own prefix, and its rule keeps it there (no
 * read-through promotion, no promotion by heat), so each run reads only the tier under test.
 * Dropping the page cache needs root; without it the script says the reads were warm.
 *
 * <pre>
 *   MountReadBench WORK_DIR MODEL_DIR RUNS [PYTHON MODEL_TOOL]
 * </pre>
 */
public final class MountReadBench {

    private static final int READ = 1 << 20;
    private static final int RANGE_MIB = 8;
    private static final int PARALLEL = 16;

    private MountReadBench() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: MountReadBench WORK_DIR MODEL_DIR RUNS [PYTHON MODEL_TOOL]");
            System.exit(2);
        }
        Path work = Path.of(args[0]);
        Path model = Path.of(args[1]);
        int runs = Integer.parseInt(args[2]);
        String python = args.length > 4 ? args[3] : null;
        String tool = args.length > 4 ? args[4] : null;
        List<Path> shards;
        try (Stream<Path> s = Files.list(model)) {
            shards = s.filter(Files::isRegularFile).sorted().toList();
        }
        long total = 0;
        for (Path p : shards) {
            total += Files.size(p);
        }
        double mib = total / 1048576.0;
        long room = total + (256L << 20);
        try (EmbeddedTiers tiers = EmbeddedTiers.builder(work.resolve("tiers")).localBytes(room).fabricBytes(room)
                .rule(still("s3/", "s3")).rule(still("fabric/", "fabric")).rule(still("local/", "local"))
                .plannerInterval(Duration.ofHours(1)).start();
             TierEngine engine = tiers.openEngine()) {
            long t0 = System.nanoTime();
            for (Path p : shards) {
                String name = p.getFileName().toString();
                put(engine, "local/" + name, p, PutOptions.defaults().withTier("local").withWriteMode(WriteMode.LOCAL_ONLY));
                put(engine, "fabric/" + name, p, PutOptions.defaults().withTier("fabric").withWriteMode(WriteMode.LOCAL_ONLY));
                put(engine, "s3/" + name, p, PutOptions.defaults().withTier("s3"));
            }
            System.out.printf(Locale.ROOT, "model: %d files, %.1f MiB, put on local, fabric and s3 in %.1f s%n", shards.size(), mib,
                    (System.nanoTime() - t0) / 1e9);
            for (String tier : List.of("local", "fabric", "s3")) {
                for (Path p : shards) {
                    List<String> on = engine.stat(ObjectKey.of(tier + "/" + p.getFileName())).join().orElseThrow().tiers();
                    if (!on.equals(List.of(tier))) {
                        throw new IllegalStateException(tier + "/" + p.getFileName() + " is on " + on + ", expected only " + tier);
                    }
                }
            }
            List<Path> plain = new ArrayList<>();
            for (Path p : shards) {
                plain.add(engine.plainPath(ObjectKey.of("local/" + p.getFileName()), "local").orElseThrow());
            }
            Path mnt = Files.createDirectories(work.resolve("mnt"));
            boolean cold = true;
            try (ThermoclineMount mount = ThermoclineMount.mount(engine, mnt, ThermoclineMount.Options.defaults())) {
                System.out.printf(Locale.ROOT, "mounted at %s%n", mnt);
                List<Path> viaMountLocal = under(mnt.resolve("local"), shards);
                List<Path> viaMountFabric = under(mnt.resolve("fabric"), shards);
                List<Path> viaMountS3 = under(mnt.resolve("s3"), shards);

                List<Double> mLocal = new ArrayList<>(), rLocal = new ArrayList<>();
                List<Double> mFabric = new ArrayList<>(), rFabric = new ArrayList<>();
                List<Double> mS3 = new ArrayList<>(), rS3 = new ArrayList<>();
                List<Double> pyMount = new ArrayList<>(), pyPlain = new ArrayList<>();
                // one round first, not counted: the JIT compiles the read paths on it
                cold &= dropCaches();
                System.out.printf(Locale.ROOT, "warm-up (not counted): mount local %.0f MiB/s, plain %.0f MiB/s%n",
                        mib / files(viaMountLocal), mib / files(plain));
                for (int run = 1; run <= runs; run++) {
                    cold &= dropCaches();
                    rLocal.add(mib / files(plain));
                    cold &= dropCaches();
                    mLocal.add(mib / files(viaMountLocal));
                    cold &= dropCaches();
                    rS3.add(mib / engineParallel(engine, "s3", shards));
                    cold &= dropCaches();
                    mS3.add(mib / files(viaMountS3));
                    cold &= dropCaches();
                    rFabric.add(mib / engineParallel(engine, "fabric", shards));
                    cold &= dropCaches();
                    mFabric.add(mib / files(viaMountFabric));
                    System.out.printf(Locale.ROOT, "run %d: local mount %.0f / plain files %.0f MiB/s; s3 mount %.0f / tier's parallel "
                            + "ranged GETs %.0f MiB/s; fabric mount %.0f / block tier's reads %.0f MiB/s%n", run, mLocal.getLast(),
                            rLocal.getLast(), mS3.getLast(), rS3.getLast(), mFabric.getLast(), rFabric.getLast());
                    if (python != null) {
                        cold &= dropCaches();
                        pyPlain.add(loadFile(python, tool, plain.getFirst().getParent()));
                        cold &= dropCaches();
                        pyMount.add(loadFile(python, tool, mnt.resolve("local")));
                        System.out.printf(Locale.ROOT, "run %d: safetensors load_file through the mount %.2f s, plain files %.2f s%n", run,
                                pyMount.getLast(), pyPlain.getLast());
                    }
                }
                if (mount.failedReads() != 0) {
                    throw new IllegalStateException(mount.failedReads() + " reads through the mount failed");
                }
                double local = median(mLocal) / median(rLocal);
                double s3 = median(mS3) / median(rS3);
                double fabric = median(mFabric) / median(rFabric);
                double worst = Math.min(local, Math.min(s3, fabric));
                String load = python == null ? "load_file=skipped"
                        : String.format(Locale.ROOT, "load_file_mount_s=%.2f load_file_plain_s=%.2f load_file_ratio=%.3f",
                                median(pyMount), median(pyPlain), median(pyPlain) / median(pyMount));
                System.out.printf(Locale.ROOT, "medians of %d: local %.3f (%.0f vs %.0f MiB/s), s3 %.3f (%.0f vs %.0f), fabric %.3f (%.0f vs %.0f)%n",
                        runs, local, median(mLocal), median(rLocal), s3, median(mS3), median(rS3), fabric, median(mFabric), median(rFabric));
                System.out.printf(Locale.ROOT, "RESULT mount-read ratio=%.3f local_ratio=%.3f s3_ratio=%.3f fabric_ratio=%.3f "
                        + "local_mount_mib_s=%.0f local_plain_mib_s=%.0f s3_mount_mib_s=%.0f s3_tier_mib_s=%.0f fabric_mount_mib_s=%.0f "
                        + "fabric_tier_mib_s=%.0f %s size_mib=%.0f files=%d cold=%s goal>=0.8%n", worst, local, s3, fabric,
                        median(mLocal), median(rLocal), median(mS3), median(rS3), median(mFabric), median(rFabric), load, mib,
                        shards.size(), cold ? "yes" : "no");
            }
        }
    }

    private static Rule still(String prefix, String tier) {
        return Rule.builder(prefix + "**").preferredTiers(List.of(tier)).minHeatToPromote(Double.MAX_VALUE).build();
    }

    private static void put(TierEngine engine, String key, Path file, PutOptions options) throws IOException {
        try (FileChannel ch = FileChannel.open(file)) {
            engine.put(ObjectKey.of(key), ch, ch.size(), options).join();
        }
    }

    private static List<Path> under(Path dir, List<Path> shards) {
        return shards.stream().map(p -> dir.resolve(p.getFileName().toString())).toList();
    }

    /** Reads every file sequentially, one after another, in 1 MiB reads; returns seconds. */
    private static double files(List<Path> files) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(READ);
        long t0 = System.nanoTime();
        for (Path p : files) {
            try (FileChannel ch = FileChannel.open(p)) {
                long size = ch.size();
                long at = 0;
                while (at < size) {
                    buf.clear();
                    int n = ch.read(buf, at);
                    if (n <= 0) {
                        throw new IOException(p + ": read at " + at + " of " + size + " returned " + n);
                    }
                    at += n;
                }
            }
        }
        return (System.nanoTime() - t0) / 1e9;
    }

    /**
     * The tier's own read of each object, one object after another: {@value #PARALLEL} reads of
     * {@value #RANGE_MIB} MiB in flight through {@link TierEngine#read} (verified chunk by chunk),
     * into buffers reused as reads complete; returns seconds.
     */
    private static double engineParallel(TierEngine engine, String tier, List<Path> shards) throws Exception {
        int range = RANGE_MIB << 20;
        BlockingQueue<ByteBuffer> free = new ArrayBlockingQueue<>(PARALLEL);
        for (int i = 0; i < PARALLEL; i++) {
            free.add(ByteBuffer.allocateDirect(range));
        }
        long t0 = System.nanoTime();
        for (Path p : shards) {
            try (EngineReader r = engine.read(ObjectKey.of(tier + "/" + p.getFileName())).join()) {
                if (!r.tier().equals(tier)) {
                    throw new IllegalStateException(p.getFileName() + " is read from " + r.tier() + ", expected " + tier);
                }
                long size = r.info().sizeInBytes();
                List<CompletableFuture<Void>> inFlight = new ArrayList<>();
                for (long at = 0; at < size; at += range) {
                    ByteBuffer b = free.poll(5, TimeUnit.MINUTES);
                    if (b == null) {
                        throw new IllegalStateException("no buffer came back in 5 minutes");
                    }
                    b.clear().limit((int) Math.min(range, size - at));
                    long position = at;
                    inFlight.add(readFully(r, position, b).whenComplete((v, t) -> free.add(b)));
                    inFlight.removeIf(CompletableFuture::isDone);
                }
                CompletableFuture.allOf(inFlight.toArray(CompletableFuture[]::new)).join();
            }
        }
        return (System.nanoTime() - t0) / 1e9;
    }

    private static CompletableFuture<Void> readFully(EngineReader r, long position, ByteBuffer b) {
        return r.read(position, b).thenCompose(n -> {
            if (n < 0) {
                return CompletableFuture.failedFuture(new IOException("end of object at " + position));
            }
            return b.hasRemaining() ? readFully(r, position + n, b) : CompletableFuture.completedFuture(null);
        });
    }

    /** Python's safetensors load_file of every shard in {@code dir}; returns seconds, start-up included. */
    private static double loadFile(String python, String tool, Path dir) throws Exception {
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(python, tool, "load", dir.toString()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new IllegalStateException("load_file of " + dir + " did not end in 10 minutes");
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException("load_file of " + dir + " exited with " + p.exitValue());
        }
        return (System.nanoTime() - t0) / 1e9;
    }

    /** Drops the kernel's clean page cache (root only); whether it could. */
    private static boolean dropCaches() {
        try {
            new ProcessBuilder("sync").start().waitFor();
            Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3");
            return true;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static double median(List<Double> v) {
        List<Double> s = v.stream().sorted().toList();
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}
