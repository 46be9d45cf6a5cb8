package io.thermocline.tier.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Exception;

class EmbeddedS3ServerTest {

    @TempDir
    Path dir;

    private static S3Client client(EmbeddedS3Server server, String accessKey, String secretKey) {
        return S3Client.builder().endpointOverride(server.endpoint()).forcePathStyle(true)
                .region(Region.of(server.region()))
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(accessKey, secretKey)))
                .build();
    }

    @Test
    void sdkClient_putsAndGetsWithSigV4_onLoopback() throws Exception {
        try (EmbeddedS3Server server = EmbeddedS3Server.start(dir.resolve("s3"));
             S3Client s3 = client(server, server.accessKey(), server.secretKey())) {
            assertThat(server.endpoint().toString()).startsWith("http://127.0.0.1:");
            server.createBucket("models");
            s3.putObject(b -> b.bucket("models").key("llama/config.json"), RequestBody.fromString("{\"layers\": 32}"));
            String body = s3.getObjectAsBytes(b -> b.bucket("models").key("llama/config.json")).asString(StandardCharsets.UTF_8);
            assertEquals("{\"layers\": 32}", body);
            assertEquals(1, s3.listObjectsV2(b -> b.bucket("models").prefix("llama/")).keyCount());
        }
    }

    @Test
    void wrongSecret_isRefusedWith403() throws Exception {
        try (EmbeddedS3Server server = EmbeddedS3Server.start(dir.resolve("s3"));
             S3Client s3 = client(server, server.accessKey(), "not-the-secret")) {
            server.createBucket("models");
            assertThatThrownBy(() -> s3.listObjectsV2(b -> b.bucket("models")))
                    .isInstanceOf(S3Exception.class).satisfies(e -> assertEquals(403, ((S3Exception) e).statusCode()));
        }
    }

    @Test
    void takenPort_failsWithAClearMessage_andBadInputIsNamed() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            assertThatThrownBy(() -> EmbeddedS3Server.start(dir.resolve("s3"), taken.getLocalPort(), "a", "b"))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("127.0.0.1:" + taken.getLocalPort());
        }
        assertThatThrownBy(() -> EmbeddedS3Server.start(dir, 70000, "a", "b")).hasMessageContaining("port: 70000");
        try (EmbeddedS3Server server = EmbeddedS3Server.start(dir.resolve("s3"))) {
            assertThatThrownBy(() -> server.createBucket("Bad_Bucket")).hasMessageContaining("bucket: \"Bad_Bucket\"");
        }
    }
}
