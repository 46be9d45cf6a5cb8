package io.thermocline.tier.support;

import java.nio.ByteBuffer;

/**
 * Scratch buffers for implementations that must stage bytes (partial-chunk verification,
 * O_DIRECT bounce buffers). Thread-safe.
 */
public interface BufferPool {

    /**
     * A buffer with position 0 and limit {@code capacityInBytes}; the caller owns it until it
     * passes it to {@link #release}.
     */
    ByteBuffer acquire(int capacityInBytes);

    /** Returns a buffer obtained from {@link #acquire}; the caller must not use it afterwards. */
    void release(ByteBuffer buffer);

    /** A pool that allocates heap buffers and lets the garbage collector reclaim them. */
    static BufferPool heap() {
        return new BufferPool() {
            @Override
            public ByteBuffer acquire(int capacityInBytes) {
                return ByteBuffer.allocate(capacityInBytes);
            }

            @Override
            public void release(ByteBuffer buffer) {
            }
        };
    }
}
