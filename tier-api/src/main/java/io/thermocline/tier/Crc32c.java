package io.thermocline.tier;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * CRC32C (Castagnoli, RFC 3720 appendix B.4) helpers on top of {@link CRC32C}, which the JIT
 * compiles to the SSE4.2 / ARMv8 CRC instructions.
 *
 * <p>Besides computing checksums, this class <em>combines</em> them: given crc(A), crc(B) and
 * |B| it yields crc(A || B) without touching the bytes. That is what lets chunks of an object be
 * written, downloaded or copied in parallel and in any order while the whole-object checksum is
 * still derived exactly, and lets a chunk's checksum be accumulated across several writes.
 *
 * <p>Design note: a CRC is the remainder of the message polynomial times x^32 modulo P (with the
 * standard pre- and post-inversion, which cancel out in the combination). Appending |B| bytes
 * multiplies the remainder of A by x^(8|B|) mod P and adds (xors) the remainder of B, so
 * {@code combine(a, b, n) = a * x^(8n) mod P xor b}. x^(8n) is the product of precomputed
 * x^(8 * 2^k) over the set bits of n, so a combination costs one polynomial multiplication (32
 * shift-and-xor steps) per set bit of the length. Polynomials are kept in the reflected bit order CRC32C uses: bit 31 holds x^0.
 *
 * <p>All methods are static and thread-safe; none changes a buffer's position or limit.
 */
public final class Crc32c {

    /** CRC32C's generator polynomial 0x1EDC6F41, bit-reflected (RFC 3720, B.4). */
    private static final int REFLECTED_POLY = 0x82F63B78;
    /** The polynomial 1 (x^0) in reflected order. */
    private static final int X0 = 0x80000000;
    /** x^8, one byte's shift, in reflected order. */
    private static final int X8 = X0 >>> 8;

    private Crc32c() {
    }

    /** CRC32C of {@code buffer}'s remaining bytes; the buffer is not modified. */
    public static int of(ByteBuffer buffer) {
        CRC32C crc = new CRC32C();
        crc.update(buffer.duplicate());
        return (int) crc.getValue();
    }

    /** CRC32C of {@code length} bytes of {@code bytes} starting at {@code offset}. */
    public static int of(byte[] bytes, int offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, offset, length);
        return (int) crc.getValue();
    }

    /** CRC32C of all of {@code bytes}. */
    public static int of(byte[] bytes) {
        return of(bytes, 0, bytes.length);
    }

    /**
     * Returns crc(A || B) from {@code crcA} = crc(A), {@code crcB} = crc(B) and
     * {@code lengthB} = |B| in bytes.
     */
    public static int combine(int crcA, int crcB, long lengthB) {
        if (lengthB < 0) {
            throw InvalidArgumentException.of("lengthB", lengthB, ">= 0");
        }
        if (lengthB == 0) {
            return crcA;
        }
        return multiply(xPow8n(lengthB), crcA) ^ crcB;
    }

    /**
     * The whole-object CRC32C from per-chunk CRC32Cs: every chunk is {@code chunkSizeInBytes}
     * long except the last, which holds the rest of {@code sizeInBytes}.
     */
    public static int ofChunks(int[] chunkCrc32c, long sizeInBytes, int chunkSizeInBytes) {
        int count = ObjectInfo.chunkCount(sizeInBytes, chunkSizeInBytes);
        if (chunkCrc32c.length != count) {
            throw InvalidArgumentException.of("chunkCrc32c.length", chunkCrc32c.length,
                    count + " for " + sizeInBytes + " bytes in chunks of " + chunkSizeInBytes);
        }
        if (count == 0) {
            return 0;
        }
        int fullShift = xPow8n(chunkSizeInBytes);
        int crc = chunkCrc32c[0];
        for (int i = 1; i < count - 1; i++) {
            crc = multiply(fullShift, crc) ^ chunkCrc32c[i];
        }
        if (count > 1) {
            long lastLength = sizeInBytes - (long) (count - 1) * chunkSizeInBytes;
            crc = combine(crc, chunkCrc32c[count - 1], lastLength);
        }
        return crc;
    }

    /** {@code 0x1234abcd}-style formatting used in messages. */
    public static String hex(int crc) {
        return String.format("0x%08x", crc);
    }

    /** a * b mod P, both in reflected order. */
    private static int multiply(int a, int b) {
        int product = 0;
        // Walk a's coefficients from x^0 (bit 31) upward; b is multiplied by x at each step.
        for (int bit = X0; a != 0; bit >>>= 1) {
            if ((a & bit) != 0) {
                product ^= b;
                a &= ~bit;
            }
            b = (b & 1) != 0 ? (b >>> 1) ^ REFLECTED_POLY : b >>> 1;
        }
        return product;
    }

    /** x^(8 * 2^k) mod P for k = 0..63: the squares that {@link #xPow8n} multiplies together. */
    private static final int[] X8_POW2 = new int[64];

    static {
        X8_POW2[0] = X8;
        for (int k = 1; k < 64; k++) {
            X8_POW2[k] = multiply(X8_POW2[k - 1], X8_POW2[k - 1]);
        }
    }

    /** x^(8n) mod P: one multiplication per set bit of n (a power-of-two length costs one). */
    private static int xPow8n(long n) {
        int result = X0;
        for (long bits = n; bits != 0; bits &= bits - 1) {
            result = multiply(X8_POW2[Long.numberOfTrailingZeros(bits)], result);
        }
        return result;
    }
}
