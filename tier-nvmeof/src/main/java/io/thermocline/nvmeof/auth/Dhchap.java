package io.thermocline.nvmeof.auth;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import javax.crypto.KeyAgreement;
import javax.crypto.Mac;
import javax.crypto.interfaces.DHPublicKey;
import javax.crypto.spec.DHParameterSpec;
import javax.crypto.spec.DHPublicKeySpec;

/**
 * The computations of DH-HMAC-CHAP (NVMe Base 2.0 §8.13.5.5 – §8.13.5.8), shared by the host and
 * the controller so that both sides compute each value one way.
 *
 * <pre>
 * host response R1       = HMAC(Kh, C1' || S1 || T_ID || 00h || "HostHost"   || NQNh || 00h || NQNc)
 * controller response R2 = HMAC(Kc, C2' || S2 || T_ID || 00h || "Controller" || NQNc || 00h || NQNh)
 * </pre>
 *
 * <p>with Kh and Kc the transformed host and controller keys ({@link DhchapSecret#transformed}),
 * S1/S2 as 4 bytes and T_ID as 2 bytes little-endian, the NQNs without terminator, and C' the
 * challenge itself under the null DH group, else the augmented challenge
 * {@code HMAC(H(Ks), C)} where Ks is the Diffie-Hellman shared secret (§8.13.5.6).
 */
public final class Dhchap {
    private static final byte[] HOST_LABEL = "HostHost".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] CONTROLLER_LABEL = "Controller".getBytes(StandardCharsets.US_ASCII);

    private Dhchap() {
    }

    /** The host's response R1 to challenge C1 (already augmented when a DH group is in use). */
    public static byte[] hostResponse(DhchapHash hash, byte[] hostKey, byte[] challenge, int sequenceNumber,
                                      int transactionId, String hostNqn, String subsystemNqn) {
        return response(hash, hostKey, challenge, sequenceNumber, transactionId, HOST_LABEL, hostNqn, subsystemNqn);
    }

    /** The controller's response R2 to challenge C2 (already augmented when a DH group is in use). */
    public static byte[] controllerResponse(DhchapHash hash, byte[] controllerKey, byte[] challenge, int sequenceNumber,
                                            int transactionId, String hostNqn, String subsystemNqn) {
        return response(hash, controllerKey, challenge, sequenceNumber, transactionId, CONTROLLER_LABEL, subsystemNqn, hostNqn);
    }

    private static byte[] response(DhchapHash hash, byte[] key, byte[] challenge, int seq, int tid, byte[] label,
                                   String firstNqn, String secondNqn) {
        Mac mac = hash.hmac(key);
        mac.update(challenge, 0, hash.length());
        mac.update(new byte[] {(byte) seq, (byte) (seq >>> 8), (byte) (seq >>> 16), (byte) (seq >>> 24)});
        mac.update(new byte[] {(byte) tid, (byte) (tid >>> 8)});
        mac.update((byte) 0);
        mac.update(label);
        mac.update(firstNqn.getBytes(StandardCharsets.UTF_8));
        mac.update((byte) 0);
        mac.update(secondNqn.getBytes(StandardCharsets.UTF_8));
        return mac.doFinal();
    }

    /** The augmented challenge {@code HMAC(H(Ks), C)} (§8.13.5.6). */
    public static byte[] augmentedChallenge(DhchapHash hash, byte[] sessionKey, byte[] challenge) {
        Mac mac = hash.hmac(hash.digest(sessionKey));
        mac.update(challenge, 0, hash.length());
        return mac.doFinal();
    }

    /** Compares in time independent of where the arrays differ. */
    static boolean same(byte[] a, byte[] b) {
        return java.security.MessageDigest.isEqual(a, b);
    }

    /**
     * One side's ephemeral Diffie-Hellman key in a {@link DhGroup}: the public value to send
     * (g^x mod p, as many bytes as the prime, big-endian) and the shared secret from the peer's.
     */
    public static final class Exchange {
        private final DhGroup group;
        private final KeyPair pair;

        public Exchange(DhGroup group, SecureRandom random) {
            this.group = group;
            try {
                KeyPairGenerator g = KeyPairGenerator.getInstance("DH");
                g.initialize(new DHParameterSpec(group.prime(), DhGroup.GENERATOR), random);
                this.pair = g.generateKeyPair();
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("cannot make a " + group.groupName() + " key pair", e);
            }
        }

        public DhGroup group() {
            return group;
        }

        /** g^x mod p, left-padded to the prime's length. */
        public byte[] publicValue() {
            return fixed(((DHPublicKey) pair.getPublic()).getY(), group.valueLength());
        }

        /**
         * The shared secret Ks = (peer's value)^x mod p, left-padded to the prime's length.
         *
         * @throws DhchapException with {@link DhchapFailure#DH_GROUP_UNUSABLE} when the peer's
         *         value has the wrong length or lies outside [2, p-2]
         */
        public byte[] sharedSecret(byte[] peerValue) {
            BigInteger p = group.prime();
            if (peerValue.length != group.valueLength()) {
                throw new DhchapException(DhchapFailure.DH_GROUP_UNUSABLE, "DH value of " + peerValue.length
                        + " bytes for " + group.groupName() + " (expected " + group.valueLength() + ")");
            }
            BigInteger y = new BigInteger(1, peerValue);
            if (y.compareTo(BigInteger.TWO) < 0 || y.compareTo(p.subtract(BigInteger.TWO)) > 0) {
                throw new DhchapException(DhchapFailure.DH_GROUP_UNUSABLE, "DH value outside [2, p-2] for " + group.groupName());
            }
            try {
                var peer = KeyFactory.getInstance("DH").generatePublic(new DHPublicKeySpec(y, p, DhGroup.GENERATOR));
                KeyAgreement ka = KeyAgreement.getInstance("DH");
                ka.init(pair.getPrivate());
                ka.doPhase(peer, true);
                return fixed(new BigInteger(1, ka.generateSecret()), group.valueLength());
            } catch (GeneralSecurityException e) {
                throw new DhchapException(DhchapFailure.DH_GROUP_UNUSABLE, "DH key agreement in " + group.groupName()
                        + " failed (" + e.getMessage() + ")");
            }
        }

        private static byte[] fixed(BigInteger v, int length) {
            byte[] raw = v.toByteArray();
            byte[] out = new byte[length];
            int n = Math.min(raw.length, length);
            System.arraycopy(raw, raw.length - n, out, length - n, n);
            return out;
        }
    }
}
