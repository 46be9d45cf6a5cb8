package io.thermocline.tier.s3;

import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.Tier;
import io.thermocline.tier.testkit.TierContractTest;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

/** S3Tier against the embedded S3-compatible server, through the tier contract. */
class S3TierTest extends TierContractTest {

    @TempDir
    static Path serverDir;
    private static EmbeddedS3Server server;
    private static int buckets;

    @BeforeAll
    static void startServer() {
        server = EmbeddedS3Server.start(serverDir.resolve("s3"));
    }

    @AfterAll
    static void stopServer() {
        server.close();
    }

    @Override
    protected Tier newTier(long capacityInBytes) throws Exception {
        String bucket = "contract-" + buckets++;
        server.createBucket(bucket);
        return S3Tier.open(S3TierConfig.builder(bucket).prefix("tier/").endpoint(server.endpoint())
                .credentials(StaticCredentialsProvider.create(AwsBasicCredentials.create(server.accessKey(), server.secretKey())))
                .capacityInBytes(capacityInBytes).build());
    }

    /**
     * 4 MiB chunks, 6 of them and a half, with the default 8 MiB parts (S3 takes parts under 5 MiB
     * only as the last one): the suspend test's checkpoint of 3 chunks covers one part and names
     * less than was written; the crash test's checkpoint of 4 chunks ends exactly on the second
     * part's end, because that test goes on writing at the point's length with the old writer,
     * which must be past what the old writer has written.
     */
    @Override
    protected int resumeChunkSize() {
        return 4 << 20;
    }

    @Override
    protected int resumeChunkCount() {
        return 6;
    }

    @Override
    protected Tier reopen(Tier tier) {
        return S3Tier.open(((S3Tier) tier).config());
    }

    @Override
    protected void corruptStoredByte(Tier tier, ObjectKey key, long offset) throws Exception {
        S3Tier s3 = (S3Tier) tier;
        Path file = server.dataDir().resolve(s3.config().bucket()).resolve(s3.s3Key(key));
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(offset);
            int b = f.read();
            f.seek(offset);
            f.write(b ^ 0x5a);
        }
    }
}
