package io.thermocline.tier.s3;

import static io.thermocline.tier.s3.FaultProxy.Rule.on;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierIoException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.CompletedPart;

/**
 * Objects that another tool uploaded, with the AWS SDK's plain putObject and multipart upload
 * (no Thermocline code writes them): stat and reads make their info from one ETag-pinned read,
 * checked against S3's own checksum where the object carries one.
 *
 * <p>S3Proxy 4.1.0 (the embedded server) checks a checksum sent with an upload but keeps none:
 * HEAD with {@code x-amz-checksum-mode: ENABLED} returns no {@code x-amz-checksum-*}. The path
 * where S3 keeps one is therefore exercised with {@link FaultProxy} adding the headers AWS sends,
 * with the value computed here from the bytes uploaded (and a wrong one, which must fail).
 */
class S3ForeignObjectsTest extends EmbeddedServerTestBase {

    private static final int MIB = 1 << 20;

    private FaultProxy proxy;
    private String bucket;
    private S3Tier tier;

    @BeforeEach
    void start() throws IOException {
        bucket = newBucket("foreign");
        proxy = FaultProxy.start(server.endpoint());
        tier = S3Tier.open(S3TierConfig.builder(bucket).endpoint(proxy.endpoint()).credentials(credentials(server.secretKey()))
                .maxAttempts(3).retryBaseDelay(Duration.ofMillis(10)).retryMaxDelay(Duration.ofMillis(100)).build());
    }

    @AfterEach
    void stop() {
        if (tier != null) {
            tier.close();
        }
        proxy.close();
    }

    private static byte[] random(long seed, int size) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    private void put(String key, byte[] bytes, ChecksumAlgorithm algorithm) {
        direct.putObject(b -> {
            b.bucket(bucket).key(key);
            if (algorithm != null) {
                b.checksumAlgorithm(algorithm);
            }
        }, RequestBody.fromBytes(bytes));
    }

    /** CreateMultipartUpload, UploadPart for each part, CompleteMultipartUpload: as the AWS CLI uploads a large file. */
    private void multipart(String key, byte[] bytes, int partSize, ChecksumAlgorithm algorithm) {
        String id = direct.createMultipartUpload(b -> {
            b.bucket(bucket).key(key);
            if (algorithm != null) {
                b.checksumAlgorithm(algorithm);
            }
        }).uploadId();
        List<CompletedPart> parts = new ArrayList<>();
        for (int off = 0, n = 1; off < bytes.length; off += partSize, n++) {
            int len = Math.min(partSize, bytes.length - off);
            int number = n;
            var r = direct.uploadPart(b -> {
                b.bucket(bucket).key(key).uploadId(id).partNumber(number);
                if (algorithm != null) {
                    b.checksumAlgorithm(algorithm);
                }
            }, RequestBody.fromBytes(java.util.Arrays.copyOfRange(bytes, off, off + len)));
            parts.add(CompletedPart.builder().partNumber(number).eTag(r.eTag()).checksumCRC32C(r.checksumCRC32C())
                    .checksumCRC32(r.checksumCRC32()).checksumSHA256(r.checksumSHA256()).build());
        }
        direct.completeMultipartUpload(b -> b.bucket(bucket).key(key).uploadId(id).multipartUpload(m -> m.parts(parts)));
    }

    private static int crc32c(byte[] b) {
        return Crc32c.of(b, 0, b.length);
    }

    private static String b64(byte[] b) {
        return Base64.getEncoder().encodeToString(b);
    }

    private static String b64(int v) {
        return b64(ByteBuffer.allocate(4).putInt(v).array());
    }

    private static String sha256(byte[] b) throws Exception {
        return b64(MessageDigest.getInstance("SHA-256").digest(b));
    }

    private static String crc32(byte[] b) {
        CRC32 c = new CRC32();
        c.update(b);
        return b64((int) c.getValue());
    }

    private void assertReadsBack(ObjectKey key, byte[] expected) {
        try (ObjectReader r = tier.openReader(key).join()) {
            ByteBuffer all = ByteBuffer.allocate(expected.length);
            while (all.hasRemaining()) {
                if (r.read(all.position(), all).join() < 0) {
                    break;
                }
            }
            assertArrayEquals(expected, all.array(), "bytes of " + key);
        }
    }

