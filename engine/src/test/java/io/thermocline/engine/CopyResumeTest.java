package io.thermocline.engine;

import io.thermocline.placement.PolicyConfig;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.testkit.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.zip.CRC32C;

import static io.thermocline.engine.EngineFixture.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CopyResumeTest {

    @TempDir
    Path dir;

    /** The info of {@code size} bytes of {@link TestData} {@code seed}, chunked by 1 MiB. */
    private static ObjectInfo infoOf(String key, long seed, long size) {
        int chunk = ObjectInfo.DEFAULT_CHUNK_SIZE_IN_BYTES;
        int n = ObjectInfo.chunkCount(size, chunk);
        int[] crcs = new int[n];
        CRC32C whole = new CRC32C();
        for (int i = 0; i < n; i++) {
            ByteBuffer b = chunkOf(seed, size, chunk, i);
            CRC32C c = new CRC32C();
            c.update(b.duplicate());
            crcs[i] = (int) c.getValue();
            whole.update(b);
        }
        return ObjectInfo.builder(ObjectKey.of(key), size).chunkSizeInBytes(chunk).chunkCrc32c(crcs).crc32c((int) whole.getValue()).build();
    }

    private static ByteBuffer chunkOf(long seed, long size, int chunk, int i) {
        long offset = (long) i * chunk;
        ByteBuffer b = ByteBuffer.allocate((int) Math.min(chunk, size - offset));
        TestData.fill(seed, offset, b);
        return b;
    }

    @Test
    void readVerified_onlyChunksThatMatchTheirCrc_count() throws Exception {
        long size = 3 * MIB + 777;
        ObjectInfo info = infoOf("k", 3, size);
        CopyResume resume = new CopyResume(dir.resolve("resume"), Duration.ofDays(1));
        try (CopyResume.Session s = resume.open(info)) {
            s.save(0, chunkOf(3, size, (int) MIB, 0));
            s.save(3, chunkOf(3, size, (int) MIB, 3));
            ByteBuffer torn = chunkOf(3, size, (int) MIB, 2);
            torn.put(100, (byte) (torn.get(100) ^ 1));
            s.save(2, torn);
        }
        try (CopyResume.Session s = resume.open(info)) {
            ByteBuffer buf = ByteBuffer.allocate((int) MIB);
            assertTrue(s.readVerified(0, buf));
            assertTrue(TestData.firstMismatch(3, 0, buf.duplicate()) < 0, "chunk 0 comes back as saved");
            assertFalse(s.readVerified(1, buf), "a hole is not a chunk");
            assertFalse(s.readVerified(2, buf), "a chunk that does not match its CRC32C is not used");
            assertTrue(s.readVerified(3, buf), "the short last chunk");
            assertEquals(777, buf.remaining());
            assertEquals(2, s.reused());
            s.finish();
            assertFalse(Files.exists(s.file()), "finish deletes the file");
        }
        // another version of the key (other checksums) has another file
        assertNotEquals(resume.fileOf(info), resume.fileOf(infoOf("k", 4, size)));
    }

    @Test
    void construction_deletesFilesNotTouchedForMaxAge() throws Exception {
        Path d = dir.resolve("resume");
        Files.createDirectories(d);
        Path old = Files.writeString(d.resolve("old.part"), "x");
        Files.setLastModifiedTime(old, FileTime.from(Instant.now().minus(Duration.ofDays(3))));
        Path fresh = Files.writeString(d.resolve("fresh.part"), "x");
        new CopyResume(d, Duration.ofDays(1));
        assertFalse(Files.exists(old));
        assertTrue(Files.exists(fresh));
    }

    @Test
    void stage_fromTheObjectTier_takesKeptChunksAndFetchesTheRest() throws Exception {
        try (EmbeddedS3Server server = EmbeddedS3Server.start(dir.resolve("s3"))) {
            server.createBucket("resume");
            EngineConfig config = EngineFixture.config(dir, server, "resume", PolicyConfig.builder().build()).build();
            long size = 6 * MIB + 4321;
            String key = "m/shard-1";
            ObjectInfo info;
            try (TierEngine e = TierEngine.open(config)) {
                info = EngineFixture.put(e, key, 11, size, PutOptions.defaults());
                assertTrue(e.evict(ObjectKey.of(key), "local").join());
                assertEquals(List.of("s3"), e.stat(ObjectKey.of(key)).join().orElseThrow().tiers());
            }
            // what a copy to local that was killed after chunks 0, 1 and 4 leaves, plus a torn chunk 2
            CopyResume resume = new CopyResume(config.dataRoot().resolve("resume"), Duration.ofDays(1));
            Path part = resume.fileOf(info);
            try (CopyResume.Session s = resume.open(info)) {
                for (int i : new int[] {0, 1, 4}) {
                    s.save(i, chunkOf(11, size, (int) MIB, i));
                }
            }
            try (FileChannel ch = FileChannel.open(part, StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 2 * MIB + 10);
            }
            try (TierEngine e = TierEngine.open(config)) {
                StageHandle.Result r = e.stage(List.of(ObjectKey.of(key)), "local", Duration.ZERO).future().join();
                assertEquals(List.of(ObjectKey.of(key)), r.staged());
                assertEquals(3.0, e.meters().counter("thermocline.engine.move.resumed.chunks").count(),
                        "chunks 0, 1 and 4 came from the kept file; 2 (torn), 3, 5 and 6 from S3");
                assertEquals(List.of("local", "s3"), e.stat(ObjectKey.of(key)).join().orElseThrow().tiers());
                try (EngineReader reader = e.read(ObjectKey.of(key)).join()) {
                    assertEquals("local", reader.tier());
                }
                EngineFixture.assertContent(e, key, 11, size);
                assertFalse(Files.exists(part), "the kept chunks go once the copy is committed");
            }
        }
    }

    @Test
    void stage_betweenFastTiers_keepsNothing() throws Exception {
        try (EmbeddedS3Server server = EmbeddedS3Server.start(dir.resolve("s3"))) {
            server.createBucket("resume2");
            EngineConfig config = EngineFixture.config(dir, server, "resume2", PolicyConfig.builder().build()).build();
            try (TierEngine e = TierEngine.open(config)) {
                EngineFixture.put(e, "a", 5, 3 * MIB, PutOptions.defaults());
                e.stage(List.of(ObjectKey.of("a")), "fabric", Duration.ZERO).future().join();
                assertEquals(0.0, e.meters().counter("thermocline.engine.move.resumed.chunks").count());
                try (var files = Files.list(config.dataRoot().resolve("resume"))) {
                    assertEquals(0, files.count(), "a copy from local to fabric needs no kept chunks");
                }
            }
        }
    }
}
