package io.thermocline.nvmeof.auth;

import java.security.SecureRandom;
import java.util.Objects;

/**
 * The controller's side of DH-HMAC-CHAP on one queue (NVMe Base 2.0 §8.13.5), driven by the
 * host's Authentication Send ({@link #onSend}) and Authentication Receive ({@link #onReceive})
 * commands, in the order the host must send them:
 *
 * <pre>
 *  state         host sends            controller does
 *  NEGOTIATE     Send AUTH_Negotiate   picks the configured hash and DH group if offered
 *  CHALLENGE     Receive               returns C1, S1 and its DH value
 *  REPLY         Send Reply            checks R1; remembers C2 and S2 when the host asks for them
 *  SUCCESS1      Receive               returns Success1, with R2 when asked
 *  SUCCESS2      Send Success2         (bidirectional only)
 *  FAILURE1      Receive               returns AUTH_Failure1 with the reason: the queue has failed
 * </pre>
 *
 * <p>A message that is wrong for the state, a response that does not match, or parameters the
 * controller cannot use move the session to FAILURE1; the command itself still succeeds (the
 * failure travels in the next Receive, as the Linux target does). An AUTH_Failure2 from the host
 * ends the session failed. The caller ends the association once {@link #failed()}.
 *
 * <p>Not thread-safe: a queue's commands run on one event loop.
 */
public final class DhchapControllerSession {
    enum State { NEGOTIATE, CHALLENGE, REPLY, SUCCESS1, SUCCESS2, FAILURE1, AUTHENTICATED, FAILED }

    private final String hostNqn;
    private final String subsystemNqn;
    private final DhchapHostConfig config;
    private final SecureRandom random;
    private State state = State.NEGOTIATE;
    private int transactionId;
    private DhchapHash hash;
    private DhGroup group;
    private Dhchap.Exchange exchange;
    private byte[] c1;
    private int s1;
    private byte[] c2;
    private int s2;
    private byte[] sessionKey;
    private DhchapFailure failure;
    private String failureDetail;

    public DhchapControllerSession(String hostNqn, String subsystemNqn, DhchapHostConfig config, SecureRandom random) {
        this.hostNqn = Objects.requireNonNull(hostNqn, "hostNqn");
        this.subsystemNqn = Objects.requireNonNull(subsystemNqn, "subsystemNqn");
        this.config = Objects.requireNonNull(config, "config");
        this.random = random;
    }

    /** Whether the host has authenticated (and the controller too, when asked): the queue may serve commands. */
    public boolean authenticated() {
        return state == State.AUTHENTICATED;
    }

    /** Whether the transaction failed for good (AUTH_Failure1 delivered or AUTH_Failure2 received). */
    public boolean failed() {
        return state == State.FAILED;
    }

    /** Why it failed, or {@code null}. */
    public DhchapFailure failure() {
        return failure;
    }

    /** A sentence on why it failed, for logs; {@code null} while it has not. */
    public String failureDetail() {
        return failureDetail;
    }

    /** The hash chosen, after AUTH_Negotiate. */
    public DhchapHash hash() {
        return hash;
    }

    /** The DH group chosen, after AUTH_Negotiate. */
    public DhGroup group() {
        return group;
    }

    /** Authentication Send with {@code data[0, length)}. */
    public void onSend(byte[] data, int length) {
        if (state == State.FAILED) {
            return;  // the association is ending; an AUTH_Negotiate after success starts re-authentication
        }
        AuthMessage m;
        try {
            m = AuthMessage.decode(data, length);
        } catch (DhchapException e) {
            fail(e.failure(), e.getMessage());
            return;
        }
        try {
            switch (m) {
                case AuthMessage.Negotiate n -> negotiate(n);
                case AuthMessage.Failure f when !f.fromController() -> {
                    failure = DhchapFailure.byCode(f.explanation());
                    failureDetail = "the host gave up (AUTH_Failure2): " + DhchapFailure.describe(f.explanation());
                    state = State.FAILED;
                }
                case AuthMessage.Reply r when state == State.REPLY -> reply(r);
                case AuthMessage.Success2 s when state == State.SUCCESS2 -> {
                    checkTransaction(s);
                    state = State.AUTHENTICATED;
                    clear();
                }
                default -> fail(DhchapFailure.INCORRECT_PROTOCOL_MESSAGE, m.getClass().getSimpleName()
                        + " sent while the controller expects " + expected());
            }
        } catch (DhchapException e) {
            fail(e.failure(), e.getMessage());
        }
    }

    /**
     * Authentication Receive of {@code allocationLength} bytes: the message for this state,
     * zero-padded to the allocation length.
     *
     * @throws IllegalArgumentException when the allocation length cannot hold the message (the
     *         command fails with Invalid Field; the state does not change)
     */
    public byte[] onReceive(int allocationLength) {
        byte[] message = switch (state) {
            case CHALLENGE -> challenge(allocationLength);
            case SUCCESS1 -> success1();
            case FAILURE1 -> {
                byte[] f = new AuthMessage.Failure(transactionId, true, DhchapFailure.REASON_AUTHENTICATION_FAILURE,
                        failure.code()).encode();
                state = State.FAILED;
                yield f;
            }
            default -> {
                fail(DhchapFailure.INCORRECT_PROTOCOL_MESSAGE, "Authentication Receive while the controller expects "
                        + expected());
                state = State.FAILED;
                yield new AuthMessage.Failure(transactionId, true, DhchapFailure.REASON_AUTHENTICATION_FAILURE,
                        failure.code()).encode();
            }
        };
        if (message.length > allocationLength) {
            throw new IllegalArgumentException("Authentication Receive allocation length " + allocationLength
                    + " (expected at least " + message.length + " for the next message)");
        }
        byte[] out = new byte[allocationLength];
        System.arraycopy(message, 0, out, 0, message.length);
        return out;
    }

