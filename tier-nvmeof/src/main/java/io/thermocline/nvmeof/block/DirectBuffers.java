package io.thermocline.nvmeof.block;

import io.thermocline.tier.support.BufferPool;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Direct buffers aligned to 4096 bytes, pooled by power-of-two size class from 4 KiB to 256 MiB
 * (the largest chunk). Aligned direct memory can go to an O_DIRECT file or a network device
 * without another copy. Memory comes from {@link Arena#ofAuto()}, so a buffer that is dropped
 * rather than released is still reclaimed by the garbage collector. At most
 * {@code maxIdlePerClass} idle buffers are kept per class. Thread-safe.
 */
final class DirectBuffers implements BufferPool {

    static final int ALIGNMENT = 4096;
    private static final int MIN_SHIFT = 12;
    private static final int MAX_SHIFT = 28;

    @SuppressWarnings({"unchecked", "rawtypes"})
    private final ConcurrentLinkedQueue<ByteBuffer>[] idle = new ConcurrentLinkedQueue[MAX_SHIFT + 1];
    private final AtomicIntegerArray idleCount = new AtomicIntegerArray(MAX_SHIFT + 1);
    private final int maxIdlePerClass;

    DirectBuffers(int maxIdlePerClass) {
        this.maxIdlePerClass = maxIdlePerClass;
        for (int i = MIN_SHIFT; i <= MAX_SHIFT; i++) {
            idle[i] = new ConcurrentLinkedQueue<>();
        }
    }

    @Override
    public ByteBuffer acquire(int capacityInBytes) {
        int shift = shiftFor(capacityInBytes);
        ByteBuffer b = idle[shift].poll();
        if (b != null) {
            idleCount.decrementAndGet(shift);
        } else {
            b = Arena.ofAuto().allocate(1L << shift, ALIGNMENT).asByteBuffer();
        }
        return b.clear().limit(capacityInBytes);
    }

    @Override
    public void release(ByteBuffer buffer) {
        int capacity = buffer.capacity();
        int shift = Integer.numberOfTrailingZeros(capacity);
        if (!buffer.isDirect() || capacity != 1 << shift || shift < MIN_SHIFT || shift > MAX_SHIFT) {
            return;
        }
        if (idleCount.incrementAndGet(shift) <= maxIdlePerClass) {
            idle[shift].offer(buffer.clear());
        } else {
            idleCount.decrementAndGet(shift);
        }
    }

    private static int shiftFor(int capacity) {
        int shift = Math.max(MIN_SHIFT, 32 - Integer.numberOfLeadingZeros(Math.max(capacity, 1) - 1));
        if (shift > MAX_SHIFT) {
            throw new IllegalArgumentException("buffer of " + capacity + " bytes (expected at most " + (1 << MAX_SHIFT) + ")");
        }
        return shift;
    }
}
