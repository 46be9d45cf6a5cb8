package io.thermocline.nvmeof.pdu;

/**
 * NVMe/TCP PDU types and the fixed header length of each (NVMe/TCP Transport Specification 1.0,
 * §3.6.1 "PDU Header Format", Figure 11; one figure per PDU in §3.6.2).
 */
public enum PduType {
    IC_REQ(0x00, 128, Direction.H2C, false),
    IC_RESP(0x01, 128, Direction.C2H, false),
    H2C_TERM_REQ(0x02, 24, Direction.H2C, true),
    C2H_TERM_REQ(0x03, 24, Direction.C2H, true),
    CAPSULE_CMD(0x04, 72, Direction.H2C, true),
    CAPSULE_RESP(0x05, 24, Direction.C2H, false),
    H2C_DATA(0x06, 24, Direction.H2C, true),
    C2H_DATA(0x07, 24, Direction.C2H, true),
    R2T(0x09, 24, Direction.C2H, false);

    /** Which way a PDU travels: host to controller or controller to host. */
    public enum Direction { H2C, C2H }

    private static final PduType[] BY_CODE = new PduType[16];

    static {
        for (PduType t : values()) {
            BY_CODE[t.code] = t;
        }
    }

    private final int code;
    private final int headerLength;
    private final Direction direction;
    private final boolean mayCarryData;

    PduType(int code, int headerLength, Direction direction, boolean mayCarryData) {
        this.code = code;
        this.headerLength = headerLength;
        this.direction = direction;
        this.mayCarryData = mayCarryData;
    }

    public int code() {
        return code;
    }

    /** HLEN: the PDU-specific header length, common header included (without header digest). */
    public int headerLength() {
        return headerLength;
    }

    public Direction direction() {
        return direction;
    }

    public boolean mayCarryData() {
        return mayCarryData;
    }

    /** Whether a header digest follows this PDU's header once digests are on (not IC or TermReq, §3.6.1). */
    public boolean hasHeaderDigest() {
        return this != IC_REQ && this != IC_RESP && this != H2C_TERM_REQ && this != C2H_TERM_REQ;
    }

    /** The type for a code, or {@code null} for an unknown one. */
    public static PduType of(int code) {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }
}
