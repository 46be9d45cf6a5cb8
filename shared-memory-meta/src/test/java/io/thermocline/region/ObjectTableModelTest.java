package io.thermocline.region;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The object table against a ConcurrentHashMap model: random puts (with and without expected
 * epochs), deletes and lookups over a key space larger than the table, on a table small enough
 * that probe chains wrap around and tombstones pile up. After every operation the outcome must
 * match the model, and every few hundred operations the whole table is compared.
 */
class ObjectTableModelTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void randomOperations_matchAMapModel(long seed) {
        RegionConfig config = RegionConfig.builder(dir.resolve("model-" + seed)).maxObjects(48).arenaBytesPerObject(512).build();
        try (SharedRegion region = SharedRegion.create(config)) {
            ObjectTable t = region.table();
            Map<String, Long> model = new ConcurrentHashMap<>();
            SplittableRandom random = new SplittableRandom(seed);
            EntryView v = new EntryView();
            int keySpace = 80;
            for (int op = 0; op < 20_000; op++) {
                String key = "m/" + random.nextInt(keySpace) + "/" + "x".repeat(random.nextInt(3) * 20);
                RegionKey rk = RegionKey.of(key);
                Long current = model.get(key);
                int dice = random.nextInt(10);
                if (dice < 5) {
                    long next = current == null ? 1 : current + 1;
                    long expected = random.nextInt(4) == 0 ? random.nextLong(3) : (current == null ? -1 : current);
                    ObjectTable.PutResult r = t.put(rk, RegionWorker.valuesFor(key, next), expected);
                    ObjectTable.PutResult want;
                    if (expected >= 0 && (current == null || current != expected)) {
                        want = ObjectTable.PutResult.EPOCH_CONFLICT;
                    } else if (current != null) {
                        want = ObjectTable.PutResult.UPDATED;
                    } else if (model.size() >= t.slotCount()) {
                        want = ObjectTable.PutResult.TABLE_FULL;
                    } else {
                        want = ObjectTable.PutResult.INSERTED;
                    }
                    assertEquals(want, r, "op " + op + " put " + key + " expecting epoch " + expected + " model " + current);
                    if (r == ObjectTable.PutResult.INSERTED || r == ObjectTable.PutResult.UPDATED) {
                        model.put(key, next);
                    }
                } else if (dice < 7) {
                    long expected = random.nextInt(4) == 0 ? random.nextLong(3) : -1;
                    boolean deleted = t.delete(rk, expected);
                    boolean want = current != null && (expected < 0 || current == expected);
                    assertEquals(want, deleted, "op " + op + " delete " + key);
                    if (deleted) {
                        model.remove(key);
                    }
                } else {
                    boolean present = t.lookup(rk, v);
                    assertEquals(current != null, present, "op " + op + " lookup " + key);
                    if (present) {
                        RegionWorker.checkConsistent(key, v);
                        assertEquals((long) current, v.sizeInBytes());
                    }
                }
                if (op % 500 == 0) {
                    sweep(t, model);
                }
            }
            sweep(t, model);
        }
    }

    private static void sweep(ObjectTable t, Map<String, Long> model) {
        Map<String, Long> seen = new ConcurrentHashMap<>();
        t.forEach((k, e) -> seen.put(k.toString(), e.sizeInBytes()));
        assertEquals(model, seen);
        assertEquals(model.size(), t.size());
    }
}
