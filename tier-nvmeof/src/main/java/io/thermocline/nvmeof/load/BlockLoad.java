package io.thermocline.nvmeof.load;

import io.thermocline.tier.BlockDevice;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A fio-like load generator over any {@link BlockDevice}: a fixed number of I/Os in flight
 * ({@code qd}), each re-issued as soon as it completes, for a fixed time, sequential or random,
 * reads or writes, with per-I/O latency.
 *
 * <p>With {@code verify}, every byte has a known value: each 8-byte word is a hash of the seed and
 * its device offset. The region is first written with that pattern (untimed), writes during the
 * run write it again, and every read during the run, plus a final read-back pass after a write
 * run, is compared word for word. A mismatch names the offset, the expected and the found value.
 */
public final class BlockLoad {
    private BlockLoad() {
    }

    public enum Mode {
        READ(false, false), WRITE(true, false), RANDREAD(false, true), RANDWRITE(true, true);

        final boolean write;
        final boolean random;

        Mode(boolean write, boolean random) {
            this.write = write;
            this.random = random;
        }

        /** Parses fio's names: read, write, randread, randwrite. */
        public static Mode parse(String s) {
            for (Mode m : values()) {
                if (m.name().equalsIgnoreCase(s)) {
                    return m;
                }
            }
            throw new IllegalArgumentException("rw: " + s + " (expected: read, write, randread or randwrite)");
        }

        public String fioName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * @param regionOffset where on the device the load runs (a multiple of the block size)
     * @param regionSize how many bytes from there (a multiple of {@code blockSize})
     */
    public record Spec(Mode mode, int blockSize, int queueDepth, Duration runtime, long regionOffset, long regionSize,
                       boolean verify, long seed) {
        public Spec {
            if (blockSize <= 0 || queueDepth < 1 || queueDepth > 65536) {
                throw new IllegalArgumentException("bs " + blockSize + ", qd " + queueDepth + " (expected bs > 0 and qd in 1..65536)");
            }
            if (regionSize < blockSize || regionSize % blockSize != 0) {
                throw new IllegalArgumentException("size: " + regionSize + " (expected a multiple of bs " + blockSize + ", at least one block)");
            }
        }
    }

    /** What one run measured. */
    public record Result(Mode mode, int blockSize, int queueDepth, long ios, long bytes, long elapsedNanos,
                         LatencyHistogram latency, long verifiedBytes) {
        public double iops() {
            return ios * 1e9 / elapsedNanos;
        }

        public double mibPerSecond() {
            return bytes * 1e9 / elapsedNanos / (1 << 20);
        }
    }

    /** Runs {@code spec} on {@code device}, blocking the calling thread (never an event loop) until done. */
    public static Result run(BlockDevice device, Spec spec) throws InterruptedException {
        int deviceBlock = device.blockSizeInBytes();
        if (spec.blockSize() % deviceBlock != 0 || spec.regionOffset() % deviceBlock != 0
                || spec.regionOffset() + spec.regionSize() > device.sizeInBytes()) {
            throw new IllegalArgumentException("bs " + spec.blockSize() + " and region " + spec.regionOffset() + "+" + spec.regionSize()
                    + " (expected multiples of the device's " + deviceBlock + "-byte blocks within its " + device.sizeInBytes() + " bytes)");
        }
        if (spec.verify()) {
            fill(device, spec);
        }
        Result r = timed(device, spec);
        if (spec.verify() && spec.mode().write) {
            r = new Result(r.mode(), r.blockSize(), r.queueDepth(), r.ios(), r.bytes(), r.elapsedNanos(), r.latency(),
                    r.verifiedBytes() + readBack(device, spec));
        }
        return r;
    }

