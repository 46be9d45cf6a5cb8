package io.thermocline.tier.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectNotFoundException;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.TierException;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.testkit.TestData;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

class S3DownloadTest {

    @TempDir
    Path dir;
    private EmbeddedS3Server server;
    private S3Tier tier;

    @BeforeEach
    void start() throws Exception {
        server = EmbeddedS3Server.start(dir.resolve("s3"));
        server.createBucket("models");
        tier = S3Tier.open(S3TierConfig.builder("models").endpoint(server.endpoint())
                .credentials(StaticCredentialsProvider.create(AwsBasicCredentials.create(server.accessKey(), server.secretKey())))
                .build());
    }

    @AfterEach
    void stop() {
        tier.close();
        server.close();
    }

    private ObjectInfo upload(ObjectKey key, long size) {
        try (ObjectWriter w = tier.create(WriteRequest.builder(key, size).chunkSizeInBytes(1 << 20).build()).join()) {
            ByteBuffer buf = ByteBuffer.allocate(3 << 20);
            for (long p = 0; p < size; p += buf.capacity()) {
                int n = (int) Math.min(buf.capacity(), size - p);
                w.write(p, TestData.fill(7, p, buf.clear().limit(n))).join();
            }
            return w.commit().join();
        }
    }

    @Test
    void download_inParallelRanges_writesTheVerifiedObject() throws Exception {
        long size = (20L << 20) + 12345;
        ObjectKey key = ObjectKey.of("llama/model-00001.safetensors");
        ObjectInfo uploaded = upload(key, size);
        Path target = dir.resolve("out/model-00001.safetensors");
        AtomicLong progress = new AtomicLong();
        ObjectInfo info = tier.download(key, target, 4, 3 << 20, progress::addAndGet).join();
        assertEquals(uploaded, info);
        assertEquals(size, Files.size(target));
        assertEquals(size, progress.get());
        try (FileChannel ch = FileChannel.open(target)) {
            ByteBuffer buf = ByteBuffer.allocate(1 << 20);
            for (long p = 0; p < size; p += buf.capacity()) {
                buf.clear();
                ch.read(buf, p);
                assertEquals(-1, TestData.firstMismatch(7, p, buf.flip()), "at " + p);
            }
        }
        assertThat(Files.list(target.getParent()).toList()).containsExactly(target);
    }

    @Test
    void corruptStoredBytes_failTheDownload_andLeaveNoFile() throws Exception {
        ObjectKey key = ObjectKey.of("llama/model-00002.safetensors");
        upload(key, 5L << 20);
        try (RandomAccessFile f = new RandomAccessFile(server.dataDir().resolve("models").resolve(key.value()).toFile(), "rw")) {
            f.seek((3L << 20) + 17);
            int b = f.read();
            f.seek((3L << 20) + 17);
            f.write(b ^ 1);
        }
        Path target = dir.resolve("out2/model.safetensors");
        Throwable t = org.junit.jupiter.api.Assertions.assertThrows(Exception.class,
                () -> tier.download(key, target, 2, 1 << 20, n -> { }).join());
        assertThat(TierException.unwrap(t)).as("failure %s", t).isInstanceOf(ChecksumMismatchException.class)
                .hasMessageContaining(key.value()).hasMessageContaining(String.valueOf(3L << 20));
        assertFalse(Files.exists(target));
        assertThat(Files.list(target.getParent()).toList()).isEmpty();
    }

    @Test
    void missingObject_isNotFound() {
        Throwable t = org.junit.jupiter.api.Assertions.assertThrows(Exception.class,
                () -> tier.download(ObjectKey.of("absent"), dir.resolve("x"), 2, 1 << 20, n -> { }).join());
        assertThat(TierException.unwrap(t)).isInstanceOf(ObjectNotFoundException.class);
    }
}
