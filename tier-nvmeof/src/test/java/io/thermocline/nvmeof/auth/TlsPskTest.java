package io.thermocline.nvmeof.auth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import org.bouncycastle.crypto.digests.SHA256Digest;
import org.bouncycastle.crypto.digests.SHA384Digest;
import org.bouncycastle.crypto.generators.HKDFBytesGenerator;
import org.bouncycastle.crypto.params.HKDFParameters;
import org.junit.jupiter.api.Test;

class TlsPskTest {
    private static final String HOST = "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555";
    private static final String SUB = "nqn.2026-11.io.thermocline:tls";
    private static final HexFormat HEX = HexFormat.of();

    /** RFC 5869 Appendix A.1 (SHA-256). */
    @Test
    void hkdf_rfc5869Case1() {
        byte[] ikm = new byte[22];
        java.util.Arrays.fill(ikm, (byte) 0x0b);
        byte[] salt = HEX.parseHex("000102030405060708090a0b0c");
        byte[] info = HEX.parseHex("f0f1f2f3f4f5f6f7f8f9");
        byte[] prk = TlsPsk.extract("HmacSHA256", salt, ikm);
        assertEquals("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5", HEX.formatHex(prk));
        assertEquals("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
                HEX.formatHex(TlsPsk.expand("HmacSHA256", prk, info, 42)));
    }

    @Test
    void interchangeFormat_roundTripsAndChecksTheCrc() {
        for (int t = 0; t <= 2; t++) {
            TlsPsk k = TlsPsk.generate(t, new SecureRandom());
            String text = k.format();
            assertTrue(text.startsWith("NVMeTLSkey-1:0" + t + ":"), text);
            assertEquals(k, TlsPsk.parse(text));
            byte[] raw = Base64.getDecoder().decode(text.substring(16, text.length() - 1));
            raw[0] ^= 1;
            String bad = text.substring(0, 16) + Base64.getEncoder().encodeToString(raw) + ":";
            assertThrows(IllegalArgumentException.class, () -> TlsPsk.parse(bad));
        }
        assertThrows(IllegalArgumentException.class, () -> TlsPsk.parse("NVMeTLSkey-1:03:AAAA:"));
        assertThrows(IllegalArgumentException.class, () -> TlsPsk.of(1, new byte[48]));
    }

    @Test
    void identity_isVersion0WithTheHash() {
        assertEquals("NVMe0R01 " + HOST + " " + SUB, TlsPsk.generate(1, new SecureRandom()).identity(HOST, SUB));
        assertEquals("NVMe0R02 " + HOST + " " + SUB, TlsPsk.generate(2, new SecureRandom()).identity(HOST, SUB));
        // an untransformed key (00) takes its hash from its length
        assertEquals("NVMe0R02 " + HOST + " " + SUB, TlsPsk.of(0, new byte[48]).identity(HOST, SUB));
        assertEquals("NVMe0R01 " + HOST + " " + SUB, TlsPsk.of(0, new byte[32]).identity(HOST, SUB));
    }

    /** Retained and TLS PSK against BouncyCastle's HKDF with the HkdfLabel built by hand (RFC 8446 §7.1). */
    @Test
    void derivation_matchesAnIndependentHkdf() {
        for (int t = 1; t <= 2; t++) {
            TlsPsk k = TlsPsk.generate(t, new SecureRandom());
            int l = t == 2 ? 48 : 32;
            byte[] configured = Base64.getDecoder().decode(k.format().substring(16, k.format().length() - 1));
            configured = java.util.Arrays.copyOf(configured, l);
            byte[] retained = bcHkdf(t, configured, label("HostNQN", HOST.getBytes(StandardCharsets.UTF_8), l), l);
            assertArrayEquals(retained, k.retained(HOST));
            byte[] identity = k.identity(HOST, SUB).getBytes(StandardCharsets.UTF_8);
            byte[] psk = bcHkdf(t, retained, label("nvme-tls-psk", identity, l), l);
            assertArrayEquals(psk, k.tlsPsk(HOST, SUB));
        }
    }

    private static byte[] label(String label, byte[] context, int length) {
        byte[] full = ("tls13 " + label).getBytes(StandardCharsets.US_ASCII);
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(length >> 8);
        b.write(length & 0xFF);
        b.write(full.length);
        b.writeBytes(full);
        b.write(context.length);
        b.writeBytes(context);
        return b.toByteArray();
    }

    private static byte[] bcHkdf(int hash, byte[] ikm, byte[] info, int length) {
        HKDFBytesGenerator g = new HKDFBytesGenerator(hash == 2 ? new SHA384Digest() : new SHA256Digest());
        g.init(new HKDFParameters(ikm, null, info));
        byte[] out = new byte[length];
        g.generateBytes(out, 0, length);
        return out;
    }

    @Test
    void versionOneIdentity_carriesTheDigestOfTheRetainedKey() {
        TlsPsk k = TlsPsk.generate(2, new SecureRandom()).withIdentityVersion(1);
        String digest = k.digest(HOST, SUB);
        assertEquals(64, digest.length(), "base64 of a 48-byte HMAC-SHA-384");
        assertEquals("NVMe1R02 " + HOST + " " + SUB + " " + digest, k.identity(HOST, SUB));
        assertEquals("NVMe0R02 " + HOST + " " + SUB, k.identity(HOST, SUB, 0));
    }

    @Test
    void nvmeCliCompatDerivation_differsFromRfc8446_exceptForAnUntransformedRetainedKey() {
        TlsPsk rfc = TlsPsk.generate(1, new SecureRandom());
        TlsPsk compat = rfc.withDerivation(TlsPsk.Derivation.NVME_CLI_COMPAT);
        assertFalse(java.util.Arrays.equals(rfc.retained(HOST), compat.retained(HOST)));
        assertFalse(java.util.Arrays.equals(rfc.tlsPsk(HOST, SUB), compat.tlsPsk(HOST, SUB)));
        TlsPsk plain = TlsPsk.of(0, new byte[32]);
        assertArrayEquals(plain.retained(HOST), plain.withDerivation(TlsPsk.Derivation.NVME_CLI_COMPAT).retained(HOST));
        assertEquals(TlsPsk.Derivation.NVME_CLI_COMPAT, TlsPsk.Derivation.parse("nvme-cli-compat"));
        assertEquals(TlsPsk.Derivation.RFC8446, TlsPsk.Derivation.parse("RFC8446"));
        assertThrows(IllegalArgumentException.class, () -> rfc.withIdentityVersion(2));
    }
}
