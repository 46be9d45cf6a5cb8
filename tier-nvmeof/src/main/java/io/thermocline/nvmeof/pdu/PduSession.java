package io.thermocline.nvmeof.pdu;

/**
 * What the two ends of one NVMe/TCP connection agreed in ICReq/ICResp, and the limits this end
 * enforces on what it receives. The decoder and encoder of the connection read it; the host or
 * target handler fills it in when the connection is initialised (NVMe/TCP 1.0 §3.3 "Connection
 * Establishment").
 *
 * <p>Confined to the connection's event loop.
 */
public final class PduSession {
    /** Which end this is: the side that sends ICReq (host) or answers it (controller). */
    public enum Role { HOST, CONTROLLER }

    /** The largest TermReq: a 24-byte header plus up to 128 bytes of the offending PDU header (§3.6.2.4). */
    public static final int MAX_TERM_REQ_LENGTH = 152;
    /** The most padding a PDU data alignment of up to 32 dwords can need. */
    public static final int MAX_PADDING = 128;

    private final Role role;
    private boolean initialized;
    private boolean headerDigest;
    private boolean dataDigest;
    private int receiveAlignment = 4;
    private int sendAlignment = 4;
    private int maxInCapsuleData;
    private int maxDataPerPdu;

    /**
     * @param maxInCapsuleData the most in-capsule data a received CapsuleCmd may carry (controller
     *        role; 0 for a host)
     * @param maxDataPerPdu the most data one received H2CData (controller) or C2HData (host) may carry
     */
    public PduSession(Role role, int maxInCapsuleData, int maxDataPerPdu) {
        this.role = role;
        this.maxInCapsuleData = maxInCapsuleData;
        this.maxDataPerPdu = maxDataPerPdu;
    }

    public Role role() {
        return role;
    }

    /** Whether ICReq/ICResp have been exchanged. */
    public boolean initialized() {
        return initialized;
    }

    /**
     * Records the outcome of connection initialisation.
     *
     * @param receivePda the PDU data alignment this end asked for, 0's based dwords
     * @param sendPda the alignment the peer asked for, 0's based dwords
     */
    public void initialize(boolean headerDigest, boolean dataDigest, int receivePda, int sendPda) {
        this.headerDigest = headerDigest;
        this.dataDigest = dataDigest;
        this.receiveAlignment = (receivePda + 1) * 4;
        this.sendAlignment = (sendPda + 1) * 4;
        this.initialized = true;
    }

    public boolean headerDigest() {
        return headerDigest;
    }

    public boolean dataDigest() {
        return dataDigest;
    }

    public int receiveAlignment() {
        return receiveAlignment;
    }

    public int sendAlignment() {
        return sendAlignment;
    }

    public int maxInCapsuleData() {
        return maxInCapsuleData;
    }

    /** Changes the in-capsule limit: the admin queue's differs from an I/O queue's, and is known at Connect. */
    public void maxInCapsuleData(int bytes) {
        this.maxInCapsuleData = bytes;
    }

    public int maxDataPerPdu() {
        return maxDataPerPdu;
    }

    public void maxDataPerPdu(int bytes) {
        this.maxDataPerPdu = bytes;
    }

    /** The direction of PDUs this end receives. */
    PduType.Direction receiving() {
        return role == Role.CONTROLLER ? PduType.Direction.H2C : PduType.Direction.C2H;
    }

    /** The TermReq this end sends. */
    public PduType termReqType() {
        return role == Role.CONTROLLER ? PduType.C2H_TERM_REQ : PduType.H2C_TERM_REQ;
    }
}
