package io.thermocline.engine;

import io.thermocline.placement.PolicyConfig;
import io.thermocline.placement.Rule;
import io.thermocline.placement.WriteMode;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;

import java.io.PrintStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * The owner process of {@link CrashRecoveryTest}: opens the engine and keeps it busy — puts in
 * every write mode, stages, evictions, reads that heat objects, and the planner promoting,
 * demoting and persisting on a short interval — until it is killed. It prints
 * {@code ACK <key> <seed> <size> <crc32c>} once a put has returned, so the test knows which
 * objects the engine promised to keep.
 *
 * <p>Arguments: directory, S3 endpoint, access key, secret key, bucket, trial number, seed.
 */
public final class CrashWorkload {

    static final String WRITE_BACK = "wb/";
    static final String WRITE_THROUGH = "wt/";
    static final String LOCAL_ONLY = "lo/";

    private CrashWorkload() {
    }

    /** The policy both the workload and the test's recovering engine run with. */
    static PolicyConfig policy() {
        return PolicyConfig.builder().rules(List.of(
                Rule.builder(WRITE_BACK + "**").writeMode(WriteMode.WRITE_BACK).maxDirtyAge(Duration.ofMillis(400))
                        .maxIdleBeforeDemotion(Duration.ofMillis(300)).minHeatToPromote(1).build(),
                Rule.builder(WRITE_THROUGH + "**").writeMode(WriteMode.WRITE_THROUGH)
                        .maxIdleBeforeDemotion(Duration.ofMillis(300)).minHeatToPromote(1).build(),
                Rule.builder(LOCAL_ONLY + "**").writeMode(WriteMode.LOCAL_ONLY)
                        .maxIdleBeforeDemotion(Duration.ofMillis(300)).minHeatToPromote(1).build())).build();
    }

    static EngineConfig config(Path dir, URI endpoint, String accessKey, String secretKey, String bucket, Duration plannerInterval) {
        return EngineFixture.config(dir, endpoint, accessKey, secretKey, bucket, policy())
                .plannerInterval(plannerInterval)
                .parallelChunks(3)
                .build();
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        URI endpoint = URI.create(args[1]);
        int trial = Integer.parseInt(args[5]);
        Random random = new Random(Long.parseLong(args[6]));
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true);
        TierEngine engine = TierEngine.open(config(dir, endpoint, args[2], args[3], args[4], Duration.ofMillis(40)));
        List<ObjectKey> known = new CopyOnWriteArrayList<>();
        for (ObjectStatus s : engine.list("")) {
            known.add(s.key());
        }
        out.println("READY");
        int workers = 3;
        Thread[] threads = new Thread[workers];
        for (int w = 0; w < workers; w++) {
            long workerSeed = random.nextLong();
            int worker = w;
            threads[w] = Thread.ofVirtual().start(() -> work(engine, trial, worker, new Random(workerSeed), known, out));
        }
        // runs until killed; the bound only keeps a forgotten child from living on
        for (Thread t : threads) {
            t.join(TimeUnit.MINUTES.toMillis(2));
        }
        engine.close();
        Runtime.getRuntime().halt(0);
    }

    private static void work(TierEngine engine, int trial, int worker, Random random, List<ObjectKey> known, PrintStream out) {
        ByteBuffer buf = ByteBuffer.allocateDirect(64 * 1024);
        for (int n = 0; ; n++) {
            try {
                int op = random.nextInt(10);
                if (op < 5 || known.isEmpty()) {
                    String prefix = switch (random.nextInt(3)) {
                        case 0 -> WRITE_BACK;
                        case 1 -> WRITE_THROUGH;
                        default -> LOCAL_ONLY;
                    };
                    String key = prefix + "t" + trial + "-w" + worker + "-" + n;
                    long size = random.nextInt(4) == 0 ? 1 + random.nextInt(4096) : 1 + random.nextInt(3 << 20);
                    long seed = random.nextLong();
                    ObjectInfo info = EngineFixture.put(engine, key, seed, size, PutOptions.defaults());
                    out.println("ACK " + key + " " + seed + " " + size + " " + info.crc32c());
                    known.add(ObjectKey.of(key));
                } else {
                    ObjectKey key = known.get(random.nextInt(known.size()));
                    switch (op) {
                        case 5, 6 -> {
                            try (EngineReader r = engine.read(key).join()) {
                                long size = r.info().sizeInBytes();
                                buf.clear();
                                if (size > buf.capacity()) {
                                    r.read(random.nextLong(size - buf.capacity()), buf).join();
                                } else {
                                    buf.limit((int) size);
                                    r.read(0, buf).join();
                                }
                            }
                        }
                        case 7 -> engine.stage(List.of(key), random.nextBoolean() ? "local" : "fabric", Duration.ZERO).future().join();
                        case 8 -> engine.evict(key, random.nextBoolean() ? "local" : "fabric").join();
                        default -> engine.stage(List.of(key), "fabric", Duration.ZERO).future().join();
                    }
                }
            } catch (RuntimeException e) {
                // refusals (only copy, dirty) and the like are part of the load; keep going
            }
        }
    }
}
