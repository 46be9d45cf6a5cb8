package io.thermocline.nvmeof.block;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.TierFullException;
import io.thermocline.tier.TierIoException;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.TierUsage;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.testkit.TestData;
import io.thermocline.tier.testkit.TestTimeouts;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/** Space on the device: reopen, uncommitted writers, trims, multi-extent objects, read-back verification. */
@ScaledTimeout(120)
class BlockTierSpaceTest extends SmallDeviceTestBase {


    private BlockTier track(BlockTier t) {
        open.add(t);
        return t;
    }

    private static List<ObservedDevice.Trim> trimsOf(BlockTier tier, List<Extent> extents) {
        ExtentMap map = tier.extentMap(extents);
        return extents.stream().map(e -> new ObservedDevice.Trim(map.deviceOffset(e), map.lengthInBytes(e))).toList();
    }

    private static List<Extent> extentsOf(BlockTier tier, String key) {
        return tier.entry(ObjectKey.of(key)).extents();
    }

    @Test
    void reopen_findsEveryObject_withTheSameExtentsAndFreeSpace() {
        ObservedDevice device = device(40);
        BlockTierConfig config = config().build();
        Map<String, List<Extent>> extents = new HashMap<>();
        Map<String, ObjectInfo> infos = new HashMap<>();
        List<Extent> free;
        TierUsage usage;
        try (BlockTier tier = BlockTier.format(device, config)) {
            infos.put("a", TestObjects.put(tier, "a", 1, 3L * AU + 1234));
            infos.put("b", TestObjects.put(tier, "b", 2, 0));
            infos.put("c", TestObjects.put(tier, "c", 3, 1));
            infos.put("d/e", TestObjects.put(tier, "d/e", 4, 7L * AU));
            assertTrue(tier.delete(ObjectKey.of("c")).join());
            infos.remove("c");
            for (String k : infos.keySet()) {
                extents.put(k, extentsOf(tier, k));
            }
            free = tier.freeExtents();
            usage = tier.usage();
        }
        try (BlockTier tier = track(BlockTier.open(device, config))) {
            assertEquals(usage, tier.usage());
            assertEquals(free, tier.freeExtents());
            for (Map.Entry<String, ObjectInfo> e : infos.entrySet()) {
                assertEquals(Optional.of(e.getValue()), tier.stat(ObjectKey.of(e.getKey())).join());
                assertEquals(extents.get(e.getKey()), extentsOf(tier, e.getKey()), "extents of " + e.getKey());
            }
            assertEquals(List.of(), extentsOf(tier, "b"), "an empty object has no extents");
            TestObjects.assertContent(tier, "a", 1, 3L * AU + 1234);
            TestObjects.assertContent(tier, "d/e", 4, 7L * AU);
            assertEquals(Optional.empty(), tier.stat(ObjectKey.of("c")).join());
        }
    }

    @Test
    void spaceOfAnUncommittedWriter_isFreeAfterReopen() {
        ObservedDevice device = device(8);
        BlockTier first = BlockTier.format(device, config().build());
        ObjectWriter w = first.create(WriteRequest.builder(ObjectKey.of("unfinished"), 6L * AU - 100)
                .chunkSizeInBytes(AU).build()).join();
        TestObjects.write(w, 5, 0, 3L * AU + 17);
        assertEquals(6L * AU, first.usage().reservedInBytes());
        first.simulateCrash(); // the writer's process dies: no commit, no abort
        try (BlockTier tier = track(BlockTier.open(device, first.config()))) {
            assertEquals(new TierUsage(8L * AU, 0, 0, 0), tier.usage());
            assertEquals(List.of(new Extent(0, 8)), tier.freeExtents());
            assertEquals(Optional.empty(), tier.stat(ObjectKey.of("unfinished")).join());
            TestObjects.put(tier, "whole-device", 6, 8L * AU);
            TestObjects.assertContent(tier, "whole-device", 6, 8L * AU);
        }
    }

