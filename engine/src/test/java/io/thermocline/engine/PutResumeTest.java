package io.thermocline.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.thermocline.tier.Crc32c;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.Tier;
import io.thermocline.tier.TierIoException;
import io.thermocline.nvmeof.block.BlockTier;
import io.thermocline.nvmeof.block.BlockTierConfig;
import io.thermocline.tier.local.FileBlockDevice;
import io.thermocline.tier.local.LocalTier;
import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.s3.S3Tier;
import io.thermocline.tier.s3.S3TierConfig;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import io.thermocline.tier.local.LocalTierConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Resumable puts ({@link Streams} with a {@link PutResume}) into two local tiers. */
class PutResumeTest {

    private static final int CHUNK = 64 * 1024;
    private static final long SIZE = 40L * CHUNK + 1000; // checkpoints every 8 chunks
    private static final ObjectKey KEY = ObjectKey.of("models/m/shard-1.safetensors");

    @TempDir
    Path dir;
    private LocalTier fast;
    private LocalTier slow;
    private PutResume resume;
    private SimpleMeterRegistry registry;
    private EngineMetrics metrics;
    private Path file;

    @BeforeEach
    void open() throws IOException {
        fast = LocalTier.open(LocalTierConfig.builder(dir.resolve("fast")).name("fast").build());
        slow = LocalTier.open(LocalTierConfig.builder(dir.resolve("slow")).name("slow").build());
        resume = new PutResume(dir.resolve("resume"));
        registry = new SimpleMeterRegistry();
        metrics = new EngineMetrics(registry);
        file = dir.resolve("source.bin");
        byte[] data = new byte[(int) SIZE];
        new Random(7).nextBytes(data);
        Files.write(file, data);
    }

    @AfterEach
    void close() {
        fast.close();
        slow.close();
    }

    private PutOptions options() {
        return PutOptions.defaults().withChunkSize(CHUNK).withResumeId(file + " " + SIZE);
    }

    private ObjectInfo put(SeekableByteChannel source) {
        return Streams.write(List.of(fast, slow), KEY, source, SIZE, options(), resume, metrics);
    }

    private double resumed(String tier) {
        var c = registry.find("thermocline.engine.put.resumed.bytes").tag("tier", tier).counter();
        return c == null ? 0 : c.count();
    }

    private void assertStored(Tier t, ObjectInfo info) throws IOException {
        assertEquals(info, t.stat(KEY).join().orElseThrow());
        byte[] want = Files.readAllBytes(file);
        ByteBuffer got = ByteBuffer.allocate(want.length);
        try (ObjectReader r = t.openReader(KEY).join()) {
            while (got.hasRemaining()) {
                int n = r.read(got.position(), got).join();
                assertTrue(n > 0, "short read at " + got.position());
            }
        }
        assertThat(got.array()).isEqualTo(want);
        assertEquals(Crc32c.of(want), info.crc32c());
    }

    private static long resumeFiles(Path tierRoot) throws IOException {
        try (Stream<Path> s = Files.list(tierRoot.resolve("tmp"))) {
            return s.filter(p -> p.toString().endsWith(".resume")).count();
        }
    }

    @Test
    void aPutCutOffAfterACheckpoint_isResumed_andWritesOnlyTheRest() throws Exception {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            assertThatThrownBy(() -> put(new FailingAfter(ch, 30L * CHUNK))).isInstanceOf(TierIoException.class);
        }
        assertTrue(Files.exists(resume.fileOf(KEY)), "no resume record after a cut-off put");
        PutResume.Saved saved = resume.load(KEY).orElseThrow();
        for (String tier : List.of("fast", "slow")) {
            long at = saved.points().get(tier).length();
            assertTrue(at >= 8L * CHUNK && at % CHUNK == 0 && at <= 30L * CHUNK,
                    tier + " checkpointed at " + at + " (expected: whole chunks, from the first interval of 8 chunks to"
                            + " where the source failed; a checkpoint that finds the last one under way waits a chunk)");
        }
        long kept = saved.points().get("fast").length();
        assertFalse(fast.stat(KEY).join().isPresent(), "a cut-off put is visible");
        assertEquals(1, resumeFiles(dir.resolve("fast")));

