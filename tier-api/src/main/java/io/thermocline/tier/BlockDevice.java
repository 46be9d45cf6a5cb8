package io.thermocline.tier;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * A namespace-like range of bytes addressed in blocks: a local file or block device, a
 * namespace reached over NVMe/TCP in user space, or one the kernel attached. {@code BlockTier}
 * lays objects out on any of them, so the object layout does not depend on the transport.
 *
 * <p><b>Alignment.</b> Every offset and length is a multiple of {@link #blockSizeInBytes()} (the
 * logical block size, as an NVMe LBA), and every range lies within {@link #sizeInBytes()};
 * otherwise the future fails with {@link InvalidArgumentException}. Buffers may be of any kind and
 * alignment; implementations that need aligned memory copy through their own.
 *
 * <p><b>Buffers.</b> The caller owns every buffer and must not touch it until the future
 * completes. {@code read} fills {@code dst}'s remaining bytes exactly and advances its position;
 * {@code write} writes {@code src}'s remaining bytes and leaves its position unchanged.
 *
 * <p><b>Durability.</b> A completed write is visible to later reads; it is durable only after a
 * later {@link #flush()} completes (NVMe Flush; fdatasync for files).
 *
 * <p>Thread-safe; concurrent operations on overlapping ranges complete in an unspecified order.
 * Every implementation passes {@code BlockDeviceContractTest} (the tier-api test-jar).
 */
public interface BlockDevice extends AutoCloseable {

    /** A name for messages and metrics: a path, or an NQN and namespace ID. */
    String name();

    /** Capacity in bytes, a multiple of the block size. */
    long sizeInBytes();

    /** Logical block size in bytes: a power of two, at least 512. */
    int blockSizeInBytes();

    CompletableFuture<Void> read(long offset, ByteBuffer dst);

    CompletableFuture<Void> write(long offset, ByteBuffer src);

    /** Makes every completed write durable. */
    CompletableFuture<Void> flush();

    /**
     * Tells the device that a range is no longer needed (NVMe Dataset Management, deallocate;
     * hole punching for files). Afterwards the range reads as zeros or as its old contents,
     * never anything else.
     */
    CompletableFuture<Void> trim(long offset, long lengthInBytes);

    /** Writes zeros over a range; afterwards it reads as zeros. */
    CompletableFuture<Void> writeZeroes(long offset, long lengthInBytes);

    @Override
    void close();
}
