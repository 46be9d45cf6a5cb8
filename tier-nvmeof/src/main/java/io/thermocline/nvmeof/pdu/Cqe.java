package io.thermocline.nvmeof.pdu;

import io.netty.buffer.ByteBuf;

/**
 * A 16-byte completion queue entry (NVMe Base Specification 2.0, §4.2.1, Figure 90):
 *
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                 DW0: command specific                          |  (0)
 *  +---------------------------------------------------------------+
 *  |                 DW1: command specific                          |  (4)
 *  +-------------------------------+-------------------------------+
 *  |          SQ head              |            SQ ID              |  (8)
 *  +-------------------------------+-----------------------------+-+
 *  |          CID                  |        Status               |P|  (12)
 *  +-------------------------------+-----------------------------+-+
 * </pre>
 *
 * DW0–DW1 carry Property Get's value and Connect's controller ID. Immutable.
 *
 * @param result DW0 and DW1 as one little-endian 64-bit value
 * @param sqHead the submission queue head pointer (0 when SQ flow control is disabled)
 * @param status the 16-bit status word including the phase bit (bit 0); 0 is success
 */
public record Cqe(long result, int sqHead, int sqId, int commandId, int status) {
    public static final int LENGTH = 16;

    public static Cqe readFrom(ByteBuf buf) {
        long result = buf.readLongLE();
        int head = buf.readUnsignedShortLE();
        int sqid = buf.readUnsignedShortLE();
        int cid = buf.readUnsignedShortLE();
        int status = buf.readUnsignedShortLE();
        return new Cqe(result, head, sqid, cid, status);
    }

    public void writeTo(ByteBuf buf) {
        buf.writeLongLE(result).writeShortLE(sqHead).writeShortLE(sqId).writeShortLE(commandId).writeShortLE(status);
    }

    public static Cqe of(int commandId, NvmeStatus status, long result) {
        return new Cqe(result, 0, 0, commandId, status == NvmeStatus.SUCCESS ? 0 : status.field(true));
    }

    public boolean isSuccess() {
        return (status & 0xFFFE) == 0;
    }

    /** Status Code Type, bits 11:9. */
    public int statusCodeType() {
        return (status >>> 9) & 0x7;
    }

    /** Status Code, bits 8:1. */
    public int statusCode() {
        return (status >>> 1) & 0xFF;
    }

    public boolean doNotRetry() {
        return (status & 0x8000) != 0;
    }

    public NvmeStatus nvmeStatus() {
        return isSuccess() ? NvmeStatus.SUCCESS : NvmeStatus.of(statusCodeType(), statusCode());
    }

    /** DW0 alone. */
    public int dw0() {
        return (int) result;
    }

    @Override
    public String toString() {
        return "Cqe{cid=" + commandId + ", " + (isSuccess() ? "success" : NvmeStatus.describe(status))
                + ", result=0x" + Long.toHexString(result) + "}";
    }
}
