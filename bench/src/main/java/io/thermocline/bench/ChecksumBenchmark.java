package io.thermocline.bench;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.support.ChunkChecksumTracker;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What checksumming costs a writer: plain CRC32C of a buffer (the reference) against the
 * tracker's bookkeeping for the same bytes, split into {@code pieces} writes per 1 MiB chunk (each
 * extra piece costs one {@link Crc32c#combine}). Run:
 * {@code java -cp bench/target/classes:$(cat bench/target/classpath.txt) org.openjdk.jmh.Main ChecksumBenchmark}
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class ChecksumBenchmark {

    private static final int CHUNK = 1 << 20;

    @Param({"1", "16"})
    int pieces;

    private ByteBuffer chunk;

    @Setup
    public void setUp() {
        byte[] bytes = new byte[CHUNK];
        ThreadLocalRandom.current().nextBytes(bytes);
        chunk = ByteBuffer.allocateDirect(CHUNK).put(bytes).flip();
    }

    @Benchmark
    public int plainCrc32c() {
        return Crc32c.of(chunk);
    }

    @Benchmark
    public int trackerRecord() {
        ChunkChecksumTracker tracker = new ChunkChecksumTracker(
                WriteRequest.builder(ObjectKey.of("bench"), CHUNK).chunkSizeInBytes(CHUNK).build());
        int piece = CHUNK / pieces;
        for (int i = 0; i < pieces; i++) {
            tracker.record((long) i * piece, chunk.slice(i * piece, piece));
        }
        return tracker.finish(Instant.EPOCH).crc32c();
    }
}
