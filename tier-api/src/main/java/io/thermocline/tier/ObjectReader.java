package io.thermocline.tier;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * Positional, ranged reads of one committed object into caller-owned buffers.
 *
 * <p><b>Verification.</b> Every byte a read returns has been checked against the object's chunk
 * CRC32C; a mismatch completes the read with {@link ChecksumMismatchException} naming the key and
 * the chunk's offset, and the buffer's position is left unchanged. To verify a chunk a read that
 * covers only part of it may read the whole chunk; an implementation may remember chunks it has
 * verified during this reader's life and skip re-reading them.
 *
 * <p><b>Buffers.</b> {@code dst} belongs to the caller, who must not touch it until the returned
 * future completes. On success its position has advanced by the count returned; its limit is
 * never changed. Direct buffers whose address and length are 4 KiB-aligned let O_DIRECT and
 * network implementations avoid a copy.
 *
 * <p><b>Lifetime.</b> A reader sees the object as it was when it was opened. If the object is
 * deleted or replaced meanwhile, reads either go on returning the old bytes or fail with a
 * {@link TierException}; they never return other bytes. Thread-safe: concurrent reads at any
 * positions are allowed. {@link #close()} releases the reader; reads after close fail with
 * {@link TierUnavailableException}.
 */
public interface ObjectReader extends AutoCloseable {

    /** The object being read. */
    ObjectInfo info();

    /**
     * Reads up to {@code dst.remaining()} bytes starting at {@code position}.
     *
     * @return the number of bytes read, which is {@code min(dst.remaining(), size - position)};
     *         {@code -1} if {@code position >= size} and {@code dst} has room
     * @throws InvalidArgumentException (through the future) if {@code position < 0}
     */
    CompletableFuture<Integer> read(long position, ByteBuffer dst);

    @Override
    void close();
}
