package io.thermocline.nvmeof.block;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.TierFullException;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.testkit.TestData;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Resumed writers on a block device, where a suspended writer's extents are free to the allocator
 * and another writer may take them and write over the checkpointed bytes before the resume.
 * Objects here have one chunk per allocation unit, so each chunk lies in one unit.
 */
@ScaledTimeout(120)
class BlockTierResumeTest extends SmallDeviceTestBase {

    private static final int CHUNK = TestObjects.CHUNK;
    /** Eight chunks, the last one 100 bytes short. */
    private static final long SIZE = 8L * CHUNK - 100;

    private BlockTier format(ObservedDevice device) {
        BlockTier t = BlockTier.format(device, config().build());
        open.add(t);
        return t;
    }

    private static WriteRequest request(String key) {
        return WriteRequest.builder(ObjectKey.of(key), SIZE).chunkSizeInBytes(CHUNK).build();
    }

    /** The CRC32C of each chunk of stream {@code seed} in {@code [0, prefix)}. */
    private static int[] crcs(long seed, long prefix) {
        int[] out = new int[(int) ((prefix + CHUNK - 1) / CHUNK)];
        for (int i = 0; i < out.length; i++) {
            out[i] = Crc32c.of(TestData.bytes(seed, (long) i * CHUNK, ObjectInfo.chunkLength(SIZE, CHUNK, i)));
        }
        return out;
    }

    /** Writes whole chunks {@code [from, to)} of stream {@code seed}. */
    private static void writeChunks(ObjectWriter w, long seed, int from, int to) {
        TestObjects.write(w, seed, (long) from * CHUNK, Math.min((long) to * CHUNK, SIZE));
    }

    /** Writes chunks [0, chunks) of stream {@code seed}, checkpoints them and suspends the writer. */
    private static ResumePoint writeCheckpointAndSuspend(ObjectWriter w, long seed, int chunks) {
        writeChunks(w, seed, 0, chunks);
        ResumePoint point = TestObjects.join(w.checkpoint((long) chunks * CHUNK)).orElseThrow();
        assertEquals((long) chunks * CHUNK, point.length());
        TestObjects.join(w.suspend());
        return point;
    }

    /** Writes the rest of stream {@code seed} from the resumed writer's start, commits and checks the object. */
    private static void finish(BlockTier tier, ObjectWriter resumed, long seed) {
        try (resumed) {
            TestObjects.write(resumed, seed, resumed.resumedBytes(), SIZE);
            ObjectInfo info = TestObjects.join(resumed.commit());
            assertEquals(TestData.crc32c(seed, SIZE), info.crc32c(), "whole-object CRC32C of the resumed object");
        }
        TestObjects.assertContent(tier, resumed.request().key().value(), seed, SIZE);
        assertEquals(0, tier.usage().reservedInBytes(), "space still reserved after the resumed commit");
    }

    private static List<Extent> extentsOf(ObjectWriter w) {
        return ((BlockObjectWriter) w).reservedExtents();
    }

    @Test
    void resume_afterAnotherWriterOverwroteTheExtents_keepsOnlyTheChunksThatReadBackAsWritten() {
        ObservedDevice device = device(20);
        BlockTier tier = format(device);
        ObjectWriter first = TestObjects.join(tier.create(request("first")));
        ResumePoint point = writeCheckpointAndSuspend(first, 1, 6);
        assertEquals(0, tier.usage().reservedInBytes(), "a suspended writer holds no space");

        // the next writer gets the same extents: chunks 0-1 with the same bytes, 2-3 with others
        ObjectWriter second = TestObjects.join(tier.create(request("second")));
        assertEquals(extentsOf(first), extentsOf(second), "the allocator hands the suspended writer's extents out again");
        writeChunks(second, 1, 0, 2);
        writeChunks(second, 2, 2, 4);
        TestObjects.join(second.checkpoint(4L * CHUNK));
        TestObjects.join(second.suspend()); // leaves its bytes on the device

        ObjectWriter resumed = TestObjects.join(tier.resume(request("first"), point, crcs(1, point.length()))).orElseThrow();
        assertEquals(2L * CHUNK, resumed.resumedBytes(), "resumed past the first chunk another writer changed");
        assertEquals(extentsOf(first), extentsOf(resumed));
        assertEquals(8L * AU, tier.usage().reservedInBytes(), "the resumed writer reserves the object's 8 units");
        finish(tier, resumed, 1);
    }

