package io.thermocline.nvmeof.auth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

class DhchapSecretTest {
    private static final String HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:0f6e7f5a-8f34-4b73-9a0c-d0c1a1b2c3d4";

    /** RFC 4231 test case 2 ("Jefe", "what do ya want for nothing?") holds the reference HMAC. */
    @Test
    void referenceHmac_rfc4231Case2_matchesPublishedValues() {
        byte[] key = "Jefe".getBytes(StandardCharsets.US_ASCII);
        byte[] data = "what do ya want for nothing?".getBytes(StandardCharsets.US_ASCII);
        HexFormat hex = HexFormat.of();
        assertEquals("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                hex.formatHex(Reference.hmac("SHA-256", key, data)));
        assertEquals("af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
                hex.formatHex(Reference.hmac("SHA-384", key, data)));
        assertEquals("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fd"
                + "caeab1a34d4a6b4b636e070a38bce737", hex.formatHex(Reference.hmac("SHA-512", key, data)));
        for (DhchapHash h : DhchapHash.values()) {
            assertArrayEquals(Reference.hmac(Reference.algorithm(h), key, data), h.hmac(key, data), h.name());
        }
    }

    @Test
    void referenceCrc32_checkValue() {
        byte[] check = "123456789".getBytes(StandardCharsets.US_ASCII);
        assertEquals(0xCBF43926, Reference.crc32(check, check.length));
    }

    /** A secret assembled by hand — key, CRC-32 little-endian, base64 — parses to that key. */
    @Test
    void parse_handAssembledSecret_givesKeyAndTransform() {
        for (int length : new int[] {32, 48, 64}) {
            for (int transform = 0; transform <= 3; transform++) {
                byte[] key = new byte[length];
                for (int i = 0; i < length; i++) {
                    key[i] = (byte) (i * 7 + transform);
                }
                int crc = Reference.crc32(key, length);
                byte[] raw = Reference.concat(key, new byte[] {(byte) crc, (byte) (crc >>> 8), (byte) (crc >>> 16), (byte) (crc >>> 24)});
                String text = "DHHC-1:0" + transform + ":" + Base64.getEncoder().encodeToString(raw) + ":";
                DhchapSecret s = DhchapSecret.parse(text);
                assertArrayEquals(key, s.key());
                assertEquals(transform, s.transform());
                assertEquals(text, s.format());
                // the trailing colon is optional, as in the kernel's parser
                assertEquals(s, DhchapSecret.parse(text.substring(0, text.length() - 1)));
            }
        }
    }

    @Test
    void parse_badCrc_isRefusedNamingTheCrc() {
        String good = DhchapSecret.generate(1, 32, new SecureRandom()).format();
        byte[] raw = Base64.getDecoder().decode(good.substring(10, good.length() - 1));
        raw[3] ^= 0x01;
        String bad = "DHHC-1:01:" + Base64.getEncoder().encodeToString(raw) + ":";
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DhchapSecret.parse(bad));
        assertTrue(e.getMessage().contains("CRC-32"), e.getMessage());
    }

    @Test
    void parse_malformed_isRefused() {
        String b64 = DhchapSecret.generate(0, 32, new SecureRandom()).format().substring(10);
        assertThrows(IllegalArgumentException.class, () -> DhchapSecret.parse("DHHC-2:00:" + b64));
        assertThrows(IllegalArgumentException.class, () -> DhchapSecret.parse("DHHC-1:04:" + b64));
        assertThrows(IllegalArgumentException.class, () -> DhchapSecret.parse("DHHC-1:0x:" + b64));
        assertThrows(IllegalArgumentException.class, () -> DhchapSecret.parse("DHHC-1:00:not*base64:"));
        byte[] forty = new byte[40];
        assertThrows(IllegalArgumentException.class,
                () -> DhchapSecret.parse("DHHC-1:00:" + Base64.getEncoder().encodeToString(forty) + ":"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DhchapSecret.parse("secret"));
        assertFalse(e.getMessage().contains("secret\""));
    }

    @Test
    void toString_neverShowsTheKey() {
        DhchapSecret s = DhchapSecret.generate(2, 48, new SecureRandom());
        assertFalse(s.toString().contains(s.format().substring(10, 30)));
    }

    /** NVMe Base 2.0 §8.13.5.7: HMAC(key, NQN || "NVMe-over-Fabrics"), computed with the reference HMAC. */
    @Test
    void transformed_matchesReferenceHmacOfNqnAndLabel() {
        byte[] key = new byte[32];
        for (int i = 0; i < key.length; i++) {
            key[i] = (byte) (0xA0 + i);
        }
        byte[] message = (HOST_NQN + "NVMe-over-Fabrics").getBytes(StandardCharsets.US_ASCII);
        for (DhchapHash h : DhchapHash.values()) {
            DhchapSecret s = DhchapSecret.of(h.id(), key);
            byte[] t = s.transformed(HOST_NQN);
            assertEquals(h.length(), t.length);
            assertArrayEquals(Reference.hmac(Reference.algorithm(h), key, message), t, h.name());
        }
        assertArrayEquals(key, DhchapSecret.of(0, key).transformed(HOST_NQN));
    }

    @Test
    void hashAndGroupNames_parseAsConfigfsWritesThem() {
        assertEquals(DhchapHash.SHA_384, DhchapHash.parse("hmac(sha384)"));
        assertEquals(DhchapHash.SHA_512, DhchapHash.parse("SHA-512"));
        assertEquals(DhGroup.FFDHE6144, DhGroup.parse("ffdhe6144"));
        assertEquals(DhGroup.NULL, DhGroup.parse("null"));
        assertThrows(IllegalArgumentException.class, () -> DhchapHash.parse("md5"));
        assertThrows(IllegalArgumentException.class, () -> DhGroup.parse("ffdhe1024"));
    }
}
