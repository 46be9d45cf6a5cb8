package io.thermocline.tier;

import java.nio.ByteBuffer;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * Writes one new object of a size fixed at creation, then publishes it atomically.
 *
 * <p><b>Order.</b> Bytes may be written in any order and concurrently, chunk by chunk; within one
 * chunk they must be written front to back (a write must start where the chunk's previous write
 * ended). This lets a copy fetch ranges in parallel while every chunk checksum is still computed
 * in a single pass.
 *
 * <p><b>Publication.</b> Nothing is visible under the key until {@link #commit()} completes: a
 * reader sees either the previous object or the new one, whole. {@link #abort()} — or a crash at
 * any moment before commit — leaves nothing behind: no visible object, no space accounted. When
 * the request carries {@link WriteRequest#expected() expected} checksums, commit verifies them
 * first and fails with {@link ChecksumMismatchException} instead of publishing.
 *
 * <p><b>Buffers.</b> A write reads {@code src}'s remaining bytes asynchronously; the caller keeps
 * ownership and must not modify the buffer until the returned future completes. The buffer's
 * position is not changed.
 *
 * <p><b>Resume.</b> A tier may let a long write survive its writer: {@link #checkpoint(long)}
 * makes a written prefix durable and names it with a {@link ResumePoint}; {@link #suspend()}
 * stops the writer but keeps that prefix; {@link Tier#resume(WriteRequest, ResumePoint, int[])}
 * hands out a writer that already holds it. The prefix stays invisible under the key until a
 * commit, like any uncommitted write. Tiers that do not resume writers keep the defaults: no
 * checkpoint, and suspend aborts.
 *
 * <p>Thread-safe. {@link #close()} aborts unless the writer has committed.
 */
public interface ObjectWriter extends AutoCloseable {

    WriteRequest request();

    /**
     * Writes {@code src}'s remaining bytes at {@code position}.
     *
     * @throws InvalidArgumentException (through the future) if the range falls outside the
     *         declared size or does not continue its chunk where the last write ended
     */
    CompletableFuture<Void> write(long position, ByteBuffer src);

    /**
     * Makes the object durable and visible under its key, replacing any previous object.
     *
     * @return the committed object's info
     * @throws InvalidArgumentException (through the future) if fewer bytes than declared were written
     * @throws ChecksumMismatchException (through the future) if the bytes differ from the expected ones
     */
    CompletableFuture<ObjectInfo> commit();

    /** Discards everything written. Idempotent; does nothing after a successful commit. */
    CompletableFuture<Void> abort();

    /**
     * Makes the first {@code writtenPrefix} bytes durable, so that a writer cut off after this
     * point can be taken up again from there with {@link Tier#resume}. The caller must have seen
     * every write of that prefix complete. A tier that stores in larger units (S3 parts) may name
     * a shorter prefix than asked for; it never names bytes it does not hold durably.
     *
     * @param writtenPrefix a multiple of the chunk size, or the object's size
     * @return where a resumed writer would start, or empty if this tier does not resume writers
     * @throws InvalidArgumentException (through the future) if the prefix is not chunk-aligned or
     *         lies outside the object
     */
    default CompletableFuture<Optional<ResumePoint>> checkpoint(long writtenPrefix) {
        return CompletableFuture.completedFuture(Optional.empty());
    }

    /**
     * Stops this writer but keeps what its last {@link #checkpoint} made durable, for
     * {@link Tier#resume}; the tier reclaims it when {@link Tier#discard} is called or, on its own,
     * after a documented age. Nothing becomes visible. Tiers that do not resume writers abort.
     * The writer accepts nothing afterwards.
     */
    default CompletableFuture<Void> suspend() {
        return abort();
    }

    /**
     * Bytes at the start of the object that this writer took over from a cut-off one (0 unless it
     * came from {@link Tier#resume}); the caller writes from there on.
     */
    default long resumedBytes() {
        return 0;
    }

    /** Aborts unless committed, and waits for it. */
    @Override
    void close();
}
