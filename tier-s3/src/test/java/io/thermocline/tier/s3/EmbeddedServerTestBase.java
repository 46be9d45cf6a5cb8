package io.thermocline.tier.s3;

import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * One embedded S3 server for a test class, a plain SDK client on it that goes behind the tier's
 * back ({@link #direct}), and fresh buckets. The server stops after the class, always.
 */
abstract class EmbeddedServerTestBase {

    @TempDir
    static Path serverDir;
    static EmbeddedS3Server server;
    /** A plain client on the server, for what the tests do behind the tier's back. */
    static S3Client direct;
    private static int buckets;

    @BeforeAll
    static void startServer() {
        server = EmbeddedS3Server.start(serverDir.resolve("s3"));
        direct = S3Client.builder().endpointOverride(server.endpoint()).forcePathStyle(true).region(Region.of(server.region()))
                .credentialsProvider(credentials(server.secretKey())).build();
    }

    @AfterAll
    static void stopServer() {
        if (direct != null) {
            direct.close();
            direct = null;
        }
        if (server != null) {
            server.close();
            server = null;
        }
    }

    /** The server's access key with {@code secret} (the server's own, or a wrong one). */
    static StaticCredentialsProvider credentials(String secret) {
        return StaticCredentialsProvider.create(AwsBasicCredentials.create(server.accessKey(), secret));
    }

    /** Creates a new bucket named {@code prefix-N}. */
    static String newBucket(String prefix) throws java.io.IOException {
        String bucket = prefix + "-" + buckets++;
        server.createBucket(bucket);
        return bucket;
    }
}
