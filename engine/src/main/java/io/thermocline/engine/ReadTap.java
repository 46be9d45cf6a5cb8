package io.thermocline.engine;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.support.BufferPool;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Shares a read-through between the foreground reader and the promotion it started, so that the
 * backing tier is read once, not twice. The reader streams from the backing tier as usual and
 * offers every whole chunk it has read (verified by the tier) to the tap; the promotion's copier
 * takes offered chunks first and fetches from the source only the chunks nobody offered, starting
 * from the end of the object — away from a reader that starts at the front — so that the two meet
 * in the middle. Each chunk is claimed once.
 *
 * <p>Offers are bounded ({@link #MAX_OFFERED} chunks held at once; more are refused and the copier
 * fetches those itself), and a chunk is kept only if the copier has not claimed it yet. The
 * copies live in buffers from a pool the caller owns, returned once taken or when the tap
 * closes. Thread-safe.
 */
final class ReadTap {

    static final int MAX_OFFERED = 16;

    private final ObjectInfo info;
    private final BufferPool buffers;
    /** Per chunk: 0 free, 1 claimed by the copier. */
    private final AtomicIntegerArray claimed;
    private final ConcurrentHashMap<Integer, ByteBuffer> offered = new ConcurrentHashMap<>();
    private final AtomicInteger tail;
    private final java.util.concurrent.atomic.AtomicBoolean taken = new java.util.concurrent.atomic.AtomicBoolean();
    private volatile boolean closed;

    ReadTap(ObjectInfo info, BufferPool buffers) {
        this.info = info;
        this.buffers = buffers;
        this.claimed = new AtomicIntegerArray(info.chunkCount());
        this.tail = new AtomicInteger(info.chunkCount());
    }

    ObjectInfo info() {
        return info;
    }

    /**
     * Claims the tap for one copy; false if a copy has had it already (its chunks are claimed:
     * another copy of the object must read its source).
     */
    boolean takeForCopy() {
        return taken.compareAndSet(false, true);
    }

    /**
     * The reader read {@code bytes} (position to limit) at object offset {@code position}: keeps a
     * copy of each whole chunk in it that the copier has not claimed, while there is room.
     */
    void offer(long position, ByteBuffer bytes) {
        if (closed) {
            return;
        }
        long end = position + bytes.remaining();
        int chunkSize = info.chunkSizeInBytes();
        int first = (int) ((position + chunkSize - 1) / chunkSize);
        for (int i = first; i < info.chunkCount(); i++) {
            long start = info.chunkOffset(i);
            int length = info.chunkLength(i);
            if (start + length > end) {
                break;
            }
            if (claimed.get(i) != 0 || offered.size() >= MAX_OFFERED || offered.containsKey(i)) {
                continue;
            }
            ByteBuffer copy = buffers.acquire(length);
            copy.put(0, bytes, bytes.position() + (int) (start - position), length);
            if (offered.putIfAbsent(i, copy) != null) {
                buffers.release(copy); // another read offered it first
            } else if (closed) {
                release(i); // closed meanwhile: nobody will take it
            }
        }
    }

    /** The next chunk for the copier: an offered one if any, else the last unclaimed one; -1 when none is left. */
    int claimNext() {
        for (Integer i : offered.keySet()) {
            if (claimed.compareAndSet(i, 0, 1)) {
                return i;
            }
        }
        for (int i; (i = tail.decrementAndGet()) >= 0; ) {
            if (claimed.compareAndSet(i, 0, 1)) {
                return i;
            }
        }
        // the tail has passed everything; offers made since may still wait
        for (Integer i : offered.keySet()) {
            if (claimed.compareAndSet(i, 0, 1)) {
                return i;
            }
        }
        return -1;
    }

    /**
     * Copies the offered bytes of {@code chunk} (claimed by the caller) into {@code dst} and
     * returns true, after checking them against the chunk CRC32C; false when none were offered.
     */
    boolean take(int chunk, ByteBuffer dst) {
        ByteBuffer b = offered.remove(chunk);
        if (b == null) {
            return false;
        }
        try {
            int length = info.chunkLength(chunk);
            if (Crc32c.of(b.duplicate().limit(length)) != info.chunkCrc32c(chunk)) {
                return false; // never trust it: fetch from the source instead
            }
            dst.clear().limit(length);
            dst.put(0, b, 0, length);
            return true;
        } finally {
            buffers.release(b);
        }
    }

    /** Chunks offered and not taken (for tests). */
    int offeredCount() {
        return offered.size();
    }

    void close() {
        closed = true;
        for (Integer i : offered.keySet()) {
            release(i);
        }
    }

    private void release(int chunk) {
        ByteBuffer b = offered.remove(chunk);
        if (b != null) {
            buffers.release(b);
        }
    }
}