    @Test
    void resume_whileAnotherObjectHoldsTheExtents_isEmpty_andThatObjectKeepsItsBytes() {
        ObservedDevice device = device(20);
        BlockTier tier = format(device);
        ObjectWriter first = TestObjects.join(tier.create(request("first")));
        ResumePoint point = writeCheckpointAndSuspend(first, 1, 6);

        ObjectWriter second = TestObjects.join(tier.create(request("second")));
        assertEquals(extentsOf(first), extentsOf(second));
        writeChunks(second, 2, 0, 8);
        TestObjects.join(second.commit());

        assertEquals(Optional.empty(), TestObjects.join(tier.resume(request("first"), point, crcs(1, point.length()))));
        assertEquals(0, tier.usage().reservedInBytes(), "a refused resume reserves nothing");
        TestObjects.assertContent(tier, "second", 2, SIZE);
        tier.discard(point).join(); // the extents are someone else's: left alone
        TestObjects.assertContent(tier, "second", 2, SIZE);

        // deleted, the extents are free again but hold the other object's bytes (trims left them)
        device.keepBytesOnTrim();
        assertTrue(tier.delete(ObjectKey.of("second")).join());
        assertEquals(Optional.empty(), TestObjects.join(tier.resume(request("first"), point, crcs(1, point.length()))));
        assertEquals(0, tier.usage().reservedInBytes());
        TestObjects.put(tier, "first", 1, SIZE);
        TestObjects.assertContent(tier, "first", 1, SIZE);
    }

    @Test
    void resume_afterAnotherWriterWroteLaterChunksAndAborted_resumesBeforeThem() {
        ObservedDevice device = device(20);
        device.keepBytesOnTrim(); // so what the other writer wrote is still there after its abort
        BlockTier tier = format(device);
        ObjectWriter first = TestObjects.join(tier.create(request("first")));
        ResumePoint point = writeCheckpointAndSuspend(first, 1, 6);

        ObjectWriter second = TestObjects.join(tier.create(request("second")));
        assertEquals(extentsOf(first), extentsOf(second));
        writeChunks(second, 2, 3, 5);
        TestObjects.join(second.abort());

        ObjectWriter resumed = TestObjects.join(tier.resume(request("first"), point, crcs(1, point.length()))).orElseThrow();
        assertEquals(3L * CHUNK, resumed.resumedBytes(), "resumed before the chunks the aborted writer wrote");
        finish(tier, resumed, 1);
    }

    @Test
    void abortAndDiscard_spoilTheCheckpoint_evenWhereTrimsKeepTheBytes() {
        ObservedDevice device = device(20);
        device.keepBytesOnTrim();
        BlockTier tier = format(device);
        ObjectWriter aborted = TestObjects.join(tier.create(request("aborted")));
        writeChunks(aborted, 3, 0, 4);
        ResumePoint abortedPoint = TestObjects.join(aborted.checkpoint(4L * CHUNK)).orElseThrow();
        TestObjects.join(aborted.abort());
        assertEquals(Optional.empty(), TestObjects.join(tier.resume(request("aborted"), abortedPoint, crcs(3, 4L * CHUNK))));

        ObjectWriter suspended = TestObjects.join(tier.create(request("discarded")));
        ResumePoint discardedPoint = writeCheckpointAndSuspend(suspended, 4, 4);
        TestObjects.join(tier.discard(discardedPoint));
        assertEquals(Optional.empty(), TestObjects.join(tier.resume(request("discarded"), discardedPoint, crcs(4, 4L * CHUNK))));
        assertEquals(0, tier.usage().reservedInBytes());
        assertEquals(List.of(new Extent(0, 20)), tier.freeExtents());
    }

    @Test
    void resume_whenTheTokensOtherExtentsAreTaken_andTheRestDoesNotFit_failsWithTierFull_thenResumesOnceFree() {
        ObservedDevice device = device(10);
        BlockTier tier = format(device);
        // free space [1, 3) and [4, 10): the writer's 8 units become [4, 10) then [1, 3)
        TestObjects.put(tier, "a", 5, AU);
        TestObjects.put(tier, "b", 6, 2L * AU);
        TestObjects.put(tier, "c", 7, AU);
        TestObjects.put(tier, "d", 8, 6L * AU);
        assertTrue(tier.delete(ObjectKey.of("b")).join());
        assertTrue(tier.delete(ObjectKey.of("d")).join());
        ObjectWriter first = TestObjects.join(tier.create(request("first")));
        assertEquals(List.of(new Extent(4, 6), new Extent(1, 2)), extentsOf(first));
        ResumePoint point = writeCheckpointAndSuspend(first, 1, 2);

        // a 2-unit writer takes [1, 3), the last units of the suspended one: its prefix [4, 6) stays free
        ObjectWriter small = TestObjects.join(tier.create(
                WriteRequest.builder(ObjectKey.of("small"), 2L * AU).chunkSizeInBytes(CHUNK).build()));
        assertEquals(List.of(new Extent(1, 2)), extentsOf(small));
        TierFullException full = assertThrows(TierFullException.class,
                () -> TestObjects.join(tier.resume(request("first"), point, crcs(1, point.length()))));
        assertThat(full.getMessage()).contains("first");
        assertEquals(2L * AU, tier.usage().reservedInBytes(), "only the small writer holds space");
        assertEquals(List.of(new Extent(4, 6)), tier.freeExtents(), "the failed resume gave its prefix back");

        TestObjects.join(small.abort());
        ObjectWriter resumed = TestObjects.join(tier.resume(request("first"), point, crcs(1, point.length()))).orElseThrow();
        assertEquals(2L * CHUNK, resumed.resumedBytes());
        assertEquals(List.of(new Extent(4, 6), new Extent(1, 2)), extentsOf(resumed));
        finish(tier, resumed, 1);
    }

