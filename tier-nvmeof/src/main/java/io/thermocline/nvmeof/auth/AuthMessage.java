package io.thermocline.nvmeof.auth;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The messages of an in-band authentication transaction (NVMe Base 2.0 §8.13.5, Figures 188–195),
 * carried as the data of Authentication Send (host to controller) and Authentication Receive
 * (controller to host) with SECP E9h, SPSP0 01h, SPSP1 01h. Every message starts the same way:
 *
 * <pre>
 *  0  AUTH_Type (1): 00h common messages, 01h DH-HMAC-CHAP messages
 *  1  AUTH_Id (1):   the message
 *  2  reserved (2)
 *  4  T_ID (2, little-endian): the transaction the message belongs to
 * </pre>
 *
 * <p>Fields wider than a byte are little-endian. {@link #decode} checks that every declared
 * length fits the bytes received (a receive buffer is zero-padded after the message) and throws
 * {@link DhchapException} with {@link DhchapFailure#INCORRECT_PAYLOAD} when it does not.
 */
public sealed interface AuthMessage {
    int TYPE_COMMON = 0x00;
    int TYPE_DHCHAP = 0x01;
    int ID_NEGOTIATE = 0x00;
    int ID_CHALLENGE = 0x01;
    int ID_REPLY = 0x02;
    int ID_SUCCESS1 = 0x03;
    int ID_SUCCESS2 = 0x04;
    int ID_FAILURE2 = 0xF0;
    int ID_FAILURE1 = 0xF1;
    /** AUTH_Negotiate protocol descriptor AuthID for DH-HMAC-CHAP (Figure 189). */
    int AUTH_ID_DHCHAP = 0x01;
    /** A descriptor holds at most 30 hash identifiers and 30 DH group identifiers (Figure 189). */
    int MAX_IDS = 30;
    /** Bytes of one AUTH_Negotiate protocol descriptor. */
    int DESCRIPTOR_LENGTH = 4 + 2 * MAX_IDS;
    /** Bytes before the variable part of Challenge, Reply and Success1; the whole of Success2. */
    int HEADER_LENGTH = 16;
    /** Bytes of AUTH_Failure1/2. */
    int FAILURE_LENGTH = 8;

    int transactionId();

    /** The message's bytes on the wire. */
    byte[] encode();

    /**
     * AUTH_Negotiate (Figure 188): 6 SC_C (secure channel concatenation, 0 = none), 7 NAPD (number
     * of protocol descriptors), then descriptors of 64 bytes: 0 AuthID, 2 HALEN, 3 DHLEN, 4 the
     * hash identifiers (30 bytes), 34 the DH group identifiers (30 bytes). This side sends and
     * reads one DH-HMAC-CHAP descriptor.
     */
    record Negotiate(int transactionId, int secureChannel, int protocols, List<Integer> hashIds, List<Integer> dhGroupIds)
            implements AuthMessage {
        public Negotiate {
            hashIds = List.copyOf(hashIds);
            dhGroupIds = List.copyOf(dhGroupIds);
        }

        @Override
        public byte[] encode() {
            ByteBuffer b = buffer(8 + DESCRIPTOR_LENGTH, TYPE_COMMON, ID_NEGOTIATE, transactionId);
            b.put(6, (byte) secureChannel).put(7, (byte) 1);
            b.put(8, (byte) AUTH_ID_DHCHAP).put(10, (byte) hashIds.size()).put(11, (byte) dhGroupIds.size());
            for (int i = 0; i < hashIds.size(); i++) {
                b.put(12 + i, hashIds.get(i).byteValue());
            }
            for (int i = 0; i < dhGroupIds.size(); i++) {
                b.put(12 + MAX_IDS + i, dhGroupIds.get(i).byteValue());
            }
            return b.array();
        }
    }

    /**
     * DH-HMAC-CHAP_Challenge (Figure 190): 6 HL, 8 HashID, 9 DHgID, 10 DHVLEN (2), 12 SEQNUM (4),
     * 16 C1 (HL bytes), then the controller's DH public value (DHVLEN bytes).
     */
    record Challenge(int transactionId, int hashId, int dhGroupId, int sequenceNumber, byte[] challenge, byte[] dhValue)
            implements AuthMessage {
        @Override
        public byte[] encode() {
            ByteBuffer b = buffer(HEADER_LENGTH + challenge.length + dhValue.length, TYPE_DHCHAP, ID_CHALLENGE, transactionId);
            b.put(6, (byte) challenge.length).put(8, (byte) hashId).put(9, (byte) dhGroupId)
                    .putShort(10, (short) dhValue.length).putInt(12, sequenceNumber)
                    .put(HEADER_LENGTH, challenge).put(HEADER_LENGTH + challenge.length, dhValue);
            return b.array();
        }
    }

    /**
     * DH-HMAC-CHAP_Reply (Figure 191): 6 HL, 8 CVALID, 10 DHVLEN (2), 12 SEQNUM (4, S2; 0 when
     * the host does not authenticate the controller), 16 the response R1 (HL), then C2 (HL bytes,
     * zero unless CVALID), then the host's DH public value (DHVLEN bytes).
     */
    record Reply(int transactionId, byte[] response, boolean challengeValid, int sequenceNumber, byte[] challenge,
                 byte[] dhValue) implements AuthMessage {
        @Override
        public byte[] encode() {
            int hl = response.length;
            ByteBuffer b = buffer(HEADER_LENGTH + 2 * hl + dhValue.length, TYPE_DHCHAP, ID_REPLY, transactionId);
            b.put(6, (byte) hl).put(8, (byte) (challengeValid ? 1 : 0)).putShort(10, (short) dhValue.length)
                    .putInt(12, sequenceNumber).put(HEADER_LENGTH, response).put(HEADER_LENGTH + hl, challenge)
                    .put(HEADER_LENGTH + 2 * hl, dhValue);
            return b.array();
        }
    }

    /**
     * DH-HMAC-CHAP_Success1 (Figure 192): 6 HL, 8 RVALID, 16 the controller's response R2 (HL
     * bytes, present when RVALID).
     */
    record Success1(int transactionId, int hashLength, byte[] response) implements AuthMessage {
        @Override
        public byte[] encode() {
            int rl = response == null ? 0 : response.length;
            ByteBuffer b = buffer(HEADER_LENGTH + rl, TYPE_DHCHAP, ID_SUCCESS1, transactionId);
            b.put(6, (byte) hashLength);
            if (response != null) {
                b.put(8, (byte) 1).put(HEADER_LENGTH, response);
            }
            return b.array();
        }
    }

    /** DH-HMAC-CHAP_Success2 (Figure 193): the header only. */
    record Success2(int transactionId) implements AuthMessage {
        @Override
        public byte[] encode() {
            return buffer(HEADER_LENGTH, TYPE_DHCHAP, ID_SUCCESS2, transactionId).array();
        }
    }

    /**
     * AUTH_Failure1 (controller to host) or AUTH_Failure2 (host to controller) (Figure 194): 6
     * reason code, 7 reason code explanation ({@link DhchapFailure}).
     */
    record Failure(int transactionId, boolean fromController, int reasonCode, int explanation) implements AuthMessage {
        @Override
        public byte[] encode() {
            ByteBuffer b = buffer(FAILURE_LENGTH, TYPE_COMMON, fromController ? ID_FAILURE1 : ID_FAILURE2, transactionId);
            b.put(6, (byte) reasonCode).put(7, (byte) explanation);
            return b.array();
        }
    }

    private static ByteBuffer buffer(int length, int type, int id, int transactionId) {
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(0, (byte) type).put(1, (byte) id).putShort(4, (short) transactionId);
        return b;
    }

    /**
     * Decodes the message in {@code data[0, length)}.
     *
     * @throws DhchapException with {@link DhchapFailure#INCORRECT_PROTOCOL_MESSAGE} for an unknown
     *         AUTH_Type/AUTH_Id, {@link DhchapFailure#INCORRECT_PAYLOAD} when the lengths do not fit
     */
    static AuthMessage decode(byte[] data, int length) {
        if (length < FAILURE_LENGTH) {
            throw new DhchapException(DhchapFailure.INCORRECT_PAYLOAD, "authentication message of " + length
                    + " bytes (expected at least " + FAILURE_LENGTH + ")");
        }
        ByteBuffer b = ByteBuffer.wrap(data, 0, length).order(ByteOrder.LITTLE_ENDIAN);
        int type = b.get(0) & 0xFF;
        int id = b.get(1) & 0xFF;
        int tid = b.getShort(4) & 0xFFFF;
        if (type == TYPE_COMMON) {
            switch (id) {
                case ID_NEGOTIATE -> {
                    need(length, 8 + DESCRIPTOR_LENGTH, "AUTH_Negotiate");
                    int napd = b.get(7) & 0xFF;
                    int authId = b.get(8) & 0xFF;
                    int halen = b.get(10) & 0xFF;
                    int dhlen = b.get(11) & 0xFF;
                    if (napd < 1 || authId != AUTH_ID_DHCHAP) {
                        throw new DhchapException(DhchapFailure.PROTOCOL_NOT_USABLE, "AUTH_Negotiate with " + napd
                                + " protocol descriptor(s), the first for AuthID " + authId + " (expected DH-HMAC-CHAP, 01h)");
                    }
                    if (halen > MAX_IDS || dhlen > MAX_IDS) {
                        throw new DhchapException(DhchapFailure.INCORRECT_PAYLOAD, "AUTH_Negotiate lists " + halen
                                + " hash and " + dhlen + " DH group identifiers (expected at most " + MAX_IDS + " each)");
                    }
                    List<Integer> hashes = new ArrayList<>();
                    for (int i = 0; i < halen; i++) {
                        hashes.add(b.get(12 + i) & 0xFF);
                    }
                    List<Integer> groups = new ArrayList<>();
                    for (int i = 0; i < dhlen; i++) {
                        groups.add(b.get(12 + MAX_IDS + i) & 0xFF);
                    }
                    return new Negotiate(tid, b.get(6) & 0xFF, napd, hashes, groups);
                }
                case ID_FAILURE1, ID_FAILURE2 -> {
                    return new Failure(tid, id == ID_FAILURE1, b.get(6) & 0xFF, b.get(7) & 0xFF);
                }
                default -> {
                }
            }
        } else if (type == TYPE_DHCHAP) {
            int hl = b.get(6) & 0xFF;
            switch (id) {
                case ID_CHALLENGE -> {
                    need(length, HEADER_LENGTH, "DH-HMAC-CHAP_Challenge");
                    int dhvlen = b.getShort(10) & 0xFFFF;
                    need(length, HEADER_LENGTH + hl + dhvlen, "DH-HMAC-CHAP_Challenge with HL " + hl + " and DHVLEN " + dhvlen);
                    return new Challenge(tid, b.get(8) & 0xFF, b.get(9) & 0xFF, b.getInt(12),
                            Arrays.copyOfRange(data, HEADER_LENGTH, HEADER_LENGTH + hl),
                            Arrays.copyOfRange(data, HEADER_LENGTH + hl, HEADER_LENGTH + hl + dhvlen));
                }
                case ID_REPLY -> {
                    need(length, HEADER_LENGTH, "DH-HMAC-CHAP_Reply");
                    int dhvlen = b.getShort(10) & 0xFFFF;
                    need(length, HEADER_LENGTH + 2 * hl + dhvlen, "DH-HMAC-CHAP_Reply with HL " + hl + " and DHVLEN " + dhvlen);
                    return new Reply(tid, Arrays.copyOfRange(data, HEADER_LENGTH, HEADER_LENGTH + hl), (b.get(8) & 0xFF) != 0,
                            b.getInt(12), Arrays.copyOfRange(data, HEADER_LENGTH + hl, HEADER_LENGTH + 2 * hl),
                            Arrays.copyOfRange(data, HEADER_LENGTH + 2 * hl, HEADER_LENGTH + 2 * hl + dhvlen));
                }
                case ID_SUCCESS1 -> {
                    need(length, HEADER_LENGTH, "DH-HMAC-CHAP_Success1");
                    boolean rvalid = (b.get(8) & 0xFF) != 0;
                    if (!rvalid) {
                        return new Success1(tid, hl, null);
                    }
                    need(length, HEADER_LENGTH + hl, "DH-HMAC-CHAP_Success1 with HL " + hl);
                    return new Success1(tid, hl, Arrays.copyOfRange(data, HEADER_LENGTH, HEADER_LENGTH + hl));
                }
                case ID_SUCCESS2 -> {
                    need(length, HEADER_LENGTH, "DH-HMAC-CHAP_Success2");
                    return new Success2(tid);
                }
                default -> {
                }
            }
        }
        throw new DhchapException(DhchapFailure.INCORRECT_PROTOCOL_MESSAGE, String.format(
                "authentication message AUTH_Type %02xh AUTH_Id %02xh (expected a DH-HMAC-CHAP or common message)", type, id));
    }

    private static void need(int length, int needed, String what) {
        if (length < needed) {
            throw new DhchapException(DhchapFailure.INCORRECT_PAYLOAD, what + " needs " + needed + " bytes, but "
                    + length + " arrived");
        }
    }
}
