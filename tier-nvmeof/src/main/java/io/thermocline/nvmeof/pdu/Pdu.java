package io.thermocline.nvmeof.pdu;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.ReferenceCountUtil;

/**
 * A decoded NVMe/TCP PDU (NVMe/TCP Transport Specification 1.0, §3.6.2). PDUs that carry data
 * hold it as a {@link ByteBuf} slice of the received bytes: whoever receives the PDU from the
 * pipeline owns it and must call {@link #release()} (a no-op for PDUs without data).
 */
public sealed interface Pdu {

    PduType type();

    /** Releases the data buffer, if any. */
    default void release() {
    }

    /**
     * ICReq (§3.6.2.2, Figure 15).
     *
     * @param hpda host PDU data alignment: 0's based dwords for data in PDUs the controller sends
     * @param maxR2t maximum outstanding R2Ts per command, 0's based
     */
    record IcReq(int pfv, int hpda, boolean headerDigest, boolean dataDigest, int maxR2t) implements Pdu {
        @Override
        public PduType type() {
            return PduType.IC_REQ;
        }
    }

    /**
     * ICResp (§3.6.2.3, Figure 16).
     *
     * @param cpda controller PDU data alignment: 0's based dwords for data in PDUs the host sends
     * @param maxH2cData the most data bytes one H2CData PDU may carry (at least 4096)
     */
    record IcResp(int pfv, int cpda, boolean headerDigest, boolean dataDigest, int maxH2cData) implements Pdu {
        @Override
        public PduType type() {
            return PduType.IC_RESP;
        }
    }

    /**
     * H2CTermReq or C2HTermReq (§3.6.2.4–5, Figures 17–19). {@code data} holds up to 128 bytes of
     * the header of the PDU that was in error.
     */
    record TermReq(PduType type, int fes, int fei, ByteBuf data) implements Pdu {
        public TermReq {
            if (type != PduType.H2C_TERM_REQ && type != PduType.C2H_TERM_REQ) {
                throw new IllegalArgumentException("type: " + type + " (expected a TermReq)");
            }
        }

        @Override
        public void release() {
            ReferenceCountUtil.safeRelease(data);
        }

        @Override
        public String toString() {
            return type + "{fes=" + fes + " (" + FatalErrorStatus.describe(fes) + "), fei=" + fei + "}";
        }
    }

    /** CapsuleCmd (§3.6.2.6, Figure 20): an SQE and optional in-capsule data. */
    record CapsuleCmd(Sqe sqe, ByteBuf data) implements Pdu {
        public CapsuleCmd(Sqe sqe) {
            this(sqe, Unpooled.EMPTY_BUFFER);
        }

        @Override
        public PduType type() {
            return PduType.CAPSULE_CMD;
        }

        @Override
        public void release() {
            ReferenceCountUtil.safeRelease(data);
        }
    }

    /** CapsuleResp (§3.6.2.7, Figure 21): a CQE. */
    record CapsuleResp(Cqe cqe) implements Pdu {
        @Override
        public PduType type() {
            return PduType.CAPSULE_RESP;
        }
    }

    /**
     * H2CData (§3.6.2.8, Figure 22).
     *
     * @param commandId CCCID: the command this data belongs to
     * @param transferTag TTAG: echoed from the R2T it answers
     * @param offset DATAO: offset of this data in the command's data
     */
    record H2cData(int commandId, int transferTag, int offset, boolean last, ByteBuf data) implements Pdu {
        @Override
        public PduType type() {
            return PduType.H2C_DATA;
        }

        @Override
        public void release() {
            ReferenceCountUtil.safeRelease(data);
        }

        @Override
        public String toString() {
            return "H2cData{cid=" + commandId + ", ttag=" + transferTag + ", offset=" + offset + ", length="
                    + data.readableBytes() + (last ? ", last" : "") + "}";
        }
    }

    /**
     * C2HData (§3.6.2.9, Figure 23).
     *
     * @param success SUCCESS flag: the command completed and no CapsuleResp follows (only with
     *        {@code last}, and only when SQ flow control is disabled)
     */
    record C2hData(int commandId, int offset, boolean last, boolean success, ByteBuf data) implements Pdu {
        @Override
        public PduType type() {
            return PduType.C2H_DATA;
        }

        @Override
        public void release() {
            ReferenceCountUtil.safeRelease(data);
        }

        @Override
        public String toString() {
            return "C2hData{cid=" + commandId + ", offset=" + offset + ", length=" + data.readableBytes()
                    + (last ? ", last" : "") + (success ? ", success" : "") + "}";
        }
    }

    /** R2T (§3.6.2.10, Figure 24): the controller asks for {@code length} bytes from {@code offset}. */
    record R2t(int commandId, int transferTag, int offset, int length) implements Pdu {
        @Override
        public PduType type() {
            return PduType.R2T;
        }
    }
}
