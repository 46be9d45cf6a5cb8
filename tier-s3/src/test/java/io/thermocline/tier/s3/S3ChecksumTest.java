package io.thermocline.tier.s3;

import static io.thermocline.tier.s3.FaultProxy.Rule.on;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.Crc32c;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierIoException;
import io.thermocline.tier.testkit.TestData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;

/**
 * S3's additional checksums on uploads ({@link S3TierConfig.AdditionalChecksums}) and objects
 * written by other tools, against the embedded server (S3Proxy 4.1.0), observed and altered
 * through {@link FaultProxy}.
 *
 * <p>What S3Proxy 4.1.0 with its file-system back end does, as these tests pin down: it checks
 * {@code x-amz-checksum-crc32c} (a header or an aws-chunked trailer) against the body it received
 * and refuses a mismatch with {@code 400 BadDigest}, but it keeps no checksum: HEAD with
 * {@code x-amz-checksum-mode: ENABLED} returns none. Servers that keep them (AWS, MinIO) are
 * emulated by the proxy adding the headers AWS sends.
 */
class S3ChecksumTest extends EmbeddedServerTestBase {

    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;
    private FaultProxy proxy;
    private String bucket;
    private S3Tier tier;

    @BeforeEach
    void startProxy() throws IOException {
        bucket = newBucket("sums");
        proxy = FaultProxy.start(server.endpoint());
    }

    @AfterEach
    void stop() {
        if (tier != null) {
            tier.close();
        }
        proxy.close();
    }

    private S3Tier open(S3TierConfig.AdditionalChecksums mode) {
        tier = S3Tier.open(S3TierConfig.builder(bucket).endpoint(proxy.endpoint())
                .credentials(credentials(server.secretKey()))
                .partSizeInBytes(5 * MIB).maxAttempts(3).retryBaseDelay(Duration.ofMillis(10)).retryMaxDelay(Duration.ofMillis(100))
                .additionalChecksums(mode).build());
        return tier;
    }

    private List<FaultProxy.Seen> uploads() {
        return proxy.requests().stream().filter(s -> s.method().equals("PUT")).toList();
    }

    private static boolean carriesCrc32c(FaultProxy.Seen s) {
        return s.header("x-amz-checksum-crc32c") != null || "x-amz-checksum-crc32c".equalsIgnoreCase(s.header("x-amz-trailer"));
    }

    /** The header, not an aws-chunked trailer (which S3Proxy 4.1.0 does not check). */
    private static boolean carriesCrc32cHeader(FaultProxy.Seen s) {
        return s.header("x-amz-checksum-crc32c") != null && s.header("x-amz-trailer") == null
               && !"aws-chunked".equals(s.header("content-encoding"));
    }

    @Test
    void whenSupported_everyUploadCarriesACrc32c_andTheServerRefusesACorruptedPart() {
        S3Tier tier = open(S3TierConfig.AdditionalChecksums.WHEN_SUPPORTED);
        // one bit of the first part flipped on the way: the server must refuse it, and the retry lands the right bytes
        var corrupt = proxy.add(on("PUT", ".*partNumber=1&.*|.*partNumber=1").nth(1).inject(FaultProxy.corruptRequest(200_000)));
        ObjectKey key = ObjectKey.of("with-crc.bin");
        long size = 11L * MIB + 5;
        S3FaultTest.upload(tier, key, size, 21);
        assertEquals(1, corrupt.fired());
        assertThat(proxy.requests()).filteredOn(s -> s.method().equals("POST") && s.target().endsWith("?uploads"))
                .singleElement().satisfies(s -> assertEquals("CRC32C", s.header("x-amz-checksum-algorithm")));
        assertThat(uploads()).hasSizeGreaterThanOrEqualTo(4).allSatisfy(s -> assertThat(carriesCrc32cHeader(s)).as("%s", s).isTrue());
        assertThat(uploads()).filteredOn(s -> s.fault() != null).singleElement()
                .satisfies(s -> assertEquals(400, s.status(), "the corrupted part is refused"));
        S3FaultTest.assertReadsBack(tier, key, size, 21);
        assertThat(tier.describe(key).join().orElseThrow().verification()).isEqualTo(S3ObjectDescription.Verification.CHUNK_CRC32C);
    }