    @Test
    void freedExtents_areTrimmed_onDeleteLastReaderAbortAndReplace() {
        ObservedDevice device = device(64);
        try (BlockTier tier = track(BlockTier.format(device, config().build()))) {
            Superblock sb = tier.superblock();
            assertEquals(List.of(new ObservedDevice.Trim(sb.dataOffsetInBytes(), 64L * AU)), device.trims(),
                    "format trims the data area");
            device.clearTrims();

            TestObjects.put(tier, "deleted", 1, 2L * AU + 500);
            List<Extent> deleted = extentsOf(tier, "deleted");
            assertEquals(List.of(), device.trims(), "nothing is trimmed while objects are only added");
            assertTrue(tier.delete(ObjectKey.of("deleted")).join());
            assertEquals(trimsOf(tier, deleted), device.trims());
            device.clearTrims();

            TestObjects.put(tier, "read", 2, 3L * AU);
            List<Extent> read = extentsOf(tier, "read");
            ObjectReader reader = tier.openReader(ObjectKey.of("read")).join();
            assertTrue(tier.delete(ObjectKey.of("read")).join());
            assertEquals(List.of(), device.trims(), "a version with an open reader keeps its extents");
            ByteBuffer buf = ByteBuffer.allocate(AU);
            assertEquals(AU, reader.read(2L * AU, buf).join());
            assertEquals(-1, TestData.firstMismatch(2, 2L * AU, buf.flip()), "the deleted version still reads");
            reader.close();
            assertEquals(trimsOf(tier, read), device.trims(), "the last reader's close frees and trims");
            device.clearTrims();

            TestObjects.put(tier, "replaced", 3, AU + 1);
            List<Extent> first = extentsOf(tier, "replaced");
            TestObjects.put(tier, "replaced", 4, 5L * AU);
            assertEquals(trimsOf(tier, first), device.trims(), "the replaced version is trimmed");
            TestObjects.assertContent(tier, "replaced", 4, 5L * AU);
            device.clearTrims();

            ObjectWriter aborted = tier.create(WriteRequest.builder(ObjectKey.of("aborted"), 4L * AU)
                    .chunkSizeInBytes(AU).build()).join();
            TestObjects.write(aborted, 5, 0, AU + 10);
            List<Extent> reserved = ((BlockObjectWriter) aborted).reservedExtents();
            aborted.abort().join();
            assertEquals(trimsOf(tier, reserved), device.trims(), "an aborted writer's extents are trimmed");

            assertTrue(tier.delete(ObjectKey.of("replaced")).join());
            assertEquals(List.of(new Extent(0, 64)), tier.freeExtents(), "everything is free and merged again");
            assertEquals(new TierUsage(64L * AU, 0, 0, 0), tier.usage());
        }
    }

    @Test
    void freedSpace_isNotReusedBeforeItsTrimHasFinished() throws Exception {
        ObservedDevice device = device(4);
        try (BlockTier tier = track(BlockTier.format(device, config().build()))) {
            TestObjects.put(tier, "big", 1, 4L * AU);
            CompletableFuture<Void> gate = new CompletableFuture<>();
            device.holdTrimsUntil(gate);
            CompletableFuture<Boolean> deleting = tier.delete(ObjectKey.of("big"));
            assertThrows(TimeoutException.class, () -> deleting.get(300, TimeUnit.MILLISECONDS));
            assertEquals(4L * AU, tier.usage().usedInBytes(), "space being trimmed still counts as used");
            assertEquals(Optional.empty(), tier.stat(ObjectKey.of("big")).join(), "but the object is gone");
            TierFullException full = assertThrows(TierFullException.class, () -> TestObjects.join(tier.create(ObjectKey.of("next"), 1)));
            assertEquals(0, full.availableInBytes());
            gate.complete(null);
            assertTrue(deleting.get(TestTimeouts.millis(30), TimeUnit.MILLISECONDS));
            TestObjects.put(tier, "next", 2, 4L * AU);
        }
    }

