package io.thermocline.nvmeof.pdu;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;

/**
 * Builds the NVMe/TCP PDUs one end sends, with the header digest, the padding that puts data at
 * the peer's requested alignment, and the data digest, as the connection's {@link PduSession}
 * says (NVMe/TCP 1.0 §3.6.1, Figures 11–12).
 *
 * <p>Methods that take a data {@link ByteBuf} take ownership of it: it becomes part of the
 * returned buffer, which the caller writes to the channel. Methods named {@code ...Header} return
 * only the header part, for a caller that sends the data itself (a {@code FileRegion}); they
 * compute PDO and PLEN as if the data followed, so data digests must be off for that use.
 */
public final class PduEncoder {
    private final PduSession session;

    public PduEncoder(PduSession session) {
        this.session = session;
    }

    public ByteBuf icReq(ByteBufAllocator alloc, Pdu.IcReq req) {
        ByteBuf b = alloc.buffer(128);
        common(b, PduType.IC_REQ, 0, 0, 128);
        b.writeShortLE(req.pfv()).writeByte(req.hpda()).writeByte(digestBits(req.headerDigest(), req.dataDigest()))
                .writeIntLE(req.maxR2t()).writeZero(112);
        return b;
    }

    public ByteBuf icResp(ByteBufAllocator alloc, Pdu.IcResp resp) {
        ByteBuf b = alloc.buffer(128);
        common(b, PduType.IC_RESP, 0, 0, 128);
        b.writeShortLE(resp.pfv()).writeByte(resp.cpda()).writeByte(digestBits(resp.headerDigest(), resp.dataDigest()))
                .writeIntLE(resp.maxH2cData()).writeZero(112);
        return b;
    }

    /** A TermReq; {@code offending} (released) is the header of the PDU in error, at most 128 bytes of it are sent. */
    public ByteBuf termReq(ByteBufAllocator alloc, PduType type, int fes, int fei, ByteBuf offending) {
        try {
            int n = Math.min(offending.readableBytes(), PduSession.MAX_TERM_REQ_LENGTH - 24);
            ByteBuf b = alloc.buffer(24 + n);
            common(b, type, 0, 0, 24 + n);
            b.writeShortLE(fes).writeIntLE(fei).writeZero(10);
            b.writeBytes(offending, offending.readerIndex(), n);
            return b;
        } finally {
            offending.release();
        }
    }

    /** A CapsuleCmd; {@code data} (owned, may be null) is in-capsule data. */
    public ByteBuf capsuleCmd(ByteBufAllocator alloc, Sqe sqe, ByteBuf data) {
        int n = data == null ? 0 : data.readableBytes();
        ByteBuf header = header(alloc, PduType.CAPSULE_CMD, 0, n);
        sqe.writeTo(header);
        return finish(alloc, header, PduType.CAPSULE_CMD, n, data);
    }

    public ByteBuf capsuleResp(ByteBufAllocator alloc, Cqe cqe) {
        ByteBuf header = header(alloc, PduType.CAPSULE_RESP, 0, 0);
        cqe.writeTo(header);
        return finish(alloc, header, PduType.CAPSULE_RESP, 0, null);
    }

    public ByteBuf r2t(ByteBufAllocator alloc, int commandId, int transferTag, int offset, int length) {
        ByteBuf header = header(alloc, PduType.R2T, 0, 0);
        header.writeShortLE(commandId).writeShortLE(transferTag).writeIntLE(offset).writeIntLE(length).writeZero(4);
        return finish(alloc, header, PduType.R2T, 0, null);
    }

    /** An H2CData carrying {@code data} (owned). */
    public ByteBuf h2cData(ByteBufAllocator alloc, int commandId, int transferTag, int offset, boolean last, ByteBuf data) {
        int n = data.readableBytes();
        ByteBuf header = header(alloc, PduType.H2C_DATA, last ? PduDecoder.FLAG_LAST_PDU : 0, n);
        header.writeShortLE(commandId).writeShortLE(transferTag).writeIntLE(offset).writeIntLE(n).writeZero(4);
        return finish(alloc, header, PduType.H2C_DATA, n, data);
    }

