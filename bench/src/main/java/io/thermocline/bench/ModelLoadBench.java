package io.thermocline.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.thermocline.engine.StageHandle;
import io.thermocline.engine.TierEngine;
import io.thermocline.examples.EmbeddedTiers;
import io.thermocline.examples.serving.ModelServer;
import io.thermocline.examples.serving.SyntheticModel;
import io.thermocline.placement.Rule;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.reactivestreams.Subscriber;
import org.reactivestreams.Subscription;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.async.AsyncResponseTransformer;
import software.amazon.awssdk.core.async.SdkPublisher;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * The end-to-end model load behind {@code bench/model-load.sh}: the serving example
 * ({@link ModelServer}) loads a synthetic safetensors model through the engine from each tier in
 * turn, and each figure is set against that tier's own ceiling, measured in the same run:
 *
 * <ul>
 *   <li><b>s3</b> (cold: in no faster tier) against parallel ranged GETs of the same objects with
 *       the AWS SDK's async client straight to the same server, same range size and parallelism,
 *       bodies counted and dropped;</li>
 *   <li><b>fabric</b> (after a prestage) against one raw loopback TCP stream ({@link TcpReference#stream}),
 *       what NVMe/TCP over 127.0.0.1 can at most carry;</li>
 *   <li><b>local</b> (after a prestage; the local tier uses O_DIRECT) against fio reading a file of
 *       the same size on the same file system with O_DIRECT (libaio), the better of the loader's
 *       request size and depth and 1 MiB x 16.</li>
 * </ul>
 *
 * The model's rule keeps placement still (no promotion by heat, no read-through), so each load
 * reads only the tier under test. Every load is checked: each tensor's bytes against the generator.
 *
 * <pre>
 *   ModelLoadBench DIR SIZE_MIB SHARDS S3_CHUNK_MIB S3_PARALLEL FAST_CHUNK_MIB FAST_PARALLEL RUNS [TIERS]
 * </pre>
 *
 * TIERS (default {@code s3,fabric,local}) picks the tiers to load from, e.g. {@code fabric} alone
 * while working on that path; the RESULT ratio is the worst of those measured.
 *
 * Loads from S3 use S3-sized ranges (each read is an HTTP request); loads from the fabric and
 * local tiers use block-sized ones, as a loader that knows where a shard is would
 * ({@link ModelServer.Options}); each ceiling uses the same size and parallelism as its load.
 */
public final class ModelLoadBench {

    private static final String PREFIX = "models/bench/";

    private ModelLoadBench() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        long size = Long.parseLong(args[1]) << 20;
        int shards = Integer.parseInt(args[2]);
        int chunk = Integer.parseInt(args[3]) << 20;
        int parallel = Integer.parseInt(args[4]);
        int fastChunk = Integer.parseInt(args[5]) << 20;
        int fastParallel = Integer.parseInt(args[6]);
        int runs = Integer.parseInt(args[7]);
        java.util.Set<String> which = java.util.Set.of((args.length > 8 ? args[8] : "s3,fabric,local").split(","));
        for (String t : which) {
            if (!List.of("s3", "fabric", "local").contains(t)) {
                throw new IllegalArgumentException("TIERS: " + t + " (expected: a comma-separated list of s3, fabric, local)");
            }
        }
        ModelServer.Options options = new ModelServer.Options(chunk, parallel);
        ModelServer.Options fast = new ModelServer.Options(fastChunk, fastParallel);
        SyntheticModel model = SyntheticModel.of(size, shards);
        long room = model.sizeInBytes() + (256L << 20);
        try (EmbeddedTiers tiers = EmbeddedTiers.builder(dir).localBytes(room).fabricBytes(room).localDirectIo(true)
                .rule(Rule.builder(PREFIX + "**").preferredTiers(List.of("s3")).minHeatToPromote(Double.MAX_VALUE).build())
                .plannerInterval(Duration.ofMinutes(10)).start();
             TierEngine engine = tiers.openEngine()) {
            long t0 = System.nanoTime();
            model.put(engine, PREFIX, "s3");
            System.out.printf(Locale.ROOT, "model: %d shards, %.1f MiB, put in S3 in %.1f s; loads read %d MiB ranges, %d in flight from s3, "
                    + "%d MiB, %d in flight from fabric and local%n", shards, model.sizeInBytes() / 1048576.0, (System.nanoTime() - t0) / 1e9,
                    chunk >> 20, parallel, fastChunk >> 20, fastParallel);

            List<Double> s3Ours = new ArrayList<>();
            List<Double> s3Ceiling = new ArrayList<>();
            if (which.contains("s3")) {
                warmUp("s3", s3Ceiling(tiers, chunk, parallel), load(engine, model, options, "s3"));
            }
            for (int i = 0; i < (which.contains("s3") ? runs : 0); i++) {
                s3Ceiling.add(s3Ceiling(tiers, chunk, parallel));
                s3Ours.add(load(engine, model, options, "s3"));
                System.out.printf(Locale.ROOT, "run %d s3:     load %.0f MiB/s, ceiling (SDK ranged GETs) %.0f MiB/s%n", i + 1,
                        s3Ours.getLast(), s3Ceiling.getLast());
            }

            List<Double> fabricOurs = new ArrayList<>();
            List<Double> fabricCeiling = new ArrayList<>();
            if (which.contains("fabric")) {
                stage(engine, "fabric");
                warmUp("fabric", TcpReference.stream(128 << 10, Duration.ofSeconds(1), Duration.ofSeconds(2)) / 1048576.0,
                        load(engine, model, fast, "fabric"));
            }
            for (int i = 0; i < (which.contains("fabric") ? runs : 0); i++) {
                fabricCeiling.add(TcpReference.stream(128 << 10, Duration.ofSeconds(1), Duration.ofSeconds(4)) / 1048576.0);
                fabricOurs.add(load(engine, model, fast, "fabric"));
                System.out.printf(Locale.ROOT, "run %d fabric: load %.0f MiB/s, ceiling (raw loopback TCP stream) %.0f MiB/s%n", i + 1,
                        fabricOurs.getLast(), fabricCeiling.getLast());
            }

            Path fioFile = dir.resolve("fio.dat");
            List<Double> localOurs = new ArrayList<>();
            List<Double> localCeiling = new ArrayList<>();
            if (which.contains("local")) {
                stage(engine, "local");
                fio(fioFile, model.sizeInBytes(), fastChunk, fastParallel, "write");
                warmUp("local", fio(fioFile, model.sizeInBytes(), fastChunk, fastParallel, "read"), load(engine, model, fast, "local"));
            }
            try {
                for (int i = 0; i < (which.contains("local") ? runs : 0); i++) {
                    // the disk's ceiling: the better of fio with the loader's shape and with 1 MiB x 16 (bench/local-read.sh's)
                    double same = fio(fioFile, model.sizeInBytes(), fastChunk, fastParallel, "read");
                    double small = fio(fioFile, model.sizeInBytes(), 1 << 20, 16, "read");
                    localCeiling.add(Math.max(same, small));
                    localOurs.add(load(engine, model, fast, "local"));
                    System.out.printf(Locale.ROOT, "run %d local:  load %.0f MiB/s, ceiling (fio O_DIRECT read: bs=%dM iodepth=%d %.0f MiB/s, "
                            + "bs=1M iodepth=16 %.0f MiB/s) %.0f MiB/s%n", i + 1, localOurs.getLast(), fastChunk >> 20, fastParallel, same, small,
                            localCeiling.getLast());
                }
            } finally {
                Files.deleteIfExists(fioFile);
            }

            double s3 = median(s3Ours), s3c = median(s3Ceiling);
            double fab = median(fabricOurs), fabc = median(fabricCeiling);
            double loc = median(localOurs), locc = median(localCeiling);
            double rs3 = s3 / s3c, rfab = fab / fabc, rloc = loc / locc;
            System.out.printf(Locale.ROOT, "s3:     ours %.0f MiB/s, ceiling %.0f MiB/s, ratio %.3f (medians of %d)%n", s3, s3c, rs3, runs);
            System.out.printf(Locale.ROOT, "fabric: ours %.0f MiB/s, ceiling %.0f MiB/s, ratio %.3f%n", fab, fabc, rfab);
            System.out.printf(Locale.ROOT, "local:  ours %.0f MiB/s, ceiling %.0f MiB/s, ratio %.3f%n", loc, locc, rloc);
            // the worst of the tiers measured (a tier left out has no figure: NaN, skipped)
            double worst = java.util.stream.DoubleStream.of(rs3, rfab, rloc).filter(r -> !Double.isNaN(r)).min().orElse(Double.NaN);
            System.out.printf(Locale.ROOT, "RESULT model-load ratio=%.3f s3_ratio=%.3f fabric_ratio=%.3f local_ratio=%.3f s3_mib_s=%.0f "
                    + "s3_ceiling_mib_s=%.0f fabric_mib_s=%.0f fabric_ceiling_mib_s=%.0f local_mib_s=%.0f local_ceiling_mib_s=%.0f "
                    + "size_mib=%d s3_chunk_mib=%d s3_parallel=%d chunk_mib=%d parallel=%d tiers=%s goal>=0.7%n",
                    worst, rs3, rfab, rloc, s3, s3c, fab, fabc, loc, locc, model.sizeInBytes() >> 20,
                    chunk >> 20, parallel, fastChunk >> 20, fastParallel, String.join(",", which.stream().sorted().toList()));
        }
    }

    /**
     * Prints a warm-up round, not counted: the first load of a tier runs on code the JIT has not
     * compiled yet and the first reference run on cold caches; both sides get one before the runs.
     */
    private static void warmUp(String tier, double ceiling, double ours) {
        System.out.printf(Locale.ROOT, "warm-up %s: load %.0f MiB/s, ceiling %.0f MiB/s (not counted)%n", tier, ours, ceiling);
    }

    /** Loads the model, checks each shard came from {@code tier} and a sample of every tensor's bytes, and returns MiB/s. */
    private static double load(TierEngine engine, SyntheticModel model, ModelServer.Options options, String tier) throws Exception {
        try (ModelServer server = ModelServer.load(engine, PREFIX, options)) {
            ModelServer.LoadReport r = server.report();
            if (!r.perTier().keySet().equals(java.util.Set.of(tier))) {
                throw new IllegalStateException("load from " + tier + " read from " + r.perTier().keySet());
            }
            for (SyntheticModel.Shard s : model.shards()) {
                for (var t : s.tensors()) {
                    ModelServer.Tensor loaded = server.tensor(t.name());
                    long at = Math.max(0, t.sizeInBytes() / 2 - 4096);
                    int n = (int) Math.min(8192, t.sizeInBytes() - at);
                    ByteBuffer want = ByteBuffer.allocate(n);
                    SyntheticModel.expected(s.index(), t.begin() + at, want);
                    if (loaded.data().asSlice(at, n).asByteBuffer().mismatch(want.flip()) >= 0) {
                        throw new IllegalStateException(t.name() + ": loaded bytes differ from the model's");
                    }
                }
            }
            return r.perTier().get(tier).mibPerSecond();
        }
    }

    private static void stage(TierEngine engine, String tier) throws Exception {
        long t0 = System.nanoTime();
        StageHandle.Result r = engine.stage(PREFIX, tier, Duration.ZERO).future().get();
        if (!r.complete()) {
            throw new IllegalStateException("prestage to " + tier + " failed: " + r.failed());
        }
        System.out.printf(Locale.ROOT, "prestage to %s: %d objects, %.1f MiB in %.1f s%n", tier, r.staged().size(), r.bytes() / 1048576.0,
                (System.nanoTime() - t0) / 1e9);
    }

    /** Every .safetensors object under the prefix read with ranged GETs of {@code chunk}, {@code parallel} in flight; MiB/s. */
    private static double s3Ceiling(EmbeddedTiers tiers, int chunk, int parallel) throws Exception {
        var server = tiers.s3Server();
        try (S3AsyncClient client = S3AsyncClient.builder().endpointOverride(URI.create(server.endpoint().toString()))
                .region(Region.of(server.region())).forcePathStyle(true)
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(server.accessKey(), server.secretKey())))
                .build()) {
            List<S3Object> objects = client.listObjectsV2(b -> b.bucket(EmbeddedTiers.BUCKET).prefix(PREFIX)).join().contents().stream()
                    .filter(o -> o.key().endsWith(".safetensors")).toList();
            Semaphore slots = new Semaphore(parallel);
            AtomicLong bytes = new AtomicLong();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            List<CompletableFuture<?>> all = new ArrayList<>();
            long t0 = System.nanoTime();
            for (S3Object o : objects) {
                for (long at = 0; at < o.size(); at += chunk) {
                    String range = "bytes=" + at + "-" + (Math.min(o.size(), at + chunk) - 1);
                    slots.acquire();
                    CompletableFuture<?> f = client.getObject(b -> b.bucket(EmbeddedTiers.BUCKET).key(o.key()).range(range),
                                    AsyncResponseTransformer.<GetObjectResponse>toPublisher())
                            .thenCompose(p -> drain(p, bytes))
                            .whenComplete((v, err) -> {
                                slots.release();
                                if (err != null) {
                                    failure.compareAndSet(null, err);
                                }
                            });
                    all.add(f);
                }
            }
            CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).exceptionally(t -> null).join();
            long nanos = System.nanoTime() - t0;
            if (failure.get() != null) {
                throw new IllegalStateException("ranged GETs failed", failure.get());
            }
            long expected = objects.stream().mapToLong(S3Object::size).sum();
            if (bytes.get() != expected) {
                throw new IllegalStateException("ranged GETs returned " + bytes.get() + " bytes (expected: " + expected + ")");
            }
            return bytes.get() / 1048576.0 / (nanos / 1e9);
        }
    }

    /** Counts and drops a response body. */
    private static CompletableFuture<Void> drain(SdkPublisher<ByteBuffer> body, AtomicLong bytes) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        body.subscribe(new Subscriber<>() {
            @Override
            public void onSubscribe(Subscription s) {
                s.request(Long.MAX_VALUE);
            }

            @Override
            public void onNext(ByteBuffer b) {
                bytes.addAndGet(b.remaining());
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(t);
            }

            @Override
            public void onComplete() {
                done.complete(null);
            }
        });
        return done;
    }

    /** Runs fio on {@code file} (O_DIRECT, libaio); for "read", returns MiB/s. */
    private static double fio(Path file, long size, int bs, int depth, String rw) throws Exception {
        List<String> cmd = List.of("fio", "--name=ref", "--filename=" + file, "--size=" + size, "--rw=" + rw, "--bs=" + bs,
                "--direct=1", "--ioengine=libaio", "--iodepth=" + depth, "--output-format=json");
        if (rw.equals("write")) {
            cmd = new ArrayList<>(cmd);
            cmd.add("--end_fsync=1");
        }
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (p.waitFor() != 0) {
            throw new IllegalStateException("fio exited with " + p.exitValue() + ": " + cmd);
        }
        JsonNode json = new ObjectMapper().readTree(out);
        return json.path("jobs").path(0).path(rw).path("bw_bytes").asDouble() / 1048576.0;
    }

    private static double median(List<Double> values) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        List<Double> sorted = values.stream().sorted().toList();
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }
}
