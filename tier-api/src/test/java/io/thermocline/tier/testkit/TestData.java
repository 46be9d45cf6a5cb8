package io.thermocline.tier.testkit;

import io.thermocline.tier.Crc32c;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

/**
 * Deterministic test content that never has to be held whole: the byte at offset {@code p} of
 * stream {@code seed} depends on {@code seed} and {@code p} only, so any range can be generated
 * or checked on its own.
 */
public final class TestData {

    private TestData() {
    }

    /** The byte at {@code position} of stream {@code seed}. */
    public static byte byteAt(long seed, long position) {
        return (byte) (word(seed, position >>> 3) >>> ((position & 7) * 8));
    }

    /** Fills {@code dst}'s remaining bytes with stream {@code seed} from {@code position}; position unchanged. */
    public static ByteBuffer fill(long seed, long position, ByteBuffer dst) {
        int start = dst.position();
        int n = dst.remaining();
        long p = position;
        int i = 0;
        while (i < n && (p & 7) != 0) {
            dst.put(start + i++, byteAt(seed, p++));
        }
        while (n - i >= 8) {
            long w = word(seed, p >>> 3);
            for (int k = 0; k < 8; k++) {
                dst.put(start + i + k, (byte) (w >>> (k * 8)));
            }
            i += 8;
            p += 8;
        }
        while (i < n) {
            dst.put(start + i++, byteAt(seed, p++));
        }
        return dst;
    }

    /** A heap buffer of {@code length} bytes of stream {@code seed} from {@code position}. */
    public static ByteBuffer bytes(long seed, long position, int length) {
        return fill(seed, position, ByteBuffer.allocate(length));
    }

    /**
     * Returns the offset (from {@code position}) of the first byte of {@code actual}'s remaining
     * bytes that differs from stream {@code seed}, or -1 if all match.
     */
    public static long firstMismatch(long seed, long position, ByteBuffer actual) {
        for (int i = 0; i < actual.remaining(); i++) {
            if (actual.get(actual.position() + i) != byteAt(seed, position + i)) {
                return i;
            }
        }
        return -1;
    }

    /** CRC32C of {@code length} bytes of stream {@code seed} from 0, computed in 1 MiB pieces. */
    public static int crc32c(long seed, long length) {
        int crc = 0;
        ByteBuffer buf = ByteBuffer.allocate(1 << 20);
        for (long p = 0; p < length; p += buf.capacity()) {
            int n = (int) Math.min(buf.capacity(), length - p);
            crc = Crc32c.combine(crc, Crc32c.of(fill(seed, p, buf.clear().limit(n))), n);
        }
        return crc;
    }

    private static long word(long seed, long index) {
        long z = seed * 0x9E3779B97F4A7C15L + index * 0xD1B54A32D192ED03L + 0x632BE59BD9B4E019L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** A channel of {@code size} deterministic bytes of {@code seed} ({@link #fill}), from position 0. */
    public static ReadableByteChannel channel(long seed, long size) {
        return new ReadableByteChannel() {
            private long position;

            @Override
            public int read(ByteBuffer dst) {
                if (position >= size) {
                    return -1;
                }
                int n = (int) Math.min(dst.remaining(), size - position);
                fill(seed, position, dst.slice(dst.position(), n));
                dst.position(dst.position() + n);
                position += n;
                return n;
            }

            @Override
            public boolean isOpen() {
                return true;
            }

            @Override
            public void close() {
            }
        };
    }
}
