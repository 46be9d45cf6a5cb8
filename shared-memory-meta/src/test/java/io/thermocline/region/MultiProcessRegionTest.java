package io.thermocline.region;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.testkit.ChildJvm;
import io.thermocline.tier.testkit.TestTimeouts;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Several real JVMs on one region: consistency under concurrent writers, and processes killed mid-operation. */
@ScaledTimeout(value = 180, separateThread = true)
class MultiProcessRegionTest {

    @TempDir
    Path dir;

    private RegionConfig config;
    private SharedRegion region;
    private final List<Process> children = new ArrayList<>();

    @BeforeEach
    void create() {
        config = RegionConfig.builder(dir.resolve("region")).maxObjects(10_000).build();
        region = SharedRegion.create(config);
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (Process p : children) {
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
        }
        region.close();
    }

    @Test
    void fourWriters_concurrentPutsUpdatesDeletesAndLookups_leaveExactlyTheirFinalState() throws Exception {
        int workers = 4;
        int ops = 300_000;
        int heatAdds = 50_000;
        RegionKey hot = RegionKey.of("shared/hot");
        region.table().put(hot, RegionWorker.valuesFor("shared/hot", 1), -1);
        List<CompletableFuture<String>> outputs = new ArrayList<>();
        for (int w = 0; w < workers; w++) {
            Process p = start("mixed", config.path().toString(), String.valueOf(w), String.valueOf(ops), String.valueOf(heatAdds),
                    String.valueOf(workers));
            outputs.add(CompletableFuture.supplyAsync(() -> readAll(p)));
        }
        Map<String, Long> finalVersions = new HashMap<>();
        for (int w = 0; w < workers; w++) {
            Process p = children.get(w);
            String out = outputs.get(w).get(TestTimeouts.millis(150), TimeUnit.MILLISECONDS);
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), "worker " + w + " failed:\n" + out);
            for (String line : out.split("\n")) {
                if (line.startsWith("FINAL ")) {
                    String[] f = line.split(" ");
                    finalVersions.put(f[1], Long.parseLong(f[2]));
                }
            }
        }
        assertEquals(workers * RegionWorker.KEYS_PER_WORKER, finalVersions.size());
        EntryView v = new EntryView();
        long live = 0;
        for (Map.Entry<String, Long> e : finalVersions.entrySet()) {
            boolean present = region.table().lookup(RegionKey.of(e.getKey()), v);
            if (e.getValue() == 0) {
                assertThat(present).as(e.getKey() + " deleted").isFalse();
            } else {
                assertThat(present).as(e.getKey() + " present").isTrue();
                RegionWorker.checkConsistent(e.getKey(), v);
                assertEquals((long) e.getValue(), v.sizeInBytes(), e.getKey());
                live++;
            }
        }
        assertEquals(live + 1, region.table().size(), "live entry count (plus the hot key)");
        ObjectTable.Heat heat = region.table().heat(region.table().slotOf(hot));
        assertEquals((long) workers * heatAdds, heat.reads(), "no heat add lost");
        assertEquals(10L * workers * heatAdds, heat.bytes());
        assertEquals(0, region.table().writerToken(), "writer lock free");
    }

    @Test
    void writerKilledMidPublish_leavesAConsistentTable_andTheLockIsTakenOver() throws Exception {
        ObjectTable t = region.table();
        RegionKey victim = RegionKey.of("victim");
        RegionKey bystander = RegionKey.of("bystander");
        t.put(victim, RegionWorker.valuesFor("victim", 1), -1);
        t.put(bystander, RegionWorker.valuesFor("bystander", 5), -1);
        Process p = start("torn", config.path().toString(), "victim");
        awaitReady(p);
        assertEquals(p.pid(), ProcessToken.pid(t.writerToken()), "child holds the writer lock");
        p.destroyForcibly();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        // a lookup waits for the dead writer, takes the lock over, repairs the torn slot: never a torn value
        EntryView v = new EntryView();
        boolean present = t.lookup(victim, v);
        if (present) {
            RegionWorker.checkConsistent("victim", v);
        }
        assertTrue(t.lookup(bystander, v));
        RegionWorker.checkConsistent("bystander", v);
        ObjectTable.PutResult r = t.put(victim, RegionWorker.valuesFor("victim", 2), -1);
        assertThat(r).isIn(ObjectTable.PutResult.INSERTED, ObjectTable.PutResult.UPDATED);
        assertTrue(t.lookup(victim, v));
        RegionWorker.checkConsistent("victim", v);
        assertEquals(2, v.sizeInBytes());
        assertEquals(0, t.writerToken());
    }

    @Test
    void leaseHolderKilled_leaseCanBeReclaimed() throws Exception {
        long resource = LeaseTable.resourceOf(RegionKey.of("moving"));
        Process p = start("lease", config.path().toString(), "moving");
        awaitReady(p);
        LeaseTable.Lease held = region.leases().find(resource).orElseThrow();
        assertEquals(p.pid(), ProcessToken.pid(held.holder()));
        assertTrue(region.leases().acquire(resource, Duration.ofSeconds(30)).isEmpty(), "a live holder keeps it");
        p.destroyForcibly();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertTrue(!region.leases().isValid(held), "holder detected as dead");
        LeaseTable.Lease mine = region.leases().acquire(resource, Duration.ofSeconds(30)).orElseThrow();
        assertEquals(ProcessToken.SELF, mine.holder());
        assertThat(mine.epoch()).isGreaterThan(held.epoch());
    }

    private Process start(String... args) throws Exception {
        Process p = ChildJvm.start(RegionWorker.class, args);
        children.add(p);
        return p;
    }

    private static String readAll(Process p) {
        return ChildJvm.readAll(p);
    }

    private static void awaitReady(Process child) throws Exception {
        ChildJvm.awaitReady(child);
    }
}
