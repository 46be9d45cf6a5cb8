package io.thermocline.nvmeof.auth;

import java.security.SecureRandom;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;

/**
 * The host's side of one DH-HMAC-CHAP transaction on one queue (NVMe Base 2.0 §8.13.5):
 *
 * <ol>
 *   <li>AUTH_Negotiate (Send): the hash functions and DH groups this host can use — all of them;</li>
 *   <li>DH-HMAC-CHAP_Challenge (Receive): the controller's choice, C1, S1 and its DH value;</li>
 *   <li>DH-HMAC-CHAP_Reply (Send): R1, and with a controller secret a challenge C2 with S2 ≠ 0,
 *       and this host's DH value;</li>
 *   <li>DH-HMAC-CHAP_Success1 (Receive): with a controller secret, the controller's R2, checked;</li>
 *   <li>DH-HMAC-CHAP_Success2 (Send), only after a bidirectional check succeeded.</li>
 * </ol>
 *
 * <p>An AUTH_Failure1 at step 2 or 4 fails the transaction with the controller's reason; a
 * challenge this host cannot use, or a wrong R2, sends AUTH_Failure2 with the reason and fails.
 * Failures are {@link DhchapException}s. Not thread-safe: one transaction, one caller at a time.
 */
public final class DhchapHostSession {
    /** Bytes each Authentication Receive asks for; a challenge with an ffdhe8192 value takes 1104. */
    public static final int RECEIVE_LENGTH = 4096;

    private final String hostNqn;
    private final String subsystemNqn;
    private final DhchapSecret hostSecret;
    private final DhchapSecret controllerSecret;
    private final int transactionId;
    private final SecureRandom random;
    private DhchapHash hash;
    private DhGroup group;
    private byte[] sessionKey;
    private byte[] c2;
    private int s2;

    /**
     * @param controllerSecret {@code null} when the host does not authenticate the controller
     * @param transactionId T_ID, different for each transaction of one controller association
     */
    public DhchapHostSession(String hostNqn, String subsystemNqn, DhchapSecret hostSecret, DhchapSecret controllerSecret,
                             int transactionId, SecureRandom random) {
        this.hostNqn = Objects.requireNonNull(hostNqn, "hostNqn");
        this.subsystemNqn = Objects.requireNonNull(subsystemNqn, "subsystemNqn");
        this.hostSecret = Objects.requireNonNull(hostSecret, "dhchap-secret");
        this.controllerSecret = controllerSecret;
        this.transactionId = transactionId & 0xFFFF;
        this.random = random;
    }

    /** Step 1: AUTH_Negotiate offering every hash and DH group, no secure channel concatenation. */
    public byte[] negotiate() {
        return new AuthMessage.Negotiate(transactionId, 0, 1,
                List.of(DhchapHash.SHA_256.id(), DhchapHash.SHA_384.id(), DhchapHash.SHA_512.id()),
                List.of(DhGroup.NULL.id(), DhGroup.FFDHE2048.id(), DhGroup.FFDHE3072.id(), DhGroup.FFDHE4096.id(),
                        DhGroup.FFDHE6144.id(), DhGroup.FFDHE8192.id())).encode();
    }

    /** Steps 2 and 3: checks the challenge and computes the reply (the DH work happens here). */
    public byte[] reply(byte[] received, int length) {
        AuthMessage m = expect(received, length, AuthMessage.Challenge.class, "DH-HMAC-CHAP_Challenge");
        AuthMessage.Challenge c = (AuthMessage.Challenge) m;
        hash = DhchapHash.byId(c.hashId());
        if (hash == null) {
            throw new DhchapException(DhchapFailure.HASH_UNUSABLE, String.format("challenge names hash %02xh", c.hashId()));
        }
        if (c.challenge().length != hash.length()) {
            throw new DhchapException(DhchapFailure.HASH_UNUSABLE, "challenge of " + c.challenge().length + " bytes for "
                    + hash.hmacName() + " (expected " + hash.length() + ")");
        }
        group = DhGroup.byId(c.dhGroupId());
        if (group == null) {
            throw new DhchapException(DhchapFailure.DH_GROUP_UNUSABLE, String.format("challenge names DH group %02xh",
                    c.dhGroupId()));
        }
        byte[] hostValue = new byte[0];
        byte[] challenge = c.challenge();
        if (group == DhGroup.NULL) {
            if (c.dhValue().length != 0) {
                throw new DhchapException(DhchapFailure.INCORRECT_PAYLOAD, "challenge carries a DH value of "
                        + c.dhValue().length + " bytes with the null DH group (expected none)");
            }
        } else {
            if (c.dhValue().length == 0) {
                throw new DhchapException(DhchapFailure.DH_GROUP_UNUSABLE, "challenge for " + group.groupName()
                        + " carries no DH value");
            }
            Dhchap.Exchange dh = new Dhchap.Exchange(group, random);
            sessionKey = dh.sharedSecret(c.dhValue());
            hostValue = dh.publicValue();
            challenge = Dhchap.augmentedChallenge(hash, sessionKey, challenge);
        }
        byte[] r1 = Dhchap.hostResponse(hash, hostSecret.transformed(hostNqn), challenge, c.sequenceNumber(),
                transactionId, hostNqn, subsystemNqn);
        c2 = new byte[hash.length()];
        s2 = 0;
        if (controllerSecret != null) {
            random.nextBytes(c2);
            while (s2 == 0) {
                s2 = random.nextInt();
            }
        }
        return new AuthMessage.Reply(transactionId, r1, controllerSecret != null, s2, c2, hostValue).encode();
    }

