package io.thermocline.nvmeof.block;

import io.thermocline.tier.support.AlignedBufferPool;
import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierIoException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Supplier;

/**
 * Blocking helpers over a {@link BlockDevice}, for work that runs on the tier's executor: waiting
 * for a device future, and reading any byte range of an object, which the device can only do in
 * whole logical blocks.
 */
final class DeviceIo {

    private DeviceIo() {
    }

    /**
     * Waits for a device operation; a failure comes out as the {@link TierException} the device
     * reported, or a {@link TierIoException} naming {@code what}.
     */
    static <T> T await(CompletableFuture<T> future, Supplier<String> what) {
        try {
            return future.join();
        } catch (CompletionException | java.util.concurrent.CancellationException e) {
            Throwable cause = TierException.unwrap(e);
            if (cause instanceof TierException te) {
                throw te;
            }
            throw new TierIoException(what.get() + " failed: " + cause, false, cause);
        }
    }

    /** Waits for every future; the first failure (in list order) is rethrown after all have finished. */
    static void awaitAll(List<CompletableFuture<Void>> futures, Supplier<String> what) {
        RuntimeException first = null;
        for (CompletableFuture<Void> f : futures) {
            try {
                await(f, what);
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /**
     * Reads object bytes {@code [position, position + dst.remaining())} into {@code dst} and
     * advances its position. Whole blocks go straight from the device into {@code dst}; a range
     * that starts or ends inside a block reads that block into a scratch buffer and copies the
     * wanted part. All device reads of one call are in flight together.
     */
    static void readObjectRange(BlockDevice device, ExtentMap map, AlignedBufferPool buffers, long position,
                                ByteBuffer dst, Supplier<String> what) {
        int block = device.blockSizeInBytes();
        int length = dst.remaining();
        long end = position + length;
        int base = dst.position();
        List<CompletableFuture<Void>> reads = new ArrayList<>();
        List<ByteBuffer> scratch = new ArrayList<>();
        /** Per scratch block: where to copy from (offset in scratch), to (offset in dst), how many. */
        List<int[]> copies = new ArrayList<>();
        try {
            long p = position;
            while (p < end) {
                int e = map.extentIndex(p);
                long segmentEnd = Math.min(end, map.extentEnd(e));
                long dev = map.deviceOffset(p);
                long devEnd = dev + (segmentEnd - p);
                int dstAt = base + (int) (p - position);
                long alignedStart = alignUp(dev, block);
                long alignedEnd = alignDown(devEnd, block);
                if (alignedStart >= alignedEnd) {
                    // the segment lies within at most two blocks: read them whole
                    long from = alignDown(dev, block);
                    int span = (int) (alignUp(devEnd, block) - from);
                    ByteBuffer s = buffers.acquire(span);
                    scratch.add(s);
                    copies.add(new int[] {scratch.size() - 1, (int) (dev - from), dstAt, (int) (devEnd - dev)});
                    reads.add(device.read(from, s.duplicate()));
                } else {
                    if (dev < alignedStart) {
                        ByteBuffer s = buffers.acquire(block);
                        scratch.add(s);
                        copies.add(new int[] {scratch.size() - 1, (int) (dev - (alignedStart - block)), dstAt,
                                (int) (alignedStart - dev)});
                        reads.add(device.read(alignedStart - block, s.duplicate()));
                    }
                    int middleAt = dstAt + (int) (alignedStart - dev);
                    reads.add(device.read(alignedStart, dst.slice(middleAt, (int) (alignedEnd - alignedStart))));
                    if (alignedEnd < devEnd) {
                        ByteBuffer s = buffers.acquire(block);
                        scratch.add(s);
                        copies.add(new int[] {scratch.size() - 1, 0, dstAt + (int) (alignedEnd - dev), (int) (devEnd - alignedEnd)});
                        reads.add(device.read(alignedEnd, s.duplicate()));
                    }
                }
                p = segmentEnd;
            }
            awaitAll(reads, what);
            for (int[] c : copies) {
                dst.put(c[2], scratch.get(c[0]), c[1], c[3]);
            }
            dst.position(base + length);
        } finally {
            scratch.forEach(buffers::release);
        }
    }

    static long alignUp(long value, long alignment) {
        return (value + alignment - 1) / alignment * alignment;
    }

    static long alignDown(long value, long alignment) {
        return value / alignment * alignment;
    }
}