    @Test
    void objectLargerThanAnyFreeExtent_spansSeveralExtents_andReadsBackAcrossThem() {
        ObservedDevice device = device(10);
        BlockTierConfig config = config().build();
        long size = 4L * AU - 777;
        try (BlockTier tier = BlockTier.format(device, config)) {
            for (int i = 0; i < 5; i++) {
                TestObjects.put(tier, "o" + i, 10 + i, 2L * AU);
            }
            assertTrue(tier.delete(ObjectKey.of("o1")).join());
            assertTrue(tier.delete(ObjectKey.of("o3")).join());
            assertEquals(List.of(new Extent(2, 2), new Extent(6, 2)), tier.freeExtents());
            TestObjects.put(tier, "spread", 20, size);
            List<Extent> extents = extentsOf(tier, "spread");
            assertEquals(2, extents.size(), "extents " + extents);
            assertEquals(4, extents.stream().mapToLong(Extent::unitCount).sum());
            assertEquals(List.of(), tier.freeExtents());
            TestObjects.assertContent(tier, "spread", 20, size);
            try (ObjectReader r = tier.openReader(ObjectKey.of("spread")).join()) {
                ByteBuffer across = ByteBuffer.allocateDirect(1000);
                assertEquals(1000, r.read(2L * AU - 500, across).join());
                assertEquals(-1, TestData.firstMismatch(20, 2L * AU - 500, across.flip()));
            }
            assertThrows(TierFullException.class, () -> TestObjects.join(tier.create(ObjectKey.of("more"), 1)));
        }
        try (BlockTier tier = track(BlockTier.open(device, config))) {
            TestObjects.assertContent(tier, "spread", 20, size);
            for (int i : new int[] {0, 2, 4}) {
                TestObjects.assertContent(tier, "o" + i, 10 + i, 2L * AU);
            }
        }
    }

    @Test
    void verifyBeforeCommit_refusesBytesTheDeviceCorrupted_andReadsCatchThemOtherwise() {
        ObservedDevice device = device(16);
        try (BlockTier tier = track(BlockTier.format(device, config().verifyBeforeCommit(true).build()))) {
            TestObjects.put(tier, "good", 1, 3L * AU + 5);
            device.corruptWritesFrom(tier.superblock().dataOffsetInBytes());
            ChecksumMismatchException e = assertThrows(ChecksumMismatchException.class,
                    () -> TestObjects.put(tier, "bad", 2, 2L * AU));
            assertThat(e.getMessage()).contains("bad").contains("read back");
            assertEquals(Optional.empty(), tier.stat(ObjectKey.of("bad")).join());
            assertEquals(0, tier.usage().reservedInBytes());
            assertEquals(1, tier.usage().objectCount());
        }
        ObservedDevice other = device(16);
        BlockTierConfig plain = config().build();
        try (BlockTier tier = track(BlockTier.format(other, plain))) {
            other.corruptWritesFrom(tier.superblock().dataOffsetInBytes());
            TestObjects.put(tier, "bad", 2, 2L * AU);
            try (ObjectReader r = tier.openReader(ObjectKey.of("bad")).join()) {
                ChecksumMismatchException e = assertThrows(ChecksumMismatchException.class,
                        () -> TestObjects.join(r.read(0, ByteBuffer.allocate(100))));
                assertEquals(0, e.offset());
            }
        }
    }

    @Test
    void aFailedDeviceWrite_stopsTheWriter_nothingIsPublished_andAbortFreesTheSpace() {
        ObservedDevice device = device(8);
        try (BlockTier tier = track(BlockTier.format(device, config().build()))) {
            ObjectWriter w = tier.create(WriteRequest.builder(ObjectKey.of("failing"), 3L * AU).chunkSizeInBytes(AU).build()).join();
            TestObjects.write(w, 1, 0, AU);
            device.failWritesFrom(0);
            assertThrows(TierIoException.class, () -> TestObjects.join(w.write(AU, TestData.bytes(1, AU, AU))));
            device.failWritesFrom(Long.MAX_VALUE);
            TierUnavailableException stopped = assertThrows(TierUnavailableException.class,
                    () -> TestObjects.join(w.write(2L * AU, TestData.bytes(1, 2L * AU, AU))));
            assertThat(stopped.getMessage()).contains("failing").contains("earlier write failed").contains("injected");
            assertThrows(InvalidArgumentException.class, () -> TestObjects.join(w.commit()));
            assertEquals(Optional.empty(), tier.stat(ObjectKey.of("failing")).join());
            w.close();
            assertEquals(new TierUsage(8L * AU, 0, 0, 0), tier.usage());
            assertEquals(List.of(new Extent(0, 8)), tier.freeExtents());
        }
    }

