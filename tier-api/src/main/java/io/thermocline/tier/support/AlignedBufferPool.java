package io.thermocline.tier.support;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Direct buffers aligned to 4096 bytes, pooled by power-of-two size class from 4 KiB to 256 MiB:
 * aligned direct memory can go to an O_DIRECT file or a socket without another copy. Memory
 * comes from {@link Arena#ofAuto()}, so a buffer that is dropped instead of released is still
 * reclaimed by the garbage collector. At most {@code maxPerClass} idle buffers are kept per
 * class. Thread-safe.
 */
public final class AlignedBufferPool implements BufferPool {

    public static final int ALIGNMENT = 4096;
    private static final int MIN_SHIFT = 12;
    private static final int MAX_SHIFT = 28;

    @SuppressWarnings({"unchecked", "rawtypes"})
    private final ConcurrentLinkedQueue<ByteBuffer>[] idle = new ConcurrentLinkedQueue[MAX_SHIFT + 1];
    private final AtomicIntegerArray idleCount = new AtomicIntegerArray(MAX_SHIFT + 1);
    private final int maxPerClass;

    public AlignedBufferPool(int maxPerClass) {
        this.maxPerClass = maxPerClass;
        for (int i = MIN_SHIFT; i <= MAX_SHIFT; i++) {
            idle[i] = new ConcurrentLinkedQueue<>();
        }
    }

    /** True if {@code b} can be handed to an O_DIRECT read or write as it is. */
    public static boolean isAligned(ByteBuffer b) {
        return b.isDirect() && b.remaining() % ALIGNMENT == 0
               && MemorySegment.ofBuffer(b).address() % ALIGNMENT == 0;
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
        if (idleCount.incrementAndGet(shift) <= maxPerClass) {
            idle[shift].offer(buffer.clear());
        } else {
            idleCount.decrementAndGet(shift);
        }
    }

    private static int shiftFor(int capacity) {
        int shift = Math.max(MIN_SHIFT, 32 - Integer.numberOfLeadingZeros(Math.max(capacity, 1) - 1));
        if (shift > MAX_SHIFT) {
            throw new IllegalArgumentException("buffer of " + capacity + " bytes exceeds the pool's " + (1 << MAX_SHIFT));
        }
        return shift;
    }
}