    private String expected() {
        return switch (state) {
            case NEGOTIATE -> "AUTH_Negotiate";
            case CHALLENGE, SUCCESS1, FAILURE1 -> "an Authentication Receive";
            case REPLY -> "DH-HMAC-CHAP_Reply";
            case SUCCESS2 -> "DH-HMAC-CHAP_Success2";
            case AUTHENTICATED, FAILED -> "nothing";
        };
    }

    private void negotiate(AuthMessage.Negotiate n) {
        transactionId = n.transactionId();
        clear();
        if (n.secureChannel() != 0) {
            throw new DhchapException(DhchapFailure.CONCATENATION_MISMATCH, "AUTH_Negotiate asks for secure channel "
                    + "concatenation (SC_C " + n.secureChannel() + "), which this controller does not offer");
        }
        if (!n.hashIds().contains(config.hash().id())) {
            throw new DhchapException(DhchapFailure.HASH_UNUSABLE, "the host offers hash ids " + n.hashIds()
                    + " but this controller requires " + config.hash().hmacName());
        }
        if (!n.dhGroupIds().contains(config.dhGroup().id())) {
            throw new DhchapException(DhchapFailure.DH_GROUP_UNUSABLE, "the host offers DH group ids " + n.dhGroupIds()
                    + " but this controller requires " + config.dhGroup().groupName());
        }
        hash = config.hash();
        group = config.dhGroup();
        state = State.CHALLENGE;
    }

    private byte[] challenge(int allocationLength) {
        int needed = AuthMessage.HEADER_LENGTH + hash.length() + group.valueLength();
        if (allocationLength < needed) {
            throw new IllegalArgumentException("Authentication Receive allocation length " + allocationLength
                    + " (expected at least " + needed + " for a challenge with " + hash.hmacName() + " and "
                    + group.groupName() + ")");
        }
        c1 = new byte[hash.length()];
        random.nextBytes(c1);
        do {
            s1 = random.nextInt();
        } while (s1 == 0);
        byte[] value = new byte[0];
        if (group != DhGroup.NULL) {
            exchange = new Dhchap.Exchange(group, random);
            value = exchange.publicValue();
        }
        state = State.REPLY;
        return new AuthMessage.Challenge(transactionId, hash.id(), group.id(), s1, c1, value).encode();
    }

    private void reply(AuthMessage.Reply r) {
        checkTransaction(r);
        if (r.response().length != hash.length()) {
            throw new DhchapException(DhchapFailure.INCORRECT_PAYLOAD, "Reply with HL " + r.response().length
                    + " (expected " + hash.length() + " for " + hash.hmacName() + ")");
        }
        byte[] challenge = c1;
        if (group != DhGroup.NULL) {
            if (r.dhValue().length == 0) {
                throw new DhchapException(DhchapFailure.INCORRECT_PAYLOAD, "Reply without a DH value for " + group.groupName());
            }
            sessionKey = exchange.sharedSecret(r.dhValue());
            challenge = Dhchap.augmentedChallenge(hash, sessionKey, c1);
        } else if (r.dhValue().length != 0) {
            throw new DhchapException(DhchapFailure.INCORRECT_PAYLOAD, "Reply carries a DH value with the null DH group");
        }
        byte[] expected = Dhchap.hostResponse(hash, config.hostSecret().transformed(hostNqn), challenge, s1, transactionId,
                hostNqn, subsystemNqn);
        if (!Dhchap.same(expected, r.response())) {
            throw new DhchapException(DhchapFailure.FAILED, "the host's response R1 does not match "
                    + "(its dhchap-secret differs from the one configured for " + hostNqn + ")");
        }
        if (r.challengeValid() && r.sequenceNumber() != 0) {
            c2 = r.challenge();
            s2 = r.sequenceNumber();
        } else {
            c2 = null;
            s2 = 0;
        }
        state = State.SUCCESS1;
    }

    private byte[] success1() {
        byte[] r2 = null;
        if (c2 != null) {
            if (config.controllerSecret() == null) {
                fail(DhchapFailure.FAILED, "the host asks the controller to authenticate, but no controller secret "
                        + "(dhchap_ctrl_key) is configured for " + hostNqn);
                state = State.FAILED;
                return new AuthMessage.Failure(transactionId, true, DhchapFailure.REASON_AUTHENTICATION_FAILURE,
                        failure.code()).encode();
            }
            byte[] challenge = sessionKey == null ? c2 : Dhchap.augmentedChallenge(hash, sessionKey, c2);
            r2 = Dhchap.controllerResponse(hash, config.controllerSecret().transformed(subsystemNqn), challenge, s2,
                    transactionId, hostNqn, subsystemNqn);
            state = State.SUCCESS2;
        } else {
            state = State.AUTHENTICATED;
            clear();
        }
        return new AuthMessage.Success1(transactionId, hash.length(), r2).encode();
    }

    private void checkTransaction(AuthMessage m) {
        if (m.transactionId() != transactionId) {
            throw new DhchapException(DhchapFailure.INCORRECT_PAYLOAD, "message for transaction " + m.transactionId()
                    + " (expected " + transactionId + ")");
        }
    }

    private void fail(DhchapFailure why, String detail) {
        failure = why == null ? DhchapFailure.FAILED : why;
        failureDetail = detail;
        state = State.FAILURE1;
        clear();
    }

    private void clear() {
        exchange = null;
        sessionKey = null;
        c1 = null;
        c2 = null;
    }
}
