package io.thermocline.nvmeof.pdu;

/**
 * Fatal Error Status values of a TermReq (NVMe/TCP Transport Specification 1.0, §3.6.2.4,
 * Figure 18). FEI, the Fatal Error Information, is the byte offset of the offending header field
 * for {@link #INVALID_HEADER_FIELD} and {@link #UNSUPPORTED_PARAMETER}, and 0 otherwise.
 */
public final class FatalErrorStatus {
    private FatalErrorStatus() {
    }

    public static final int INVALID_HEADER_FIELD = 0x01;
    public static final int PDU_SEQUENCE_ERROR = 0x02;
    public static final int HEADER_DIGEST_ERROR = 0x03;
    public static final int DATA_TRANSFER_OUT_OF_RANGE = 0x04;
    public static final int DATA_TRANSFER_LIMIT_EXCEEDED = 0x05;
    public static final int UNSUPPORTED_PARAMETER = 0x06;

    public static String describe(int fes) {
        return switch (fes) {
            case INVALID_HEADER_FIELD -> "invalid PDU header field";
            case PDU_SEQUENCE_ERROR -> "PDU sequence error";
            case HEADER_DIGEST_ERROR -> "header digest error";
            case DATA_TRANSFER_OUT_OF_RANGE -> "data transfer out of range";
            case DATA_TRANSFER_LIMIT_EXCEEDED -> "data transfer limit exceeded";
            case UNSUPPORTED_PARAMETER -> "unsupported parameter";
            default -> "unknown fatal error status";
        };
    }
}
