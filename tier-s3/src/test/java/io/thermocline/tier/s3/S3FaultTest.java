package io.thermocline.tier.s3;

import static io.thermocline.tier.s3.FaultProxy.Rule.on;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.testkit.TestData;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link S3Tier} through {@link FaultProxy}: transient faults are retried and the operation
 * completes with the right bytes; lasting ones fail cleanly with the right exception, never with
 * wrong bytes returned or stored, and leave no object and no multipart upload behind.
 */
class S3FaultTest extends EmbeddedServerTestBase {

    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;
    private FaultProxy proxy;
    private String bucket;
    private final List<S3Tier> tiers = new java.util.ArrayList<>();

    @BeforeEach
    void startProxy() throws IOException {
        bucket = newBucket("faults");
        proxy = FaultProxy.start(server.endpoint());
    }

    @AfterEach
    void stopProxy() {
        tiers.forEach(S3Tier::close);
        proxy.close();
    }

    /** Fast retries so that the tests are quick; a deadline far beyond what they need. */
    private S3TierConfig.Builder config() {
        return S3TierConfig.builder(bucket).endpoint(proxy.endpoint()).credentials(credentials(server.secretKey()))
                .partSizeInBytes(5 * MIB).maxAttempts(4).retryBaseDelay(Duration.ofMillis(10))
                .retryMaxDelay(Duration.ofMillis(200)).requestDeadline(Duration.ofSeconds(30)).idleTimeout(Duration.ofSeconds(5));
    }

    private S3Tier open(S3TierConfig.Builder config) {
        S3Tier tier = S3Tier.open(config.build());
        tiers.add(tier);
        return tier;
    }

    static ObjectInfo upload(S3Tier tier, ObjectKey key, long size, long seed) {
        try (ObjectWriter w = tier.create(WriteRequest.builder(key, size).chunkSizeInBytes(MIB).build()).join()) {
            ByteBuffer buf = ByteBuffer.allocate(3 * MIB);
            for (long p = 0; p < size; p += buf.capacity()) {
                int n = (int) Math.min(buf.capacity(), size - p);
                w.write(p, TestData.fill(seed, p, buf.clear().limit(n))).join();
            }
            return w.commit().join();
        }
    }

    /** Reads the whole object through a reader in uneven pieces and checks every byte. */
    static void assertReadsBack(S3Tier tier, ObjectKey key, long size, long seed) {
        try (ObjectReader r = tier.openReader(key).join()) {
            ByteBuffer buf = ByteBuffer.allocate(MIB + 4096 + 17);
            for (long p = 0; p < size; ) {
                int n = r.read(p, buf.clear()).join();
                assertEquals(-1, TestData.firstMismatch(seed, p, buf.flip()), "at " + p);
                p += n;
            }
        }
    }

