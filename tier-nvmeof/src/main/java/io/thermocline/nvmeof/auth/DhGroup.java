package io.thermocline.nvmeof.auth;

import java.math.BigInteger;
import java.util.Locale;

/**
 * The Diffie-Hellman groups of DH-HMAC-CHAP (NVMe Base 2.0 §8.13.5.2, Figure 187 "DH-HMAC-CHAP
 * Diffie-Hellman group identifiers"): the null group (no exchange, plain HMAC-CHAP) and the five
 * finite field groups of RFC 7919, all with generator 2.
 *
 * <p>The primes are not stored as constants: RFC 7919 §A defines each one as
 * {@code p = 2^b - 2^(b-64) + (floor(2^(b-130) * e) + X) * 2^64 - 1}, with {@code X} the smallest
 * offset that makes {@code p} and {@code (p-1)/2} prime, and that formula is evaluated here once
 * per group on first use (well under a millisecond). A test holds the result against the
 * published hexadecimal values.
 */
public enum DhGroup {
    NULL(0x00, "null", 0, 0),
    FFDHE2048(0x01, "ffdhe2048", 2048, 560316),
    FFDHE3072(0x02, "ffdhe3072", 3072, 2625351),
    FFDHE4096(0x03, "ffdhe4096", 4096, 5736041),
    FFDHE6144(0x04, "ffdhe6144", 6144, 15705020),
    FFDHE8192(0x05, "ffdhe8192", 8192, 10965728);

    /** The generator of every RFC 7919 group. */
    public static final BigInteger GENERATOR = BigInteger.TWO;

    private final int id;
    private final String groupName;
    private final int bits;
    private final int offset;
    private volatile BigInteger prime;

    DhGroup(int id, String groupName, int bits, int offset) {
        this.id = id;
        this.groupName = groupName;
        this.bits = bits;
        this.offset = offset;
    }

    /** The identifier on the wire (DHgID). */
    public int id() {
        return id;
    }

    /** The name nvmet's configfs and nvme-cli use: {@code null}, {@code ffdhe2048}, ... */
    public String groupName() {
        return groupName;
    }

    /** Size of the prime in bits; 0 for the null group. */
    public int bits() {
        return bits;
    }

    /** Length of a public value or shared secret in bytes (the prime's length); 0 for the null group. */
    public int valueLength() {
        return bits / 8;
    }

    /** The group's prime; {@link IllegalStateException} for the null group. */
    public BigInteger prime() {
        if (this == NULL) {
            throw new IllegalStateException("the null DH group has no prime");
        }
        BigInteger p = prime;
        if (p == null) {
            p = rfc7919Prime(bits, offset);
            prime = p;
        }
        return p;
    }

    /** The group with this identifier, or {@code null} for one this side does not know. */
    public static DhGroup byId(int id) {
        for (DhGroup g : values()) {
            if (g.id == id) {
                return g;
            }
        }
        return null;
    }

    /**
     * Parses a group name as nvmet's configfs writes it ({@code null}, {@code ffdhe2048} ...
     * {@code ffdhe8192}), case-insensitive.
     *
     * @throws IllegalArgumentException for any other name
     */
    public static DhGroup parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        for (DhGroup g : values()) {
            if (g.groupName.equals(n)) {
                return g;
            }
        }
        throw new IllegalArgumentException("dhchap dhgroup: '" + name
                + "' (expected null, ffdhe2048, ffdhe3072, ffdhe4096, ffdhe6144 or ffdhe8192)");
    }

    /** RFC 7919 §A: {@code 2^b - 2^(b-64) + (floor(2^(b-130) e) + X) 2^64 - 1}. */
    static BigInteger rfc7919Prime(int b, int x) {
        BigInteger scaledE = floorEScaled(b - 130);
        return BigInteger.ONE.shiftLeft(b)
                .subtract(BigInteger.ONE.shiftLeft(b - 64))
                .add(scaledE.add(BigInteger.valueOf(x)).shiftLeft(64))
                .subtract(BigInteger.ONE);
    }

    /**
     * {@code floor(2^shift * e)}, from e = sum of 1/k! in fixed point with 64 guard bits. Each of
     * the (about 1000) truncated terms is off by less than one guard unit, so the error stays
     * below 2^10 of 2^64 units and cannot reach the integer part unless e's binary expansion had a
     * run of 54 ones or zeros right there — it has none for these five shifts, which the test of
     * the published primes confirms.
     */
    private static BigInteger floorEScaled(int shift) {
        int guard = 64;
        BigInteger term = BigInteger.ONE.shiftLeft(shift + guard);
        BigInteger sum = BigInteger.ZERO;
        for (int k = 1; term.signum() > 0; k++) {
            sum = sum.add(term);
            term = term.divide(BigInteger.valueOf(k));
        }
        return sum.shiftRight(guard);
    }
}
