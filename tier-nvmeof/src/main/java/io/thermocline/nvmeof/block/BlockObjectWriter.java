package io.thermocline.nvmeof.block;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.Crc32c;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.support.ChunkChecksumTracker;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Writes one object into the extents reserved for it (see {@link BlockTier}).
 *
 * <p><b>Blocks.</b> The device takes whole logical blocks only. Chunk sizes are multiples of the
 * block size and extents are whole allocation units, so every chunk starts on a block boundary of
 * the device. Within a chunk, written front to back, whole blocks go to the device straight from
 * the caller's buffer; bytes that end inside a block are kept in a block-sized direct buffer (the
 * chunk's tail) until the chunk continues, and the object's last block is written zero-padded
 * when its chunk is complete. A piece is recorded in the {@link ChunkChecksumTracker} only once
 * its bytes are on the device or in the tail, so a chunk the tracker calls complete is complete
 * on the device.
 *
 * <p><b>Concurrency.</b> Different chunks may be written concurrently; a write that races another
 * write of the same chunk fails rather than interleaving. Commit and abort wait for writes under
 * way before they look at the chunks or give the extents back, so no late write can land in
 * extents another object already owns.
 *
 * <p><b>Checkpoints.</b> {@link #checkpoint} flushes the device and names the leading complete
 * chunks with a token that lists this writer's extents (see {@link ResumeToken}); nothing is
 * recorded on the device or in the catalog. {@link #suspend} gives the extents back to the
 * allocator untrimmed. Once a checkpoint was made, abort spoils the prefix's first byte before it
 * gives the extents back, so that the point cannot be resumed after an abort.
 */
final class BlockObjectWriter implements ObjectWriter {

    private enum State { OPEN, COMMITTING, COMMITTED, ABORTED, SUSPENDED }

    private final BlockTier tier;
    private final BlockDevice device;
    private final WriteRequest request;
    private final ChunkChecksumTracker tracker;
    private final ExtentMap map;
    private final BlockTier.Reservation reservation;
    private final int block;
    private final AtomicReference<State> state = new AtomicReference<>(State.OPEN);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    /** Writes hold the read lock while they touch the device; commit and abort take the write lock. */
    private final ReentrantReadWriteLock inFlight = new ReentrantReadWriteLock();
    /** Chunk index to its tail block, while the chunk's written bytes end inside a block. */
    private final ConcurrentHashMap<Integer, ByteBuffer> tails = new ConcurrentHashMap<>();
    /** Chunks a write is working on. */
    private final Set<Integer> busy = ConcurrentHashMap.newKeySet();
    /** Bytes taken over from a cut-off writer. */
    private final long resumedBytes;
    /** Set once a resume point may name some of this writer's bytes: a checkpoint of a chunk or more began, or it was resumed. */
    private volatile boolean resumable;

    BlockObjectWriter(BlockTier tier, WriteRequest request, ExtentMap map, BlockTier.Reservation reservation) {
        this(tier, request, map, reservation, 0, new int[0]);
    }

    /**
     * A writer that holds the first {@code resumedBytes} bytes already, read back and checked
     * against {@code chunkCrc32cs} by {@link BlockTier#resume}.
     */
    BlockObjectWriter(BlockTier tier, WriteRequest request, ExtentMap map, BlockTier.Reservation reservation,
                      long resumedBytes, int[] chunkCrc32cs) {
        this.tier = tier;
        this.device = tier.blockDevice();
        this.request = request;
        this.tracker = new ChunkChecksumTracker(request);
        this.map = map;
        this.reservation = reservation;
        this.block = device.blockSizeInBytes();
        this.resumedBytes = resumedBytes;
        if (resumedBytes > 0) {
            tracker.adopt(resumedBytes, chunkCrc32cs);
            resumable = true;
        }
    }

    @Override
    public long resumedBytes() {
        return resumedBytes;
    }

    @Override
    public WriteRequest request() {
        return request;
    }

    /** The extents reserved for this object, in the order it fills them. */
    List<Extent> reservedExtents() {
        return map.extents();
    }

    @Override
    public CompletableFuture<Void> write(long position, ByteBuffer src) {
        ByteBuffer data = src.duplicate();
        try {
            checkWritable();
            tracker.checkRange(position, data.remaining());
        } catch (TierException e) {
            return CompletableFuture.failedFuture(e);
        }
        CompletableFuture<Void> result = tier.async("write of " + request.key() + " at " + position, () -> {
            inFlight.readLock().lock();
            try {
                checkWritable();
                writePieces(position, data);
                return null;
            } finally {
                inFlight.readLock().unlock();
            }
        });
        return result.whenComplete((v, t) -> {
            if (t != null) {
                failure.compareAndSet(null, t);
            }
        });
    }

    private void writePieces(long position, ByteBuffer data) {
        int chunkSize = request.chunkSizeInBytes();
        long p = position;
        while (data.hasRemaining()) {
            int chunk = (int) (p / chunkSize);
            long chunkStart = (long) chunk * chunkSize;
            int chunkLength = ObjectInfo.chunkLength(request.sizeInBytes(), chunkSize, chunk);
            int n = (int) Math.min(data.remaining(), chunkStart + chunkLength - p);
            ByteBuffer piece = data.slice(data.position(), n);
            if (!busy.add(chunk)) {
                throw new InvalidArgumentException("write to " + request.key() + " at position " + p
                        + " conflicts with another write to chunk " + chunk + " (expected: one writer per chunk, front to back)");
            }
            try {
                tracker.checkRange(p, n);
                writeInChunk(chunk, chunkStart, chunkLength, p, piece);
                tracker.record(p, piece);
            } finally {
                busy.remove(chunk);
            }
            data.position(data.position() + n);
            p += n;
        }
    }

    /** Writes a piece that continues its chunk; the caller holds the chunk. */
    private void writeInChunk(int chunk, long chunkStart, int chunkLength, long p, ByteBuffer piece) {
        ByteBuffer src = piece.duplicate();
        int pending = (int) ((p - chunkStart) % block);
        long tailStart = p - pending;
        if (pending > 0) {
            ByteBuffer tail = tails.get(chunk);
            if (tail == null) {
                throw new IllegalStateException("chunk " + chunk + " of " + request.key() + " has " + pending
                        + " pending bytes but no tail buffer");
            }
            int take = Math.min(block - pending, src.remaining());
            tail.put(pending, src, src.position(), take);
            src.position(src.position() + take);
            pending += take;
            if (pending == block) {
                writeBlocks(tailStart, tail.duplicate().clear().limit(block));
                tails.remove(chunk);
                tier.buffers().release(tail);
                pending = 0;
                tailStart += block;
            }
        }
        if (src.hasRemaining()) {
            // pending == 0 here: src continues at a block boundary
            int whole = src.remaining() / block * block;
            if (whole > 0) {
                writeBlocks(tailStart, src.slice(src.position(), whole));
                src.position(src.position() + whole);
                tailStart += whole;
            }
            int rest = src.remaining();
            if (rest > 0) {
                ByteBuffer tail = tier.buffers().acquire(block);
                tail.put(0, src, src.position(), rest);
                tails.put(chunk, tail);
                pending = rest;
            }
        }
        boolean chunkDone = p + piece.remaining() == chunkStart + chunkLength;
        if (chunkDone && pending > 0) {
            // only the object's last chunk can end inside a block: zero-pad it
            ByteBuffer tail = tails.remove(chunk);
            tail.put(pending, new byte[block - pending]);
            writeBlocks(tailStart, tail.duplicate().clear().limit(block));
            tier.buffers().release(tail);
        }
    }

    /**
     * Writes whole blocks at a block-aligned object offset, split where extents end; the pieces go
     * to the device together.
     */
    private void writeBlocks(long objectOffset, ByteBuffer bytes) {
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        long p = objectOffset;
        int at = bytes.position();
        int end = bytes.limit();
        while (at < end) {
            int e = map.extentIndex(p);
            int n = (int) Math.min(end - at, map.extentEnd(e) - p);
            writes.add(device.write(map.deviceOffset(p), bytes.slice(at, n)));
            at += n;
            p += n;
        }
        DeviceIo.awaitAll(writes, () -> "write of " + request.key() + " at object offset " + objectOffset
                + " to " + device.name());
    }

    @Override
    public CompletableFuture<ObjectInfo> commit() {
        if (!state.compareAndSet(State.OPEN, State.COMMITTING)) {
            return CompletableFuture.failedFuture(new InvalidArgumentException(
                    "cannot commit " + request.key() + ": the writer is " + state.get().name().toLowerCase()));
        }
        return tier.async("commit of " + request.key(), () -> {
            inFlight.writeLock().lock();
            boolean success = false;
            try {
                Throwable earlier = failure.get();
                if (earlier != null) {
                    throw new InvalidArgumentException("cannot commit " + request.key() + ": an earlier write failed: "
                            + TierException.unwrap(earlier).getMessage());
                }
                ObjectInfo info = tracker.finish(Instant.now());
                if (tier.config().verifyBeforeCommit()) {
                    verifyOnDevice(info);
                }
                DeviceIo.await(device.flush(), () -> "flush of " + device.name() + " before the commit of " + request.key());
                tier.publish(request.key(), info, reservation);
                state.set(State.COMMITTED);
                success = true;
                return info;
            } finally {
                try {
                    if (!success) {
                        state.set(State.ABORTED);
                        discard();
                    }
                } finally {
                    inFlight.writeLock().unlock();
                }
            }
        });
    }

    /** Reads every chunk back from the device and checks its CRC32C. */
    private void verifyOnDevice(ObjectInfo info) {
        for (int i = 0; i < info.chunkCount(); i++) {
            int length = info.chunkLength(i);
            ByteBuffer buf = tier.buffers().acquire(length);
            try {
                DeviceIo.readObjectRange(device, map, tier.buffers(), info.chunkOffset(i), buf,
                        () -> "read-back of " + request.key() + " from " + device.name());
                int actual = Crc32c.of(buf.flip());
                if (actual != info.chunkCrc32c(i)) {
                    throw new ChecksumMismatchException(tier.name() + ":" + request.key() + " (read back from "
                            + device.name() + " before commit)", info.chunkOffset(i), length, info.chunkCrc32c(i), actual);
                }
            } finally {
                tier.buffers().release(buf);
            }
        }
    }

    /**
     * Flushes the device and names the leading complete chunks, at most {@code writtenPrefix}
     * bytes: a chunk whose write has not completed is not named, so the point may be shorter than
     * asked for.
     */
    @Override
    public CompletableFuture<Optional<ResumePoint>> checkpoint(long writtenPrefix) {
        try {
            checkWritable();
            tracker.checkPrefix("checkpoint", writtenPrefix);
        } catch (TierException e) {
            return CompletableFuture.failedFuture(e);
        }
        return tier.async("checkpoint of " + request.key() + " at " + writtenPrefix, () -> {
            inFlight.readLock().lock();
            try {
                checkWritable();
                long prefix = tracker.completePrefix(writtenPrefix);
                if (prefix > 0) {
                    // before the flush: from here on an abort must spoil what a point may name
                    resumable = true;
                }
                DeviceIo.await(device.flush(), () -> "flush of " + device.name() + " for the checkpoint of "
                        + request.key() + " at " + prefix);
                return Optional.of(new ResumePoint(prefix, tier.resumeToken(request, reservation)));
            } finally {
                inFlight.readLock().unlock();
            }
        });
    }

    /**
     * Stops the writer once writes under way have finished and gives its extents back untrimmed
     * (see {@link BlockTier#releaseSuspended}); aborts if no checkpoint was made. Idempotent, and
     * does nothing after a commit or abort.
     */
    @Override
    public CompletableFuture<Void> suspend() {
        if (!resumable) {
            return abort();
        }
        if (!state.compareAndSet(State.OPEN, State.SUSPENDED)) {
            return state.get() == State.OPEN ? suspend() : CompletableFuture.completedFuture(null);
        }
        if (tier.isClosed()) {
            tails.clear();
            tier.releaseSuspended(reservation);
            return CompletableFuture.completedFuture(null);
        }
        return tier.async("suspend of " + request.key(), () -> {
            inFlight.writeLock().lock();
            try {
                releaseTails();
                tier.releaseSuspended(reservation);
                return (Void) null;
            } finally {
                inFlight.writeLock().unlock();
            }
        });
    }

    @Override
    public CompletableFuture<Void> abort() {
        State s = state.get();
        if (s != State.OPEN) {
            return CompletableFuture.completedFuture(null);
        }
        if (!state.compareAndSet(State.OPEN, State.ABORTED)) {
            return abort();
        }
        if (tier.isClosed()) {
            // writes may still be under way on an injected executor: leave the tails to the garbage collector
            tails.clear();
            tier.releaseReserved(reservation, "abort of " + request.key());
            return CompletableFuture.completedFuture(null);
        }
        return tier.async("abort of " + request.key(), () -> {
            inFlight.writeLock().lock();
            try {
                discard();
                return (Void) null;
            } finally {
                inFlight.writeLock().unlock();
            }
        }).exceptionally(t -> {
            if (tier.isClosed()) {
                return null; // a closed tier rebuilds its free space from the catalog at the next open
            }
            throw new java.util.concurrent.CompletionException(t);
        });
    }

    @Override
    public void close() {
        abort().join();
    }

    /** Drops the tails, spoils a checkpointed prefix and gives the extents back (trimmed). */
    private void discard() {
        releaseTails();
        // not once the reservation is gone: a failed catalog update may have published these extents
        if (resumable && reservation.isHeld() && !tier.isClosed()) {
            tier.spoilCheckpoint(map, "abort of checkpointed " + request.key());
        }
        tier.releaseReserved(reservation, "abort of " + request.key());
    }

    private void releaseTails() {
        for (ByteBuffer tail : tails.values()) {
            tier.buffers().release(tail);
        }
        tails.clear();
    }

    private void checkWritable() {
        tier.checkOpen();
        State s = state.get();
        if (s != State.OPEN) {
            throw new TierUnavailableException("writer of " + request.key() + " is " + s.name().toLowerCase(), false);
        }
        Throwable earlier = failure.get();
        if (earlier != null) {
            // a failed write may have left its chunk half on the device: the object cannot be completed
            throw new TierUnavailableException("writer of " + request.key() + " cannot go on: an earlier write failed ("
                    + TierException.unwrap(earlier).getMessage() + "); abort it and write the object again", false);
        }
    }
}
