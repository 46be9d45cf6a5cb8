package io.thermocline.examples.serving;

import io.thermocline.engine.StageHandle;
import io.thermocline.engine.TierEngine;
import io.thermocline.examples.EmbeddedTiers;
import io.thermocline.placement.Rule;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

/**
 * Runs the serving example on {@link EmbeddedTiers}: puts a synthetic model in S3, then loads it
 * three times — from S3, after a prestage to the fabric tier, after a prestage to local — and
 * prints the load time per tier; finally it keeps serving reads while the engine evicts the
 * shards' fast copies, and says where the reads were served from.
 *
 * <pre>
 *   java -cp ... io.thermocline.examples.serving.ServingExample [DIR] [SIZE_MIB] [SHARDS]
 * </pre>
 */
public final class ServingExample {

    static final String PREFIX = "models/synthetic/";

    private ServingExample() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = args.length > 0 ? Path.of(args[0]) : Files.createTempDirectory("thermocline-serving-");
        long size = (args.length > 1 ? Long.parseLong(args[1]) : 256) << 20;
        int shards = args.length > 2 ? Integer.parseInt(args[2]) : 4;
        SyntheticModel model = SyntheticModel.of(size, shards);
        // the model's placement is the example's to decide: no promotion by heat, so each load reads the tier we staged to
        try (EmbeddedTiers tiers = EmbeddedTiers.builder(dir).localBytes(2 * size + (64L << 20)).fabricBytes(2 * size + (64L << 20))
                .rule(Rule.builder(PREFIX + "**").preferredTiers(List.of("s3")).minHeatToPromote(Double.MAX_VALUE).build()).start();
             TierEngine engine = tiers.openEngine()) {
            model.put(engine, PREFIX, "s3");
            print("s3 (cold)", load(engine));
            stage(engine, "fabric");
            print("fabric (prestaged)", load(engine));
            stage(engine, "local");
            print("local (prestaged)", load(engine));

            try (ModelServer server = ModelServer.load(engine, PREFIX)) {
                ModelServer.Tensor t = server.tensors().iterator().next();
                ByteBuffer buf = ByteBuffer.allocateDirect((int) Math.min(1 << 20, t.data().byteSize()));
                System.out.println("serving reads of " + t.name() + " while its shard's local and fabric copies are evicted:");
                System.out.println("  before: " + server.read(t.name(), 0, buf.clear()).join());
                engine.evict(t.key(), "local").join();
                System.out.println("  local copy evicted: " + server.read(t.name(), 0, buf.clear()).join());
                engine.evict(t.key(), "fabric").join();
                System.out.println("  fabric copy evicted: " + server.read(t.name(), 0, buf.clear()).join());
            }
        }
    }

    private static ModelServer.LoadReport load(TierEngine engine) throws Exception {
        try (ModelServer server = ModelServer.load(engine, PREFIX)) {
            return server.report();
        }
    }

    private static void stage(TierEngine engine, String tier) throws Exception {
        StageHandle.Result r = engine.stage(PREFIX, tier, Duration.ZERO).future().get();
        if (!r.complete()) {
            throw new IllegalStateException("staging to " + tier + " failed: " + r.failed());
        }
    }

    private static void print(String what, ModelServer.LoadReport r) {
        System.out.printf(Locale.ROOT, "load from %-20s %8.1f MiB in %6.3f s = %7.0f MiB/s  %s%n", what, r.bytes() / (double) (1 << 20),
                r.nanos() / 1e9, r.mibPerSecond(), r.perTier().values());
    }
}
