package io.thermocline.region;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Random bytes over the header, slots and arena: the region is reported invalid or the damaged
 * entries are rejected; nothing else escapes, nothing reads outside the mapping, nothing hangs.
 */
@ScaledTimeout(value = 120, separateThread = true)
class RegionCorruptionTest {

    private static final int KEYS = 500;

    @TempDir
    Path dir;

    private RegionConfig populated(String name) {
        RegionConfig config = RegionConfig.builder(dir.resolve(name)).maxObjects(1000).build();
        try (SharedRegion region = SharedRegion.create(config)) {
            for (int i = 0; i < KEYS; i++) {
                String key = "corrupt/" + i;
                region.table().put(RegionKey.of(key), RegionWorker.valuesFor(key, i + 1), -1);
            }
        }
        return config;
    }

    /** XORs {@code length} bytes at {@code offset} with random non-zero bytes: every byte changes. */
    private static void scribble(Path file, long offset, int length, Random random) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            byte[] bytes = new byte[length];
            f.seek(offset);
            f.readFully(bytes);
            for (int i = 0; i < length; i++) {
                bytes[i] ^= (byte) (1 + random.nextInt(255));
            }
            f.seek(offset);
            f.write(bytes);
        }
    }

    @Test
    void randomBytesInTheHeader_areAlwaysReportedAsInvalid() throws Exception {
        RegionConfig config = populated("header");
        Random random = new Random(1);
        for (int round = 0; round < 200; round++) {
            Path copy = dir.resolve("header-" + round);
            java.nio.file.Files.copy(config.path(), copy);
            int offset = random.nextInt(RegionLayout.CHECKSUM_OFFSET + 8);
            scribble(copy, offset, 1 + random.nextInt(16), random);
            RegionCorruptException e = assertThrows(RegionCorruptException.class, () -> SharedRegion.validate(copy),
                    "round " + round + " at offset " + offset);
            assertThat(e.getMessage()).contains(copy.toString());
            assertThat(e.field()).isNotBlank();
            java.nio.file.Files.delete(copy);
        }
    }

    @Test
    void randomBytesOverSlotsAndArena_areRejectedNeverTrusted() throws Exception {
        Random random = new Random(2);
        for (int round = 0; round < 20; round++) {
            RegionConfig config = populated("body-" + round);
            RegionLayout.Geometry g = config.geometry();
            for (int hit = 0; hit < 30; hit++) {
                if (random.nextBoolean()) {
                    long slot = random.nextLong(g.slotCount());
                    scribble(config.path(), g.slotsOffset() + slot * RegionLayout.SLOT_LENGTH + random.nextInt(56),
                            1 + random.nextInt(64 - 8), random);
                } else {
                    scribble(config.path(), g.arenaOffset() + random.nextLong(Math.min(g.arenaLength(), 64 * 1024)),
                            1 + random.nextInt(200), random);
                }
            }
            try (SharedRegion region = SharedRegion.attach(config)) {
                ObjectTable t = region.table();
                EntryView v = new EntryView();
                int found = 0;
                for (int i = 0; i < KEYS; i++) {
                    String key = "corrupt/" + i;
                    if (t.lookup(RegionKey.of(key), v)) {
                        RegionWorker.checkConsistent(key, v); // a found entry is never a damaged one
                        found++;
                    }
                }
                assertThat(found).as("most entries survive 30 hits").isGreaterThan(KEYS / 2);
                // the batched lookup touches slots and arena references before validating them:
                // it must stay inside the mapping and agree with the lookups one by one
                RegionKey[] keys = new RegionKey[KEYS];
                EntryView[] views = new EntryView[KEYS];
                boolean[] batchFound = new boolean[KEYS];
                for (int i = 0; i < KEYS; i++) {
                    keys[i] = RegionKey.of("corrupt/" + i);
                    views[i] = new EntryView();
                }
                assertThat(t.lookupAll(keys, views, batchFound)).isEqualTo(found);
                for (int i = 0; i < KEYS; i++) {
                    assertThat(batchFound[i]).isEqualTo(t.lookup(keys[i], v));
                    if (batchFound[i]) {
                        RegionWorker.checkConsistent("corrupt/" + i, views[i]);
                    }
                }
                int[] visited = new int[1];
                t.forEach((k, e) -> visited[0]++);
                // writes keep working around the damage
                for (int i = 0; i < 50; i++) {
                    String key = "after/" + i;
                    ObjectTable.PutResult r = t.put(RegionKey.of(key), RegionWorker.valuesFor(key, 1), -1);
                    assertThat(r).isIn(ObjectTable.PutResult.INSERTED, ObjectTable.PutResult.UPDATED,
                            ObjectTable.PutResult.ARENA_FULL, ObjectTable.PutResult.TABLE_FULL);
                    t.delete(RegionKey.of("corrupt/" + i), -1);
                }
            }
        }
    }
}
