package io.thermocline.tier.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.TierException;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.testkit.Checkpoints;
import io.thermocline.tier.testkit.TestData;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.sync.RequestBody;

/**
 * What {@link S3Tier#resume} checks beyond the tier contract: parts changed behind the writer's
 * back after a checkpoint, a caller whose chunk checksums no longer match the uploaded parts,
 * tokens that are not the request's, a changed part size, and reclaiming old uploads. Against
 * the embedded server, with 5 MiB parts of 1 MiB chunks.
 */
class S3ResumeTest extends EmbeddedServerTestBase {

    private static final int MIB = 1 << 20;
    private static final int PART = 5 * MIB;

    private String bucket;
    private final List<S3Tier> tiers = new ArrayList<>();

    @BeforeEach
    void createBucket() throws Exception {
        bucket = newBucket("resume");
    }

    @AfterEach
    void closeTiers() {
        tiers.forEach(S3Tier::close);
    }

    private S3Tier open(int partSize) {
        S3Tier t = S3Tier.open(S3TierConfig.builder(bucket).prefix("t/").endpoint(server.endpoint())
                .credentials(credentials(server.secretKey()))
                .partSizeInBytes(partSize).build());
        tiers.add(t);
        return t;
    }

    /** 17.5 MiB in 1 MiB chunks: three whole 5 MiB parts and a short last one. */
    private static WriteRequest request(String key) {
        return WriteRequest.builder(ObjectKey.of(key), 17L * MIB + MIB / 2).chunkSizeInBytes(MIB).build();
    }

    private static int[] chunkCrcs(WriteRequest request, long seed, long prefix) {
        int[] crcs = new int[(int) ((prefix + MIB - 1) / MIB)];
        for (int i = 0; i < crcs.length; i++) {
            crcs[i] = Crc32c.of(TestData.bytes(seed, (long) i * MIB, ObjectInfo.chunkLength(request.sizeInBytes(), MIB, i)));
        }
        return crcs;
    }

    /** Writes [from, to) in whole chunks (the last one may be short). */
    private static void write(ObjectWriter w, long seed, long from, long to) {
        for (long p = from; p < to; p += MIB) {
            int n = (int) Math.min(MIB, to - p);
            w.write(p, TestData.bytes(seed, p, n)).join();
        }
    }

    /** A writer that has written and checkpointed the first three parts, then suspended. */
    private ResumePoint suspendedAfterThreeParts(S3Tier t, WriteRequest request, long seed) {
        ObjectWriter w = t.create(request).join();
        write(w, seed, 0, 3L * PART);
        ResumePoint point = Checkpoints.covering(w, 3L * PART, 3L * PART).orElseThrow();
        assertEquals(3L * PART, point.length());
        w.suspend().join();
        w.close(); // after suspend, close must not abort the upload
        return point;
    }

    private static void finish(S3Tier t, ObjectWriter resumed, long seed) {
        WriteRequest request = resumed.request();
        try (resumed) {
            write(resumed, seed, resumed.resumedBytes(), request.sizeInBytes());
            ObjectInfo info = resumed.commit().join();
            assertEquals(TestData.crc32c(seed, request.sizeInBytes()), info.crc32c(), "whole-object CRC32C");
        }
        S3FaultTest.assertReadsBack(t, request.key(), request.sizeInBytes(), seed);
    }

    @Test
    void resume_partReplacedBehindTheWritersBack_startsBeforeIt_andPublishesTheRightBytes() {
        S3Tier t = open(PART);
        WriteRequest request = request("replaced.bin");
        ResumePoint point = suspendedAfterThreeParts(t, request, 7);
        String uploadId = S3ResumeToken.parse(point.token()).uploadId();
        // part 2 rewritten by someone else: same size, other bytes
        direct.uploadPart(b -> b.bucket(bucket).key("t/replaced.bin").uploadId(uploadId).partNumber(2),
                RequestBody.fromByteBuffer(TestData.bytes(99, 0, PART)));

        ObjectWriter resumed = open(PART).resume(request, point, chunkCrcs(request, 7, point.length())).join().orElseThrow();
        assertEquals(PART, resumed.resumedBytes(), "resumes after part 1, the last one that is still what was written");
        finish(t, resumed, 7);
        assertThat(t.incompleteUploads().join()).isEmpty();
    }

