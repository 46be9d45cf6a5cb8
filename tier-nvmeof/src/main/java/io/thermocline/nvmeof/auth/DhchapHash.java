package io.thermocline.nvmeof.auth;

import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Locale;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The hash functions of DH-HMAC-CHAP (NVMe Base 2.0 §8.13.5.2, Figure 186 "DH-HMAC-CHAP Hash
 * Function Identifiers"): the identifier sent in AUTH_Negotiate and DH-HMAC-CHAP_Challenge, the
 * digest length, which is also the length of challenges and responses, and the HMAC built on it.
 *
 * <p>The same identifiers name the key transformation of a {@code DHHC-1:xx:} secret, where 00
 * means "no transformation" ({@link DhchapSecret}).
 */
public enum DhchapHash {
    SHA_256(0x01, "sha256", "SHA-256", "HmacSHA256", 32),
    SHA_384(0x02, "sha384", "SHA-384", "HmacSHA384", 48),
    SHA_512(0x03, "sha512", "SHA-512", "HmacSHA512", 64);

    private final int id;
    private final String shortName;
    private final String digestAlgorithm;
    private final String macAlgorithm;
    private final int length;

    DhchapHash(int id, String shortName, String digestAlgorithm, String macAlgorithm, int length) {
        this.id = id;
        this.shortName = shortName;
        this.digestAlgorithm = digestAlgorithm;
        this.macAlgorithm = macAlgorithm;
        this.length = length;
    }

    /** The identifier on the wire (HashID). */
    public int id() {
        return id;
    }

    /** Digest length in bytes: 32, 48 or 64. */
    public int length() {
        return length;
    }

    /** The name nvmet's configfs and nvme-cli use: {@code hmac(sha256)}. */
    public String hmacName() {
        return "hmac(" + shortName + ")";
    }

    /** The hash with this identifier, or {@code null} for one this side does not know. */
    public static DhchapHash byId(int id) {
        for (DhchapHash h : values()) {
            if (h.id == id) {
                return h;
            }
        }
        return null;
    }

    /**
     * Parses {@code hmac(sha256)}, {@code sha256}, {@code sha-256} or {@code SHA_256} (and the
     * 384 and 512 forms).
     *
     * @throws IllegalArgumentException for any other name
     */
    public static DhchapHash parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT).replace("-", "").replace("_", "");
        if (n.startsWith("hmac(") && n.endsWith(")")) {
            n = n.substring(5, n.length() - 1);
        }
        for (DhchapHash h : values()) {
            if (h.shortName.equals(n)) {
                return h;
            }
        }
        throw new IllegalArgumentException("dhchap hash: '" + name + "' (expected hmac(sha256), hmac(sha384) or hmac(sha512))");
    }

    /** H(data). */
    public byte[] digest(byte[] data) {
        try {
            return MessageDigest.getInstance(digestAlgorithm).digest(data);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(digestAlgorithm + " is missing from this JVM", e);
        }
    }

    /** A fresh HMAC keyed with {@code key}; feed it with {@link Mac#update} and finish with {@link Mac#doFinal()}. */
    public Mac hmac(byte[] key) {
        try {
            Mac mac = Mac.getInstance(macAlgorithm);
            mac.init(new SecretKeySpec(key, macAlgorithm));
            return mac;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(macAlgorithm + " is missing from this JVM", e);
        }
    }

    /** HMAC(key, data). */
    public byte[] hmac(byte[] key, byte[] data) {
        return hmac(key).doFinal(data);
    }
}
