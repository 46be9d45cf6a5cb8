package io.thermocline.nvmeof.pdu;

/**
 * NVMe status codes that Thermocline sends or interprets: the Status Code Type and Status Code
 * of a completion queue entry's Status Field (NVMe Base Specification 2.0, §4.2.3 "Status Field
 * Definition", Figures 93–101; the Fabrics command-specific codes from NVMe over Fabrics 1.1,
 * §3.3 "Connect Command and Response", Figure 21).
 */
public enum NvmeStatus {
    SUCCESS(0, 0x00),
    INVALID_OPCODE(0, 0x01),
    INVALID_FIELD(0, 0x02),
    COMMAND_ID_CONFLICT(0, 0x03),
    DATA_TRANSFER_ERROR(0, 0x04),
    INTERNAL_ERROR(0, 0x06),
    ABORTED_BY_REQUEST(0, 0x07),
    ABORTED_SQ_DELETION(0, 0x08),
    INVALID_NAMESPACE(0, 0x0B),
    COMMAND_SEQUENCE_ERROR(0, 0x0C),
    SGL_INVALID_DATA_LENGTH(0, 0x0F),
    SGL_DESCRIPTOR_TYPE_INVALID(0, 0x11),
    SGL_OFFSET_INVALID(0, 0x16),
    /** A transport error the host may retry, e.g. a data digest mismatch (NVMe Base 2.0 Figure 95; NVMe/TCP 1.0 §3.5.2). */
    TRANSIENT_TRANSPORT_ERROR(0, 0x22),
    LBA_OUT_OF_RANGE(0, 0x80),
    CAPACITY_EXCEEDED(0, 0x81),
    NAMESPACE_NOT_READY(0, 0x82),
    INVALID_QUEUE_IDENTIFIER(1, 0x01),
    INVALID_QUEUE_SIZE(1, 0x02),
    /** More Asynchronous Event Requests outstanding than Identify Controller AERL + 1 allows. */
    ASYNC_EVENT_LIMIT_EXCEEDED(1, 0x05),
    INVALID_LOG_PAGE(1, 0x09),
    FEATURE_NOT_SAVEABLE(1, 0x0D),
    /** Fabrics: Connect Incompatible Format. */
    CONNECT_INCOMPATIBLE_FORMAT(1, 0x80),
    /** Fabrics: Connect Controller Busy. */
    CONNECT_CONTROLLER_BUSY(1, 0x81),
    /** Fabrics: Connect Invalid Parameters (the CQE's DW0 names the offending field). */
    CONNECT_INVALID_PARAMETERS(1, 0x82),
    /** Fabrics: Connect Invalid Host (the host NQN is not allowed). */
    CONNECT_INVALID_HOST(1, 0x84),
    /** Authentication Required: the queue must complete in-band authentication first (NVMe Base 2.0 Figure 103). */
    AUTH_REQUIRED(1, 0x91),
    WRITE_FAULT(2, 0x80),
    UNRECOVERED_READ_ERROR(2, 0x81),
    ACCESS_DENIED(2, 0x86),
    /** Path-related (SCT 3h, NVMe Base 2.0 Figure 101): the path to the controller failed. */
    INTERNAL_PATH_ERROR(3, 0x00),
    /** Path-related: the namespace's ANA group is in Persistent Loss through this controller. */
    ANA_PERSISTENT_LOSS(3, 0x01),
    /** Path-related: the namespace is inaccessible through this controller's ANA group. */
    ANA_INACCESSIBLE(3, 0x02),
    /** Path-related: the namespace's ANA group is changing state (ANA Change) through this controller. */
    ANA_TRANSITION(3, 0x03),
    UNKNOWN(-1, -1);

    private final int type;
    private final int code;

    NvmeStatus(int type, int code) {
        this.type = type;
        this.code = code;
    }

    /** Status Code Type 3h, Path Related Status: a host may retry the command through another controller. */
    public static final int SCT_PATH = 3;

    /** Status Code Type (SCT). */
    public int type() {
        return type;
    }

    /** Status Code (SC). */
    public int code() {
        return code;
    }

    /** The 15-bit status field (bits 15:1 of CQE DW3's upper half, without the phase tag): SCT in 11:9, SC in 8:1. */
    public int field(boolean doNotRetry) {
        return (type << 9) | (code << 1) | (doNotRetry ? 0x8000 : 0);
    }

    /** The status for SCT and SC, or {@link #UNKNOWN}. */
    public static NvmeStatus of(int type, int code) {
        for (NvmeStatus s : values()) {
            if (s.type == type && s.code == code) {
                return s;
            }
        }
        return UNKNOWN;
    }

    /** Describes a raw 16-bit status word (CQE bytes 14–15) for messages. */
    public static String describe(int status) {
        int sct = (status >>> 9) & 0x7;
        int sc = (status >>> 1) & 0xFF;
        NvmeStatus s = of(sct, sc);
        String name = s == UNKNOWN ? "status" : s.name();
        return String.format("%s (sct=0x%x sc=0x%02x%s)", name, sct, sc, (status & 0x8000) != 0 ? " dnr" : "");
    }
}