    @Test
    void resume_withATokenOfAnotherDeviceOrRequest_orAReformattedDevice_orNoToken_isEmpty() {
        ObservedDevice device = device(20);
        BlockTier tier = format(device);
        BlockTier other = format(device(20));
        ObjectWriter w = TestObjects.join(tier.create(request("first")));
        ResumePoint point = writeCheckpointAndSuspend(w, 1, 4);
        int[] crcs = crcs(1, point.length());

        assertEquals(Optional.empty(), TestObjects.join(other.resume(request("first"), point, crcs)), "another device");
        assertEquals(Optional.empty(), TestObjects.join(tier.resume(request("renamed"), point, crcs)), "another key");
        WriteRequest longer = WriteRequest.builder(ObjectKey.of("first"), SIZE + 1).chunkSizeInBytes(CHUNK).build();
        assertEquals(Optional.empty(), TestObjects.join(tier.resume(longer, point, crcs)), "another size");
        for (String token : List.of("", "nonsense", point.token().replace("extents=0+", "extents=x+"),
                point.token().replace("blocktier-resume/1", "blocktier-resume/2"), point.token() + " more=1")) {
            assertEquals(Optional.empty(), TestObjects.join(tier.resume(request("first"), new ResumePoint(point.length(), token), crcs)),
                    "token '" + token + "'");
        }
        assertEquals(0, tier.usage().reservedInBytes());
        assertEquals(0, other.usage().reservedInBytes());

        tier.close();
        BlockTier again = BlockTier.format(device, tier.config().toBuilder().allowReformat(true).build());
        open.add(again);
        assertEquals(Optional.empty(), TestObjects.join(again.resume(request("first"), point, crcs)), "a reformatted device");
    }

    @Test
    void checkpoint_validatesThePrefix_andNamesOnlyCompleteChunks() {
        BlockTier tier = format(device(20));
        try (ObjectWriter w = TestObjects.join(tier.create(request("first")))) {
            writeChunks(w, 1, 0, 2);
            InvalidArgumentException unaligned = assertThrows(InvalidArgumentException.class,
                    () -> TestObjects.join(w.checkpoint(CHUNK + 512)));
            assertThat(unaligned.getMessage()).contains(String.valueOf(CHUNK + 512)).contains("multiple of the chunk size " + CHUNK);
            InvalidArgumentException beyond = assertThrows(InvalidArgumentException.class,
                    () -> TestObjects.join(w.checkpoint(SIZE + CHUNK)));
            assertThat(beyond.getMessage()).contains(String.valueOf(SIZE + CHUNK)).contains("0.." + SIZE);
            assertThrows(InvalidArgumentException.class, () -> TestObjects.join(w.checkpoint(-1)));

            // chunk 2 has only part of its bytes: the point stops before it
            TestObjects.write(w, 1, 2L * CHUNK, 2L * CHUNK + 1000);
            ResumePoint point = TestObjects.join(w.checkpoint(4L * CHUNK)).orElseThrow();
            assertEquals(2L * CHUNK, point.length());
            assertThat(point.token()).startsWith("blocktier-resume/1 uuid=" + tier.superblock().deviceUuid());
            assertThrows(InvalidArgumentException.class,
                    () -> TestObjects.join(tier.resume(request("first"), point, new int[1])), "too few checksums");
        }
    }

    @Test
    void resume_ofAWholeObjectCheckpoint_commitsWithoutAnotherWrite() {
        BlockTier tier = format(device(20));
        ObjectWriter w = TestObjects.join(tier.create(request("whole")));
        writeChunks(w, 9, 0, 8);
        ResumePoint point = TestObjects.join(w.checkpoint(SIZE)).orElseThrow();
        assertEquals(SIZE, point.length());
        TestObjects.join(w.suspend());
        ObjectWriter resumed = TestObjects.join(tier.resume(request("whole"), point, crcs(9, SIZE))).orElseThrow();
        assertEquals(SIZE, resumed.resumedBytes());
        finish(tier, resumed, 9);
    }

    @Test
    void checkpointOfNothing_isAPointThatResumesNothing_andTheWriterStillAbortsCleanly() {
        BlockTier tier = format(device(20));
        WriteRequest empty = WriteRequest.builder(ObjectKey.of("empty"), 0).chunkSizeInBytes(CHUNK).build();
        ObjectWriter e = TestObjects.join(tier.create(empty));
        ResumePoint none = TestObjects.join(e.checkpoint(0)).orElseThrow();
        assertEquals(0, none.length());
        TestObjects.join(e.abort());
        assertEquals(Optional.empty(), TestObjects.join(tier.resume(empty, none, new int[0])));

        ObjectWriter w = TestObjects.join(tier.create(request("first")));
        ResumePoint start = TestObjects.join(w.checkpoint(0)).orElseThrow();
        TestObjects.join(w.suspend()); // nothing checkpointed: aborts
        assertEquals(Optional.empty(), TestObjects.join(tier.resume(request("first"), start, new int[0])));
        TestObjects.join(tier.discard(start));
        assertEquals(0, tier.usage().reservedInBytes());
        assertEquals(List.of(new Extent(0, 20)), tier.freeExtents());
    }
}
