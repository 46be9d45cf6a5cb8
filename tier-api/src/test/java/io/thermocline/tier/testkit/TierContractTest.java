package io.thermocline.tier.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.Crc32c;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ListPage;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectNotFoundException;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.Tier;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierFullException;
import io.thermocline.tier.TierHealth;
import io.thermocline.tier.TierUsage;
import io.thermocline.tier.WriteRequest;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The contract every {@link Tier} implementation passes. Extend it, implement the three hooks,
 * and the implementation is checked for round trips, ranged reads, atomic publication, crash
 * safety, concurrency, corruption detection and capacity handling.
 *
 * <p>Objects are written with {@value #CHUNK} byte chunks so that multi-chunk behaviour is
 * exercised without large files; one test streams a large object with the default chunk size.
 * Content comes from {@link TestData}, so no test holds a whole large object in memory.
 */
@ScaledTimeout(120)
public abstract class TierContractTest {

    /** Chunk size used by most tests: 16 KiB. */
    protected static final int CHUNK = 16 * 1024;

    private final List<Tier> opened = new ArrayList<>();
    protected Tier tier;

    /** A new, empty tier holding at most {@code capacityInBytes}. */
    protected abstract Tier newTier(long capacityInBytes) throws Exception;

    /**
     * A second instance over the same storage, as a new process would open it after this one
     * crashed: {@code tier} is neither closed nor told anything.
     */
    protected abstract Tier reopen(Tier tier) throws Exception;

    /** Changes one stored byte of the object's data at {@code offset}, behind the tier's back. */
    protected abstract void corruptStoredByte(Tier tier, ObjectKey key, long offset) throws Exception;

    /** Capacity for tests that do not test capacity. */
    protected long defaultCapacityInBytes() {
        return 1L << 30;
    }

    /** Size of the object in {@link #largeObject_streamedInUnevenBuffers_roundTrips}. */
    protected long largeObjectSizeInBytes() {
        return 48L << 20;
    }

    /**
     * Chunk size of the resume tests: a tier that makes writes durable in larger units (S3
     * parts) sets it so that {@link #resumeChunkCount()} chunks span a few of its units.
     */
    protected int resumeChunkSize() {
        return CHUNK;
    }

    /** Whole chunks of the resume tests' objects (which have half a chunk more). */
    protected int resumeChunkCount() {
        return 8;
    }

    @BeforeEach
    void openTier() throws Exception {
        tier = track(newTier(defaultCapacityInBytes()));
    }

    @AfterEach
    void closeTiers() {
        for (Tier t : opened.reversed()) {
            t.close();
        }
    }

    protected final Tier track(Tier t) {
        opened.add(t);
        return t;
    }

    // ---- helpers ----

    protected static ObjectKey key(String name) {
        return ObjectKey.of("contract/" + name);
    }

    /** Writes {@code size} bytes of stream {@code seed} in {@code bufferSize} pieces and commits. */
    protected ObjectInfo put(Tier t, ObjectKey key, long seed, long size, int chunkSize, int bufferSize) {
        WriteRequest request = WriteRequest.builder(key, size).chunkSizeInBytes(chunkSize).build();
        try (ObjectWriter w = t.create(request).join()) {
            writeAll(w, seed, size, bufferSize);
            return w.commit().join();
        }
    }

    protected ObjectInfo put(ObjectKey key, long seed, long size) {
        return put(tier, key, seed, size, CHUNK, 5000);
    }

    protected static void writeAll(ObjectWriter w, long seed, long size, int bufferSize) {
        ByteBuffer buf = ByteBuffer.allocateDirect(bufferSize);
        for (long p = 0; p < size; p += bufferSize) {
            int n = (int) Math.min(bufferSize, size - p);
            TestData.fill(seed, p, buf.clear().limit(n));
            w.write(p, buf).join();
        }
    }

    /** Reads the whole object in {@code bufferSize} pieces and checks every byte against stream {@code seed}. */
    protected static void assertContent(ObjectReader r, long seed, long size, int bufferSize) {
        ByteBuffer buf = ByteBuffer.allocate(bufferSize);
        long p = 0;
        while (p < size) {
            int n = r.read(p, buf.clear()).join();
            assertTrue(n > 0, "read at " + p + " returned " + n + " before the end (" + size + ")");
            assertEquals(-1, TestData.firstMismatch(seed, p, buf.flip()), "content differs at " + p);
            p += n;
        }
        assertEquals(-1, r.read(size, buf.clear()).join(), "read at the end");
    }

    protected static <T extends Throwable> T failure(Class<T> type, Supplier<CompletableFuture<?>> call) {
        CompletableFuture<?> f;
        try {
            f = call.get();
        } catch (Throwable t) {
            return assertType(type, t);
        }
        try {
            f.join();
        } catch (Throwable t) {
            return assertType(type, TierException.unwrap(t));
        }
        return fail("expected " + type.getSimpleName() + ", but the call succeeded");
    }

    private static <T extends Throwable> T assertType(Class<T> type, Throwable t) {
        Throwable u = TierException.unwrap(t);
        assertThat(u).as("failure").isInstanceOf(type);
        return type.cast(u);
    }

    private void assertAbsent(Tier t, ObjectKey key) {
        assertEquals(Optional.empty(), t.stat(key).join(), "stat of " + key);
        failure(ObjectNotFoundException.class, () -> t.openReader(key));
        assertFalse(t.list("", null, 1000).join().keys().contains(key), "listing contains " + key);
    }

    // ---- round trips ----

    @Test
    void emptyObject_roundTrips() {
        ObjectInfo info = put(key("empty"), 1, 0);
        assertEquals(0, info.sizeInBytes());
        assertEquals(0, info.chunkCount());
        assertEquals(0, info.crc32c());
        try (ObjectReader r = tier.openReader(key("empty")).join()) {
            assertEquals(0, r.info().sizeInBytes());
            assertEquals(-1, r.read(0, ByteBuffer.allocate(10)).join());
        }
    }

    @Test
    void oneByteObject_roundTrips() {
        ObjectInfo info = put(key("one"), 2, 1);
        assertEquals(1, info.chunkCount());
        assertEquals(Crc32c.of(TestData.bytes(2, 0, 1)), info.crc32c());
        try (ObjectReader r = tier.openReader(key("one")).join()) {
            assertContent(r, 2, 1, 7);
        }
    }

    @Test
    void unalignedMultiChunkObject_roundTrips() {
        long size = 5L * CHUNK + 4097;
        ObjectInfo info = put(key("unaligned"), 3, size);
        assertEquals(6, info.chunkCount());
        assertEquals(TestData.crc32c(3, size), info.crc32c());
        for (int i = 0; i < info.chunkCount(); i++) {
            ByteBuffer chunk = TestData.bytes(3, info.chunkOffset(i), info.chunkLength(i));
            assertEquals(Crc32c.of(chunk), info.chunkCrc32c(i), "chunk " + i);
        }
        try (ObjectReader r = tier.openReader(key("unaligned")).join()) {
            assertEquals(info, r.info());
            assertContent(r, 3, size, 12345);
        }
    }

    @Test
    void largeObject_streamedInUnevenBuffers_roundTrips() {
        long size = largeObjectSizeInBytes() + 777;
        ObjectInfo info = put(tier, key("large"), 4, size, ObjectInfo.DEFAULT_CHUNK_SIZE_IN_BYTES, (3 << 20) + 5);
        assertEquals(TestData.crc32c(4, size), info.crc32c());
        try (ObjectReader r = tier.openReader(key("large")).join()) {
            assertContent(r, 4, size, 4 << 20);
        }
    }

    @Test
    void metadata_isKeptAndReturnedByStat() {
        ObjectKey k = key("meta");
        WriteRequest request = WriteRequest.builder(k, 100).chunkSizeInBytes(CHUNK).contentType("application/x-safetensors")
                .userMetadata(Map.of("model", "llama", "shard", "1")).build();
        ObjectInfo committed;
        try (ObjectWriter w = tier.create(request).join()) {
            writeAll(w, 5, 100, 100);
            committed = w.commit().join();
        }
        ObjectInfo stat = tier.stat(k).join().orElseThrow();
        assertEquals(committed, stat);
        assertEquals("application/x-safetensors", stat.contentType());
        assertEquals(Map.of("model", "llama", "shard", "1"), stat.userMetadata());
        assertEquals(k, stat.key());
    }

    @Test
    void chunksWrittenOutOfOrderAndConcurrently_giveTheSameChecksums() throws Exception {
        long size = 9L * CHUNK + 100;
        ObjectInfo sequential = put(key("seq"), 6, size);
        WriteRequest request = WriteRequest.builder(key("par"), size).chunkSizeInBytes(CHUNK).build();
        try (ObjectWriter w = tier.create(request).join();
             ExecutorService pool = Executors.newFixedThreadPool(4)) {
            List<Future<?>> done = new ArrayList<>();
            for (int c = 9; c >= 0; c--) {
                long start = (long) c * CHUNK;
                int length = (int) Math.min(CHUNK, size - start);
                done.add(pool.submit(() -> {
                    // each chunk in two pieces, front to back
                    int half = length / 2;
                    w.write(start, TestData.bytes(6, start, half)).join();
                    w.write(start + half, TestData.bytes(6, start + half, length - half)).join();
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
            ObjectInfo parallel = w.commit().join();
            assertTrue(sequential.sameContentAs(parallel), sequential + " vs " + parallel);
        }
    }

    // ---- invalid writes ----

    @Test
    void write_thatSkipsBytesWithinAChunk_isRejected() {
        try (ObjectWriter w = tier.create(WriteRequest.builder(key("gap"), 3L * CHUNK).chunkSizeInBytes(CHUNK).build()).join()) {
            w.write(0, TestData.bytes(7, 0, 100)).join();
            InvalidArgumentException e = failure(InvalidArgumentException.class, () -> w.write(200, TestData.bytes(7, 200, 10)));
            assertThat(e.getMessage()).contains("contract/gap").contains("100");
        }
        assertAbsent(tier, key("gap"));
    }

    @Test
    void write_pastDeclaredSize_isRejected() {
        try (ObjectWriter w = tier.create(WriteRequest.builder(key("over"), 10).chunkSizeInBytes(CHUNK).build()).join()) {
            failure(InvalidArgumentException.class, () -> w.write(0, TestData.bytes(8, 0, 11)));
        }
        assertAbsent(tier, key("over"));
    }

    @Test
    void commit_withMissingBytes_failsAndLeavesNothing() {
        TierUsage before = tier.usage();
        ObjectWriter w = tier.create(WriteRequest.builder(key("short"), 2L * CHUNK).chunkSizeInBytes(CHUNK).build()).join();
        w.write(0, TestData.bytes(9, 0, CHUNK)).join();
        InvalidArgumentException e = failure(InvalidArgumentException.class, w::commit);
        assertThat(e.getMessage()).contains("contract/short");
        w.close();
        assertAbsent(tier, key("short"));
        assertEquals(before, tier.usage());
    }

    @Test
    void copyWithExpectedChecksums_refusesToCommitDifferentBytes() {
        ObjectInfo original = put(key("copy-src"), 10, 3L * CHUNK);
        ObjectKey target = key("copy-dst");
        WriteRequest copy = WriteRequest.copyOf(original.toBuilder().key(target).build());
        try (ObjectWriter w = tier.create(copy).join()) {
            w.write(0, TestData.bytes(10, 0, CHUNK)).join();
            ByteBuffer wrong = TestData.bytes(10, CHUNK, CHUNK);
            wrong.put(5, (byte) (wrong.get(5) ^ 1));
            w.write(CHUNK, wrong).join();
            w.write(2L * CHUNK, TestData.bytes(10, 2L * CHUNK, CHUNK)).join();
            ChecksumMismatchException e = failure(ChecksumMismatchException.class, w::commit);
            assertEquals(CHUNK, e.offset());
            assertEquals(original.chunkCrc32c(1), e.expectedCrc32c());
            assertThat(e.getMessage()).contains("contract/copy-dst");
        }
        assertAbsent(tier, target);
        try (ObjectWriter w = tier.create(copy).join()) {
            writeAll(w, 10, 3L * CHUNK, CHUNK);
            assertTrue(w.commit().join().sameContentAs(original));
        }
    }

    // ---- ranged reads ----

    @Test
    void rangedReads_atEveryChunkBoundary_returnTheRightBytes() {
        long size = 4L * CHUNK + 333;
        ObjectInfo info = put(key("ranges"), 11, size);
        try (ObjectReader r = tier.openReader(key("ranges")).join()) {
            for (int c = 0; c <= info.chunkCount(); c++) {
                long boundary = Math.min((long) c * CHUNK, size);
                for (long start : new long[] {boundary - 1, boundary, boundary + 1}) {
                    for (int length : new int[] {1, 2, 4096, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 3}) {
                        if (start < 0) {
                            continue;
                        }
                        ByteBuffer dst = ByteBuffer.allocate(length + 8).position(3).limit(3 + length);
                        int n = r.read(start, dst).join();
                        long expected = start >= size ? -1 : Math.min(length, size - start);
                        assertEquals(expected, n, "read of " + length + " at " + start);
                        if (n > 0) {
                            assertEquals(3 + n, dst.position(), "position after read at " + start);
                            assertEquals(-1, TestData.firstMismatch(11, start, dst.flip().position(3)),
                                    "content of read of " + length + " at " + start);
                        }
                    }
                }
            }
        }
    }

    @Test
    void reads_pastTheEnd_returnMinusOneAndNegativePositionsFail() {
        put(key("end"), 12, 1000);
        try (ObjectReader r = tier.openReader(key("end")).join()) {
            assertEquals(-1, r.read(1000, ByteBuffer.allocate(10)).join());
            assertEquals(-1, r.read(5000, ByteBuffer.allocate(10)).join());
            assertEquals(0, r.read(10, ByteBuffer.allocate(0)).join());
            ByteBuffer tail = ByteBuffer.allocate(100);
            assertEquals(10, r.read(990, tail).join());
            assertEquals(10, tail.position());
            failure(InvalidArgumentException.class, () -> r.read(-1, ByteBuffer.allocate(10)));
        }
    }

    @Test
    void directAndHeapBuffers_atOddAddresses_readTheSameBytes() {
        long size = 3L * CHUNK + 5;
        put(key("buffers"), 13, size);
        try (ObjectReader r = tier.openReader(key("buffers")).join()) {
            ByteBuffer direct = ByteBuffer.allocateDirect(CHUNK + 64).position(1).limit(1 + CHUNK + 7);
            assertEquals(CHUNK + 7, r.read(CHUNK - 3, direct).join());
            assertEquals(-1, TestData.firstMismatch(13, CHUNK - 3, direct.flip().position(1)));
            ByteBuffer whole = ByteBuffer.allocateDirect(CHUNK);
            assertEquals(CHUNK, r.read(2L * CHUNK, whole).join());
            assertEquals(-1, TestData.firstMismatch(13, 2L * CHUNK, whole.flip()));
        }
    }

    // ---- publication, abort, crash ----

    @Test
    void uncommittedObject_isInvisible_andAbortLeavesNothing() {
        TierUsage before = tier.usage();
        ObjectWriter w = tier.create(WriteRequest.builder(key("aborted"), 2L * CHUNK).chunkSizeInBytes(CHUNK).build()).join();
        w.write(0, TestData.bytes(14, 0, 2 * CHUNK)).join();
        assertAbsent(tier, key("aborted"));
        assertThat(tier.usage().reservedInBytes()).isGreaterThan(0);
        w.abort().join();
        w.abort().join();
        assertAbsent(tier, key("aborted"));
        assertEquals(before, tier.usage());
        failure(TierException.class, () -> w.write(0, TestData.bytes(14, 0, 10)));
        failure(TierException.class, w::commit);
    }

    @Test
    void closingAnUncommittedWriter_aborts() {
        TierUsage before = tier.usage();
        try (ObjectWriter w = tier.create(WriteRequest.builder(key("closed"), 100).chunkSizeInBytes(CHUNK).build()).join()) {
            w.write(0, TestData.bytes(15, 0, 100)).join();
        }
        assertAbsent(tier, key("closed"));
        assertEquals(before, tier.usage());
    }

    @Test
    void crashedWriter_leavesNothingVisible_afterReopen() throws Exception {
        put(key("survivor"), 16, 3000);
        ObjectWriter w = tier.create(WriteRequest.builder(key("crashed"), 3L * CHUNK).chunkSizeInBytes(CHUNK).build()).join();
        w.write(0, TestData.bytes(16, 0, CHUNK + 10)).join();
        // the writer's process "dies": nobody commits, aborts or closes it
        Tier after = track(reopen(tier));
        assertAbsent(after, key("crashed"));
        assertEquals(1, after.usage().objectCount());
        assertEquals(0, after.usage().reservedInBytes());
        try (ObjectReader r = after.openReader(key("survivor")).join()) {
            assertContent(r, 16, 3000, 1000);
        }
    }

    @Test
    void committedObjects_surviveReopen() throws Exception {
        ObjectInfo a = put(key("durable/a"), 17, 5L * CHUNK + 1);
        ObjectInfo b = put(key("durable/b"), 18, 10);
        Tier after = track(reopen(tier));
        assertEquals(a, after.stat(key("durable/a")).join().orElseThrow());
        assertEquals(b, after.stat(key("durable/b")).join().orElseThrow());
        assertEquals(2, after.usage().objectCount());
        assertEquals(tier.usage().usedInBytes(), after.usage().usedInBytes());
        try (ObjectReader r = after.openReader(key("durable/a")).join()) {
            assertContent(r, 17, 5L * CHUNK + 1, CHUNK);
        }
    }

    @Test
    void rewritingAKey_replacesItAtomically_andOpenReadersKeepTheOldBytes() {
        put(key("rewrite"), 19, 2L * CHUNK);
        try (ObjectReader old = tier.openReader(key("rewrite")).join()) {
            ObjectInfo replaced = put(key("rewrite"), 20, 3L * CHUNK + 1);
            assertEquals(replaced, tier.stat(key("rewrite")).join().orElseThrow());
            assertEquals(1, tier.usage().objectCount());
            try (ObjectReader fresh = tier.openReader(key("rewrite")).join()) {
                assertContent(fresh, 20, 3L * CHUNK + 1, 10_000);
            }
            assertReadsOldBytesOrFails(old, 19, 2L * CHUNK);
        }
    }

    // ---- concurrency ----

    @Test
    void concurrentReaders_allSeeTheSameBytes() throws Exception {
        long size = 20L * CHUNK + 17;
        put(key("shared"), 21, size);
        try (ObjectReader shared = tier.openReader(key("shared")).join();
             ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int thread = t;
                done.add(pool.submit(() -> {
                    Random random = new Random(thread);
                    try (ObjectReader own = tier.openReader(key("shared")).join()) {
                        for (int i = 0; i < 200; i++) {
                            ObjectReader r = i % 2 == 0 ? shared : own;
                            long start = (long) (random.nextDouble() * size);
                            int length = 1 + random.nextInt(3 * CHUNK);
                            ByteBuffer dst = ByteBuffer.allocate(length);
                            int n = r.read(start, dst).join();
                            assertEquals(Math.min(length, size - start), n);
                            assertEquals(-1, TestData.firstMismatch(21, start, dst.flip()));
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
        }
    }

    @Test
    void deleteWhileReading_neverReturnsWrongBytes() throws Exception {
        long size = 40L * CHUNK;
        put(key("deleted"), 22, size);
        TierUsage withObject = tier.usage();
        try (ObjectReader r = tier.openReader(key("deleted")).join();
             ExecutorService pool = Executors.newSingleThreadExecutor()) {
            ByteBuffer first = ByteBuffer.allocate(CHUNK);
            assertEquals(CHUNK, r.read(0, first).join()); // the read is under way before the delete
            Future<?> reading = pool.submit(() -> {
                assertReadsOldBytesOrFails(r, 22, size);
                return null;
            });
            assertTrue(tier.delete(key("deleted")).join());
            reading.get();
        }
        assertAbsent(tier, key("deleted"));
        assertEquals(withObject.objectCount() - 1, tier.usage().objectCount());
        assertThat(tier.usage().usedInBytes()).isLessThan(withObject.usedInBytes());
        assertFalse(tier.delete(key("deleted")).join());
    }

    /** Reads the whole object; each read must return the original bytes or fail with a TierException. */
    private static void assertReadsOldBytesOrFails(ObjectReader r, long seed, long size) {
        ByteBuffer buf = ByteBuffer.allocate(CHUNK + 100);
        for (long p = 0; p < size; ) {
            int n;
            try {
                n = r.read(p, buf.clear()).join();
            } catch (RuntimeException e) {
                assertThat(TierException.unwrap(e)).isInstanceOf(TierException.class);
                return;
            }
            assertTrue(n > 0);
            assertEquals(-1, TestData.firstMismatch(seed, p, buf.flip()), "bytes at " + p);
            p += n;
        }
    }

    // ---- corruption ----

    @Test
    void corruptedStoredByte_isDetectedAsAChecksumMismatch() throws Exception {
        long size = 4L * CHUNK;
        ObjectInfo info = put(key("corrupt"), 23, size);
        long offset = 2L * CHUNK + 1234;
        corruptStoredByte(tier, key("corrupt"), offset);
        try (ObjectReader r = tier.openReader(key("corrupt")).join()) {
            // the untouched chunks still read fine
            ByteBuffer first = ByteBuffer.allocate(2 * CHUNK);
            assertEquals(2 * CHUNK, r.read(0, first).join());
            assertEquals(-1, TestData.firstMismatch(23, 0, first.flip()));
            // a whole-chunk read, a partial read, a read spanning the bad chunk and a run of whole
            // chunks with the bad one after good ones all fail
            for (long[] range : new long[][] {{2L * CHUNK, CHUNK}, {offset - 10, 20}, {CHUNK + 5, 2 * CHUNK}, {0, 4L * CHUNK}}) {
                ByteBuffer dst = ByteBuffer.allocate((int) range[1]);
                ChecksumMismatchException e = failure(ChecksumMismatchException.class, () -> r.read(range[0], dst));
                assertEquals(2L * CHUNK, e.offset(), "offset of the bad chunk");
                assertEquals(info.chunkCrc32c(2), e.expectedCrc32c());
                assertThat(e.actualCrc32c()).isNotEqualTo(e.expectedCrc32c());
                assertThat(e.getMessage()).contains("contract/corrupt").contains(String.valueOf(2L * CHUNK));
                assertEquals(0, dst.position(), "no bytes delivered");
            }
        }
    }

    // ---- capacity ----

    @Test
    void runningOutOfCapacity_throwsTierFullAndLeavesNothing() throws Exception {
        Tier small = track(newTier(256 * 1024));
        put(small, key("fits"), 24, 100 * 1024, CHUNK, 4096);
        TierUsage before = small.usage();
        TierFullException e = failure(TierFullException.class,
                () -> small.create(WriteRequest.builder(key("too-big"), 200 * 1024).chunkSizeInBytes(CHUNK).build()));
        assertTrue(e.retryable());
        assertThat(e.getMessage()).contains("contract/too-big");
        assertAbsent(small, key("too-big"));
        assertEquals(before, small.usage());
        // a reservation counts: a second writer cannot take space the first one holds
        try (ObjectWriter w = small.create(WriteRequest.builder(key("reserved"), 100 * 1024).chunkSizeInBytes(CHUNK).build()).join()) {
            failure(TierFullException.class,
                    () -> small.create(WriteRequest.builder(key("second"), 100 * 1024).chunkSizeInBytes(CHUNK).build()));
            writeAll(w, 25, 100 * 1024, 8192);
            w.commit().join();
        }
        assertEquals(2, small.usage().objectCount());
        assertEquals(0, small.usage().reservedInBytes());
        // deleting frees the space again
        assertTrue(small.delete(key("fits")).join());
        put(small, key("after-delete"), 26, 100 * 1024, CHUNK, 4096);
    }

    // ---- listing, usage, health ----

    @Test
    void list_byPrefix_isOrderedAndPaginated() {
        for (String name : new String[] {"m/b", "m/a", "m/c/1", "n/a", "m/c/2", "l"}) {
            put(key(name), 27, 10);
        }
        ListPage first = tier.list("contract/m/", null, 2).join();
        assertEquals(List.of(key("m/a"), key("m/b")), first.keys());
        assertFalse(first.isLast());
        ListPage second = tier.list("contract/m/", first.nextStartAfter().orElseThrow(), 2).join();
        assertEquals(List.of(key("m/c/1"), key("m/c/2")), second.keys());
        if (!second.isLast()) { // an implementation may not know yet that nothing follows
            ListPage third = tier.list("contract/m/", second.nextStartAfter().orElseThrow(), 2).join();
            assertTrue(third.keys().isEmpty() && third.isLast(), "third page " + third);
        }
        assertEquals(6, tier.list("contract/", null, 1000).join().keys().size());
        assertTrue(tier.list("nothing/", null, 10).join().keys().isEmpty());
        failure(InvalidArgumentException.class, () -> tier.list("", null, 0));
    }

    @Test
    void usage_countsCommittedObjects() {
        TierUsage empty = tier.usage();
        assertEquals(0, empty.objectCount());
        assertEquals(0, empty.reservedInBytes());
        put(key("u1"), 28, 10_000);
        put(key("u2"), 29, 20_000);
        TierUsage two = tier.usage();
        assertEquals(2, two.objectCount());
        assertThat(two.usedInBytes()).isGreaterThanOrEqualTo(30_000);
        assertTrue(tier.delete(key("u1")).join());
        assertEquals(1, tier.usage().objectCount());
        assertEquals(TierHealth.Status.UP, tier.health().status());
    }

    // ---- resume ----

    private WriteRequest resumeRequest(String name) {
        long size = (long) resumeChunkCount() * resumeChunkSize() + resumeChunkSize() / 2;
        return WriteRequest.builder(key(name), size).chunkSizeInBytes(resumeChunkSize()).build();
    }

    private static int[] chunkCrcs(WriteRequest request, long seed, long prefix) {
        int chunk = request.chunkSizeInBytes();
        int[] crcs = new int[(int) ((prefix + chunk - 1) / chunk)];
        for (int i = 0; i < crcs.length; i++) {
            int length = ObjectInfo.chunkLength(request.sizeInBytes(), chunk, i);
            crcs[i] = Crc32c.of(TestData.bytes(seed, (long) i * chunk, length));
        }
        return crcs;
    }

    /** Writes chunks [0, chunks) in one-chunk pieces and checkpoints them; skips the test if the tier does not resume. */
    private ResumePoint writeAndCheckpoint(ObjectWriter w, long seed, int chunks) {
        int chunk = w.request().chunkSizeInBytes();
        for (int i = 0; i < chunks; i++) {
            w.write((long) i * chunk, TestData.bytes(seed, (long) i * chunk, chunk)).join();
        }
        // a tier that stores in larger units may name them only once they are durable (S3 parts
        // acknowledged): ask again, as a caller that checkpoints as it goes would
        Optional<ResumePoint> point = Checkpoints.covering(w, (long) chunks * chunk, 1);
        Optional<ResumePoint> named = point;
        Assumptions.assumeTrue(named.isPresent(), () -> {
            String why = tier.name() + " does not resume cut-off writers (checkpoint gave no point); resume tests skipped";
            System.out.println(why);
            return why;
        });
        ResumePoint p = named.get();
        assertTrue(p.length() <= (long) chunks * chunk && p.length() % chunk == 0,
                "checkpoint of " + chunks * chunk + " bytes named " + p.length());
        return p;
    }

    /** Writes the rest from the resumed writer's start, commits, and checks the object against a plain put. */
    private void finishResumed(Tier t, ObjectWriter resumed, long seed, ResumePoint point) {
        WriteRequest request = resumed.request();
        long from = resumed.resumedBytes();
        assertTrue(from > 0 && from <= point.length() && from % request.chunkSizeInBytes() == 0,
                "resumed writer holds " + from + " bytes of a " + point.length() + "-byte point");
        ObjectInfo info;
        try (resumed) {
            ByteBuffer buf = ByteBuffer.allocateDirect(request.chunkSizeInBytes());
            for (long p = from; p < request.sizeInBytes(); p += buf.capacity()) {
                int n = (int) Math.min(buf.capacity(), request.sizeInBytes() - p);
                TestData.fill(seed, p, buf.clear().limit(n));
                resumed.write(p, buf).join();
            }
            info = resumed.commit().join();
        }
        assertEquals(Crc32c.ofChunks(chunkCrcs(request, seed, request.sizeInBytes()), request.sizeInBytes(), request.chunkSizeInBytes()),
                info.crc32c(), "whole-object CRC32C of the resumed object");
        assertEquals(info, t.stat(request.key()).join().orElseThrow());
        try (ObjectReader r = t.openReader(request.key()).join()) {
            assertContent(r, seed, request.sizeInBytes(), 7777);
        }
        assertEquals(0, t.usage().reservedInBytes(), "space still reserved after the resumed commit");
    }

    @Test
    void checkpointedWriter_isResumedAfterACrash_andCommitsTheSameObject() throws Exception {
        WriteRequest request = resumeRequest("resume/crash");
        ObjectWriter w = tier.create(request).join();
        int chunks = resumeChunkCount() / 2 + 1;
        ResumePoint point = writeAndCheckpoint(w, 40, chunks);
        long written = (long) chunks * request.chunkSizeInBytes();
        w.write(written, TestData.bytes(40, written, 100)).join(); // past the point: not kept
        // the writer's process "dies" here
        Tier after = track(reopen(tier));
        assertAbsent(after, request.key());
        ObjectWriter resumed = after.resume(request, point, chunkCrcs(request, 40, point.length())).join()
                .orElseThrow(() -> new AssertionError("the tier made a checkpoint but could not resume it after a crash"));
        assertAbsent(after, request.key());
        finishResumed(after, resumed, 40, point);
    }

    @Test
    void suspendedWriter_isResumedByTheSameTier() {
        WriteRequest request = resumeRequest("resume/suspend");
        ObjectWriter w = tier.create(request).join();
        ResumePoint point = writeAndCheckpoint(w, 41, resumeChunkCount() / 2);
        w.suspend().join();
        failure(TierException.class, () -> w.write(point.length(), TestData.bytes(41, point.length(), 10)));
        assertAbsent(tier, request.key());
        ObjectWriter resumed = tier.resume(request, point, chunkCrcs(request, 41, point.length())).join()
                .orElseThrow(() -> new AssertionError("a suspended writer could not be resumed"));
        finishResumed(tier, resumed, 41, point);
    }

    @Test
    void discardedOrAbortedWriters_cannotBeResumed_andLeaveNothing() throws Exception {
        WriteRequest a = resumeRequest("resume/discarded");
        ObjectWriter wa = tier.create(a).join();
        ResumePoint pa = writeAndCheckpoint(wa, 42, resumeChunkCount() / 2);
        wa.suspend().join();
        tier.discard(pa).join();
        tier.discard(pa).join(); // idempotent
        assertEquals(Optional.empty(), tier.resume(a, pa, chunkCrcs(a, 42, pa.length())).join().map(ObjectWriter::resumedBytes));

        WriteRequest b = resumeRequest("resume/aborted");
        ObjectWriter wb = tier.create(b).join();
        ResumePoint pb = writeAndCheckpoint(wb, 43, resumeChunkCount() / 2);
        wb.abort().join();
        assertEquals(Optional.empty(), tier.resume(b, pb, chunkCrcs(b, 43, pb.length())).join().map(ObjectWriter::resumedBytes));

        Tier after = track(reopen(tier));
        assertAbsent(after, a.key());
        assertAbsent(after, b.key());
        assertEquals(0, after.usage().objectCount());
        assertEquals(0, after.usage().reservedInBytes());
    }

    @Test
    void closedTier_failsOperationsAndReportsDown() {
        Tier t = track(newTierUnchecked());
        t.close();
        assertEquals(TierHealth.Status.DOWN, t.health().status());
        failure(TierException.class, () -> t.stat(key("x")));
        failure(TierException.class, () -> t.create(key("x"), 1));
    }

    private Tier newTierUnchecked() {
        try {
            return newTier(defaultCapacityInBytes());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