    static void assertFileHolds(Path file, long size, long seed) throws IOException {
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

    private void assertNoObjectAndNoUpload() {
        assertThat(direct.listObjectsV2(b -> b.bucket(bucket)).contents()).as("objects left in %s", bucket).isEmpty();
        assertThat(direct.listMultipartUploads(b -> b.bucket(bucket)).uploads()).as("multipart uploads left in %s", bucket).isEmpty();
    }

    private List<FaultProxy.Seen> gets(ObjectKey key) {
        return proxy.requests().stream().filter(s -> s.method().equals("GET") && s.target().startsWith("/" + bucket + "/" + key.value())).toList();
    }

    // ---- transient faults: retried, and the bytes are right

    @Test
    void slowDownAndInternalErrors_onPartsAndCompletion_areRetried_andTheObjectIsIntact() {
        S3Tier tier = open(config());
        var parts = proxy.add(on("PUT", ".*partNumber=.*").nth(1, 2, 4).inject(FaultProxy.slowDown()));
        var complete = proxy.add(on("POST", ".*uploadId=.*").nth(1).inject(FaultProxy.internalError()));
        var head = proxy.add(on("HEAD", "/" + bucket + "/.*").nth(1).inject(FaultProxy.slowDown()));
        ObjectKey key = ObjectKey.of("model/a.bin");
        long size = 17L * MIB + 123;
        ObjectInfo written = upload(tier, key, size, 1);
        assertEquals(3, parts.fired());
        assertEquals(1, complete.fired());
        assertReadsBack(tier, key, size, 1);
        assertEquals(1, head.fired());
        assertEquals(written, tier.stat(key).join().orElseThrow());
        assertThat(direct.listMultipartUploads(b -> b.bucket(bucket)).uploads()).isEmpty();
    }

    @Test
    void aLostAnswerToCompleteMultipartUpload_isRecognisedByTheObjectsToken() {
        S3Tier tier = open(config());
        // The server completes the upload and the answer is cut; AWS answers the retry with 404
        // NoSuchUpload (S3Proxy would complete again, so the proxy answers as AWS does).
        var cut = proxy.add(on("POST", ".*uploadId=.*").nth(1).inject(FaultProxy.resetMidBody(0)));
        var gone = proxy.add(on("POST", ".*uploadId=.*").inject(
                FaultProxy.error(404, "NoSuchUpload", "The specified upload does not exist.")));
        ObjectKey key = ObjectKey.of("lost-answer.bin");
        long size = 6L * MIB;
        upload(tier, key, size, 2);
        assertEquals(1, cut.fired());
        // one retry normally; a slow machine can time out a first retry and make another
        assertThat(gone.fired()).isBetween(1, 3);
        assertThat(proxy.requests().stream().filter(s -> s.method().equals("POST") && s.target().contains("uploadId="))
                .map(FaultProxy.Seen::status).toList()).startsWith(200);
        assertReadsBack(tier, key, size, 2);
    }

    @Test
    void aCompletionTheServerCarriesOutAfterItsRetry_isRecognisedOnceTheObjectIsThere() {
        S3Tier tier = open(config());
        // The answer to CompleteMultipartUpload is lost and the server carries the completion out
        // only after the retry has been answered 404 NoSuchUpload and the writer has looked for
        // the object once (HEAD) and found none: what a slow server does with an answer cut after
        // its head. The held completion goes to the server once the writer, after that first
        // look, sends another request (a writer that gave up sends its abort; one that looks on
        // sends its next look), so the order is the same however long each step takes.
        CompletableFuture<Void> release = new CompletableFuture<>();
        var held = proxy.add(on("POST", ".*uploadId=.*").nth(1).inject(FaultProxy.deferred(release)));
        var gone = proxy.add(on("POST", ".*uploadId=.*").inject(
                FaultProxy.error(404, "NoSuchUpload", "The specified upload does not exist.")));
        ObjectKey key = ObjectKey.of("late-completion.bin");
        long size = 6L * MIB;
        AtomicReference<AssertionError> releaseFailed = new AtomicReference<>();
        Thread releaser = Thread.ofVirtual().name("release-completion").start(() -> {
            try {
                TestTimeouts.await("a request after the first HEAD of " + key + " that followed the NoSuchUpload answer",
                        Duration.ofSeconds(30), () -> requestAfterFirstLook(key) != null, () -> proxy.requests().toString());
            } catch (AssertionError e) {
                releaseFailed.set(e);
            } finally {
                release.complete(null);
            }
        });
        try {
            upload(tier, key, size, 7);
        } finally {
            release.complete(null);
            releaser.interrupt();
        }
        assertThat(releaseFailed.get()).as("the writer's requests after its first look").isNull();
        assertEquals(1, held.fired());
        assertThat(gone.fired()).isBetween(1, 3);
        FaultProxy.Seen firstLook = firstLookAfterNoSuchUpload(key);
        assertThat(firstLook).as("a HEAD of the key after the NoSuchUpload answer").isNotNull();
        assertEquals(404, firstLook.status(), "the first look finds no object yet");
        FaultProxy.Seen completion = proxy.requests().stream().filter(r -> r.fault() instanceof FaultProxy.Fault.Deferred)
                .findFirst().orElseThrow();
        TestTimeouts.await("the server's answer to the held completion", Duration.ofSeconds(30), () -> completion.status() != 0);
        assertEquals(200, completion.status(), "the server completed the upload");
        assertReadsBack(tier, key, size, 7);
        assertThat(direct.listMultipartUploads(b -> b.bucket(bucket)).uploads()).isEmpty();
    }

    /** The first HEAD of {@code key} that came after a POST the proxy answered with NoSuchUpload. */
    private FaultProxy.Seen firstLookAfterNoSuchUpload(ObjectKey key) {
        List<FaultProxy.Seen> seen = proxy.requests();
        boolean afterGone = false;
        for (FaultProxy.Seen r : seen) {
            if (r.method().equals("POST") && r.fault() instanceof FaultProxy.Fault.Status) {
                afterGone = true;
            } else if (afterGone && r.method().equals("HEAD") && r.target().startsWith("/" + bucket + "/" + key.value())) {
                return r;
            }
        }
        return null;
    }

    /** A request that came after the first look had its answer, or null. */
    private FaultProxy.Seen requestAfterFirstLook(ObjectKey key) {
        FaultProxy.Seen look = firstLookAfterNoSuchUpload(key);
        if (look == null || look.status() == 0) {
            return null;
        }
        List<FaultProxy.Seen> seen = proxy.requests();
        int at = seen.indexOf(look);
        return at >= 0 && at + 1 < seen.size() ? seen.get(at + 1) : null;
    }

    @Test
    void noSuchUpload_forAnotherWritersObject_isAFailure() {
        S3Tier tier = open(config());
        proxy.add(on("POST", ".*uploadId=.*").inject(FaultProxy.error(404, "NoSuchUpload", "The specified upload does not exist.")));
        // the upload is gone for ListParts too, as it is after another writer aborted it
        proxy.add(on("GET", ".*uploadId=.*").inject(FaultProxy.error(404, "NoSuchUpload", "The specified upload does not exist.")));
        ObjectKey key = ObjectKey.of("gone.bin");
        Throwable t = assertThrows(Exception.class, () -> upload(tier, key, 6L * MIB, 2));
        assertThat(TierException.unwrap(t)).isInstanceOf(TierUnavailableException.class).hasMessageContaining("404 NoSuchUpload")
                .hasMessageContaining(key.value());
        assertThat(tier.stat(key).join()).isEmpty();
        assertNoObjectAndNoUpload();
    }

    @Test
    void connectionResets_beforeTheServerSeesARequest_areRetried() {
        S3Tier tier = open(config());
        var resets = proxy.add(on(null, "/" + bucket + "/.*").nth(1, 3, 5, 8, 13).inject(FaultProxy.reset()));
        ObjectKey key = ObjectKey.of("resets.bin");
        long size = 11L * MIB;
        upload(tier, key, size, 3);
        assertReadsBack(tier, key, size, 3);
        assertEquals(5, resets.fired());
    }

    @Test
    void truncatedAndResetBodies_duringADownload_resumeFromTheBrokenChunk() throws Exception {
        S3Tier tier = open(config());
        ObjectKey key = ObjectKey.of("download.bin");
        long size = 16L * MIB + 4321;
        upload(tier, key, size, 4);
        proxy.clearRequests();
        // the first ranged GET is cut 1.5 MiB into its body, the third is reset 2.5 MiB into it (whichever
        // it is, the resumed first or a new range, its body is longer than that)
        var cut = proxy.add(on("GET", "/" + bucket + "/" + key.value()).nth(1).inject(FaultProxy.truncate(3 * MIB / 2)));
        var reset = proxy.add(on("GET", "/" + bucket + "/" + key.value()).nth(3).inject(FaultProxy.resetMidBody(5 * MIB / 2)));
        Path target = dir.resolve("out/download.bin");
        AtomicLong progress = new AtomicLong();
        S3Tier.Downloaded done = tier.fetch(key, target, 2, 4 * MIB, progress::addAndGet).join();
        assertEquals(1, cut.fired());
        assertEquals(1, reset.fired());
        assertEquals(S3ObjectDescription.Verification.CHUNK_CRC32C, done.verification());
        assertFileHolds(target, size, 4);
        assertEquals(size, progress.get(), "bytes reported once each");
        // 5 ranges and 2 resumed attempts, each starting at a chunk boundary inside its range
        List<Long> starts = gets(key).stream().map(s -> rangeStart(s.header("range"))).toList();
        assertThat(starts).hasSize(7);
        // the truncated one resumes at its 2nd chunk (1 MiB was flushed to the file); where the reset
        // one resumes depends on what the reset discarded, but never before its range or off a chunk
        // (the first GET to reach the server is either of the first two ranges: they start together)
        assertThat(starts).contains(starts.get(0) + MIB).allSatisfy(s -> assertEquals(0, s % MIB));
        assertThat(Files.list(target.getParent()).toList()).containsExactly(target);
    }

    @Test
    void truncatedBodies_duringReads_areResumedAfterTheBytesReceived() {
        S3Tier tier = open(config());
        ObjectKey key = ObjectKey.of("read.bin");
        long size = 5L * MIB + 99;
        upload(tier, key, size, 5);
        proxy.clearRequests();
        proxy.add(on("GET", "/" + bucket + "/" + key.value()).nth(1, 2).inject(FaultProxy.truncate(100_000)));
        assertReadsBack(tier, key, size, 5);
        List<Long> starts = gets(key).stream().map(s -> rangeStart(s.header("range"))).toList();
        assertThat(starts).startsWith(0L, 100_000L, 200_000L);
    }

    @Test
    void stalls_longerThanTheIdleTimeout_areCutAndRetried() {
        S3Tier tier = open(config().idleTimeout(Duration.ofMillis(400)));
        ObjectKey key = ObjectKey.of("stall.bin");
        long size = 2L * MIB;
        upload(tier, key, size, 6);
        proxy.add(on("GET", "/" + bucket + "/" + key.value()).nth(1).inject(FaultProxy.stall(Duration.ofSeconds(20))));
        proxy.add(on("HEAD", "/" + bucket + "/" + key.value()).nth(1).inject(FaultProxy.stall(Duration.ofSeconds(20))));
        long t0 = System.nanoTime();
        assertReadsBack(tier, key, size, 6);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
    }

    @Test
    void randomFaults_withAFixedSeed_neverYieldWrongBytes() throws Exception {
        S3Tier tier = open(config().maxAttempts(10));
        String any = "/" + bucket + "/.*";
        proxy.add(on(null, any).probability(0.08, 11).inject(FaultProxy.slowDown()));
        proxy.add(on(null, any).probability(0.08, 12).inject(FaultProxy.internalError()));
        proxy.add(on(null, any).probability(0.08, 13).inject(FaultProxy.reset()));
        proxy.add(on("GET", any).probability(0.1, 14).inject(FaultProxy.truncate(1_300_000)));
        proxy.add(on("GET", any).probability(0.1, 15).inject(FaultProxy.resetMidBody(300_000)));
        for (int i = 0; i < 3; i++) {
            ObjectKey key = ObjectKey.of("random/" + i + ".bin");
            long size = 7L * MIB + i * 333_333L;
            upload(tier, key, size, 100 + i);
            assertReadsBack(tier, key, size, 100 + i);
            Path target = dir.resolve("random/" + i + ".bin");
            tier.download(key, target, 3, 2 * MIB, n -> { }).join();
            assertFileHolds(target, size, 100 + i);
        }
        assertThat(proxy.requests()).filteredOn(s -> s.fault() != null).hasSizeGreaterThan(5);
    }

    @Test
    void downloadsThroughTheSdkClient_resumeAndVerifyAlike() throws Exception {
        // the path of endpoints S3RangeGetter does not serve (AWS itself, virtual-hosted addressing)
        S3RangeGetter.disabledForTests = true;
        S3Tier tier;
        try {
            tier = open(config().maxAttempts(10));
        } finally {
            S3RangeGetter.disabledForTests = false;
        }
        assertThat(tier.rangeGetter()).isNull();
        ObjectKey key = ObjectKey.of("sdk-path.bin");
        long size = 9L * MIB + 777;
        upload(tier, key, size, 21);
        var cut = proxy.add(on("GET", "/" + bucket + "/" + key.value()).nth(1).inject(FaultProxy.truncate(3 * MIB / 2)));
        var reset = proxy.add(on("GET", "/" + bucket + "/" + key.value()).nth(2).inject(FaultProxy.resetMidBody(MIB / 2)));
        Path target = dir.resolve("sdk/sdk-path.bin");
        AtomicLong progress = new AtomicLong();
        S3Tier.Downloaded done = tier.fetch(key, target, 2, 4 * MIB, progress::addAndGet).join();
        assertEquals(1, cut.fired());
        assertEquals(1, reset.fired());
        assertEquals(S3ObjectDescription.Verification.CHUNK_CRC32C, done.verification());
        assertFileHolds(target, size, 21);
        assertEquals(size, progress.get(), "bytes reported once each");
        assertThat(Files.list(target.getParent()).toList()).containsExactly(target);
    }

    // ---- lasting faults: clean failures, nothing corrupt returned or stored

    @Test
    void corruptResponseBodies_areNeverReturned() {
        S3Tier tier = open(config());
        ObjectKey key = ObjectKey.of("corrupt.bin");
        long size = 3L * MIB;
        upload(tier, key, size, 7);
        proxy.add(on("GET", "/" + bucket + "/" + key.value()).inject(FaultProxy.corruptResponse(5000)));
        try (ObjectReader r = tier.openReader(key).join()) {
            ByteBuffer buf = ByteBuffer.allocate(MIB);
            Throwable t = assertThrows(Exception.class, () -> r.read(0, buf).join());
            assertThat(TierException.unwrap(t)).isInstanceOf(ChecksumMismatchException.class).hasMessageContaining(key.value());
            assertEquals(0, buf.position());
        }
        Path target = dir.resolve("corrupt/corrupt.bin");
        Throwable t = assertThrows(Exception.class, () -> tier.download(key, target, 2, MIB, n -> { }).join());
        assertThat(TierException.unwrap(t)).isInstanceOf(ChecksumMismatchException.class);
        assertFalse(Files.exists(target));
        assertFalse(Files.exists(target.resolveSibling(target.getFileName() + ".thermocline-part")));
    }

    @Test
    void lastingInternalErrors_onParts_failTheUpload_andLeaveNoObjectAndNoParts() {
        S3Tier tier = open(config());
        proxy.add(on("PUT", ".*partNumber=2.*").inject(FaultProxy.internalError()));
        ObjectKey key = ObjectKey.of("never/lands.bin");
        Throwable t = assertThrows(Exception.class, () -> upload(tier, key, 12L * MIB, 8));
        Throwable c = TierException.unwrap(t);
        assertThat(c).isInstanceOf(TierUnavailableException.class)
                .hasMessageContaining("s3://" + bucket + "/never/lands.bin").hasMessageContaining(proxy.endpoint().toString())
                .hasMessageContaining("500 InternalError").hasMessageContaining("after 4 attempts");
        assertThat(((TierException) c).retryable()).isTrue();
        assertThat(proxy.requests()).filteredOn(s -> s.target().contains("partNumber=2")).hasSize(4);
        assertNoObjectAndNoUpload();
        assertThat(tier.stat(key).join()).isEmpty();
        assertEquals(0, tier.usage().reservedInBytes());
    }

    @Test
    void lastingSlowDown_onAnEmptyObject_failsAndLeavesNothing() {
        S3Tier tier = open(config().maxAttempts(2));
        proxy.add(on("PUT", "/" + bucket + "/empty").inject(FaultProxy.slowDown()));
        Throwable t = assertThrows(Exception.class, () -> upload(tier, ObjectKey.of("empty"), 0, 9));
        assertThat(TierException.unwrap(t)).isInstanceOf(TierUnavailableException.class).hasMessageContaining("503 SlowDown");
        assertNoObjectAndNoUpload();
    }

    @Test
    void wrongCredentials_failAtOnce_withAClearMessageAndNoSecret() {
        String secret = "wrong-secret-" + Long.toHexString(System.nanoTime());
        Throwable t = assertThrows(TierException.class, () -> open(config().credentials(credentials(secret))));
        assertThat(t).isInstanceOf(TierUnavailableException.class).hasMessageContaining("403")
                .hasMessageContaining(bucket).hasMessageContaining(proxy.endpoint().toString())
                .hasMessageContaining("credentials").hasMessageNotContaining(secret);
        assertThat(((TierException) t).retryable()).isFalse();
        assertThat(proxy.requests()).hasSize(1); // not retried
    }

    @Test
    void missingBucket_failsAtOnce_namingIt() {
        S3TierConfig.Builder missing = S3TierConfig.builder("no-such-bucket").endpoint(proxy.endpoint())
                .credentials(credentials(server.secretKey()));
        for (boolean track : new boolean[] {true, false}) {
            proxy.clearRequests();
            Throwable e = assertThrows(TierException.class, () -> open(missing.trackUsage(track)));
            assertThat(e).isInstanceOf(TierUnavailableException.class)
                    .hasMessageContaining("bucket no-such-bucket does not exist at " + proxy.endpoint());
            assertThat(((TierException) e).retryable()).isFalse();
            assertThat(proxy.requests()).hasSize(1);
        }
    }

    @Test
    void aStallBeyondTheDeadline_failsWithinTheDeadlinePlusSlack() {
        Duration deadline = Duration.ofSeconds(2);
        S3Tier tier = open(config().requestDeadline(deadline).idleTimeout(Duration.ofSeconds(60)));
        ObjectKey key = ObjectKey.of("stalled.bin");
        upload(tier, key, MIB, 10);
        ObjectReader reader = tier.openReader(key).join();
        proxy.add(on(null, "/" + bucket + "/" + key.value()).inject(FaultProxy.stall(Duration.ofSeconds(60))));
        for (Runnable call : List.<Runnable>of(
                () -> reader.read(0, ByteBuffer.allocate(MIB)).join(),       // a resumable ranged GET: our deadline
                () -> tier.stat(key).join())) {                                // a HEAD: the SDK's apiCallTimeout
            long t0 = System.nanoTime();
            Throwable t = assertThrows(Exception.class, call::run);
            Duration took = Duration.ofNanos(System.nanoTime() - t0);
            assertThat(took).isGreaterThanOrEqualTo(deadline.minusMillis(50)).isLessThan(deadline.plusMillis(1500));
            assertThat(TierException.unwrap(t)).isInstanceOf(TierUnavailableException.class)
                    .hasMessageContaining("deadline of PT2S").hasMessageContaining(key.value());
            assertThat(((TierException) TierException.unwrap(t)).retryable()).isTrue();
        }
        reader.close();
    }

    private static long rangeStart(String range) {
        Matcher m = Pattern.compile("bytes=(\\d+)-\\d*").matcher(range);
        if (!m.matches()) {
            throw new AssertionError("not a byte range: " + range);
        }
        return Long.parseLong(m.group(1));
    }
}
