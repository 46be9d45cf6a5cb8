package io.thermocline.it.s3;

import static io.thermocline.tier.s3.FaultProxy.Rule.on;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.ListPage;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.s3.FaultProxy;
import io.thermocline.tier.s3.S3ObjectDescription;
import io.thermocline.tier.s3.S3Tier;
import io.thermocline.tier.s3.S3TierConfig;
import io.thermocline.tier.testkit.Checkpoints;
import io.thermocline.tier.testkit.TestData;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;

/**
 * {@link S3Tier} against a real S3-compatible server: MinIO when one can be had, else the
 * embedded server (see {@link S3Backend}); the run prints which. Multipart boundaries, ranged
 * reads at every edge, listings past ListObjectsV2's 1000 keys, refused credentials, a missing
 * bucket, another tool's object, and a download through {@link FaultProxy}.
 */
class S3CompatibilityTest {

    private static final int MIB = 1 << 20;
    private static final int PART = S3TierConfig.MIN_PART_SIZE_IN_BYTES;

    @TempDir
    static Path workDir;
    private static S3Backend backend;
    private static S3Client direct;
    private static int buckets;

    @TempDir
    Path dir;
    private String bucket;
    private final List<AutoCloseable> closeAfter = new ArrayList<>();

    @BeforeAll
    static void startBackend() throws Exception {
        backend = S3Backend.start(workDir);
        System.out.println("S3 compatibility tests run against: " + backend.name() + " at " + backend.endpoint());
        direct = backend.client();
    }

    @AfterAll
    static void stopBackend() throws Exception {
        if (direct != null) {
            direct.close();
        }
        if (backend != null) {
            backend.close();
        }
    }