    @Test
    void list_ordersKeysAsObjectKeysCompare_beyondTheBasicMultilingualPlane() {
        ObservedDevice device = device(8);
        List<String> names = List.of("k/\uFFFD", "k/\uD83D\uDE00", "k/\u00e9", "k/z", "k/", "k/\uE000x", "j", "l");
        try (BlockTier tier = track(BlockTier.format(device, config().build()))) {
            for (String n : names) {
                TestObjects.put(tier, n, 1, 1);
            }
            List<ObjectKey> expected = names.stream().filter(n -> n.startsWith("k/")).map(ObjectKey::of)
                    .sorted(Comparator.naturalOrder()).toList();
            assertEquals(expected, tier.list("k/", null, 1000).join().keys());
            assertEquals(List.of(ObjectKey.of("k/\uD83D\uDE00")), tier.list("k/\uD83D", null, 10).join().keys());
            List<ObjectKey> paged = new ArrayList<>();
            ObjectKey after = null;
            do {
                var page = tier.list("k/", after, 2).join();
                paged.addAll(page.keys());
                after = page.nextStartAfter().orElse(null);
            } while (after != null);
            assertEquals(expected, paged);
            assertEquals(List.of(ObjectKey.of("l")), tier.list("", ObjectKey.of("k/\uFFFD"), 10).join().keys());
        }
    }

    @Test
    void concurrentWritersReadersAndDeletes_neverShareExtents() throws Exception {
        ObservedDevice device = device(200);
        BlockTierConfig config = config().build();
        int threads = 8;
        int keysPerThread = 5;
        Map<String, Long> last = new java.util.concurrent.ConcurrentHashMap<>();
        try (BlockTier tier = BlockTier.format(device, config);
             ExecutorService pool = Executors.newFixedThreadPool(threads)) {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                done.add(pool.submit(() -> {
                    Random random = new Random(thread);
                    for (int i = 0; i < 40; i++) {
                        String key = "t" + thread + "/k" + random.nextInt(keysPerThread);
                        int action = random.nextInt(10);
                        if (action < 6) {
                            long seed = thread * 1000L + i;
                            long size = random.nextInt(3 * AU) + 1;
                            TestObjects.put(tier, key, seed, size);
                            last.put(key, seed << 20 | size);
                        } else if (action < 8) {
                            tier.delete(ObjectKey.of(key)).join();
                            last.remove(key);
                        } else if (last.containsKey(key)) {
                            long v = last.get(key);
                            TestObjects.assertContent(tier, key, v >>> 20, v & ((1 << 20) - 1));
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
            checkSpace(tier, last);
        }
        try (BlockTier tier = track(BlockTier.open(device, config))) {
            checkSpace(tier, last);
        }
    }

    /** Every expected object reads back, and used + free space is exactly the data area, without overlap. */
    private static void checkSpace(BlockTier tier, Map<String, Long> expected) {
        List<ObjectKey> keys = tier.list("", null, 1000).join().keys();
        assertEquals(expected.keySet().stream().sorted().map(ObjectKey::of).toList(), keys);
        boolean[] owned = new boolean[(int) tier.superblock().unitCount()];
        long usedUnits = 0;
        for (ObjectKey k : keys) {
            long v = expected.get(k.value());
            TestObjects.assertContent(tier, k.value(), v >>> 20, v & ((1 << 20) - 1));
            for (Extent e : tier.entry(k).extents()) {
                for (long u = e.startUnit(); u < e.endUnit(); u++) {
                    assertFalse(owned[(int) u], "unit " + u + " of " + k + " is also someone else's");
                    owned[(int) u] = true;
                    usedUnits++;
                }
            }
        }
        for (Extent e : tier.freeExtents()) {
            for (long u = e.startUnit(); u < e.endUnit(); u++) {
                assertFalse(owned[(int) u], "unit " + u + " is both free and used");
                owned[(int) u] = true;
            }
        }
        for (int u = 0; u < owned.length; u++) {
            assertTrue(owned[u], "unit " + u + " is neither free nor used: leaked");
        }
        assertEquals(new TierUsage(owned.length * (long) AU, usedUnits * AU, 0, keys.size()), tier.usage());
    }
}
