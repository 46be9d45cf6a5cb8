package io.thermocline.nvmeof.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.local.FileBlockDevice;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BlockLoadTest {
    @TempDir
    Path dir;

    @Test
    void histogram_quantilesAreWithinOneBucket() {
        LatencyHistogram h = new LatencyHistogram();
        for (long v = 1; v <= 100_000; v++) {
            h.record(v * 1000);
        }
        assertEquals(100_000, h.count());
        long p50 = h.quantileNanos(0.5);
        long p99 = h.quantileNanos(0.99);
        assertTrue(Math.abs(p50 - 50_000_000) <= 50_000_000 / 64 + 1, "p50 " + p50);
        assertTrue(Math.abs(p99 - 99_000_000) <= 99_000_000 / 64 + 1, "p99 " + p99);
        assertEquals(100_000_000, h.quantileNanos(1.0));
        for (long v : new long[] {0, 1, 63, 64, 65, 127, 128, 1000, 123_456_789, (1L << 47) - 1}) {
            int i = LatencyHistogram.index(v);
            assertTrue(LatencyHistogram.upperBound(i) >= v, v + " <= upper bound of its bucket");
            assertTrue(i == 0 || LatencyHistogram.upperBound(i - 1) < v , v + " above the previous bucket");
        }
    }

    @Test
    void verifiedRandomWrites_thenReads_findEveryByte() throws Exception {
        try (FileBlockDevice dev = FileBlockDevice.open(dir.resolve("ns"), FileBlockDevice.options().sizeInBytes(8 << 20).blockSizeInBytes(512))) {
            BlockLoad.Spec write = new BlockLoad.Spec(BlockLoad.Mode.RANDWRITE, 4096, 8, Duration.ofMillis(200), 0, 4 << 20, true, 99);
            BlockLoad.Result w = BlockLoad.run(dev, write);
            assertTrue(w.ios() > 0);
            assertEquals(4 << 20, w.verifiedBytes(), "a verified write run reads the whole region back");
            BlockLoad.Result r = BlockLoad.run(dev, new BlockLoad.Spec(BlockLoad.Mode.RANDREAD, 4096, 4, Duration.ofMillis(200), 0, 4 << 20, true, 99));
            assertEquals(r.ios() * 4096L, r.verifiedBytes(), "every block read in the run was checked");
            assertTrue(r.latency().quantileNanos(0.5) > 0);
        }
    }

    @Test
    void corruptedRead_failsVerificationNamingTheOffset() throws Exception {
        try (FileBlockDevice file = FileBlockDevice.open(dir.resolve("ns"), FileBlockDevice.options().sizeInBytes(1 << 20).blockSizeInBytes(4096))) {
            BlockDevice flaky = new FlippingDevice(file, 8192 + 100);
            BlockLoad.VerifyException e = assertThrows(BlockLoad.VerifyException.class, () ->
                    BlockLoad.run(flaky, new BlockLoad.Spec(BlockLoad.Mode.READ, 4096, 1, Duration.ofSeconds(5), 0, 1 << 20, true, 5)));
            assertTrue(e.getMessage().contains("byte offset 8292"), e.getMessage());
        }
    }

    /** Flips one bit of the byte at {@code badOffset} in every read that covers it. */
    private record FlippingDevice(BlockDevice d, long badOffset) implements BlockDevice {
        @Override
        public CompletableFuture<Void> read(long offset, ByteBuffer dst) {
            int start = dst.position();
            int length = dst.remaining();
            return d.read(offset, dst).thenRun(() -> {
                if (badOffset >= offset && badOffset < offset + length) {
                    int i = start + (int) (badOffset - offset);
                    dst.put(i, (byte) (dst.get(i) ^ 1));
                }
            });
        }

        @Override public String name() { return d.name(); }
        @Override public long sizeInBytes() { return d.sizeInBytes(); }
        @Override public int blockSizeInBytes() { return d.blockSizeInBytes(); }
        @Override public CompletableFuture<Void> write(long offset, ByteBuffer src) { return d.write(offset, src); }
        @Override public CompletableFuture<Void> flush() { return d.flush(); }
        @Override public CompletableFuture<Void> trim(long offset, long length) { return d.trim(offset, length); }
        @Override public CompletableFuture<Void> writeZeroes(long offset, long length) { return d.writeZeroes(offset, length); }
        @Override public void close() { }
    }
}
