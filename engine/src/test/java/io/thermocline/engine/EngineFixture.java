package io.thermocline.engine;

import io.thermocline.placement.PolicyConfig;
import io.thermocline.placement.TierSpec;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.s3.S3TierConfig;
import io.thermocline.tier.testkit.TestData;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Three tiers for engine tests — {@code local} (files), {@code fabric} (extents on a file-backed
 * block device) and {@code s3} (the embedded S3 server) — under one directory, with the region
 * file there too.
 */
final class EngineFixture {

    static final long MIB = 1 << 20;

    private EngineFixture() {
    }

    static EngineConfig.Builder config(Path dir, URI endpoint, String accessKey, String secretKey, String bucket, PolicyConfig policy) {
        return config(dir, endpoint, accessKey, secretKey, bucket, policy, 0);
    }

    /** @param s3MoveBandwidth the s3 tier's bandwidth limit for moves, bytes per second; 0: none */
    static EngineConfig.Builder config(Path dir, URI endpoint, String accessKey, String secretKey, String bucket, PolicyConfig policy,
                                       long s3MoveBandwidth) {
        S3TierConfig s3 = S3TierConfig.builder(bucket).prefix("engine/").endpoint(endpoint)
                .credentials(StaticCredentialsProvider.create(AwsBasicCredentials.create(accessKey, secretKey))).build();
        return EngineConfig.builder(dir.resolve("root"))
                .regionPath(dir.resolve("region"))
                .regionMaxObjects(4096)
                .tier(StandardTiers.local(TierSpec.builder("local", 256 * MIB).build(), dir.resolve("local"), false))
                .tier(StandardTiers.blockOnFile(TierSpec.builder("fabric", 256 * MIB).build(), dir.resolve("fabric.img"),
                        dir.resolve("fabric-catalog"), "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-00000000e001", false))
                .tier(StandardTiers.s3(TierSpec.builder("s3", 1L << 40).bandwidthBytesPerSecond(s3MoveBandwidth).build(), s3))
                .policy(policy)
                .plannerInterval(Duration.ofHours(1)) // tests call planOnce themselves
                .drainGrace(Duration.ofMillis(20))
                .ownershipInterval(Duration.ofMillis(100))
                .requestTimeout(Duration.ofSeconds(30));
    }

    static EngineConfig.Builder config(Path dir, EmbeddedS3Server server, String bucket, PolicyConfig policy) {
        return config(dir, server.endpoint(), server.accessKey(), server.secretKey(), bucket, policy);
    }

    /** A channel of {@code size} deterministic bytes of {@code seed}. */
    static ReadableByteChannel source(long seed, long size) {
        return TestData.channel(seed, size);
    }

    static ObjectInfo put(TierEngine engine, String key, long seed, long size, PutOptions options) {
        return engine.put(ObjectKey.of(key), source(seed, size), size, options).join();
    }

    /** Reads the whole object through the engine and checks every byte against {@code seed}. */
    static void assertContent(TierEngine engine, String key, long seed, long size) throws IOException {
        try (EngineReader r = engine.read(ObjectKey.of(key)).join(); SeekableByteChannel ch = r.channel()) {
            assertEquals(size, r.info().sizeInBytes(), "size of " + key);
            ByteBuffer buf = ByteBuffer.allocate(300_007);
            long position = 0;
            while (true) {
                buf.clear();
                int n = ch.read(buf);
                if (n < 0) {
                    break;
                }
                buf.flip();
                long bad = TestData.firstMismatch(seed, position, buf);
                assertTrue(bad < 0, () -> key + ": first wrong byte at " + bad);
                position += n;
            }
            assertEquals(size, position, "bytes read of " + key);
        }
    }
}