        ObjectInfo info;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            info = put(ch);
        }
        assertEquals((double) kept, resumed("fast"));
        assertThat(resumed("slow")).isGreaterThanOrEqualTo(8.0 * CHUNK);
        assertStored(fast, info);
        assertStored(slow, info);
        assertFalse(Files.exists(resume.fileOf(KEY)), "the record outlived the commit");
        assertEquals(0, resumeFiles(dir.resolve("fast")));
        assertEquals(0, resumeFiles(dir.resolve("slow")));
    }

    @Test
    void aSourceChangedSinceTheCutOff_keepsOnlyTheChunksThatStillMatch() throws Exception {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            assertThatThrownBy(() -> put(new FailingAfter(ch, 30L * CHUNK))).isInstanceOf(TierIoException.class);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 5L * CHUNK + 17); // same size and resume id: only checksums tell
        }
        ObjectInfo info;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            info = put(ch);
        }
        assertEquals(5.0 * CHUNK, resumed("fast"), "bytes kept before the changed chunk");
        assertStored(fast, info);
        assertStored(slow, info);
    }

    @Test
    void aRecordOfAnotherSource_isDiscarded_andThePutStartsOver() throws Exception {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            assertThatThrownBy(() -> put(new FailingAfter(ch, 30L * CHUNK))).isInstanceOf(TierIoException.class);
        }
        ResumePoint old = resume.load(KEY).orElseThrow().points().get("fast");
        ObjectInfo info;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            info = Streams.write(List.of(fast, slow), KEY, ch, SIZE, options().withResumeId("another source"), resume, metrics);
        }
        assertEquals(0.0, resumed("fast"));
        assertStored(fast, info);
        assertFalse(Files.exists(dir.resolve("fast").resolve("tmp").resolve(old.token())), "the old resume file was kept");
    }

    @Test
    void badInput_abortsForGood_andKeepsNothing() throws Exception {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            assertThatThrownBy(() -> Streams.write(List.of(fast, slow), KEY, ch, SIZE + 5, options(), resume, metrics))
                    .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("ended after");
        }
        assertFalse(Files.exists(resume.fileOf(KEY)), "a record was kept after bad input");
        assertEquals(0, resumeFiles(dir.resolve("fast")));
        assertEquals(0, resumeFiles(dir.resolve("slow")));
    }

    @Test
    void aPutIntoABlockTier_isResumedFromItsExtents() throws Exception {
        String nqn = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000e0001";
        long capacity = 64L << 20;
        FileBlockDevice device = FileBlockDevice.open(dir.resolve("fabric.img"), FileBlockDevice.options()
                .sizeInBytes(BlockTier.deviceSizeFor(capacity, 1 << 20, 4096)));
        try (BlockTier fabric = BlockTier.format(device, BlockTierConfig.builder(dir.resolve("fabric-catalog"), nqn).build())) {
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                assertThatThrownBy(() -> Streams.write(List.of(fabric, slow), KEY, new FailingAfter(ch, 30L * CHUNK), SIZE,
                        options(), resume, metrics)).isInstanceOf(TierIoException.class);
            }
            long kept = resume.load(KEY).orElseThrow().points().get(fabric.name()).length();
            ObjectInfo info;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                info = Streams.write(List.of(fabric, slow), KEY, ch, SIZE, options(), resume, metrics);
            }
            assertEquals((double) kept, resumed(fabric.name()), "bytes the block tier took over (read back and checked)");
            assertThat(kept).isGreaterThanOrEqualTo(8L * CHUNK);
            assertStored(fabric, info);
            assertStored(slow, info);
        } finally {
            device.close();
        }
    }

    @Test
    void aWriteThroughPutToS3_isResumedFromItsMultipartUpload(@TempDir Path serverDir) throws Exception {
        int chunk = 1 << 20;
        long size = 20L * chunk + 4321; // 8 MiB parts; checkpoints every 8 chunks
        byte[] data = new byte[(int) size];
        new Random(9).nextBytes(data);
        Files.write(file, data);
        PutOptions options = PutOptions.defaults().withChunkSize(chunk).withResumeId(file + " " + size);
        try (EmbeddedS3Server server = EmbeddedS3Server.start(serverDir.resolve("s3"))) {
            server.createBucket("resume");
            S3TierConfig c = S3TierConfig.builder("resume").prefix("t/").endpoint(server.endpoint())
                    .credentials(StaticCredentialsProvider.create(AwsBasicCredentials.create(server.accessKey(), server.secretKey())))
                    .build();
            try (S3Tier s3 = S3Tier.open(c)) {
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                    // the source fails a while after 18 MiB, time enough for the parts in flight to be acknowledged
                    assertThatThrownBy(() -> Streams.write(List.of(fast, s3), KEY, new FailingAfter(ch, 18L * chunk, 3000), size,
                            options, resume, metrics)).isInstanceOf(TierIoException.class);
                }
                long kept = resume.load(KEY).orElseThrow().points().get("s3").length();
                assertEquals(16L * chunk, kept, "the parts acknowledged by the time the put was cut off, named by its last checkpoint");
                assertEquals(0, s3.abortIncompleteUploads(resume::has).join(),
                        "the owner's clean-up at start keeps the upload of a put that has a record");
                ObjectInfo info;
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                    info = Streams.write(List.of(fast, s3), KEY, ch, size, options, resume, metrics);
                }
                assertEquals((double) kept, resumed("s3"), "bytes S3 kept in its parts");
                assertStored(fast, info);
                assertStored(s3, info);
            }
        }
    }

    @Test
    void aTierThatRefusesToResume_startsOver_andThePutSucceeds() throws Exception {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            assertThatThrownBy(() -> put(new FailingAfter(ch, 30L * CHUNK))).isInstanceOf(TierIoException.class);
        }
        // the slow tier now answers every resume with an error, as S3 does for a token it did not make
        Tier refusing = new RefusingToResume(slow);
        ObjectInfo info;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            info = Streams.write(List.of(fast, refusing), KEY, ch, SIZE, options(), resume, metrics);
        }
        assertThat(resumed("fast")).isGreaterThan(0.0);
        assertEquals(0.0, resumed("slow"));
        assertStored(fast, info);
        assertStored(slow, info);
    }

    @Test
    void aDamagedRecord_isIgnored() throws Exception {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            assertThatThrownBy(() -> put(new FailingAfter(ch, 30L * CHUNK))).isInstanceOf(TierIoException.class);
        }
        Path record = resume.fileOf(KEY);
        String text = Files.readString(record);
        String damaged = text.replaceFirst("point fast \\d+", "point fast " + 40L * CHUNK);
        assertThat(damaged).isNotEqualTo(text);
        Files.writeString(record, damaged);
        assertTrue(resume.load(KEY).isEmpty(), "a record whose end checksum differs was used");
        assertFalse(Files.exists(record));
    }

    /** A tier that answers every resume with an error, and is otherwise {@code tier}. */
    private record RefusingToResume(Tier tier) implements Tier {
        @Override public String name() { return tier.name(); }
        @Override public io.thermocline.tier.TierClass tierClass() { return tier.tierClass(); }
        @Override public CompletableFuture<Optional<ObjectInfo>> stat(ObjectKey key) { return tier.stat(key); }
        @Override public CompletableFuture<ObjectReader> openReader(ObjectKey key) { return tier.openReader(key); }
        @Override public CompletableFuture<ObjectWriter> create(WriteRequest request) { return tier.create(request); }
        @Override public CompletableFuture<Boolean> delete(ObjectKey key) { return tier.delete(key); }
        @Override public CompletableFuture<io.thermocline.tier.ListPage> list(String prefix, ObjectKey after, int max) { return tier.list(prefix, after, max); }
        @Override public io.thermocline.tier.TierUsage usage() { return tier.usage(); }
        @Override public io.thermocline.tier.TierHealth health() { return tier.health(); }
        @Override public void close() { }

        @Override
        public CompletableFuture<Optional<ObjectWriter>> resume(WriteRequest request, ResumePoint point, int[] crcs) {
            return CompletableFuture.failedFuture(InvalidArgumentException.of("token", point.token(), "a token of this tier"));
        }
    }

    /** A file channel whose reads fail once they reach {@code limit}, as a source on a failing disk would. */
    private static final class FailingAfter implements SeekableByteChannel {
        private final FileChannel ch;
        private final long limit;

        private final long delayMillis;

        FailingAfter(FileChannel ch, long limit) {
            this(ch, limit, 0);
        }

        FailingAfter(FileChannel ch, long limit, long delayMillis) {
            this.ch = ch;
            this.limit = limit;
            this.delayMillis = delayMillis;
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            if (ch.position() >= limit) {
                try {
                    Thread.sleep(delayMillis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                throw new IOException("injected read failure at " + ch.position());
            }
            return ch.read(dst);
        }

        @Override
        public int write(ByteBuffer src) {
            throw new UnsupportedOperationException();
        }

        @Override
        public long position() throws IOException {
            return ch.position();
        }

        @Override
        public SeekableByteChannel position(long p) throws IOException {
            ch.position(p);
            return this;
        }

        @Override
        public long size() throws IOException {
            return ch.size();
        }

        @Override
        public SeekableByteChannel truncate(long size) {
            throw new UnsupportedOperationException();
        }

        @Override
        public boolean isOpen() {
            return ch.isOpen();
        }

        @Override
        public void close() {
        }
    }
}