    @BeforeEach
    void createBucket() {
        bucket = "compat-" + ProcessHandle.current().pid() + "-" + buckets++;
        direct.createBucket(b -> b.bucket(bucket));
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closeAfter.reversed()) {
            c.close();
        }
    }

    private S3TierConfig.Builder config() {
        return S3TierConfig.builder(bucket).endpoint(backend.endpoint()).region(backend.region()).credentials(backend.credentials())
                .partSizeInBytes(PART).retryBaseDelay(Duration.ofMillis(20)).retryMaxDelay(Duration.ofMillis(500));
    }

    private S3Tier open(S3TierConfig.Builder config) {
        S3Tier tier = S3Tier.open(config.build());
        closeAfter.add(tier);
        return tier;
    }

    private static ObjectInfo upload(S3Tier tier, ObjectKey key, long size, long seed) {
        try (ObjectWriter w = tier.create(WriteRequest.builder(key, size).chunkSizeInBytes(MIB).build()).join()) {
            ByteBuffer buf = ByteBuffer.allocate(3 * MIB);
            for (long p = 0; p < size; p += buf.capacity()) {
                int n = (int) Math.min(buf.capacity(), size - p);
                w.write(p, TestData.fill(seed, p, buf.clear().limit(n))).join();
            }
            return w.commit().join();
        }
    }

    private static void assertFileHolds(Path file, long size, long seed) throws Exception {
        assertEquals(size, Files.size(file));
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer buf = ByteBuffer.allocate(MIB);
            for (long p = 0; p < size; p += buf.capacity()) {
                buf.clear();
                ch.read(buf, p);
                assertEquals(-1, TestData.firstMismatch(seed, p, buf.flip()), "at " + p);
            }
        }
    }

    @Test
    void multipartBoundaries_partSizeMinusOneExactAndPlusOne_roundTrip() throws Exception {
        S3Tier tier = open(config());
        long[] sizes = {0, 1, PART - 1, PART, PART + 1, 2L * PART + 1};
        int[] parts = {0, 0, 1, 1, 2, 3}; // 0: a plain PUT; else the multipart ETag's "-N"
        for (int i = 0; i < sizes.length; i++) {
            long size = sizes[i];
            ObjectKey key = ObjectKey.of("sizes/" + size + ".bin");
            ObjectInfo written = upload(tier, key, size, size);
            assertEquals(written, tier.stat(key).join().orElseThrow(), "stat of " + key);
            var head = direct.headObject(b -> b.bucket(bucket).key(key.value()));
            assertEquals(size, head.contentLength(), key.value());
            if (parts[i] > 0) {
                assertThat(head.eTag()).as("ETag of %s", key).endsWith("-" + parts[i] + "\"");
            }
            try (ObjectReader r = tier.openReader(key).join()) {
                ByteBuffer buf = ByteBuffer.allocate((int) Math.max(1, size));
                int n = r.read(0, buf).join();
                assertEquals(size == 0 ? -1 : size, n);
                assertEquals(-1, TestData.firstMismatch(size, 0, buf.flip()));
            }
            Path target = dir.resolve("sizes/" + size + ".bin");
            tier.download(key, target, 3, 2 * MIB, x -> { }).join();
            assertFileHolds(target, size, size);
        }
        assertThat(direct.listMultipartUploads(b -> b.bucket(bucket)).uploads()).isEmpty();
    }

    @Test
    void rangedReads_atEveryEdge_returnTheRightBytes() {
        S3Tier tier = open(config());
        long size = 2L * PART + 4321;
        ObjectKey key = ObjectKey.of("edges.bin");
        upload(tier, key, size, 42);
        TreeSet<Long> positions = new TreeSet<>(List.of(0L, 1L, size - 2, size - 1));
        for (long edge = MIB; edge < size; edge += MIB) { // every chunk boundary; part boundaries are among them
            positions.addAll(List.of(edge - 1, edge, edge + 1));
        }
        try (ObjectReader r = tier.openReader(key).join()) {
            for (long p : positions) {
                for (int length : new int[] {1, 2, 4095, 4097, MIB + 1}) {
                    ByteBuffer buf = ByteBuffer.allocate(length);
                    int n = r.read(p, buf).join();
                    assertEquals(Math.min(length, size - p), n, "read of " + length + " at " + p);
                    assertEquals(-1, TestData.firstMismatch(42, p, buf.flip()), "read of " + length + " at " + p);
                }
            }
            assertEquals(-1, r.read(size, ByteBuffer.allocate(1)).join());
            assertEquals(-1, r.read(size + MIB, ByteBuffer.allocate(1)).join());
        }
    }

    @Test
    void listing_pastAThousandKeys_paginates() throws Exception {
        int count = 1003;
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Future<?>> puts = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                String name = String.format("many/%04d", i);
                puts.add(pool.submit(() -> direct.putObject(b -> b.bucket(bucket).key(name), RequestBody.fromString(name))));
            }
            for (Future<?> f : puts) {
                f.get();
            }
        }
        S3Tier tier = open(config()); // counts at open: ListObjectsV2 pages of at most 1000
        assertEquals(count, tier.usage().objectCount());
        for (int pageSize : new int[] {1000, 7}) {
            List<ObjectKey> keys = new ArrayList<>();
            ObjectKey after = null;
            int pages = 0;
            do {
                ListPage page = tier.list("many/", after, pageSize).join();
                keys.addAll(page.keys());
                after = page.nextStartAfter().orElse(null);
                pages++;
            } while (after != null);
            assertEquals(count, keys.size(), "keys listed " + pageSize + " at a time");
            assertEquals(String.format("many/%04d", count - 1), keys.getLast().value());
            assertThat(keys).isSorted().doesNotHaveDuplicates();
            assertThat(pages).isGreaterThanOrEqualTo((count + pageSize - 1) / pageSize);
        }
    }

    @Test
    void wrongCredentials_areRefusedAtOnce_withAClearMessageAndNoSecret() {
        String wrongSecret = "not-the-secret-" + Long.toHexString(System.nanoTime());
        for (var credentials : List.of(
                StaticCredentialsProvider.create(AwsBasicCredentials.create(backend.accessKey(), wrongSecret)),
                StaticCredentialsProvider.create(AwsBasicCredentials.create("NOSUCHKEY" + Long.toHexString(System.nanoTime()), wrongSecret)))) {
            TierException e = assertThrows(TierException.class, () -> open(config().credentials(credentials)));
            assertThat(e).isInstanceOf(TierUnavailableException.class).hasMessageContaining("403")
                    .hasMessageContaining(bucket).hasMessageContaining(backend.endpoint().toString())
                    .hasMessageContaining("check the credentials").hasMessageNotContaining(wrongSecret)
                    .hasMessageNotContaining(backend.secretKey());
            assertThat(e.retryable()).isFalse();
        }
    }

    @Test
    void missingBucket_isNamed_andNotRetried() {
        String missing = "no-such-bucket-" + Long.toHexString(System.nanoTime());
        for (boolean trackUsage : new boolean[] {true, false}) {
            S3TierConfig.Builder config = S3TierConfig.builder(missing).endpoint(backend.endpoint()).region(backend.region())
                    .credentials(backend.credentials()).trackUsage(trackUsage);
            TierException e = assertThrows(TierException.class, () -> open(config));
            assertThat(e).isInstanceOf(TierUnavailableException.class)
                    .hasMessageContaining("bucket " + missing + " does not exist at " + backend.endpoint());
            assertThat(e.retryable()).isFalse();
        }
    }

    @Test
    void anotherToolsObject_isDownloaded_andVerifiedWhenTheServerKeepsItsCrc32c() throws Exception {
        int size = 3 * MIB + 5;
        ByteBuffer bytes = TestData.fill(77, 0, ByteBuffer.allocate(size));
        direct.putObject(b -> b.bucket(bucket).key("other/tool.bin").checksumAlgorithm(ChecksumAlgorithm.CRC32_C),
                RequestBody.fromByteBuffer(bytes));
        S3Tier tier = open(config());
        ObjectKey key = ObjectKey.of("other/tool.bin");
        S3ObjectDescription.Verification expected = backend.keepsChecksums()
                ? S3ObjectDescription.Verification.OBJECT_CRC32C : S3ObjectDescription.Verification.NONE;
        assertEquals(expected, tier.describe(key).join().orElseThrow().verification());
        Path target = dir.resolve("other/tool.bin");
        S3Tier.Downloaded done = tier.fetch(key, target, 2, MIB, n -> { }).join();
        assertEquals(expected, done.verification());
        assertEquals(TestData.crc32c(77, size), done.info().crc32c());
        assertFileHolds(target, size, 77);
    }

    @Test
    void download_throughFaultsInjectedByAProxy_completesWithTheRightBytes() throws Exception {
        ObjectKey key = ObjectKey.of("faulty/model.bin");
        long size = 12L * MIB + 17;
        upload(open(config()), key, size, 9);
        try (FaultProxy proxy = FaultProxy.start(backend.endpoint())) {
            String object = "/" + bucket + "/" + key.value();
            proxy.add(on("HEAD", object).nth(1).inject(FaultProxy.slowDown()));
            proxy.add(on("GET", object).nth(1).inject(FaultProxy.internalError()));
            proxy.add(on("GET", object).nth(2).inject(FaultProxy.truncate(MIB + MIB / 2)));
            proxy.add(on("GET", object).nth(4).inject(FaultProxy.resetMidBody(100_000)));
            proxy.add(on("GET", object).nth(6).inject(FaultProxy.reset()));
            S3Tier tier = open(config().endpoint(proxy.endpoint()));
            Path target = dir.resolve("faulty/model.bin");
            S3Tier.Downloaded done = tier.fetch(key, target, 2, 4 * MIB, n -> { }).join();
            assertEquals(S3ObjectDescription.Verification.CHUNK_CRC32C, done.verification());
            assertFileHolds(target, size, 9);
            assertThat(proxy.requests()).filteredOn(s -> s.fault() != null).hasSize(5);
        }
    }

    /**
     * A writer suspended after a checkpoint is taken up by another tier instance, as a new process
     * would: the server's ListParts (ETags, sizes and, on MinIO, the parts' CRC32Cs) must agree
     * with the token; a discarded upload cannot be resumed.
     */
    @Test
    void suspendedUpload_isResumedByAnotherInstance_andADiscardedOneIsNot() throws Exception {
        S3Tier first = open(config());
        long size = 3L * PART + MIB / 2;
        WriteRequest request = WriteRequest.builder(ObjectKey.of("resume/model.bin"), size).chunkSizeInBytes(MIB).build();
        ObjectWriter w = first.create(request).join();
        for (long p = 0; p < 2L * PART + MIB; p += MIB) {
            w.write(p, TestData.bytes(51, p, MIB)).join();
        }
        ResumePoint point = Checkpoints.covering(w, 2L * PART + MIB, 2L * PART).orElseThrow();
        assertEquals(2L * PART, point.length(), "the checkpoint names the two whole parts");
        w.suspend().join();
        w.close();
        int[] crcs = new int[(int) (point.length() / MIB)];
        for (int i = 0; i < crcs.length; i++) {
            crcs[i] = Crc32c.of(TestData.bytes(51, (long) i * MIB, MIB));
        }

        S3Tier second = open(config());
        ObjectWriter resumed = second.resume(request, point, crcs).join().orElseThrow();
        assertEquals(2L * PART, resumed.resumedBytes());
        ObjectInfo info;
        try (resumed) {
            for (long p = resumed.resumedBytes(); p < size; p += MIB) {
                int n = (int) Math.min(MIB, size - p);
                resumed.write(p, TestData.bytes(51, p, n)).join();
            }
            info = resumed.commit().join();
        }
        assertEquals(TestData.crc32c(51, size), info.crc32c());
        assertEquals(info, second.stat(request.key()).join().orElseThrow());
        Path target = dir.resolve("resumed.bin");
        second.download(request.key(), target, 3, 2 * MIB, x -> { }).join();
        assertFileHolds(target, size, 51);

        WriteRequest other = WriteRequest.builder(ObjectKey.of("resume/discarded.bin"), size).chunkSizeInBytes(MIB).build();
        ObjectWriter d = second.create(other).join();
        for (long p = 0; p < PART; p += MIB) {
            d.write(p, TestData.bytes(52, p, MIB)).join();
        }
        ResumePoint discarded = Checkpoints.covering(d, PART, PART).orElseThrow();
        d.suspend().join();
        second.discard(discarded).join();
        second.discard(discarded).join();
        int[] otherCrcs = new int[PART / MIB];
        for (int i = 0; i < otherCrcs.length; i++) {
            otherCrcs[i] = Crc32c.of(TestData.bytes(52, (long) i * MIB, MIB));
        }
        assertEquals(Optional.empty(), second.resume(other, discarded, otherCrcs).join().map(ObjectWriter::resumedBytes));
        assertThat(direct.listMultipartUploads(b -> b.bucket(bucket)).uploads()).isEmpty();
    }

}
