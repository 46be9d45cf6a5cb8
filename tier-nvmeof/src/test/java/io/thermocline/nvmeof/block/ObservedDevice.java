package io.thermocline.nvmeof.block;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.TierIoException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A {@link BlockDevice} wrapper for tests: records every trim, can hold trims back until a gate
 * opens, can flip a bit in or fail writes at or beyond an offset, and can report a larger block
 * size than the device below (a multiple of it), and can leave trimmed blocks as they were (as a
 * device may: deallocated blocks read back as zeroes only where the namespace's DLFEAT field in
 * Identify Namespace says so).
 */
final class ObservedDevice implements BlockDevice {

    /** A trim as the tier asked for it. */
    record Trim(long offset, long length) {
    }

    private final BlockDevice inner;
    private final int blockSize;
    private final List<Trim> trims = new ArrayList<>();
    private volatile CompletableFuture<Void> trimGate = CompletableFuture.completedFuture(null);
    private volatile long corruptWritesFrom = Long.MAX_VALUE;
    private volatile long failWritesFrom = Long.MAX_VALUE;
    private volatile boolean trimsKeepBytes;

    ObservedDevice(BlockDevice inner) {
        this(inner, inner.blockSizeInBytes());
    }

    ObservedDevice(BlockDevice inner, int reportedBlockSize) {
        if (reportedBlockSize % inner.blockSizeInBytes() != 0) {
            throw new IllegalArgumentException("block size " + reportedBlockSize + " is not a multiple of "
                    + inner.blockSizeInBytes());
        }
        this.inner = inner;
        this.blockSize = reportedBlockSize;
    }

    /** Trims so far, in the order they were issued. */
    synchronized List<Trim> trims() {
        return List.copyOf(trims);
    }

    synchronized void clearTrims() {
        trims.clear();
    }

    /** Trims issued from now on complete only after {@code gate} does. */
    void holdTrimsUntil(CompletableFuture<Void> gate) {
        this.trimGate = gate;
    }

    /** Writes whose range reaches {@code offset} or beyond land with one bit flipped in their first byte. */
    void corruptWritesFrom(long offset) {
        this.corruptWritesFrom = offset;
    }

    /** Trims from now on are recorded and complete but leave the bytes as they were. */
    void keepBytesOnTrim() {
        this.trimsKeepBytes = true;
    }

    /** Writes whose range reaches {@code offset} or beyond fail with a {@link TierIoException}. */
    void failWritesFrom(long offset) {
        this.failWritesFrom = offset;
    }

    @Override
    public String name() {
        return "observed:" + inner.name();
    }

    @Override
    public long sizeInBytes() {
        return inner.sizeInBytes() / blockSize * blockSize;
    }

    @Override
    public int blockSizeInBytes() {
        return blockSize;
    }

    @Override
    public CompletableFuture<Void> read(long offset, ByteBuffer dst) {
        return inner.read(offset, dst);
    }

    @Override
    public CompletableFuture<Void> write(long offset, ByteBuffer src) {
        if (offset + src.remaining() > failWritesFrom) {
            return CompletableFuture.failedFuture(new TierIoException("injected write error at " + offset, true));
        }
        if (offset + src.remaining() > corruptWritesFrom && src.hasRemaining()) {
            ByteBuffer copy = ByteBuffer.allocate(src.remaining()).put(src.duplicate()).flip();
            copy.put(0, (byte) (copy.get(0) ^ 0x01));
            return inner.write(offset, copy);
        }
        return inner.write(offset, src);
    }

    @Override
    public CompletableFuture<Void> flush() {
        return inner.flush();
    }

    @Override
    public CompletableFuture<Void> trim(long offset, long lengthInBytes) {
        synchronized (this) {
            trims.add(new Trim(offset, lengthInBytes));
        }
        return trimGate.thenCompose(v -> trimsKeepBytes ? CompletableFuture.<Void>completedFuture(null)
                : inner.trim(offset, lengthInBytes));
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long offset, long lengthInBytes) {
        return inner.writeZeroes(offset, lengthInBytes);
    }

    @Override
    public void close() {
        inner.close();
    }
}
