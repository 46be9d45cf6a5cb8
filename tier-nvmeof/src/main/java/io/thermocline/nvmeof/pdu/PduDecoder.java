package io.thermocline.nvmeof.pdu;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Frames and decodes the NVMe/TCP PDUs one end of a connection receives.
 *
 * <p><b>Framing.</b> Every PDU starts with the 8-byte common header (NVMe/TCP 1.0 §3.6.1,
 * Figure 11): type, flags, HLEN, PDO and a little-endian PLEN at offset 4 that counts the whole
 * PDU. The decoder is a length-field decoder on PLEN with one difference: it validates the common
 * header against the PDU type and the {@link PduSession}'s negotiated limits <em>before</em>
 * waiting for the rest, so a peer can never make it buffer or allocate more than the largest PDU
 * the session allows.
 *
 * <p><b>Errors.</b> A malformed PDU — unknown or wrong-direction type, HLEN/PDO/PLEN out of range
 * or inconsistent, a header digest mismatch, or a PDU unexpected in the current state — is a
 * fatal transport error (§3.5.1): the decoder sends the role's TermReq with the Fatal Error Status
 * and the offending header field's offset, fires a {@link Terminated} event, closes the connection
 * once the TermReq is written, and discards everything after. A data digest mismatch is not
 * fatal (§3.5.2, "Data Digest Error"): the PDU's data is dropped and a {@link DataDigestError}
 * goes up the pipeline so the handler can fail that one command. No exception escapes into the
 * pipeline.
 *
 * <p><b>Output.</b> {@link Pdu} instances; their data is a retained slice of the received bytes,
 * released by whoever handles the PDU. A received TermReq ends decoding: the handler is expected
 * to close the connection.
 */
public final class PduDecoder extends ByteToMessageDecoder {
    private static final Logger log = LoggerFactory.getLogger(PduDecoder.class);

    static final int COMMON_HEADER_LENGTH = 8;
    static final int FLAGS_OFFSET = 1;
    static final int HLEN_OFFSET = 2;
    static final int PDO_OFFSET = 3;
    static final int PLEN_OFFSET = 4;

    /** Common header flags (§3.6.1, Figure 12). */
    public static final int FLAG_HDGST = 0x01;
    public static final int FLAG_DDGST = 0x02;
    /** LAST_PDU, in H2CData and C2HData. */
    public static final int FLAG_LAST_PDU = 0x04;
    /** SUCCESS, in C2HData. */
    public static final int FLAG_SUCCESS = 0x08;

    /** A data digest mismatch in the data of a PDU for {@code commandId}; the data was dropped. */
    public record DataDigestError(PduType type, int commandId, int offset, int expected, int actual) {
    }

    /** Fired as a user event when this end ends the connection with a TermReq. */
    public record Terminated(int fes, int fei, String reason) {
    }

    private final PduSession session;
    private final PduEncoder encoder;
    private boolean done;

    public PduDecoder(PduSession session, PduEncoder encoder) {
        this.session = session;
        this.encoder = encoder;
    }

    /** A malformed PDU: the fields for the TermReq and a message for the log. */
    private static final class Malformed extends Exception {
        final int fes;
        final int fei;

        Malformed(int fes, int fei, String message) {
            super(message, null, false, false);
            this.fes = fes;
            this.fei = fei;
        }
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (done) {
            in.skipBytes(in.readableBytes());
            return;
        }
        if (in.readableBytes() < COMMON_HEADER_LENGTH) {
            return;
        }
        int base = in.readerIndex();
        try {
            Object decoded = decodeOne(in, base);
            if (decoded != null) {
                out.add(decoded);
                if (decoded instanceof Pdu.TermReq) {
                    done = true;
                }
            }
        } catch (Malformed m) {
            terminate(ctx, in, base, m.fes, m.fei, m.getMessage());
        } catch (RuntimeException e) {
            terminate(ctx, in, base, FatalErrorStatus.INVALID_HEADER_FIELD, 0, "cannot decode PDU: " + e);
        }
    }

