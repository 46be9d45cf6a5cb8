package io.thermocline.engine;

import io.thermocline.nvmeof.block.BlockTierConfig;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ListPage;
import io.thermocline.tier.Tier;
import io.thermocline.tier.TierUsage;
import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.s3.S3Tier;
import io.thermocline.tier.testkit.TestTimeouts;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * SIGKILLs an owner JVM ({@link CrashWorkload}) at random points while it puts objects in every
 * write mode, moves them between tiers and uploads written-back objects, then opens the engine
 * again in this JVM and checks that recovery kept its promises: every object whose put returned is
 * there with its size and CRC32C and reads back byte for byte, and nothing leaked — no temp file
 * on the local tier, no extent on the fabric tier that no object owns, no incomplete multipart
 * upload, no copy on a tier that the catalog does not know of, and no catalog entry whose copy is
 * missing.
 *
 * <p>{@code -Dthermocline.crash.trials=N} sets the number of kills (default 100);
 * {@code -Dthermocline.crash.seed=S} replays a run (the seed is printed).
 */
class CrashRecoveryTest {

    private static final int TRIALS = Integer.getInteger("thermocline.crash.trials", 100);

    private record Acked(String key, long seed, long size, int crc32c, int trial) {
    }

    @TempDir
    Path dir;

    @Test
    void everyAcknowledgedObjectSurvivesSigkillAtRandomPointsAndNothingLeaks() throws Exception {
        long seed = Long.getLong("thermocline.crash.seed", System.nanoTime());
        System.out.println("crash test: " + TRIALS + " trials, seed " + seed + " (-Dthermocline.crash.seed=" + seed + " replays it)");
        Random random = new Random(seed);
        Map<String, Acked> acked = new LinkedHashMap<>();
        long started = System.nanoTime();
        try (EmbeddedS3Server server = EmbeddedS3Server.start(dir.resolve("s3-server"))) {
            server.createBucket("crash");
            for (int trial = 0; trial < TRIALS; trial++) {
                int killAfterMillis = 50 + random.nextInt(1500);
                long t0 = System.nanoTime();
                List<String> lines = runAndKill(server, trial, random.nextLong(), killAfterMillis);
                long t1 = System.nanoTime();
                int before = acked.size();
                for (String line : lines) {
                    String[] f = line.split(" ");
                    if (f.length == 5 && f[0].equals("ACK")) {
                        acked.put(f[1], new Acked(f[1], Long.parseLong(f[2]), Long.parseLong(f[3]), Integer.parseInt(f[4]), trial));
                    }
                }
                boolean all = trial % 10 == 9 || trial == TRIALS - 1;
                verify(server, acked, trial, all);
                System.out.printf("trial %d: killed %d ms after READY, %d puts acknowledged (%d in all), %s; owner ran %d ms,"
                                + " recovery and checks %d ms%n", trial, killAfterMillis, acked.size() - before, acked.size(),
                        all ? "all objects verified" : "this trial's objects verified", (t1 - t0) / 1_000_000,
                        (System.nanoTime() - t1) / 1_000_000);
            }
        }
        System.out.printf("crash test: %d trials, %d acknowledged objects (%d write-back, %d write-through, %d local-only) all read back"
                        + " verified, no leaks, %.1f s%n", TRIALS, acked.size(), count(acked, CrashWorkload.WRITE_BACK),
                count(acked, CrashWorkload.WRITE_THROUGH), count(acked, CrashWorkload.LOCAL_ONLY), (System.nanoTime() - started) / 1e9);
        assertTrue(acked.size() > TRIALS / 2, "the workload acknowledged only " + acked.size() + " puts in " + TRIALS + " trials");
    }

    private static long count(Map<String, Acked> acked, String prefix) {
        return acked.keySet().stream().filter(k -> k.startsWith(prefix)).count();
    }

