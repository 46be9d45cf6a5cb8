package io.thermocline.region;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * The 64-bit hash that places keys in the object table: eight bytes at a time, multiply and
 * rotate, then the splitmix64 finaliser for avalanche. Never 0 (0 marks an empty slot).
 * Deterministic across processes and JVMs: it is part of the region's layout.
 */
public final class KeyHash {

    private static final VarHandle LONG_LE = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long K1 = 0x9E3779B97F4A7C15L;
    private static final long K2 = 0xC2B2AE3D27D4EB4FL;
    private static final long K3 = 0x165667B19E3779F9L;

    private KeyHash() {
    }

    public static long of(byte[] key) {
        return of(key, key.length);
    }

    /** The hash of the first {@code length} bytes of {@code key}. */
    public static long of(byte[] key, int length) {
        long h = K3 ^ (length * K1);
        int i = 0;
        for (; i + 8 <= length; i += 8) {
            long w = (long) LONG_LE.get(key, i);
            h = Long.rotateLeft(h ^ (w * K2), 29) * K1;
        }
        if (i < length) {
            long w = 0;
            for (int shift = 0; i < length; i++, shift += 8) {
                w |= (key[i] & 0xffL) << shift;
            }
            h = Long.rotateLeft(h ^ (w * K2), 29) * K1;
        }
        h ^= h >>> 30;
        h *= 0xBF58476D1CE4E5B9L;
        h ^= h >>> 27;
        h *= 0x94D049BB133111EBL;
        h ^= h >>> 31;
        return h == 0 ? 1 : h;
    }
}
