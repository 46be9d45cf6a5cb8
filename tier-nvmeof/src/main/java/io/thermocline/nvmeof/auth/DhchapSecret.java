package io.thermocline.nvmeof.auth;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.Objects;
import java.util.zip.CRC32;

/**
 * A DH-HMAC-CHAP secret in the representation nvme-cli prints ({@code nvme gen-dhchap-key}) and
 * the Linux kernel parses (drivers/nvme/common/auth.c): {@code DHHC-1:xx:<base64>:}, where
 *
 * <ul>
 *   <li>{@code xx} names the transformation applied to the key before use: 00 none, 01 SHA-256,
 *       02 SHA-384, 03 SHA-512 (the HMAC of {@link DhchapHash});</li>
 *   <li>the base64 (RFC 4648, with padding) encodes the key — 32, 48 or 64 bytes — followed by
 *       the CRC-32 (ISO-HDLC, the zlib one) of the key, little-endian.</li>
 * </ul>
 *
 * <p><b>Transformation</b> (NVMe Base 2.0 §8.13.5.7): with {@code xx} ≠ 00 the key used in
 * responses is {@code HMAC_xx(key, NQN || "NVMe-over-Fabrics")}, with the host's NQN for a host
 * secret and the subsystem's NQN for a controller secret; with 00 it is the key itself.
 *
 * <p>Immutable. {@link #toString()} never prints the key.
 */
public final class DhchapSecret {
    private static final String PREFIX = "DHHC-1:";
    private static final byte[] TRANSFORM_LABEL = "NVMe-over-Fabrics".getBytes(StandardCharsets.US_ASCII);

    private final int transform;
    private final byte[] key;

    private DhchapSecret(int transform, byte[] key) {
        this.transform = transform;
        this.key = key;
    }

    /**
     * A secret from raw key bytes.
     *
     * @param transform 0 (none) or a {@link DhchapHash#id()}
     * @param key 32, 48 or 64 bytes (copied)
     */
    public static DhchapSecret of(int transform, byte[] key) {
        Objects.requireNonNull(key, "key");
        if (transform < 0 || transform > 3) {
            throw new IllegalArgumentException("DH-HMAC-CHAP key transformation: " + transform
                    + " (expected 0 none, 1 SHA-256, 2 SHA-384 or 3 SHA-512)");
        }
        if (key.length != 32 && key.length != 48 && key.length != 64) {
            throw new IllegalArgumentException("DH-HMAC-CHAP key of " + key.length + " bytes (expected 32, 48 or 64)");
        }
        return new DhchapSecret(transform, key.clone());
    }

    /** A new random secret, as {@code nvme gen-dhchap-key --hmac=<transform> --key-length=<length>} makes. */
    public static DhchapSecret generate(int transform, int length, SecureRandom random) {
        byte[] k = new byte[length];
        random.nextBytes(k);
        return of(transform, k);
    }

    /**
     * Parses {@code DHHC-1:xx:<base64>:} (the trailing colon may be missing, as the kernel accepts).
     *
     * @throws IllegalArgumentException naming what is wrong: the prefix, the transformation, the
     *         base64, the decoded length or the CRC — never echoing the key
     */
    public static DhchapSecret parse(String text) {
        Objects.requireNonNull(text, "secret");
        String s = text.strip();
        if (!s.startsWith(PREFIX) || s.length() < PREFIX.length() + 3 || s.charAt(PREFIX.length() + 2) != ':') {
            throw new IllegalArgumentException("DH-HMAC-CHAP secret does not start with DHHC-1:xx: (expected the form "
                    + "nvme gen-dhchap-key prints, DHHC-1:00:<base64 of key and CRC-32>:)");
        }
        String xx = s.substring(PREFIX.length(), PREFIX.length() + 2);
        int transform;
        try {
            transform = Integer.parseInt(xx);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("DH-HMAC-CHAP secret transformation '" + xx + "' (expected 00, 01, 02 or 03)");
        }
        if (transform < 0 || transform > 3) {
            throw new IllegalArgumentException("DH-HMAC-CHAP secret transformation " + xx + " (expected 00, 01, 02 or 03)");
        }
        String b64 = s.substring(PREFIX.length() + 3);
        if (b64.endsWith(":")) {
            b64 = b64.substring(0, b64.length() - 1);
        }
        byte[] raw;
        try {
            raw = Base64.getDecoder().decode(b64);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("DH-HMAC-CHAP secret: the key part is not base64 (" + e.getMessage() + ")");
        }
        if (raw.length != 36 && raw.length != 52 && raw.length != 68) {
            throw new IllegalArgumentException("DH-HMAC-CHAP secret decodes to " + raw.length
                    + " bytes (expected 36, 52 or 68: a 32, 48 or 64 byte key and its CRC-32)");
        }
        int n = raw.length - 4;
        int stored = ByteBuffer.wrap(raw, n, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
        int computed = crc32(raw, n);
        if (stored != computed) {
            throw new IllegalArgumentException(String.format("DH-HMAC-CHAP secret CRC-32 0x%08x does not match the key's "
                    + "0x%08x (the secret was mistyped or truncated)", stored, computed));
        }
        return new DhchapSecret(transform, Arrays.copyOf(raw, n));
    }

    /** Formats as {@code DHHC-1:xx:<base64>:}; {@code parse(format())} gives an equal secret. */
    public String format() {
        byte[] raw = Arrays.copyOf(key, key.length + 4);
        ByteBuffer.wrap(raw, key.length, 4).order(ByteOrder.LITTLE_ENDIAN).putInt(crc32(key, key.length));
        return String.format("%s%02d:%s:", PREFIX, transform, Base64.getEncoder().encodeToString(raw));
    }

    /** 0 for none, else the {@link DhchapHash#id()} the key is transformed with. */
    public int transform() {
        return transform;
    }

    /** The key bytes (a copy). */
    public byte[] key() {
        return key.clone();
    }

    /**
     * The key responses are computed with: {@code HMAC(key, nqn || "NVMe-over-Fabrics")} with the
     * hash this secret names, or the key itself for transformation 00 (NVMe Base 2.0 §8.13.5.7).
     *
     * @param nqn the host NQN for a host secret, the subsystem NQN for a controller secret
     */
    public byte[] transformed(String nqn) {
        if (transform == 0) {
            return key.clone();
        }
        var mac = DhchapHash.byId(transform).hmac(key);
        mac.update(nqn.getBytes(StandardCharsets.UTF_8));
        mac.update(TRANSFORM_LABEL);
        return mac.doFinal();
    }

    static int crc32(byte[] b, int length) {
        CRC32 crc = new CRC32();
        crc.update(b, 0, length);
        return (int) crc.getValue();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DhchapSecret other && other.transform == transform && Arrays.equals(other.key, key);
    }

    @Override
    public int hashCode() {
        return 31 * transform + Arrays.hashCode(key);
    }

    @Override
    public String toString() {
        return "DhchapSecret[DHHC-1:" + String.format("%02d", transform) + ", " + key.length + "-byte key]";
    }
}