    @Test
    void whenRequiredAndOff_uploadsCarryNoCrc32c_andOffNeverAsksForS3Checksums() {
        for (S3TierConfig.AdditionalChecksums mode : List.of(S3TierConfig.AdditionalChecksums.WHEN_REQUIRED,
                S3TierConfig.AdditionalChecksums.OFF)) {
            S3Tier tier = open(mode);
            proxy.clearRequests();
            ObjectKey key = ObjectKey.of("plain-" + mode + ".bin");
            S3FaultTest.upload(tier, key, 6L * MIB, 22);
            S3FaultTest.assertReadsBack(tier, key, 6L * MIB, 22);
            assertThat(uploads()).hasSizeGreaterThanOrEqualTo(3).noneMatch(S3ChecksumTest::carriesCrc32c);
            // (the writer's own HEAD before commit, which looks for an object to replace, needs no checksums)
            assertThat(proxy.requests()).filteredOn(s -> s.method().equals("HEAD") && s.status() == 200).isNotEmpty()
                    .allSatisfy(s -> assertEquals(mode == S3TierConfig.AdditionalChecksums.OFF ? null : "ENABLED",
                            s.header("x-amz-checksum-mode")));
            this.tier.close();
            this.tier = null;
        }
    }

    @Test
    void withoutCrc32c_aPartCorruptedOnTheWayIsStored_butNoWrongByteIsEverReturned() throws Exception {
        S3Tier tier = open(S3TierConfig.AdditionalChecksums.OFF);
        proxy.add(on("PUT", ".*partNumber=1&.*|.*partNumber=1").nth(1).inject(FaultProxy.corruptRequest(200_000)));
        ObjectKey key = ObjectKey.of("no-crc.bin");
        long size = 6L * MIB;
        // the SDK sends UNSIGNED-PAYLOAD: without a checksum nothing tells the server the part is wrong
        S3FaultTest.upload(tier, key, size, 23);
        assertThat(uploads()).filteredOn(s -> s.fault() != null).singleElement()
                .satisfies(s -> assertEquals("UNSIGNED-PAYLOAD", s.header("x-amz-content-sha256")));
        Throwable t = assertThrows(Exception.class, () -> S3FaultTest.assertReadsBack(tier, key, size, 23));
        assertThat(TierException.unwrap(t)).isInstanceOf(ChecksumMismatchException.class).hasMessageContaining(key.value())
                .hasMessageContaining("at offset 0 ");
        Path target = dir.resolve("no-crc.bin");
        t = assertThrows(Exception.class, () -> tier.download(key, target, 2, MIB, n -> { }).join());
        assertThat(TierException.unwrap(t)).isInstanceOf(ChecksumMismatchException.class);
        assertFalse(Files.exists(target));
    }

    // ---- objects written by other tools

    private ObjectKey putPlain(String name, long seed, int size) {
        ByteBuffer bytes = TestData.fill(seed, 0, ByteBuffer.allocate(size));
        direct.putObject(b -> b.bucket(bucket).key(name).contentType("text/plain"), RequestBody.fromByteBuffer(bytes));
        return ObjectKey.of(name);
    }

    @Test
    void anotherToolsObject_isDescribedAndListed_andDownloadedUnverified_whenTheServerKeepsNoChecksum() throws Exception {
        S3Tier tier = open(S3TierConfig.AdditionalChecksums.WHEN_SUPPORTED);
        int size = 3 * MIB + 77;
        ObjectKey key = putPlain("other/tool.bin", 31, size);
        assertThat(tier.list("other/", null, 10).join().keys()).containsExactly(key);
        S3ObjectDescription d = tier.describe(key).join().orElseThrow();
        assertEquals(size, d.sizeInBytes());
        assertEquals("text/plain", d.contentType());
        assertThat(d.info()).isEmpty();
        assertThat(d.s3Crc32c()).isEmpty();
        assertEquals(S3ObjectDescription.Verification.NONE, d.verification());
        // stat reads the version once and records the chunk CRC32Cs it computed, pinned by the ETag
        var info = tier.stat(key).join().orElseThrow();
        assertEquals(TestData.crc32c(31, size), info.crc32c());
        assertEquals(java.util.Optional.of("etag"), S3Tier.sourceCheck(info));
        assertEquals(java.util.Optional.of(d.eTag()), S3Tier.sourceETag(info));
        Path target = dir.resolve("plain/tool.bin");
        S3Tier.Downloaded done = tier.fetch(key, target, 2, MIB, n -> { }).join();
        assertEquals(S3ObjectDescription.Verification.NONE, done.verification());
        assertEquals(TestData.crc32c(31, size), done.info().crc32c());
        assertEquals("text/plain", done.info().contentType());
        S3FaultTest.assertFileHolds(target, size, 31);
    }