    private static Result timed(BlockDevice device, Spec spec) throws InterruptedException {
        long blocks = spec.regionSize() / spec.blockSize();
        AtomicLong sequential = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicLong verified = new AtomicLong();
        LatencyHistogram[] histograms = new LatencyHistogram[spec.queueDepth()];
        long[] counts = new long[spec.queueDepth()];
        CountDownLatch done = new CountDownLatch(spec.queueDepth());
        long start = System.nanoTime();
        long deadline = start + spec.runtime().toNanos();
        for (int s = 0; s < spec.queueDepth(); s++) {
            ByteBuffer buffer = ByteBuffer.allocateDirect(spec.blockSize()).order(ByteOrder.LITTLE_ENDIAN);
            if (spec.mode().write && !spec.verify()) {
                byte[] noise = new byte[spec.blockSize()];
                ThreadLocalRandom.current().nextBytes(noise);
                buffer.put(noise).flip();
            }
            histograms[s] = new LatencyHistogram();
            int slot = s;
            new Object() {
                void next() {
                    if (failure.get() != null || System.nanoTime() - deadline > 0) {
                        done.countDown();
                        return;
                    }
                    long block = spec.mode().random ? ThreadLocalRandom.current().nextLong(blocks)
                            : sequential.getAndIncrement() % blocks;
                    long offset = spec.regionOffset() + block * spec.blockSize();
                    buffer.clear();
                    CompletableFuture<Void> io;
                    if (spec.mode().write) {
                        if (spec.verify()) {
                            pattern(buffer, offset, spec.seed());
                        }
                        io = device.write(offset, buffer);
                    } else {
                        io = device.read(offset, buffer);
                    }
                    long issued = System.nanoTime();
                    io.whenComplete((v, t) -> {
                        histograms[slot].record(System.nanoTime() - issued);
                        if (t != null) {
                            failure.compareAndSet(null, t);
                        } else {
                            counts[slot]++;
                            if (spec.verify() && !spec.mode().write) {
                                try {
                                    check(buffer.flip(), offset, spec.seed(), device.name());
                                    verified.addAndGet(spec.blockSize());
                                } catch (VerifyException e) {
                                    failure.compareAndSet(null, e);
                                }
                            }
                        }
                        next();
                    });
                }
            }.next();
        }
        done.await();
        long elapsed = System.nanoTime() - start;
        if (failure.get() != null) {
            Throwable t = failure.get();
            throw t instanceof RuntimeException re ? re : new IllegalStateException(t.getMessage(), t);
        }
        LatencyHistogram all = new LatencyHistogram();
        long ios = 0;
        for (int s = 0; s < spec.queueDepth(); s++) {
            all.add(histograms[s]);
            ios += counts[s];
        }
        return new Result(spec.mode(), spec.blockSize(), spec.queueDepth(), ios, ios * spec.blockSize(), elapsed, all, verified.get());
    }

    /** Writes the pattern over the whole region, {@code qd} blocks at a time. */
    private static void fill(BlockDevice device, Spec spec) {
        forEachBlock(device, spec, true);
    }

    private static long readBack(BlockDevice device, Spec spec) {
        return forEachBlock(device, spec, false);
    }

    private static long forEachBlock(BlockDevice device, Spec spec, boolean write) {
        int batch = Math.max(1, Math.min(spec.queueDepth(), 64));
        ByteBuffer[] buffers = new ByteBuffer[batch];
        for (int i = 0; i < batch; i++) {
            buffers[i] = ByteBuffer.allocateDirect(spec.blockSize()).order(ByteOrder.LITTLE_ENDIAN);
        }
        long end = spec.regionOffset() + spec.regionSize();
        long checked = 0;
        for (long at = spec.regionOffset(); at < end; ) {
            CompletableFuture<?>[] round = new CompletableFuture<?>[batch];
            long[] offsets = new long[batch];
            int n = 0;
            for (; n < batch && at < end; n++, at += spec.blockSize()) {
                offsets[n] = at;
                buffers[n].clear();
                if (write) {
                    pattern(buffers[n], at, spec.seed());
                    round[n] = device.write(at, buffers[n]);
                } else {
                    round[n] = device.read(at, buffers[n]);
                }
            }
            CompletableFuture.allOf(java.util.Arrays.copyOf(round, n)).join();
            if (!write) {
                for (int i = 0; i < n; i++) {
                    check(buffers[i].flip(), offsets[i], spec.seed(), device.name());
                    checked += spec.blockSize();
                }
            }
        }
        if (write) {
            device.flush().join();
        }
        return checked;
    }

    /** Fills {@code b} (from 0 to its capacity) with the pattern for device offset {@code offset}. */
    static void pattern(ByteBuffer b, long offset, long seed) {
        b.clear();
        for (int i = 0; i + 8 <= b.capacity(); i += 8) {
            b.putLong(i, word(seed, offset + i));
        }
        b.limit(b.capacity()).position(0);
    }

    static long word(long seed, long offset) {
        long z = seed ^ (offset * 0x9E3779B97F4A7C15L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** A byte read back differs from what was written. */
    public static final class VerifyException extends RuntimeException {
        VerifyException(String message) {
            super(message);
        }
    }

    private static void check(ByteBuffer b, long offset, long seed, String device) {
        for (int i = 0; i + 8 <= b.limit(); i += 8) {
            long expected = word(seed, offset + i);
            long found = b.getLong(i);
            if (found != expected) {
                int firstByte = Long.numberOfTrailingZeros(found ^ expected) / 8; // words are little-endian
                throw new VerifyException(String.format("%s: verify failed at byte offset %d: expected 0x%02x, found 0x%02x"
                        + " (8-byte word at %d: expected 0x%016x, found 0x%016x)", device, offset + i + firstByte,
                        (expected >>> (8 * firstByte)) & 0xFF, (found >>> (8 * firstByte)) & 0xFF, offset + i, expected, found));
            }
        }
    }
}
