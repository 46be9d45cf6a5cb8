package io.thermocline.nvmeof.auth;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.Base64;
import java.util.Objects;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * A configured TLS pre-shared key for NVMe/TCP (NVMe/TCP Transport 1.1 §3.6.1, TP8011) in the PSK
 * interchange format that nvme-cli prints ({@code nvme gen-tls-key}) and reads
 * ({@code --tls-key}): {@code NVMeTLSkey-1:hh:<base64 of key and its CRC-32>:}, where {@code hh}
 * is 01 for SHA-256 (a 32-byte key) or 02 for SHA-384 (48 bytes), and 00 means the configured key
 * is used as the retained key unchanged (its length then picks the hash).
 *
 * <p><b>From configured key to TLS PSK</b> (§3.6.1.3), with H the key's hash, HKDF per RFC 5869
 * and HKDF-Expand-Label per RFC 8446 §7.1:
 *
 * <pre>
 * retained = HKDF-Expand-Label(HKDF-Extract(0, configured), "HostNQN", NQNh, L)       (hh ≠ 00)
 * version 0 identity = "NVMe0R" || hh || " " || NQNh || " " || NQNc                  e.g. NVMe0R01 nqn... nqn...
 *           TLS PSK  = HKDF-Expand-Label(HKDF-Extract(0, retained), "nvme-tls-psk", identity, L)
 * version 1 identity = "NVMe1R" || hh || " " || NQNh || " " || NQNc || " " || digest
 *           digest   = base64(HMAC-H(retained, NQNh || " " || NQNc || " " || "NVMe-over-Fabrics"))
 *           TLS PSK  = HKDF-Expand-Label(HKDF-Extract(0, retained), "nvme-tls-psk", hh || " " || digest, L)
 * </pre>
 *
 * <p>with L the hash length. The TLS 1.3 cipher suite follows the hash: TLS_AES_128_GCM_SHA256 or
 * TLS_AES_256_GCM_SHA384.
 *
 * <p><b>Derivation.</b> nvme-cli up to 2.13 (libnvme 1.13, Debian 13's) builds the HKDF info of
 * both steps without the label's and the context's length bytes and with the output length in
 * little-endian order, so from the same configured key it derives another retained key, another
 * digest and another TLS PSK than the specification's; the Linux kernel and tlshd use whatever PSK
 * nvme-cli put in the keyring. Later nvme-cli derives as the specification says and keeps the old
 * way behind {@code --compat}. {@link Derivation} picks one per key; the default is the
 * specification's. Immutable; {@link #toString()} never prints the key.
 */
public final class TlsPsk {
    private static final String PREFIX = "NVMeTLSkey-1:";

    private static final byte[] DIGEST_SEED = "NVMe-over-Fabrics".getBytes(StandardCharsets.US_ASCII);

    /** How the HKDF info of the retained-key and TLS-PSK steps is laid out. */
    public enum Derivation {
        /** RFC 8446 §7.1's HkdfLabel, as NVMe/TCP §3.6.1.3 says (and current nvme-cli does). */
        RFC8446,
        /**
         * nvme-cli 2.13 and earlier ({@code --compat} in later versions): info = uint16 length in
         * little-endian order || "tls13 " || label || context, with no length bytes before the
         * label or the context.
         */
        NVME_CLI_COMPAT;

        /** Parses {@code rfc8446} or {@code nvme-cli-compat} (either case, {@code _} for {@code -}). */
        public static Derivation parse(String text) {
            return switch (text.strip().toLowerCase(java.util.Locale.ROOT).replace('_', '-')) {
                case "rfc8446" -> RFC8446;
                case "nvme-cli-compat", "compat" -> NVME_CLI_COMPAT;
                default -> throw new IllegalArgumentException("TLS PSK derivation '" + text
                        + "' (expected rfc8446 or nvme-cli-compat)");
            };
        }
    }

    private final int transform;
    private final byte[] key;
    private final Derivation derivation;
    private final int identityVersion;

    private TlsPsk(int transform, byte[] key, Derivation derivation, int identityVersion) {
        this.transform = transform;
        this.key = key;
        this.derivation = derivation;
        this.identityVersion = identityVersion;
    }

    /** A configured key from raw bytes: transform 0, 1 (SHA-256, 32 bytes) or 2 (SHA-384, 48 bytes). */
    public static TlsPsk of(int transform, byte[] key) {
        if (transform < 0 || transform > 2) {
            throw new IllegalArgumentException("TLS PSK hash " + transform + " (expected 0 none, 1 SHA-256 or 2 SHA-384)");
        }
        if (key.length != 32 && key.length != 48 || transform == 1 && key.length != 32 || transform == 2 && key.length != 48) {
            throw new IllegalArgumentException("TLS PSK of " + key.length + " bytes with hash " + transform
                    + " (expected 32 bytes for 01, 48 for 02, either for 00)");
        }
        return new TlsPsk(transform, key.clone(), Derivation.RFC8446, 0);
    }

    /** This key with another derivation (default {@link Derivation#RFC8446}). */
    public TlsPsk withDerivation(Derivation d) {
        return new TlsPsk(transform, key, Objects.requireNonNull(d, "derivation"), identityVersion);
    }

    /**
     * This key offering identities of {@code version} 0 ({@code NVMe0Rhh <hostnqn> <subnqn>}, the
     * default) or 1 (with the PSK digest, {@code NVMe1Rhh <hostnqn> <subnqn> <digest>}) when a host
     * uses it. A controller accepts both versions whatever this says.
     */
    public TlsPsk withIdentityVersion(int version) {
        if (version != 0 && version != 1) {
            throw new IllegalArgumentException("TLS PSK identity version " + version + " (expected 0 or 1)");
        }
        return new TlsPsk(transform, key, derivation, version);
    }

    public Derivation derivation() {
        return derivation;
    }

    /** The identity version a host offers: 0 or 1. */
    public int identityVersion() {
        return identityVersion;
    }

    /** A new random configured key, as {@code nvme gen-tls-key --hmac=<transform>} makes. */
    public static TlsPsk generate(int transform, java.security.SecureRandom random) {
        byte[] k = new byte[transform == 2 ? 48 : 32];
        random.nextBytes(k);
        return of(transform, k);
    }

    /**
     * Parses {@code NVMeTLSkey-1:hh:<base64>:}.
     *
     * @throws IllegalArgumentException naming the part that is wrong, never echoing the key
     */
    public static TlsPsk parse(String text) {
        Objects.requireNonNull(text, "tls-key");
        String s = text.strip();
        if (!s.startsWith(PREFIX) || s.length() < PREFIX.length() + 3 || s.charAt(PREFIX.length() + 2) != ':') {
            throw new IllegalArgumentException("TLS PSK does not start with NVMeTLSkey-1:hh: (expected the PSK interchange "
                    + "format, NVMeTLSkey-1:01:<base64 of key and CRC-32>:)");
        }
        String hh = s.substring(PREFIX.length(), PREFIX.length() + 2);
        int transform = switch (hh) {
            case "00" -> 0;
            case "01" -> 1;
            case "02" -> 2;
            default -> throw new IllegalArgumentException("TLS PSK hash '" + hh + "' (expected 00, 01 or 02)");
        };
        String b64 = s.substring(PREFIX.length() + 3);
        if (b64.endsWith(":")) {
            b64 = b64.substring(0, b64.length() - 1);
        }
        byte[] raw;
        try {
            raw = Base64.getDecoder().decode(b64);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("TLS PSK: the key part is not base64 (" + e.getMessage() + ")");
        }
        if (raw.length != 36 && raw.length != 52) {
            throw new IllegalArgumentException("TLS PSK decodes to " + raw.length
                    + " bytes (expected 36 or 52: a 32 or 48 byte key and its CRC-32)");
        }
        int n = raw.length - 4;
        int stored = ByteBuffer.wrap(raw, n, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
        int computed = DhchapSecret.crc32(raw, n);
        if (stored != computed) {
            throw new IllegalArgumentException(String.format("TLS PSK CRC-32 0x%08x does not match the key's 0x%08x "
                    + "(the key was mistyped or truncated)", stored, computed));
        }
        return of(transform, Arrays.copyOf(raw, n));
    }

    /** The interchange format; {@code parse(format())} gives an equal key. */
    public String format() {
        byte[] raw = Arrays.copyOf(key, key.length + 4);
        ByteBuffer.wrap(raw, key.length, 4).order(ByteOrder.LITTLE_ENDIAN).putInt(DhchapSecret.crc32(key, key.length));
        return String.format("%s%02d:%s:", PREFIX, transform, Base64.getEncoder().encodeToString(raw));
    }

    /** The hash of the PSK and of its cipher suite: 1 SHA-256, 2 SHA-384. */
    public int hash() {
        return transform != 0 ? transform : key.length == 48 ? 2 : 1;
    }

    /** The configured key's transformation: 0, 1 or 2. */
    public int transform() {
        return transform;
    }

    /** The PSK identity a host offers, of {@link #identityVersion()} (§3.6.1.4). */
    public String identity(String hostNqn, String subsystemNqn) {
        return identity(hostNqn, subsystemNqn, identityVersion);
    }

    /** The PSK identity of {@code version} 0 or 1 (§3.6.1.4). */
    public String identity(String hostNqn, String subsystemNqn, int version) {
        return switch (version) {
            case 0 -> String.format("NVMe0R%02d %s %s", hash(), hostNqn, subsystemNqn);
            case 1 -> String.format("NVMe1R%02d %s %s %s", hash(), hostNqn, subsystemNqn, digest(hostNqn, subsystemNqn));
            default -> throw new IllegalArgumentException("TLS PSK identity version " + version + " (expected 0 or 1)");
        };
    }

    /** The PSK digest of a version 1 identity: base64(HMAC(retained, NQNh " " NQNc " NVMe-over-Fabrics")). */
    public String digest(String hostNqn, String subsystemNqn) {
        Mac mac = mac(algorithm(), retained(hostNqn));
        mac.update((hostNqn + " " + subsystemNqn + " ").getBytes(StandardCharsets.UTF_8));
        mac.update(DIGEST_SEED);
        return Base64.getEncoder().encodeToString(mac.doFinal());
    }

    /** The retained PSK (§3.6.1.3 step 1). */
    public byte[] retained(String hostNqn) {
        if (transform == 0) {
            return key.clone();
        }
        return expandLabel(algorithm(), extract(algorithm(), null, key), "HostNQN",
                hostNqn.getBytes(StandardCharsets.UTF_8), key.length, derivation);
    }

    /** The PSK TLS uses for {@link #identity(String, String)}. */
    public byte[] tlsPsk(String hostNqn, String subsystemNqn) {
        return tlsPsk(hostNqn, subsystemNqn, identityVersion);
    }

    /** The PSK TLS uses for the identity of {@code version}. */
    public byte[] tlsPsk(String hostNqn, String subsystemNqn, int version) {
        String context = switch (version) {
            case 0 -> identity(hostNqn, subsystemNqn, 0);
            case 1 -> String.format("%02d %s", hash(), digest(hostNqn, subsystemNqn));
            default -> throw new IllegalArgumentException("TLS PSK identity version " + version + " (expected 0 or 1)");
        };
        int length = hash() == 2 ? 48 : 32;
        return expandLabel(algorithm(), extract(algorithm(), null, retained(hostNqn)), "nvme-tls-psk",
                context.getBytes(StandardCharsets.UTF_8), length, derivation);
    }

    private String algorithm() {
        return hash() == 2 ? "HmacSHA384" : "HmacSHA256";
    }

    /** HKDF-Extract (RFC 5869 §2.2); a null salt is HashLen zero bytes. */
    static byte[] extract(String hmac, byte[] salt, byte[] ikm) {
        Mac mac = mac(hmac, salt);
        return mac.doFinal(ikm);
    }

    /** HKDF-Expand (RFC 5869 §2.3). */
    static byte[] expand(String hmac, byte[] prk, byte[] info, int length) {
        Mac mac = mac(hmac, prk);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] t = new byte[0];
        for (int i = 1; out.size() < length; i++) {
            mac.update(t);
            mac.update(info);
            mac.update((byte) i);
            t = mac.doFinal();
            out.writeBytes(t);
        }
        return Arrays.copyOf(out.toByteArray(), length);
    }

    /** HKDF-Expand-Label (RFC 8446 §7.1): info = uint16 length || "tls13 " + label || context, each with a length byte. */
    static byte[] expandLabel(String hmac, byte[] prk, String label, byte[] context, int length) {
        return expandLabel(hmac, prk, label, context, length, Derivation.RFC8446);
    }

    static byte[] expandLabel(String hmac, byte[] prk, String label, byte[] context, int length, Derivation derivation) {
        byte[] full = ("tls13 " + label).getBytes(StandardCharsets.US_ASCII);
        ByteArrayOutputStream info = new ByteArrayOutputStream();
        if (derivation == Derivation.RFC8446) {
            info.write(length >>> 8);
            info.write(length);
            info.write(full.length);
            info.writeBytes(full);
            info.write(context.length);
            info.writeBytes(context);
        } else {
            info.write(length);
            info.write(length >>> 8);
            info.writeBytes(full);
            info.writeBytes(context);
        }
        return expand(hmac, prk, info.toByteArray(), length);
    }

    private static Mac mac(String hmac, byte[] key) {
        try {
            Mac mac = Mac.getInstance(hmac);
            byte[] k = key != null && key.length > 0 ? key : new byte[mac.getMacLength()];
            mac.init(new SecretKeySpec(k, hmac));
            return mac;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(hmac + " is missing from this JVM", e);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TlsPsk other && other.transform == transform && Arrays.equals(other.key, key)
                && other.derivation == derivation && other.identityVersion == identityVersion;
    }

    @Override
    public int hashCode() {
        return (31 * transform + Arrays.hashCode(key)) * 31 + derivation.hashCode() * 3 + identityVersion;
    }

    @Override
    public String toString() {
        return "TlsPsk[NVMeTLSkey-1:" + String.format("%02d", transform) + ", " + key.length + "-byte key, "
                + derivation + ", identity v" + identityVersion + "]";
    }
}
