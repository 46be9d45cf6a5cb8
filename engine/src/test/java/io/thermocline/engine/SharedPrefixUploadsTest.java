package io.thermocline.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.thermocline.placement.PolicyConfig;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.s3.S3Tier;
import io.thermocline.tier.testkit.TestData;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Two data roots (two hosts) on one bucket prefix: an engine becoming owner of its data root
 * aborts only the abandoned multipart uploads of that data root, never another's in-flight one,
 * nor one it cannot tell the owner of (those only the abandoned-upload age reclaims).
 */
class SharedPrefixUploadsTest {

    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private static S3Tier s3(TierEngine engine) {
        return (S3Tier) engine.backing().tier;
    }

    private static void writePart(ObjectWriter w) {
        w.write(0, TestData.bytes(3, 0, 8 * MIB)).join(); // one whole 8 MiB part
    }

    @Test
    void anotherDataRootOpening_leavesThisRootsUploadInFlight_andAnOwnerAbortsOnlyItsOwnAbandonedOnes() throws Exception {
        try (EmbeddedS3Server server = EmbeddedS3Server.start(dir.resolve("s3"));
             S3Client direct = S3Client.builder().endpointOverride(server.endpoint()).forcePathStyle(true)
                     .region(Region.of(server.region())).credentialsProvider(StaticCredentialsProvider.create(
                             AwsBasicCredentials.create(server.accessKey(), server.secretKey()))).build()) {
            server.createBucket("shared");
            EngineConfig hostA = EngineFixture.config(dir.resolve("a"), server, "shared", PolicyConfig.builder().build()).build();
            EngineConfig hostB = EngineFixture.config(dir.resolve("b"), server, "shared", PolicyConfig.builder().build()).build();
            try (TierEngine a = TierEngine.open(hostA)) {
                assertThat(s3(a).uploadOwner()).isPresent();
                // host A's checkpoint upload, under way
                ObjectWriter inFlight = s3(a).create(WriteRequest.of(ObjectKey.of("a/checkpoint.bin"), 12L * MIB)).join();
                writePart(inFlight);
                // an upload some tool started under the prefix: nobody's
                direct.createMultipartUpload(b -> b.bucket("shared").key("engine/tool/upload.bin"));

                // host B starts (its first open: becomes owner of its data root and recovers)
                TierEngine b = TierEngine.open(hostB);
                assertThat(s3(b).uploadOwner()).isPresent().isNotEqualTo(s3(a).uploadOwner());
                assertThat(s3(a).incompleteUploads().join()).as("host B's start left host A's upload alone")
                        .contains("engine/a/checkpoint.bin", "engine/tool/upload.bin");
                // host B's own upload, abandoned by a process that ends without finishing it
                ObjectWriter abandoned = s3(b).create(WriteRequest.of(ObjectKey.of("b/abandoned.bin"), 12L * MIB)).join();
                writePart(abandoned);
                b.close();
                assertThat(s3(a).incompleteUploads().join()).contains("engine/b/abandoned.bin");

                // host B again: reclaims its own abandoned upload, and only that one
                try (TierEngine b2 = TierEngine.open(hostB)) {
                    List<String> left = s3(b2).incompleteUploads().join();
                    assertThat(left).as("after host B's second start").doesNotContain("engine/b/abandoned.bin")
                            .contains("engine/a/checkpoint.bin", "engine/tool/upload.bin");
                    assertThat(s3(b2).list("", null, 1000).join().keys()).as("upload records are not objects")
                            .noneMatch(k -> k.value().startsWith(".thermocline/"));
                }
                // host A finishes its upload
                inFlight.write(8L * MIB, TestData.bytes(3, 8L * MIB, 4 * MIB)).join();
                inFlight.commit().join();
                assertThat(s3(a).stat(ObjectKey.of("a/checkpoint.bin")).join()).isPresent();
                assertThat(s3(a).incompleteUploads().join()).doesNotContain("engine/a/checkpoint.bin");
            }
            // host A's upload records are gone with its uploads: a reopen aborts nothing of A's and leaves the tool's upload
            try (TierEngine a = TierEngine.open(hostA)) {
                assertThat(s3(a).incompleteUploads().join()).containsExactly("engine/tool/upload.bin");
            }
            assertThat(direct.listObjectsV2(r -> r.bucket("shared").prefix("engine/.thermocline/uploads/")).contents())
                    .as("no upload record left behind").isEmpty();
        }
    }
}
