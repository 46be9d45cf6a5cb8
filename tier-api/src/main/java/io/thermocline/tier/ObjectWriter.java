package io.thermocline.tier;

import java.nio.ByteBuffer;
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

    /** Aborts unless committed, and waits for it. */
    @Override
    void close();
}