    /** A C2HData carrying {@code data} (owned). */
    public ByteBuf c2hData(ByteBufAllocator alloc, int commandId, int offset, boolean last, boolean success, ByteBuf data) {
        int n = data.readableBytes();
        ByteBuf header = header(alloc, PduType.C2H_DATA, c2hFlags(last, success), n);
        header.writeShortLE(commandId).writeShortLE(0).writeIntLE(offset).writeIntLE(n).writeZero(4);
        return finish(alloc, header, PduType.C2H_DATA, n, data);
    }

    /**
     * The header, header digest and padding of a C2HData of {@code length} bytes, for a caller that
     * sends the data itself (zero-copy from a file). Only valid with data digests off.
     */
    public ByteBuf c2hDataHeader(ByteBufAllocator alloc, int commandId, int offset, boolean last, boolean success, int length) {
        if (session.dataDigest()) {
            throw new IllegalStateException("a C2HData header alone cannot carry a data digest");
        }
        ByteBuf header = header(alloc, PduType.C2H_DATA, c2hFlags(last, success), length);
        header.writeShortLE(commandId).writeShortLE(0).writeIntLE(offset).writeIntLE(length).writeZero(4);
        seal(header, PduType.C2H_DATA, length);
        return header;
    }

    private static int c2hFlags(boolean last, boolean success) {
        return (last ? PduDecoder.FLAG_LAST_PDU : 0) | (success ? PduDecoder.FLAG_SUCCESS : 0);
    }

    private ByteBuf header(ByteBufAllocator alloc, PduType type, int flags, int dataLength) {
        int hlen = type.headerLength();
        int hd = session.headerDigest() ? Digests.LENGTH : 0;
        int pdo = 0;
        int dd = 0;
        int pad = 0;
        if (dataLength > 0) {
            int align = session.sendAlignment();
            pdo = (hlen + hd + align - 1) / align * align;
            pad = pdo - hlen - hd;
            dd = session.dataDigest() ? Digests.LENGTH : 0;
        }
        int plen = (dataLength > 0 ? pdo : hlen + hd) + dataLength + dd;
        int allFlags = flags | (hd != 0 ? PduDecoder.FLAG_HDGST : 0) | (dd != 0 ? PduDecoder.FLAG_DDGST : 0);
        ByteBuf b = alloc.buffer(hlen + hd + pad);
        common(b, type, allFlags, pdo, plen);
        return b;
    }

    /** Appends the header digest and the padding up to PDO. */
    private void seal(ByteBuf header, PduType type, int dataLength) {
        int hlen = type.headerLength();
        if (header.writerIndex() != hlen) {
            throw new IllegalStateException(type + " header is " + header.writerIndex() + " bytes (expected " + hlen + ")");
        }
        if (session.headerDigest()) {
            header.writeIntLE(Digests.crc32c(header, 0, hlen));
        }
        int pdo = header.getUnsignedByte(PduDecoder.PDO_OFFSET);
        if (dataLength > 0) {
            header.writeZero(pdo - header.writerIndex());
        }
    }

    private ByteBuf finish(ByteBufAllocator alloc, ByteBuf header, PduType type, int dataLength, ByteBuf data) {
        seal(header, type, dataLength);
        if (data == null || dataLength == 0) {
            if (data != null) {
                data.release();
            }
            return header;
        }
        CompositeByteBuf out = alloc.compositeBuffer(3);
        out.addComponent(true, header);
        int ddgst = session.dataDigest() ? Digests.crc32c(data, data.readerIndex(), dataLength) : 0;
        out.addComponent(true, data);
        if (session.dataDigest()) {
            out.addComponent(true, alloc.buffer(4).writeIntLE(ddgst));
        }
        return out;
    }

    private static void common(ByteBuf b, PduType type, int flags, int pdo, int plen) {
        b.writeByte(type.code()).writeByte(flags).writeByte(type.headerLength()).writeByte(pdo).writeIntLE(plen);
    }

    private static int digestBits(boolean header, boolean data) {
        return (header ? 1 : 0) | (data ? 2 : 0);
    }
}