    /** Returns the decoded message, or null when more bytes are needed. */
    private Object decodeOne(ByteBuf in, int base) throws Malformed {
        int code = in.getUnsignedByte(base);
        int flags = in.getUnsignedByte(base + FLAGS_OFFSET);
        int hlen = in.getUnsignedByte(base + HLEN_OFFSET);
        int pdo = in.getUnsignedByte(base + PDO_OFFSET);
        long plen = in.getUnsignedIntLE(base + PLEN_OFFSET);

        PduType type = PduType.of(code);
        if (type == null || type.direction() != session.receiving()) {
            throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, 0,
                    "PDU type 0x" + Integer.toHexString(code) + " is not one a " + session.role().name().toLowerCase() + " receives");
        }
        boolean term = type == PduType.H2C_TERM_REQ || type == PduType.C2H_TERM_REQ;
        boolean ic = type == PduType.IC_REQ || type == PduType.IC_RESP;
        if (!term && ic == session.initialized()) {
            throw new Malformed(FatalErrorStatus.PDU_SEQUENCE_ERROR, 0,
                    type + (ic ? " after the connection was initialised" : " before ICReq/ICResp"));
        }
        if (hlen != type.headerLength()) {
            throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, HLEN_OFFSET,
                    type + " HLEN " + hlen + " (expected " + type.headerLength() + ")");
        }
        int dataLength = 0;
        int hd = 0;
        int dd = 0;
        if (term) {
            if (plen < hlen || plen > PduSession.MAX_TERM_REQ_LENGTH) {
                throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, PLEN_OFFSET,
                        type + " PLEN " + plen + " (expected " + hlen + ".." + PduSession.MAX_TERM_REQ_LENGTH + ")");
            }
            dataLength = (int) plen - hlen;
            pdo = hlen;
        } else if (ic) {
            if (plen != hlen || pdo != 0 || flags != 0) {
                throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, plen != hlen ? PLEN_OFFSET : pdo != 0 ? PDO_OFFSET : FLAGS_OFFSET,
                        type + " with PLEN " + plen + ", PDO " + pdo + ", flags 0x" + Integer.toHexString(flags)
                                + " (expected PLEN 128, PDO 0, no flags)");
            }
        } else {
            hd = session.headerDigest() ? Digests.LENGTH : 0;
            if (((flags & FLAG_HDGST) != 0) != (hd != 0)) {
                throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, FLAGS_OFFSET,
                        type + " HDGSTF " + ((flags & FLAG_HDGST) != 0) + " but header digests are " + (hd != 0 ? "on" : "off"));
            }
            long headerEnd = hlen + hd;
            if (plen == headerEnd) {
                if (type == PduType.H2C_DATA || type == PduType.C2H_DATA) {
                    throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, PLEN_OFFSET, type + " without data");
                }
                if (pdo != 0 || (flags & FLAG_DDGST) != 0) {
                    throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, pdo != 0 ? PDO_OFFSET : FLAGS_OFFSET,
                            type + " without data has PDO " + pdo + " and flags 0x" + Integer.toHexString(flags));
                }
            } else {
                if (!type.mayCarryData()) {
                    throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, PLEN_OFFSET,
                            type + " PLEN " + plen + " (expected " + headerEnd + ")");
                }
                if (pdo < headerEnd || pdo > headerEnd + PduSession.MAX_PADDING || pdo % session.receiveAlignment() != 0
                        && pdo != headerEnd) {
                    throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, PDO_OFFSET,
                            type + " PDO " + pdo + " (expected at least " + headerEnd + ", aligned to " + session.receiveAlignment() + ")");
                }
                dd = session.dataDigest() ? Digests.LENGTH : 0;
                if (((flags & FLAG_DDGST) != 0) != (dd != 0)) {
                    throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, FLAGS_OFFSET,
                            type + " DDGSTF " + ((flags & FLAG_DDGST) != 0) + " but data digests are " + (dd != 0 ? "on" : "off"));
                }
                long data = plen - pdo - dd;
                if (data <= 0) {
                    throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, PLEN_OFFSET,
                            type + " PLEN " + plen + " leaves no data after PDO " + pdo);
                }
                long limit = type == PduType.CAPSULE_CMD ? session.maxInCapsuleData() : session.maxDataPerPdu();
                if (data > limit) {
                    throw new Malformed(FatalErrorStatus.DATA_TRANSFER_LIMIT_EXCEEDED, 0,
                            type + " carries " + data + " data bytes (limit " + limit + ")");
                }
                dataLength = (int) data;
            }
        }
        if (in.readableBytes() < plen) {
            return null;
        }
        int frameLength = (int) plen;
        if (hd != 0) {
            int expected = in.getIntLE(base + hlen);
            int actual = Digests.crc32c(in, base, hlen);
            if (expected != actual) {
                throw new Malformed(FatalErrorStatus.HEADER_DIGEST_ERROR, 0, String.format(
                        "%s header digest 0x%08x, computed 0x%08x", type, expected, actual));
            }
        }
        Object result = switch (type) {
            case IC_REQ -> icReq(in, base);
            case IC_RESP -> icResp(in, base);
            case H2C_TERM_REQ, C2H_TERM_REQ -> new Pdu.TermReq(type, in.getUnsignedShortLE(base + 8),
                    in.getIntLE(base + 10), in.retainedSlice(base + hlen, dataLength));
            case CAPSULE_CMD -> capsuleCmd(in, base, pdo, dataLength, dd);
            case CAPSULE_RESP -> new Pdu.CapsuleResp(Cqe.readFrom(in.slice(base + COMMON_HEADER_LENGTH, Cqe.LENGTH)));
            case H2C_DATA, C2H_DATA -> data(type, in, base, flags, pdo, dataLength, dd);
            case R2T -> r2t(in, base);
        };
        in.readerIndex(base + frameLength);
        return result;
    }

    private Pdu icReq(ByteBuf in, int base) throws Malformed {
        int pfv = in.getUnsignedShortLE(base + 8);
        int hpda = in.getUnsignedByte(base + 10);
        int digest = in.getUnsignedByte(base + 11);
        int maxr2t = in.getIntLE(base + 12);
        if (pfv != 0) {
            throw new Malformed(FatalErrorStatus.UNSUPPORTED_PARAMETER, 8, "ICReq PFV " + pfv + " (expected 0)");
        }
        if (hpda > 31) {
            throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, 10, "ICReq HPDA " + hpda + " (expected 0..31)");
        }
        return new Pdu.IcReq(pfv, hpda, (digest & 1) != 0, (digest & 2) != 0, maxr2t);
    }

    private Pdu icResp(ByteBuf in, int base) throws Malformed {
        int pfv = in.getUnsignedShortLE(base + 8);
        int cpda = in.getUnsignedByte(base + 10);
        int digest = in.getUnsignedByte(base + 11);
        long maxData = in.getUnsignedIntLE(base + 12);
        if (pfv != 0) {
            throw new Malformed(FatalErrorStatus.UNSUPPORTED_PARAMETER, 8, "ICResp PFV " + pfv + " (expected 0)");
        }
        if (cpda > 31) {
            throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, 10, "ICResp CPDA " + cpda + " (expected 0..31)");
        }
        if (maxData < 4096) {
            throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, 12, "ICResp MAXH2CDATA " + maxData + " (expected at least 4096)");
        }
        return new Pdu.IcResp(pfv, cpda, (digest & 1) != 0, (digest & 2) != 0, (int) Math.min(maxData, Integer.MAX_VALUE));
    }

    private Object capsuleCmd(ByteBuf in, int base, int pdo, int dataLength, int dd) {
        Sqe sqe = Sqe.readFrom(in.slice(base + COMMON_HEADER_LENGTH, Sqe.LENGTH));
        if (dataLength == 0) {
            return new Pdu.CapsuleCmd(sqe);
        }
        DataDigestError bad = checkData(PduType.CAPSULE_CMD, sqe.commandId(), 0, in, base + pdo, dataLength, dd);
        if (bad != null) {
            return bad;
        }
        return new Pdu.CapsuleCmd(sqe, in.retainedSlice(base + pdo, dataLength));
    }

    private Object data(PduType type, ByteBuf in, int base, int flags, int pdo, int dataLength, int dd) throws Malformed {
        int cid = in.getUnsignedShortLE(base + 8);
        int ttag = in.getUnsignedShortLE(base + 10);
        long offset = in.getUnsignedIntLE(base + 12);
        long datal = in.getUnsignedIntLE(base + 16);
        if (datal != dataLength) {
            throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, 16,
                    type + " DATAL " + datal + " but PLEN and PDO leave " + dataLength + " data bytes");
        }
        if (offset + datal > Integer.MAX_VALUE) {
            throw new Malformed(FatalErrorStatus.DATA_TRANSFER_OUT_OF_RANGE, 0, type + " DATAO " + offset + " out of range");
        }
        boolean last = (flags & FLAG_LAST_PDU) != 0;
        boolean success = (flags & FLAG_SUCCESS) != 0;
        if (type == PduType.C2H_DATA && success && !last) {
            throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, FLAGS_OFFSET, "C2HData with SUCCESS but not LAST_PDU");
        }
        if (type == PduType.H2C_DATA && success) {
            throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, FLAGS_OFFSET, "H2CData with the SUCCESS flag");
        }
        DataDigestError bad = checkData(type, cid, (int) offset, in, base + pdo, dataLength, dd);
        if (bad != null) {
            return bad;
        }
        ByteBuf data = in.retainedSlice(base + pdo, dataLength);
        return type == PduType.H2C_DATA
                ? new Pdu.H2cData(cid, ttag, (int) offset, last, data)
                : new Pdu.C2hData(cid, (int) offset, last, success, data);
    }

    private static DataDigestError checkData(PduType type, int cid, int offset, ByteBuf in, int at, int length, int dd) {
        if (dd == 0) {
            return null;
        }
        int expected = in.getIntLE(at + length);
        int actual = Digests.crc32c(in, at, length);
        return expected == actual ? null : new DataDigestError(type, cid, offset, expected, actual);
    }

    private Pdu r2t(ByteBuf in, int base) throws Malformed {
        int cid = in.getUnsignedShortLE(base + 8);
        int ttag = in.getUnsignedShortLE(base + 10);
        long offset = in.getUnsignedIntLE(base + 12);
        long length = in.getUnsignedIntLE(base + 16);
        if (length == 0 || offset + length > Integer.MAX_VALUE) {
            throw new Malformed(FatalErrorStatus.INVALID_HEADER_FIELD, length == 0 ? 16 : 12,
                    "R2T offset " + offset + " length " + length);
        }
        return new Pdu.R2t(cid, ttag, (int) offset, (int) length);
    }

    private void terminate(ChannelHandlerContext ctx, ByteBuf in, int base, int fes, int fei, String reason) {
        done = true;
        int headerBytes = Math.min(Math.min(in.readableBytes(), in.getUnsignedByte(base + HLEN_OFFSET)), 128);
        ByteBuf offending = in.retainedSlice(base, Math.max(headerBytes, Math.min(in.readableBytes(), COMMON_HEADER_LENGTH)));
        in.skipBytes(in.readableBytes());
        log.warn("{}: ending NVMe/TCP connection: {} (FES {}: {})", ctx.channel().remoteAddress(), reason, fes,
                FatalErrorStatus.describe(fes));
        ctx.fireUserEventTriggered(new Terminated(fes, fei, reason));
        sendTermReqAndClose(ctx, encoder, session, fes, fei, offending);
    }

    /**
     * Ends the connection the way §3.5.1 asks: a TermReq naming the error, then close. Handlers
     * call this for errors only they can see (an H2CData for a transfer tag never sent, say).
     *
     * @param offending the header of the PDU in error (released here); may be empty
     */
    public static void sendTermReqAndClose(ChannelHandlerContext ctx, PduEncoder encoder, PduSession session, int fes,
                                           int fei, ByteBuf offending) {
        ctx.writeAndFlush(encoder.termReq(ctx.alloc(), session.termReqType(), fes, fei, offending))
                .addListener(ChannelFutureListener.CLOSE);
    }
}
