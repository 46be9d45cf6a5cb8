package io.thermocline.tier.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.testkit.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The local tier's resume files: where they live, who may take them, when they go. */
class LocalTierResumeTest {

    private static final int CHUNK = 4096;

    @TempDir
    Path dir;

    private static WriteRequest request(String key) {
        return WriteRequest.builder(ObjectKey.of(key), 4L * CHUNK).chunkSizeInBytes(CHUNK).build();
    }

    private static ResumePoint checkpointed(LocalTier tier, WriteRequest request) {
        ObjectWriter w = tier.create(request).join();
        w.write(0, TestData.bytes(1, 0, 2 * CHUNK)).join();
        ResumePoint p = w.checkpoint(2L * CHUNK).join().orElseThrow();
        w.suspend().join();
        return p;
    }

    private static int[] crcs() {
        return new int[] {TestData.crc32c(1, CHUNK), io.thermocline.tier.Crc32c.of(TestData.bytes(1, CHUNK, CHUNK))};
    }

    @Test
    void checkpoint_keepsTheDataInAResumeFileNamedByTheToken() {
        try (LocalTier tier = LocalTier.open(LocalTierConfig.builder(dir).build())) {
            ResumePoint p = checkpointed(tier, request("a"));
            assertEquals(2L * CHUNK, p.length());
            Path file = dir.resolve(LocalTier.TMP_DIR).resolve(p.token());
            assertTrue(Files.isRegularFile(file), "resume file " + file);
            assertTrue(p.token().endsWith(LocalTier.RESUME_SUFFIX), p.token());
            assertEquals(0, tier.usage().reservedInBytes(), "a suspended writer holds no reservation");
        }
    }

    @Test
    void aTokenOfAnotherKey_orOutsideTheTempDirectory_isNotResumed() {
        try (LocalTier tier = LocalTier.open(LocalTierConfig.builder(dir).build())) {
            ResumePoint p = checkpointed(tier, request("a"));
            assertEquals(Optional.empty(), tier.resume(request("b"), p, crcs()).join());
            ResumePoint escape = new ResumePoint(p.length(), "../objects/" + p.token());
            assertEquals(Optional.empty(), tier.resume(request("a"), escape, crcs()).join());
            tier.discard(escape).join();
            assertTrue(Files.exists(dir.resolve(LocalTier.TMP_DIR).resolve(p.token())), "discard of a foreign token deleted the file");
        }
    }

    @Test
    void aResumeFile_isHandedToOneWriterAtATime() {
        try (LocalTier tier = LocalTier.open(LocalTierConfig.builder(dir).build())) {
            ResumePoint p = checkpointed(tier, request("a"));
            ObjectWriter first = tier.resume(request("a"), p, crcs()).join().orElseThrow();
            assertEquals(Optional.empty(), tier.resume(request("a"), p, crcs()).join().map(ObjectWriter::resumedBytes));
            tier.discard(p).join();
            assertTrue(Files.exists(dir.resolve(LocalTier.TMP_DIR).resolve(p.token())), "discard deleted a file in use");
            first.suspend().join();
            assertEquals(2L * CHUNK, tier.resume(request("a"), p, crcs()).join().orElseThrow().resumedBytes());
        }
    }

    @Test
    void resumeFilesOlderThanTheMaximumAge_areDeletedWhenTheTierOpens() throws Exception {
        ResumePoint p;
        try (LocalTier tier = LocalTier.open(LocalTierConfig.builder(dir).build())) {
            p = checkpointed(tier, request("a"));
        }
        Path file = dir.resolve(LocalTier.TMP_DIR).resolve(p.token());
        try (LocalTier tier = LocalTier.open(LocalTierConfig.builder(dir).resumeMaxAge(Duration.ofHours(1)).build())) {
            assertTrue(Files.exists(file), "a fresh resume file was deleted at open");
        }
        Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() - 7_200_000));
        try (LocalTier tier = LocalTier.open(LocalTierConfig.builder(dir).resumeMaxAge(Duration.ofHours(1)).build())) {
            assertFalse(Files.exists(file), "an expired resume file survived the open");
            assertEquals(Optional.empty(), tier.resume(request("a"), p, crcs()).join());
        }
    }
}