    /**
     * Step 4: checks Success1 and, when this host authenticates the controller, the controller's
     * response.
     *
     * @return whether Success2 must follow ({@link #success2()})
     */
    public boolean success1(byte[] received, int length) {
        AuthMessage.Success1 s = (AuthMessage.Success1) expect(received, length, AuthMessage.Success1.class,
                "DH-HMAC-CHAP_Success1");
        if (s.hashLength() != hash.length()) {
            throw new DhchapException(DhchapFailure.HASH_UNUSABLE, "Success1 with HL " + s.hashLength() + " (expected "
                    + hash.length() + ")");
        }
        if (controllerSecret == null) {
            return false;
        }
        if (s.response() == null) {
            throw new DhchapException(DhchapFailure.FAILED, "the controller did not answer the host's challenge C2");
        }
        byte[] challenge = sessionKey == null ? c2 : Dhchap.augmentedChallenge(hash, sessionKey, c2);
        byte[] expected = Dhchap.controllerResponse(hash, controllerSecret.transformed(subsystemNqn), challenge, s2,
                transactionId, hostNqn, subsystemNqn);
        if (!Dhchap.same(expected, s.response())) {
            throw new DhchapException(DhchapFailure.FAILED, "the controller's response R2 does not match "
                    + "(its dhchap-ctrl-secret differs from this host's)");
        }
        return true;
    }

    /** Step 5: Success2. */
    public byte[] success2() {
        return new AuthMessage.Success2(transactionId).encode();
    }

    /** AUTH_Failure2 telling the controller why this host gave up. */
    public byte[] failure2(DhchapFailure why) {
        return new AuthMessage.Failure(transactionId, false, DhchapFailure.REASON_AUTHENTICATION_FAILURE, why.code()).encode();
    }

    /** The hash the controller chose (after the challenge). */
    public DhchapHash hash() {
        return hash;
    }

    /** The DH group the controller chose (after the challenge). */
    public DhGroup group() {
        return group;
    }

    private AuthMessage expect(byte[] received, int length, Class<? extends AuthMessage> type, String what) {
        AuthMessage m = AuthMessage.decode(received, length);
        if (m instanceof AuthMessage.Failure f && f.fromController()) {
            throw DhchapException.fromPeer(f.explanation(), "the controller refused the host (AUTH_Failure1, reason "
                    + f.reasonCode() + ")");
        }
        if (!type.isInstance(m)) {
            throw new DhchapException(DhchapFailure.INCORRECT_PROTOCOL_MESSAGE, "got " + m.getClass().getSimpleName()
                    + " (expected " + what + ")");
        }
        if (m.transactionId() != transactionId) {
            throw new DhchapException(DhchapFailure.INCORRECT_PAYLOAD, what + " for transaction " + m.transactionId()
                    + " (expected " + transactionId + ")");
        }
        return m;
    }

    /**
     * Runs the whole transaction over {@code transport}; the DH and HMAC work runs on
     * {@code crypto}, never on the caller's (event loop) thread. The future fails with a
     * {@link DhchapException} when either side refuses, or with the transport's failure.
     */
    public CompletableFuture<Void> run(AuthTransport transport, Executor crypto) {
        return transport.send(negotiate())
                .thenCompose(v -> transport.receive(RECEIVE_LENGTH))
                .thenApplyAsync(challenge -> guarded(() -> reply(challenge, challenge.length)), crypto)
                .thenCompose(step -> step.failure != null ? refuse(transport, step.failure) : transport.send(step.message))
                .thenCompose(v -> transport.receive(RECEIVE_LENGTH))
                .thenApplyAsync(success1 -> guarded(() -> success1(success1, success1.length) ? success2() : null), crypto)
                .thenCompose(step -> {
                    if (step.failure != null) {
                        return refuse(transport, step.failure);
                    }
                    return step.message == null ? CompletableFuture.completedFuture(null) : transport.send(step.message);
                });
    }

    private record Step(byte[] message, DhchapException failure) {
    }

    private static Step guarded(java.util.function.Supplier<byte[]> work) {
        try {
            return new Step(work.get(), null);
        } catch (DhchapException e) {
            if (e.byPeer()) {
                throw e;
            }
            return new Step(null, e);
        }
    }

    /** Sends AUTH_Failure2 (its own outcome aside) and fails with {@code why}. */
    private CompletableFuture<Void> refuse(AuthTransport transport, DhchapException why) {
        return transport.send(failure2(why.failure())).handle((v, t) -> {
            throw new CompletionException(why);
        });
    }
}