    @Test
    void anotherToolsObject_isVerifiedAgainstS3sFullObjectCrc32c_whenTheServerKeepsOne() throws Exception {
        S3Tier tier = open(S3TierConfig.AdditionalChecksums.WHEN_SUPPORTED);
        int size = 2 * MIB + 4099;
        ObjectKey key = putPlain("kept/crc.bin", 32, size);
        int crc = TestData.crc32c(32, size);
        String path = "/" + bucket + "/kept/crc.bin";
        var kept = proxy.add(on("HEAD", path).inject(FaultProxy.addResponseHeaders(Map.of(
                "x-amz-checksum-crc32c", base64(crc), "x-amz-checksum-type", "FULL_OBJECT"))));
        S3ObjectDescription d = tier.describe(key).join().orElseThrow();
        assertEquals(S3ObjectDescription.Verification.OBJECT_CRC32C, d.verification());
        assertEquals(crc, d.s3Crc32c().orElseThrow());
        Path target = dir.resolve("kept/crc.bin");
        S3Tier.Downloaded done = tier.fetch(key, target, 3, MIB, n -> { }).join();
        assertEquals(S3ObjectDescription.Verification.OBJECT_CRC32C, done.verification());
        S3FaultTest.assertFileHolds(target, size, 32);
        assertThat(kept.fired()).isEqualTo(2);

        // the same object, but the server's checksum disagrees with the bytes: no file
        proxy.clearRules();
        proxy.add(on("HEAD", path).inject(FaultProxy.addResponseHeaders(Map.of(
                "x-amz-checksum-crc32c", base64(crc ^ 1), "x-amz-checksum-type", "FULL_OBJECT"))));
        Path other = dir.resolve("kept/other.bin");
        Throwable t = assertThrows(Exception.class, () -> tier.fetch(key, other, 3, MIB, n -> { }).join());
        assertThat(TierException.unwrap(t)).isInstanceOf(ChecksumMismatchException.class)
                .hasMessageContaining("s3://" + bucket + "/kept/crc.bin").hasMessageContaining("S3's full-object CRC32C");
        assertFalse(Files.exists(other));
        assertThat(Files.list(other.getParent()).toList()).containsExactly(target);

        // a composite checksum (of a multipart upload's parts) is not a checksum of the bytes
        proxy.clearRules();
        proxy.add(on("HEAD", path).inject(FaultProxy.addResponseHeaders(Map.of(
                "x-amz-checksum-crc32c", base64(crc) + "-3", "x-amz-checksum-type", "COMPOSITE"))));
        assertEquals(S3ObjectDescription.Verification.NONE, tier.describe(key).join().orElseThrow().verification());
    }

    @Test
    void s3ProxyChecksAnUploadsCrc32c_butKeepsNone() {
        ByteBuffer bytes = TestData.fill(33, 0, ByteBuffer.allocate(4096));
        String good = base64(Crc32c.of(bytes.duplicate()));
        direct.putObject(b -> b.bucket(bucket).key("good").checksumCRC32C(good), RequestBody.fromByteBuffer(bytes.duplicate()));
        var refused = assertThrows(software.amazon.awssdk.services.s3.model.S3Exception.class, () -> direct.putObject(
                b -> b.bucket(bucket).key("bad").checksumCRC32C(base64(Crc32c.of(bytes.duplicate()) ^ 1)),
                RequestBody.fromByteBuffer(bytes.duplicate())));
        assertEquals(400, refused.statusCode());
        assertEquals("BadDigest", refused.awsErrorDetails().errorCode());
        direct.putObject(b -> b.bucket(bucket).key("sdk").checksumAlgorithm(ChecksumAlgorithm.CRC32_C),
                RequestBody.fromByteBuffer(bytes.duplicate()));
        var head = direct.headObject(b -> b.bucket(bucket).key("sdk")
                .checksumMode(software.amazon.awssdk.services.s3.model.ChecksumMode.ENABLED));
        assertThat(head.checksumCRC32C()).isNull();
    }

    private static String base64(int crc) {
        return Base64.getEncoder().encodeToString(ByteBuffer.allocate(4).putInt(crc).array());
    }
}
