package io.thermocline.it.fabric;

import io.thermocline.tier.BlockDevice;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A write load at a fixed queue depth and the model of what it wrote, to check a namespace
 * byte for byte after faults.
 *
 * <p>Each of {@code depth} slots owns its own chunks (slot s: chunks s, s + depth, s + 2·depth,
 * ...) and keeps one write outstanding, cycling through its chunks with a rising version. So
 * writes to one chunk never overlap, and each chunk's content is defined: the last version whose
 * write was acknowledged — or a later version whose write failed (a failed write may or may not
 * have landed). A chunk never written reads as zeros. Every chunk carries its index and version
 * in its first 16 bytes and a pattern derived from both in the rest, so a torn, stale or
 * misplaced chunk is told apart from a right one.
 */
final class WriteLoad implements AutoCloseable {
    private static final long MAGIC = 0x54484d43_4b4c4f41L;

    private final BlockDevice device;
    private final int depth;
    private final int chunksPerSlot;
    private final int chunkBytes;
    /** Per chunk: the last acknowledged version (0: none), and versions whose writes failed since. */
    private final long[] acked;
    private final List<List<Long>> failedSince;
    private final AtomicLong acks = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private final ConcurrentLinkedQueue<Throwable> errorSamples = new ConcurrentLinkedQueue<>();
    private final AtomicLong lastAckNanos = new AtomicLong(System.nanoTime());
    private final AtomicLong longestGapNanos = new AtomicLong();
    private final AtomicLong firstErrorNanos = new AtomicLong();
    /** Per slot, when its outstanding write was issued (System.nanoTime), or 0: for diagnostics of a stuck write. */
    private final java.util.concurrent.atomic.AtomicLongArray issuedNanos;
    private volatile boolean stopping;
    private CountDownLatch stopped;

    WriteLoad(BlockDevice device, int depth, int chunksPerSlot, int chunkBytes) {
        this.device = device;
        this.depth = depth;
        this.chunksPerSlot = chunksPerSlot;
        this.chunkBytes = chunkBytes;
        int chunks = depth * chunksPerSlot;
        if ((long) chunks * chunkBytes > device.sizeInBytes()) {
            throw new IllegalArgumentException(chunks + " chunks of " + chunkBytes + " bytes (expected them to fit in "
                    + device.sizeInBytes() + " bytes)");
        }
        this.acked = new long[chunks];
        this.issuedNanos = new java.util.concurrent.atomic.AtomicLongArray(depth);
        this.failedSince = new ArrayList<>(chunks);
        for (int i = 0; i < chunks; i++) {
            failedSince.add(new ArrayList<>());
        }
    }

    /** Starts every slot. */
    void start() {
        stopped = new CountDownLatch(depth);
        lastAckNanos.set(System.nanoTime());
        for (int s = 0; s < depth; s++) {
            writeNext(s, 0, 1);
        }
    }

