package io.thermocline.nvmeof.auth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.List;
import org.bouncycastle.crypto.agreement.DHStandardGroups;
import org.bouncycastle.crypto.params.DHParameters;
import org.junit.jupiter.api.Test;

class DhchapComputationTest {
    private static final String HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555";
    private static final String SUB_NQN = "nqn.2026-11.io.thermocline:auth";

    private static byte[] bytes(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (seed + 13 * i);
        }
        return b;
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /** R1 = HMAC(Kh, C1 || S1 LE32 || T_ID LE16 || 00h || "HostHost" || NQNh || 00h || NQNc), assembled by hand. */
    @Test
    void hostResponse_equalsReferenceHmacOverTheSpecifiedConcatenation() {
        for (DhchapHash h : DhchapHash.values()) {
            byte[] key = bytes(h.length(), 3);
            byte[] c1 = bytes(h.length(), 90);
            int seq = 0x0A0B0C0D;
            int tid = 0x1234;
            byte[] message = Reference.concat(c1, new byte[] {0x0D, 0x0C, 0x0B, 0x0A}, new byte[] {0x34, 0x12}, new byte[1],
                    ascii("HostHost"), ascii(HOST_NQN), new byte[1], ascii(SUB_NQN));
            assertArrayEquals(Reference.hmac(Reference.algorithm(h), key, message),
                    Dhchap.hostResponse(h, key, c1, seq, tid, HOST_NQN, SUB_NQN), h.name());
        }
    }

    /** R2 = HMAC(Kc, C2 || S2 || T_ID || 00h || "Controller" || NQNc || 00h || NQNh): the NQNs swap places. */
    @Test
    void controllerResponse_equalsReferenceHmacWithNqnsSwapped() {
        DhchapHash h = DhchapHash.SHA_384;
        byte[] key = bytes(48, 5);
        byte[] c2 = bytes(48, 200);
        byte[] message = Reference.concat(c2, new byte[] {1, 0, 0, (byte) 0x80}, new byte[] {7, 0}, new byte[1],
                ascii("Controller"), ascii(SUB_NQN), new byte[1], ascii(HOST_NQN));
        assertArrayEquals(Reference.hmac("SHA-384", key, message),
                Dhchap.controllerResponse(h, key, c2, 0x80000001, 7, HOST_NQN, SUB_NQN));
    }

    /** §8.13.5.6: C' = HMAC(H(Ks), C). */
    @Test
    void augmentedChallenge_isHmacKeyedWithTheHashOfTheSessionKey() {
        byte[] ks = bytes(256, 77);
        byte[] c = bytes(64, 1);
        assertArrayEquals(Reference.hmac("SHA-512", Reference.hash("SHA-512", ks), c),
                Dhchap.augmentedChallenge(DhchapHash.SHA_512, ks, c));
    }

    /** The primes come from RFC 7919's formula; they must equal the RFC's published groups (as BouncyCastle ships them). */
    @Test
    void rfc7919Primes_equalThePublishedGroups() {
        List<DHParameters> published = List.of(DHStandardGroups.rfc7919_ffdhe2048, DHStandardGroups.rfc7919_ffdhe3072,
                DHStandardGroups.rfc7919_ffdhe4096, DHStandardGroups.rfc7919_ffdhe6144, DHStandardGroups.rfc7919_ffdhe8192);
        List<DhGroup> ours = List.of(DhGroup.FFDHE2048, DhGroup.FFDHE3072, DhGroup.FFDHE4096, DhGroup.FFDHE6144, DhGroup.FFDHE8192);
        for (int i = 0; i < ours.size(); i++) {
            assertEquals(published.get(i).getP(), ours.get(i).prime(), ours.get(i).groupName());
            assertEquals(published.get(i).getG(), DhGroup.GENERATOR);
            assertEquals(ours.get(i).bits(), ours.get(i).prime().bitLength());
        }
    }

    @Test
    void exchange_bothSidesAgreeOnAFixedLengthSecret() {
        SecureRandom random = new SecureRandom();
        for (DhGroup g : List.of(DhGroup.FFDHE2048, DhGroup.FFDHE3072)) {
            Dhchap.Exchange a = new Dhchap.Exchange(g, random);
            Dhchap.Exchange b = new Dhchap.Exchange(g, random);
            byte[] ab = a.sharedSecret(b.publicValue());
            byte[] ba = b.sharedSecret(a.publicValue());
            assertEquals(g.valueLength(), a.publicValue().length);
            assertEquals(g.valueLength(), ab.length);
            assertArrayEquals(ab, ba);
            // the public value is g^x mod p: raising the peer's value to the same power must match
            BigInteger ya = new BigInteger(1, a.publicValue());
            assertEquals(1, ya.compareTo(BigInteger.ONE));
        }
    }

    @Test
    void exchange_refusesDegenerateOrMissizedPeerValues() {
        DhGroup g = DhGroup.FFDHE2048;
        Dhchap.Exchange a = new Dhchap.Exchange(g, new SecureRandom());
        byte[] one = new byte[g.valueLength()];
        one[one.length - 1] = 1;
        byte[] pMinusOne = fixed(g.prime().subtract(BigInteger.ONE), g.valueLength());
        for (byte[] bad : List.of(one, pMinusOne, new byte[10])) {
            DhchapException e = assertThrows(DhchapException.class, () -> a.sharedSecret(bad));
            assertEquals(DhchapFailure.DH_GROUP_UNUSABLE, e.failure());
        }
    }

    private static byte[] fixed(BigInteger v, int n) {
        byte[] raw = v.toByteArray();
        return Arrays.copyOfRange(raw, raw.length - n, raw.length);
    }
}