    private List<String> runAndKill(EmbeddedS3Server server, int trial, long seed, int killAfterMillis) throws Exception {
        Process child = startChild(server, trial, seed);
        BlockingQueue<String> out = new LinkedBlockingQueue<>();
        Thread reader = Thread.ofVirtual().start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    out.add(line);
                }
            } catch (IOException e) {
                // the child is gone
            }
        });
        List<String> lines = new ArrayList<>();
        try {
            long deadline = System.nanoTime() + TestTimeouts.seconds(60).toNanos();
            while (true) {
                String line = out.poll(100, TimeUnit.MILLISECONDS);
                if (line != null) {
                    lines.add(line);
                    if (line.equals("READY")) {
                        break;
                    }
                } else if (!child.isAlive() || System.nanoTime() > deadline) {
                    fail("trial " + trial + ": the owner did not start (" + (child.isAlive() ? "timed out" : "exit " + child.exitValue())
                            + "):\n" + String.join("\n", lines));
                }
            }
            Thread.sleep(killAfterMillis);
        } finally {
            child.destroyForcibly(); // SIGKILL
            if (!child.waitFor(30, TimeUnit.SECONDS)) {
                fail("trial " + trial + ": the owner (pid " + child.pid() + ") outlived SIGKILL");
            }
        }
        reader.join(TestTimeouts.millis(10));
        out.drainTo(lines);
        return lines;
    }

    /**
     * The workload's JVM, started lean — a class-data archive shared by all trials (written by the
     * first), the serial collector and the client compiler — since a hundred of them start here.
     */
    private Process startChild(EmbeddedS3Server server, int trial, long seed) throws IOException {
        String classPath = System.getProperty("java.class.path");
        List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
                "-XX:+AutoCreateSharedArchive", "-XX:SharedArchiveFile=" + dir.resolve("workload.jsa"), "-Xlog:cds=off",
                "-Xlog:cds+dynamic=off", "-cp", classPath, CrashWorkload.class.getName(), dir.toString(), server.endpoint().toString(),
                server.accessKey(), server.secretKey(), "crash", Integer.toString(trial), Long.toString(seed));
        return new ProcessBuilder(command).redirectErrorStream(true).start();
    }

    private void verify(EmbeddedS3Server server, Map<String, Acked> acked, int trial, boolean all) throws Exception {
        EngineConfig config = CrashWorkload.config(dir, server.endpoint(), server.accessKey(), server.secretKey(), "crash",
                Duration.ofHours(1));
        try (TierEngine e = TierEngine.open(config)) {
            assertTrue(e.isOwner(), "trial " + trial + ": the engine did not take ownership after the owner was killed");
            // recovery resumes the uploads of dirty objects: let them finish so that their
            // multipart uploads are not mistaken for leftovers of the killed owner
            long quiet = System.nanoTime() + TestTimeouts.seconds(120).toNanos();
            while (e.owner().queued() > 0) {
                if (System.nanoTime() > quiet) {
                    fail("trial " + trial + ": recovery's moves did not finish: " + e.owner().queued() + " queued");
                }
                Thread.sleep(5);
            }
            Map<ObjectKey, ObjectStatus> catalog = new HashMap<>();
            for (ObjectStatus s : e.list("")) {
                catalog.put(s.key(), s);
            }
            // leaks first, before any read starts a read-through promotion
            checkNoLeaks(e, catalog, trial);
            for (Acked a : acked.values()) {
                if (!all && a.trial() != trial) {
                    continue;
                }
                ObjectStatus s = catalog.get(ObjectKey.of(a.key()));
                if (s == null) {
                    fail("trial " + trial + ": " + a.key() + " (acknowledged in trial " + a.trial() + ") is not in the catalog");
                }
                assertEquals(a.size(), s.sizeInBytes(), "trial " + trial + ": size of " + a.key());
                assertEquals(a.crc32c(), s.crc32c(), "trial " + trial + ": CRC32C of " + a.key());
                EngineFixture.assertContent(e, a.key(), a.seed(), a.size());
            }
        }
    }

    private void checkNoLeaks(TierEngine e, Map<ObjectKey, ObjectStatus> catalog, int trial) throws IOException {
        try (Stream<Path> tmp = Files.list(dir.resolve("local").resolve("tmp"))) {
            List<Path> left = tmp.toList();
            assertTrue(left.isEmpty(), "trial " + trial + ": temp files left on the local tier: " + left);
        }
        for (String name : List.of("local", "fabric", "s3")) {
            Tier tier = e.tier(name).tier;
            TreeSet<String> onTier = new TreeSet<>();
            long allocated = 0;
            int unit = BlockTierConfig.DEFAULT_ALLOCATION_UNIT_IN_BYTES;
            Optional<ObjectKey> after = Optional.empty();
            while (true) {
                ListPage page = tier.list("", after.orElse(null), 1000).join();
                for (ObjectKey k : page.keys()) {
                    onTier.add(k.toString());
                    ObjectInfo info = tier.stat(k).join().orElseThrow();
                    allocated += (info.sizeInBytes() + unit - 1) / unit * unit;
                }
                if (page.isLast()) {
                    break;
                }
                after = page.nextStartAfter();
            }
            TreeSet<String> catalogued = new TreeSet<>();
            for (ObjectStatus s : catalog.values()) {
                if (s.tiers().contains(name)) {
                    catalogued.add(s.key().toString());
                }
            }
            TreeSet<String> missing = new TreeSet<>(catalogued);
            missing.removeAll(onTier);
            assertTrue(missing.isEmpty(), "trial " + trial + ": the catalog has copies on " + name + " that are not there: " + missing);
            TreeSet<String> orphans = new TreeSet<>(onTier);
            orphans.removeAll(catalogued);
            if (name.equals("s3")) {
                // an object the backing tier holds without any record is found there (the engine
                // imports it on first access): a put cut off after its upload, not lost space.
                // A recorded object with an unrecorded copy there, or a local-only object there,
                // is a leak.
                orphans.removeIf(k -> !k.startsWith(CrashWorkload.LOCAL_ONLY) && !catalog.containsKey(ObjectKey.of(k)));
            }
            assertTrue(orphans.isEmpty(), "trial " + trial + ": copies on " + name + " that no catalog record owns: " + orphans);
            if (name.equals("fabric")) {
                TierUsage usage = tier.usage();
                assertEquals(allocated, usage.usedInBytes(), "trial " + trial + ": fabric bytes in use vs the extents of its objects");
                assertEquals(onTier.size(), usage.objectCount(), "trial " + trial + ": fabric object count");
            }
            if (tier instanceof S3Tier s3) {
                List<String> uploads = s3.incompleteUploads().join();
                assertTrue(uploads.isEmpty(), "trial " + trial + ": incomplete multipart uploads left: " + uploads);
            }
        }
    }
}