    private void writeNext(int slot, int round, long version) {
        if (stopping) {
            stopped.countDown();
            return;
        }
        int chunk = slot + (round % chunksPerSlot) * depth;
        ByteBuffer data = content(chunk, version, chunkBytes);
        issuedNanos.set(slot, System.nanoTime());
        device.write((long) chunk * chunkBytes, data).whenComplete((v, t) -> {
            synchronized (this) {
                if (t == null) {
                    acked[chunk] = version;
                    failedSince.get(chunk).clear();
                } else {
                    failedSince.get(chunk).add(version);
                }
            }
            long now = System.nanoTime();
            issuedNanos.set(slot, 0);
            if (t == null) {
                acks.incrementAndGet();
                long last = lastAckNanos.getAndSet(now);
                longestGapNanos.accumulateAndGet(now - last, Math::max);
            } else {
                errors.incrementAndGet();
                firstErrorNanos.compareAndSet(0, now);
                if (errorSamples.size() < 5) {
                    errorSamples.add(t);
                }
            }
            // continue on another thread: never deep recursion on an event loop; after an error, not in a hot loop
            boolean failed = t != null;
            Thread.ofVirtual().start(() -> {
                if (failed) {
                    try {
                        Thread.sleep(10);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                writeNext(slot, round + 1, version + 1);
            });
        });
    }

    /** Stops issuing writes and waits for the outstanding ones. */
    void stop(long timeoutSeconds) throws InterruptedException {
        stopping = true;
        if (!stopped.await(timeoutSeconds, TimeUnit.SECONDS)) {
            StringBuilder stuck = new StringBuilder();
            long now = System.nanoTime();
            for (int s = 0; s < depth; s++) {
                long at = issuedNanos.get(s);
                if (at != 0) {
                    stuck.append(stuck.isEmpty() ? "" : ", ").append("slot ").append(s).append(" for ")
                            .append(TimeUnit.NANOSECONDS.toMillis(now - at)).append(" ms");
                }
            }
            throw new AssertionError("writes still outstanding " + timeoutSeconds + " s after the load stopped: " + stuck
                    + " (" + device + ")");
        }
    }

    /**
     * Stops issuing writes without waiting: for cleanup after a failed test, so that no load keeps
     * running into the next one.
     */
    @Override
    public void close() {
        stopping = true;
    }

    long acks() {
        return acks.get();
    }

    long errors() {
        return errors.get();
    }

    List<Throwable> errorSamples() {
        return List.copyOf(errorSamples);
    }

    /** The longest time between two acknowledgements so far: how long the application saw I/O stall. */
    long longestGapMillis() {
        return TimeUnit.NANOSECONDS.toMillis(longestGapNanos.get());
    }

    /** When the first error reached the application (System.nanoTime), or 0. */
    long firstErrorNanos() {
        return firstErrorNanos.get();
    }

    static ByteBuffer content(int chunk, long version, int bytes) {
        ByteBuffer b = ByteBuffer.allocate(bytes);
        b.putLong(0, MAGIC).putInt(8, chunk).putInt(12, (int) version);
        long x = (chunk * 0x9E3779B97F4A7C15L) ^ (version * 0xC2B2AE3D27D4EB4FL) | 1;
        for (int i = 16; i + 8 <= bytes; i += 8) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            b.putLong(i, x);
        }
        return b;
    }

    /**
     * Checks the namespace's bytes — read straight from its backing file — against the model:
     * each chunk holds its last acknowledged version or a later failed one, or zeros if never
     * acknowledged; an acknowledged write is never missing.
     *
     * @return a description of the first mismatches, empty when all chunks agree
     */
    synchronized List<String> verify(Path namespaceFile) throws IOException {
        List<String> problems = new ArrayList<>();
        try (FileChannel ch = FileChannel.open(namespaceFile, StandardOpenOption.READ)) {
            ByteBuffer got = ByteBuffer.allocateDirect(chunkBytes);
            for (int chunk = 0; chunk < acked.length && problems.size() < 10; chunk++) {
                got.clear();
                long at = (long) chunk * chunkBytes;
                while (got.hasRemaining()) {
                    if (ch.read(got, at + got.position()) < 0) {
                        break;
                    }
                }
                got.flip();
                List<Long> allowed = new ArrayList<>(failedSince.get(chunk));
                allowed.add(acked[chunk]);
                boolean ok = false;
                for (long v : allowed) {
                    ByteBuffer want = v == 0 ? ByteBuffer.allocateDirect(chunkBytes) : content(chunk, v, chunkBytes);
                    if (want.equals(got)) {
                        ok = true;
                        break;
                    }
                }
                if (!ok) {
                    long foundVersion = got.remaining() >= 16 && got.getLong(0) == MAGIC ? got.getInt(12) : -1;
                    int foundChunk = got.remaining() >= 16 && got.getLong(0) == MAGIC ? got.getInt(8) : -1;
                    problems.add("chunk " + chunk + " at byte " + at + ": found " + (foundVersion < 0 ? "no chunk header"
                            : "chunk " + foundChunk + " version " + foundVersion) + " (expected version " + acked[chunk]
                            + (failedSince.get(chunk).isEmpty() ? "" : " or one of the failed " + failedSince.get(chunk))
                            + ", 0 meaning zeros)");
                }
            }
        }
        return problems;
    }
}
