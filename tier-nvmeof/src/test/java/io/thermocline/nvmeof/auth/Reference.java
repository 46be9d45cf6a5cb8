package io.thermocline.nvmeof.auth;

import java.io.ByteArrayOutputStream;
import java.security.MessageDigest;
import java.util.Arrays;

/**
 * Independent reference implementations for the tests: HMAC built from the bare hash as RFC 2104
 * defines it (no {@code javax.crypto.Mac}), and a bitwise CRC-32 (reflected polynomial EDB88320h,
 * no {@code java.util.zip}). Each is itself checked against published values in the tests.
 */
final class Reference {
    private Reference() {
    }

    static byte[] hash(String algorithm, byte[] data) {
        try {
            return MessageDigest.getInstance(algorithm).digest(data);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** RFC 2104: H((K' ^ opad) || H((K' ^ ipad) || m)), K' the key padded (or hashed) to the block size. */
    static byte[] hmac(String algorithm, byte[] key, byte[] message) {
        int block = algorithm.equals("SHA-256") ? 64 : 128;
        byte[] k = key.length > block ? hash(algorithm, key) : key;
        k = Arrays.copyOf(k, block);
        byte[] inner = new byte[block];
        byte[] outer = new byte[block];
        for (int i = 0; i < block; i++) {
            inner[i] = (byte) (k[i] ^ 0x36);
            outer[i] = (byte) (k[i] ^ 0x5C);
        }
        byte[] ih = hash(algorithm, concat(inner, message));
        return hash(algorithm, concat(outer, ih));
    }

    static int crc32(byte[] data, int length) {
        int crc = 0xFFFFFFFF;
        for (int i = 0; i < length; i++) {
            crc ^= data[i] & 0xFF;
            for (int bit = 0; bit < 8; bit++) {
                crc = (crc >>> 1) ^ ((crc & 1) != 0 ? 0xEDB88320 : 0);
            }
        }
        return ~crc;
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    static String algorithm(DhchapHash h) {
        return switch (h) {
            case SHA_256 -> "SHA-256";
            case SHA_384 -> "SHA-384";
            case SHA_512 -> "SHA-512";
        };
    }
}