    @Test
    void resume_firstPartReplaced_isEmpty_andAbortsTheUpload() {
        S3Tier t = open(PART);
        WriteRequest request = request("first-replaced.bin");
        ResumePoint point = suspendedAfterThreeParts(t, request, 8);
        String uploadId = S3ResumeToken.parse(point.token()).uploadId();
        direct.uploadPart(b -> b.bucket(bucket).key("t/first-replaced.bin").uploadId(uploadId).partNumber(1),
                RequestBody.fromByteBuffer(TestData.bytes(98, 0, 1000))); // shorter, too

        assertEquals(Optional.empty(), t.resume(request, point, chunkCrcs(request, 8, point.length())).join()
                .map(ObjectWriter::resumedBytes));
        assertThat(t.incompleteUploads().join()).isEmpty();
        assertEquals(0, t.usage().reservedInBytes());
        assertEquals(Optional.empty(), t.stat(request.key()).join());
    }

    @Test
    void resume_callersChunkChecksumsDifferFromAnUploadedPart_startsBeforeThatPart() {
        S3Tier t = open(PART);
        WriteRequest request = request("source-changed.bin");
        ResumePoint point = suspendedAfterThreeParts(t, request, 9);
        int[] crcs = chunkCrcs(request, 9, point.length());
        crcs[12] ^= 1; // chunk 12 lies in part 3: the caller's source changed there since
        ObjectWriter resumed = t.resume(request, point, crcs).join().orElseThrow();
        assertEquals(2L * PART, resumed.resumedBytes());
        finish(t, resumed, 9);
    }

    @Test
    void resume_withAnotherPartSizeConfigured_keepsTheUploadsPartSize() {
        WriteRequest request = request("part-size.bin");
        ResumePoint point = suspendedAfterThreeParts(open(PART), request, 10);
        S3Tier other = open(6 * MIB);
        ObjectWriter resumed = other.resume(request, point, chunkCrcs(request, 10, point.length())).join().orElseThrow();
        assertEquals(3L * PART, resumed.resumedBytes());
        finish(other, resumed, 10);
    }

    @Test
    void resume_tokenNotForThisRequest_orNotATokenAtAll_isRefusedAndKeepsTheUpload() {
        S3Tier t = open(PART);
        WriteRequest request = request("mismatch.bin");
        ResumePoint point = suspendedAfterThreeParts(t, request, 11);
        int[] crcs = chunkCrcs(request, 11, point.length());

        WriteRequest otherKey = WriteRequest.builder(ObjectKey.of("other.bin"), request.sizeInBytes()).chunkSizeInBytes(MIB).build();
        assertThat(refusal(() -> t.resume(otherKey, point, crcs).join())).contains("t/other.bin").contains("t/mismatch.bin");
        WriteRequest otherSize = WriteRequest.builder(request.key(), request.sizeInBytes() + 1).chunkSizeInBytes(MIB).build();
        assertThat(refusal(() -> t.resume(otherSize, point, crcs).join())).contains(Long.toString(request.sizeInBytes() + 1));
        WriteRequest otherType = WriteRequest.builder(request.key(), request.sizeInBytes()).chunkSizeInBytes(MIB)
                .contentType("text/plain").build();
        assertThat(refusal(() -> t.resume(otherType, point, crcs).join())).contains("text/plain");
        assertThat(refusal(() -> t.resume(request, new ResumePoint(point.length(), "x=1"), crcs).join())).contains("s3mpu1");
        assertThat(refusal(() -> t.resume(request, new ResumePoint(PART, point.token()), crcs).join())).contains("length");
        assertThat(refusal(() -> t.discard(new ResumePoint(0, "not a token")).join())).contains("S3 resume token");
        assertThat(refusal(() -> t.resume(request, point, new int[14]).join())).contains("14").contains("at least 15");
        assertEquals(0, t.usage().reservedInBytes());

        ObjectWriter resumed = t.resume(request, point, crcs).join().orElseThrow(); // still there, untouched
        assertEquals(3L * PART, resumed.resumedBytes());
        finish(t, resumed, 11);
    }

