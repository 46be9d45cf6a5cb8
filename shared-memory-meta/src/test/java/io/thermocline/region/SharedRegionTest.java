package io.thermocline.region;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.ObjectKey;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SharedRegionTest {

    @TempDir
    Path dir;

    private final AtomicLong now = new AtomicLong(1_700_000_000_000L);
    private final InstantSource clock = () -> Instant.ofEpochMilli(now.get());
    private RegionConfig config;
    private SharedRegion region;

    @BeforeEach
    void create() {
        config = RegionConfig.builder(dir.resolve("region")).maxObjects(1000).clock(clock)
                .heatHalfLife(Duration.ofSeconds(60)).ringSlots(8).resultCount(16).leaseCount(4).build();
        region = SharedRegion.create(config);
    }

    @AfterEach
    void close() {
        region.close();
    }

    static EntryValues values(long size, long epoch, String locator) {
        return new EntryValues(SlotState.READY, 0b101, 2, 0, size, (int) size * 31, epoch,
                locator.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void create_makesAPrivateFileThatValidates() throws Exception {
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(config.path())));
        assertEquals(config.geometry(), SharedRegion.validate(config.path()));
        assertEquals(config.geometry().regionLength(), Files.size(config.path()));
        assertTrue(region.isCurrent());
    }

    @Test
    void putLookupDelete_roundTrip_andAreSeenByAnotherMapping() {
        ObjectTable t = region.table();
        RegionKey k = RegionKey.of("models/a/model-00001.safetensors");
        assertEquals(ObjectTable.PutResult.INSERTED, t.put(k, values(100, 1, "local:files/ab/cd.safetensors"), -1));
        try (SharedRegion other = SharedRegion.attach(config)) {
            EntryView v = new EntryView();
            assertTrue(other.table().lookup(k, v));
            assertEquals(100, v.sizeInBytes());
            assertEquals(3100, v.crc32c());
            assertEquals(1, v.epoch());
            assertEquals(SlotState.READY, v.state());
            assertEquals(0b101, v.tiers());
            assertEquals(2, v.preferredTier());
            assertTrue(v.onTier(2) && !v.onTier(1));
            assertEquals("local:files/ab/cd.safetensors", new String(v.locator(), StandardCharsets.UTF_8));
            assertEquals(ObjectTable.PutResult.UPDATED, other.table().put(k, values(200, 2, "fabric:extent 7"), 1));
        }
        EntryView v = new EntryView();
        assertTrue(t.lookup(k, v));
        assertEquals(200, v.sizeInBytes());
        assertEquals("fabric:extent 7", new String(v.locator(), StandardCharsets.UTF_8));
        assertEquals(ObjectTable.PutResult.EPOCH_CONFLICT, t.put(k, values(300, 3, "x"), 1));
        assertFalse(t.delete(k, 1));
        assertTrue(t.delete(k, 2));
        assertFalse(t.lookup(k, v));
        assertFalse(t.delete(k, -1));
        assertEquals(0, t.size());
    }

    @Test
    void sameHashDifferentKeys_areTellApartByTheFullKey() {
        ObjectTable t = region.table();
        List<RegionKey> keys = new ArrayList<>();
        for (int i = 0; i < 700; i++) {
            keys.add(RegionKey.of("k/" + i));
            assertEquals(ObjectTable.PutResult.INSERTED, t.put(keys.get(i), values(i, i, "l" + i), -1));
        }
        EntryView v = new EntryView();
        for (int i = 0; i < 700; i++) {
            assertTrue(t.lookup(keys.get(i), v), "key " + i);
            assertEquals(i, v.sizeInBytes());
        }
        assertFalse(t.lookup(RegionKey.of("k/700"), v));
        assertEquals(700, t.size());
    }

    @Test
    void lookupAll_agreesWithSingleLookups() {
        ObjectTable t = region.table();
        for (int i = 0; i < 600; i += 2) {
            t.put(RegionKey.of("batch/" + i), values(i, i, "loc-" + i), -1);
        }
        RegionKey[] keys = new RegionKey[100];
        EntryView[] views = new EntryView[100];
        boolean[] found = new boolean[100];
        for (int round = 0; round < 6; round++) {
            for (int k = 0; k < 100; k++) {
                keys[k] = RegionKey.of("batch/" + (round * 100 + k));
                views[k] = new EntryView(k % 2 == 0);
            }
            assertEquals(50, t.lookupAll(keys, views, found));
            EntryView single = new EntryView();
            for (int k = 0; k < 100; k++) {
                assertEquals(t.lookup(keys[k], single), found[k], keys[k].toString());
                if (found[k]) {
                    assertEquals(single.sizeInBytes(), views[k].sizeInBytes());
                    assertEquals(single.epoch(), views[k].epoch());
                    assertEquals(k % 2 == 0 ? single.locatorLength() : 0, views[k].locatorLength());
                }
            }
        }
    }

    @Test
    void deletesAndReinserts_doNotFillTheTableOrTheArena() {
        ObjectTable t = region.table();
        long topAfterFirstRound = -1;
        for (int round = 0; round < 50; round++) {
            for (int i = 0; i < 600; i++) {
                assertEquals(ObjectTable.PutResult.INSERTED,
                        t.put(RegionKey.of("churn/" + round + "/" + i), values(i, 1, "locator-" + i), -1), "round " + round);
            }
            for (int i = 0; i < 600; i++) {
                assertTrue(t.delete(RegionKey.of("churn/" + round + "/" + i), -1));
            }
            if (round == 0) {
                topAfterFirstRound = t.arenaTop();
            }
        }
        assertEquals(0, t.size());
        assertEquals(topAfterFirstRound, t.arenaTop(), "arena blocks are recycled: no growth after the first round");
        assertThat(t.tombstones()).isLessThan(t.slotCount() / 2);
    }

    @Test
    void arenaClasses_coverEveryLengthWithLittleWaste() {
        for (int length = 1; length <= RegionLayout.MAX_REF_LENGTH; length++) {
            int c = RegionLayout.arenaClassFor(length);
            long size = RegionLayout.arenaBlockSize(c);
            assertThat(size).as("class of " + length).isGreaterThanOrEqualTo(length);
            if (c > 0) {
                assertThat(RegionLayout.arenaBlockSize(c - 1)).as("next smaller class of " + length).isLessThan(Math.max(16, length));
            }
            assertThat(c).isLessThan(RegionLayout.ARENA_CLASSES);
        }
    }

    @Test
    void tableFull_isAReturnValue() {
        ObjectTable t = region.table();
        long slots = t.slotCount();
        int inserted = 0;
        ObjectTable.PutResult r = null;
        for (int i = 0; i <= slots; i++) {
            r = t.put(RegionKey.of("full/" + i), values(1, 1, ""), -1);
            if (r != ObjectTable.PutResult.INSERTED) {
                break;
            }
            inserted++;
        }
        assertEquals(ObjectTable.PutResult.TABLE_FULL, r);
        assertEquals(slots, inserted);
    }

    @Test
    void heat_addsExactly_andDecaysWithTheInjectedClock() {
        ObjectTable t = region.table();
        RegionKey k = RegionKey.of("hot");
        t.put(k, values(10, 1, ""), -1);
        long slot = t.slotOf(k);
        for (int i = 0; i < 1000; i++) {
            t.addHeat(slot, 4096);
        }
        ObjectTable.Heat h = t.heat(slot);
        assertEquals(1000, h.reads());
        assertEquals(4096L * 1000, h.bytes());
        assertEquals(1000, h.decayedReads(), 1e-3);
        now.addAndGet(60_000); // one half-life
        h = t.heat(slot);
        assertEquals(1000, h.reads());
        assertEquals(500, h.decayedReads(), 1.0);
        assertEquals(4096 * 500, h.decayedBytes(), 4096);
        t.addHeat(k, 1);
        assertEquals(501, t.heat(slot).decayedReads(), 1.0);
        assertFalse(t.addHeat(RegionKey.of("absent"), 1));
    }

    @Test
    void reinsertedKey_startsCold() {
        ObjectTable t = region.table();
        RegionKey k = RegionKey.of("recycled");
        t.put(k, values(1, 1, ""), -1);
        t.addHeat(k, 100);
        t.delete(k, -1);
        t.put(k, values(1, 1, ""), -1);
        assertEquals(0, t.heat(t.slotOf(k)).reads());
    }

    @Test
    void leases_excludeOthers_andLapseAtTheDeadline() {
        LeaseTable leases = region.leases();
        long resource = LeaseTable.resourceOf(RegionKey.of("moving"));
        LeaseTable.Lease lease = leases.acquire(resource, Duration.ofSeconds(10)).orElseThrow();
        assertTrue(leases.isValid(lease));
        assertEquals(ProcessToken.SELF, lease.holder());
        // this process re-acquiring renews with a new epoch
        LeaseTable.Lease again = leases.acquire(resource, Duration.ofSeconds(10)).orElseThrow();
        assertEquals(lease.epoch() + 1, again.epoch());
        assertFalse(leases.release(lease), "the old grant is stale");
        now.addAndGet(11_000);
        assertFalse(leases.isValid(again));
        assertTrue(leases.release(again));
        assertTrue(leases.find(resource).isEmpty());
    }

    @Test
    void ring_deliversInOrder_reportsFull_andResultsArePolled() {
        RequestRing ring = region.ring();
        List<Long> ids = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            long id = ring.offer(RequestType.STAGE, ObjectKey.of("r/" + i), 1, i);
            assertThat(id).isPositive();
            ids.add(id);
        }
        assertEquals(RequestRing.FULL, ring.offer(RequestType.PIN, ObjectKey.of("r/x"), 1, 0));
        assertEquals(8, ring.depth());
        List<Request> got = new ArrayList<>();
        assertEquals(5, ring.poll(got::add, 5));
        assertEquals(3, ring.poll(got::add, 100));
        assertEquals(0, ring.poll(got::add, 100));
        for (int i = 0; i < 8; i++) {
            assertEquals(ids.get(i), got.get(i).requestId());
            assertEquals(ObjectKey.of("r/" + i), got.get(i).key());
            assertEquals(RequestType.STAGE, got.get(i).type());
            assertEquals(i, got.get(i).arg());
            assertEquals(ProcessToken.SELF, got.get(i).requester());
        }
        long id = ring.offer(RequestType.EVICT, ObjectKey.of("after/wrap"), 0, 0);
        assertThat(id).isPositive();
        RequestResults results = region.results();
        assertTrue(results.get(id).isEmpty());
        results.publish(id, RequestResults.Status.RUNNING, 10, 100);
        assertEquals(new RequestResults.Result(id, RequestResults.Status.RUNNING, 10, 100), results.get(id).orElseThrow());
        results.publish(id, RequestResults.Status.DONE, 100, 100);
        assertTrue(results.get(id).orElseThrow().finished());
        assertTrue(results.get(id + 16).isEmpty(), "another request mapping to the same record");
    }

    @Test
    void ownership_isExclusive_andEpochsIncrease() {
        long epoch = region.tryAcquireOwnership(Duration.ofSeconds(5)).orElseThrow();
        assertEquals(ProcessToken.SELF, region.ownerToken());
        assertEquals(epoch, region.tryAcquireOwnership(Duration.ofSeconds(5)).orElseThrow(), "renewal keeps the epoch");
        assertTrue(region.releaseOwnership());
        assertEquals(epoch + 1, region.tryAcquireOwnership(Duration.ofSeconds(5)).orElseThrow());
    }

    @Test
    void tierCounters_addUp() {
        region.tiers().add(3, 1000, 50, 1);
        region.tiers().add(3, -200, -50, 0);
        assertEquals(new TierCounters.Counts(800, 0, 1), region.tiers().get(3));
        assertThatThrownBy(() -> region.tiers().get(8)).hasMessageContaining("tierId: 8 (expected: 0..7)");
    }

    @Test
    void openOrCreate_replacesAnInvalidRegion_andAttachRejectsIt() throws Exception {
        region.table().put(RegionKey.of("x"), values(1, 1, ""), -1);
        region.close();
        try (var raf = new java.io.RandomAccessFile(config.path().toFile(), "rw")) {
            raf.seek(RegionLayout.SLOT_COUNT_OFFSET);
            raf.write(0x55);
        }
        assertThatThrownBy(() -> SharedRegion.attach(config)).isInstanceOf(RegionCorruptException.class)
                .hasMessageContaining(config.path().toString()).hasMessageContaining("header checksum");
        region = SharedRegion.openOrCreate(config);
        assertEquals(0, region.table().size());
        assertFalse(region.table().lookup(RegionKey.of("x"), new EntryView()));
    }
}
