package io.thermocline.tier.local;

import io.thermocline.tier.support.AlignedBufferPool;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.support.ChunkChecksumTracker;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Writes one object into a temp file and publishes it by rename (see {@link LocalTier}).
 *
 * <p>Every write is split at chunk boundaries. Without O_DIRECT a piece goes straight to the file.
 * With O_DIRECT a piece that is a whole, aligned chunk in an aligned direct buffer goes straight
 * to the file too; any other piece is copied into an aligned staging buffer for its chunk, written
 * once the chunk is complete (the last chunk zero-padded to 4 KiB). A piece is recorded in the
 * {@link ChunkChecksumTracker} only after its bytes are in the file or the staging buffer, so a
 * chunk the tracker calls complete is always complete on disk.
 *
 * <p><b>Resume.</b> The first {@link #checkpoint} fdatasyncs the file and renames it to a
 * resume file, {@code tmp/<sha-256 of key>.<random>.resume}, whose name is the point's token; later
 * ones fdatasync. Nobody else writes to that file (its name is random and the tier hands it to
 * one writer at a time), so a resumed writer trusts the checkpointed prefix without reading it
 * back. {@link #suspend} closes the file and keeps it; {@link #abort} deletes it.
 */
final class LocalObjectWriter implements ObjectWriter {

    private enum State { OPEN, COMMITTING, COMMITTED, ABORTED, SUSPENDED }

    private final LocalTier tier;
    private final WriteRequest request;
    private final ChunkChecksumTracker tracker;
    /** The temp file, or once checkpointed its resume file. */
    private volatile Path tmp;
    private volatile boolean resumable;
    private final long resumedBytes;
    private final FileChannel channel;
    private final LocalTier.Reservation reservation;
    private final AtomicReference<State> state = new AtomicReference<>(State.OPEN);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    /** O_DIRECT only: chunk index to its staging buffer, while the chunk is partly written. */
    private final ConcurrentHashMap<Integer, ByteBuffer> staging = new ConcurrentHashMap<>();

    LocalObjectWriter(LocalTier tier, WriteRequest request, Path tmp, FileChannel channel,
                      LocalTier.Reservation reservation) {
        this(tier, request, tmp, channel, reservation, 0, null);
    }

    /** A writer of a resume file whose first {@code resumedBytes} bytes hold chunks with {@code chunkCrc32cs}. */
    LocalObjectWriter(LocalTier tier, WriteRequest request, Path resumeFile, FileChannel channel,
                      LocalTier.Reservation reservation, long resumedBytes, int[] chunkCrc32cs) {
        this.tier = tier;
        this.request = request;
        this.tracker = new ChunkChecksumTracker(request);
        this.tmp = resumeFile;
        this.channel = channel;
        this.reservation = reservation;
        this.resumedBytes = resumedBytes;
        this.resumable = chunkCrc32cs != null;
        if (chunkCrc32cs != null) {
            tracker.adopt(resumedBytes, chunkCrc32cs);
        }
    }

    @Override
    public long resumedBytes() {
        return resumedBytes;
    }

    @Override
    public CompletableFuture<Optional<ResumePoint>> checkpoint(long writtenPrefix) {
        try {
            checkWritable();
            tracker.checkPrefix("checkpoint", writtenPrefix);
        } catch (TierException e) {
            return CompletableFuture.failedFuture(e);
        }
        return tier.async("checkpoint " + request.key(), () -> {
            synchronized (this) {
                checkWritable();
                long durable = tracker.completePrefix(writtenPrefix);
                channel.force(false);
                if (!resumable) {
                    tmp = tier.toResumeFile(request.key(), tmp);
                    resumable = true;
                }
                return Optional.of(new ResumePoint(durable, tmp.getFileName().toString()));
            }
        });
    }

    @Override
    public CompletableFuture<Void> suspend() {
        if (!state.compareAndSet(State.OPEN, State.SUSPENDED)) {
            return abort();
        }
        synchronized (this) {
            if (!resumable) {
                state.set(State.ABORTED);
                return deleteAll();
            }
            LocalTier.closeQuietly(channel);
            releaseStaging();
            reservation.release();
            tier.resumeFileReleased(tmp);
        }
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public WriteRequest request() {
        return request;
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
        CompletableFuture<Void> result = tier.async("write " + request.key() + " at " + position, () -> {
            writePieces(position, data);
            return null;
        });
        return result.whenComplete((v, t) -> {
            if (t != null) {
                failure.compareAndSet(null, t);
            }
        });
    }

    private void writePieces(long position, ByteBuffer data) throws IOException {
        int chunkSize = request.chunkSizeInBytes();
        long p = position;
        while (data.hasRemaining()) {
            checkWritable();
            int chunk = (int) (p / chunkSize);
            long chunkStart = (long) chunk * chunkSize;
            int chunkLength = ObjectInfo.chunkLength(request.sizeInBytes(), chunkSize, chunk);
            int offsetInChunk = (int) (p - chunkStart);
            int n = Math.min(data.remaining(), chunkLength - offsetInChunk);
            ByteBuffer piece = data.slice(data.position(), n);
            if (!tier.directIo()) {
                FileIo.writeFully(channel, p, piece);
            } else if (offsetInChunk == 0 && n == chunkLength && AlignedBufferPool.isAligned(piece)) {
                FileIo.writeFully(channel, p, piece);
            } else {
                stage(chunk, chunkStart, chunkLength, offsetInChunk, piece);
            }
            tracker.record(p, piece);
            data.position(data.position() + n);
            p += n;
        }
    }

    private void stage(int chunk, long chunkStart, int chunkLength, int offsetInChunk, ByteBuffer piece)
            throws IOException {
        int alignedLength = (int) ObjectFileFormat.alignUp(chunkLength);
        ByteBuffer buf = staging.computeIfAbsent(chunk, c -> {
            ByteBuffer b = tier.buffers().acquire(alignedLength);
            b.put(chunkLength, new byte[alignedLength - chunkLength]); // zero padding of the last chunk
            return b;
        });
        buf.put(offsetInChunk, piece, piece.position(), piece.remaining());
        if (offsetInChunk + piece.remaining() == chunkLength) {
            FileIo.writeFully(channel, chunkStart, buf.duplicate().clear().limit(alignedLength));
            staging.remove(chunk);
            tier.buffers().release(buf);
        }
    }

    @Override
    public CompletableFuture<ObjectInfo> commit() {
        if (!state.compareAndSet(State.OPEN, State.COMMITTING)) {
            return CompletableFuture.failedFuture(new InvalidArgumentException(
                    "cannot commit " + request.key() + ": the writer is " + state.get().name().toLowerCase()));
        }
        return tier.async("commit " + request.key(), () -> {
            boolean success = false;
            try {
                Throwable earlier = failure.get();
                if (earlier != null) {
                    throw new InvalidArgumentException("cannot commit " + request.key() + ": an earlier write failed: "
                            + TierException.unwrap(earlier).getMessage());
                }
                ObjectInfo info = tracker.finish(Instant.now());
                // exactly the object's bytes: drop the allocation and the O_DIRECT padding of the last block
                channel.truncate(info.sizeInBytes());
                channel.force(false);
                channel.close();
                Path file;
                synchronized (this) {
                    file = tmp;
                }
                tier.publish(request.key(), file, info, reservation);
                if (resumable) {
                    tier.resumeFileReleased(file);
                }
                state.set(State.COMMITTED);
                success = true;
                return info;
            } finally {
                if (!success) {
                    discard();
                }
            }
        });
    }

    @Override
    public CompletableFuture<Void> abort() {
        State s = state.get();
        if (s == State.COMMITTED || s == State.ABORTED || s == State.COMMITTING || s == State.SUSPENDED) {
            return CompletableFuture.completedFuture(null);
        }
        if (!state.compareAndSet(s, State.ABORTED)) {
            return abort();
        }
        return deleteAll();
    }

    private CompletableFuture<Void> deleteAll() {
        try {
            discardNow();
            return CompletableFuture.completedFuture(null);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(tier.translate(e, "abort " + request.key()));
        }
    }

    @Override
    public void close() {
        abort().join();
    }

    private void discard() {
        state.set(State.ABORTED);
        try {
            discardNow();
        } catch (IOException e) {
            LocalTier.closeQuietly(() -> { throw e; });
        }
    }

    /** Closes the file, deletes it and gives the reservation back. */
    private synchronized void discardNow() throws IOException {
        LocalTier.closeQuietly(channel);
        releaseStaging();
        try {
            Files.deleteIfExists(tmp);
        } finally {
            reservation.release();
            if (resumable) {
                tier.resumeFileReleased(tmp);
            }
        }
    }

    private void releaseStaging() {
        staging.values().forEach(tier.buffers()::release);
        staging.clear();
    }

    private void checkWritable() {
        State s = state.get();
        if (s != State.OPEN) {
            throw new TierUnavailableException("writer of " + request.key() + " is " + s.name().toLowerCase(), false);
        }
    }
}