    private static String refusal(Runnable call) {
        Throwable t = assertThrows(Throwable.class, call::run);
        Throwable c = TierException.unwrap(t);
        assertTrue(c instanceof InvalidArgumentException, () -> "expected InvalidArgumentException, got " + c);
        return c.getMessage();
    }

    @Test
    void checkpoint_validatesThePrefix_namesOnlyWholeAcknowledgedParts_andAbortStillAborts() {
        S3Tier t = open(PART);
        WriteRequest request = request("checkpoint.bin");
        ObjectWriter w = t.create(request).join();
        write(w, 12, 0, 7L * MIB);
        assertThat(refusal(() -> w.checkpoint(MIB + 1).join())).contains(Long.toString(MIB + 1)).contains("chunk size");
        assertThat(refusal(() -> w.checkpoint(request.sizeInBytes() + MIB).join())).contains("checkpoint");
        assertEquals(0, w.checkpoint(4L * MIB).join().orElseThrow().length(), "no whole part within 4 MiB");
        assertEquals(PART, Checkpoints.covering(w, 7L * MIB, PART).orElseThrow().length());
        w.abort().join();
        assertThat(t.incompleteUploads().join()).isEmpty();

        try (ObjectWriter empty = t.create(ObjectKey.of("empty.bin"), 0).join()) {
            assertEquals(Optional.empty(), empty.checkpoint(0).join(), "a zero-size object has no upload to resume");
        }
    }

    @Test
    void checkpoint_ofTheWholeObject_resumesToACommitWithNothingLeftToWrite() {
        S3Tier t = open(PART);
        WriteRequest request = request("whole.bin");
        ObjectWriter w = t.create(request).join();
        write(w, 13, 0, request.sizeInBytes());
        ResumePoint point = Checkpoints.covering(w, request.sizeInBytes(), request.sizeInBytes()).orElseThrow();
        assertEquals(request.sizeInBytes(), point.length());
        w.suspend().join();
        ObjectWriter resumed = open(PART).resume(request, point, chunkCrcs(request, 13, point.length())).join().orElseThrow();
        assertEquals(request.sizeInBytes(), resumed.resumedBytes());
        finish(t, resumed, 13);
    }

    @Test
    void token_roundTripsValuesWithSeparatorsInThem() {
        S3ResumeToken token = new S3ResumeToken("p/a;b=c,d:e f", 3L * PART + 1, MIB, "application/x; q=1", "id;=,:+/%",
                "0123abcd", PART, true, List.of(new S3ResumeToken.PartRef("\"e1\"", "AAAA+/=="),
                new S3ResumeToken.PartRef("\"e2;,:\"", null)));
        String line = token.encode();
        assertThat(line).doesNotContainPattern("[\\x00-\\x1f\\x7f ]");
        S3ResumeToken back = S3ResumeToken.parse(line);
        assertEquals(token, back);
        assertNull(back.parts().get(1).crc32c());
        assertEquals(2L * PART, back.point().length());
    }

    @Test
    void abortIncompleteUploadsOlderThan_reclaimsOnlyOldUploads() throws Exception {
        S3Tier t = open(PART);
        ResumePoint old = suspendedAfterThreeParts(t, request("old.bin"), 14);
        java.time.Instant between = java.time.Instant.now();
        Thread.sleep(1500);
        ResumePoint fresh = suspendedAfterThreeParts(t, request("fresh.bin"), 15);
        assertEquals(1, t.abortIncompleteUploads(Duration.between(between, java.time.Instant.now())).join());
        assertThat(t.incompleteUploads().join()).containsExactly("t/fresh.bin");
        assertEquals(Optional.empty(), t.resume(request("old.bin"), old, chunkCrcs(request("old.bin"), 14, old.length())).join()
                .map(ObjectWriter::resumedBytes));
        t.discard(fresh).join();
        assertThat(t.incompleteUploads().join()).isEmpty();
    }
}