    @Test
    void plainPutAndMultipartObjects_withAndWithoutChecksumAlgorithms_areStatedAndRead_pinnedByTheirETag() {
        List<ChecksumAlgorithm> algorithms = new ArrayList<>(List.of(ChecksumAlgorithm.CRC32_C, ChecksumAlgorithm.CRC32,
                ChecksumAlgorithm.SHA256));
        algorithms.add(null);
        int i = 0;
        for (ChecksumAlgorithm a : algorithms) {
            String name = a == null ? "none" : a.toString().toLowerCase();
            byte[] small = random(i++, 3 * MIB + 13);
            put("put/" + name + ".bin", small, a);
            byte[] large = random(i++, 11 * MIB + 5);
            multipart("mpu/" + name + ".safetensors", large, 5 * MIB, a);
            for (var e : Map.of("put/" + name + ".bin", small, "mpu/" + name + ".safetensors", large).entrySet()) {
                ObjectKey key = ObjectKey.of(e.getKey());
                ObjectInfo info = tier.stat(key).join().orElseThrow();
                assertEquals(e.getValue().length, info.sizeInBytes(), e.getKey());
                assertEquals(crc32c(e.getValue()), info.crc32c(), "CRC32C computed from the bytes of " + e.getKey());
                assertEquals(Optional.of(tier.describe(key).join().orElseThrow().eTag()), S3Tier.sourceETag(info));
                // the embedded server keeps no checksum: the ETag alone pinned the bytes
                assertEquals(Optional.of("etag"), S3Tier.sourceCheck(info), e.getKey());
                assertReadsBack(key, e.getValue());
            }
        }
    }

    @Test
    void s3sFullObjectChecksums_areCheckedAgainstTheBytes_andAMismatchIsNeverRecorded() throws Exception {
        byte[] bytes = random(7, 9 * MIB + 3);
        put("kept/model.safetensors", bytes, null);
        ObjectKey key = ObjectKey.of("kept/model.safetensors");
        String path = "/" + bucket + "/kept/model.safetensors";
        Map<String, String[]> kept = Map.of(
                "s3-sha256", new String[] {"x-amz-checksum-sha256", sha256(bytes)},
                "s3-crc32c", new String[] {"x-amz-checksum-crc32c", b64(crc32c(bytes))},
                "s3-crc32", new String[] {"x-amz-checksum-crc32", crc32(bytes)});
        for (var e : kept.entrySet()) {
            // a fresh tier each time: infos are kept per key and ETag
            tier.close();
            proxy.clearRules();
            proxy.add(on("HEAD", path).inject(FaultProxy.addResponseHeaders(Map.of(e.getValue()[0], e.getValue()[1],
                    "x-amz-checksum-type", "FULL_OBJECT"))));
            tier = S3Tier.open(S3TierConfig.builder(bucket).endpoint(proxy.endpoint()).credentials(credentials(server.secretKey())).build());
            ObjectInfo info = tier.stat(key).join().orElseThrow();
            assertEquals(Optional.of(e.getKey()), S3Tier.sourceCheck(info));
            assertEquals(crc32c(bytes), info.crc32c());

            tier.close();
            proxy.clearRules();
            String wrong = e.getValue()[1].startsWith("A") ? "B" + e.getValue()[1].substring(1) : "A" + e.getValue()[1].substring(1);
            proxy.add(on("HEAD", path).inject(FaultProxy.addResponseHeaders(Map.of(e.getValue()[0], wrong,
                    "x-amz-checksum-type", "FULL_OBJECT"))));
            tier = S3Tier.open(S3TierConfig.builder(bucket).endpoint(proxy.endpoint()).credentials(credentials(server.secretKey())).build());
            Throwable t = assertThrows(Exception.class, () -> tier.stat(key).join());
            assertThat(TierException.unwrap(t)).isInstanceOf(TierIoException.class).hasMessageContaining("does not match")
                    .hasMessageContaining(path.substring(1));
            assertThrows(Exception.class, () -> tier.openReader(key).join(), "a reader of bytes S3's checksum refutes");
        }
    }

    @Test
    void anObjectReplacedWhileItIsRead_failsTheRead_andAReplacementIsANewVersion() {
        byte[] first = random(1, 4 * MIB);
        put("swap/shard.safetensors", first, null);
        ObjectKey key = ObjectKey.of("swap/shard.safetensors");
        ObjectInfo before = tier.stat(key).join().orElseThrow();
        byte[] second = random(2, 4 * MIB);
        try (ObjectReader r = tier.openReader(key).join()) {
            ByteBuffer head = ByteBuffer.allocate(MIB);
            r.read(0, head).join();
            put("swap/shard.safetensors", second, null); // another tool replaces it mid-read
            Throwable t = assertThrows(Exception.class, () -> r.read(2L * MIB, ByteBuffer.allocate(MIB)).join());
            assertThat(TierException.unwrap(t)).isInstanceOf(TierIoException.class).hasMessageContaining("changed while it was being read");
        }
        ObjectInfo after = tier.stat(key).join().orElseThrow();
        assertThat(S3Tier.sourceETag(after)).isNotEqualTo(S3Tier.sourceETag(before));
        assertEquals(crc32c(second), after.crc32c());
        assertReadsBack(key, second);
    }
}
