package io.thermocline.nvmeof.pdu;

import io.netty.buffer.ByteBuf;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * A 64-byte submission queue entry, little-endian, as carried in a CapsuleCmd PDU.
 *
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |    OPC        |  PSDT/FUSE    |             CID               |  CDW0   (0)
 *  +---------------------------------------------------------------+
 *  |            NSID  (Fabrics commands: FCTYPE in byte 4)          |  CDW1   (4)
 *  +---------------------------------------------------------------+
 *  |                       CDW2, CDW3 (reserved)                    |         (8)
 *  +---------------------------------------------------------------+
 *  |                           MPTR (8)                            |         (16)
 *  +---------------------------------------------------------------+
 *  |     DPTR: one SGL descriptor — address (8) | length (4) |      |         (24)
 *  |           reserved (3) | SGL identifier (1)                    |
 *  +---------------------------------------------------------------+
 *  |                      CDW10 … CDW15 (24)                        |         (40)
 *  +---------------------------------------------------------------+
 * </pre>
 *
 * Fields from NVMe Base Specification 2.0, §4.2 "Submission Queue Entry" (Figure 87) and §4.3.2
 * "Scatter Gather List" (Figures 113–119); NVMe/TCP carries data with SGLs only (NVMe/TCP 1.0
 * §2.1: PSDT is 01b and the SGL is either an in-capsule Data Block with the Offset sub-type, or
 * a Transport SGL Data Block).
 *
 * <p>Not thread-safe: one owner at a time.
 */
public final class Sqe {
    public static final int LENGTH = 64;

    public static final int OPCODE_OFFSET = 0;
    public static final int FLAGS_OFFSET = OPCODE_OFFSET + 1;
    public static final int CID_OFFSET = FLAGS_OFFSET + 1;
    public static final int NSID_OFFSET = CID_OFFSET + 2;
    /** Fabrics commands put FCTYPE where NSID is (NVMe-oF 1.1 §3.2, Figure 11). */
    public static final int FCTYPE_OFFSET = NSID_OFFSET;
    public static final int MPTR_OFFSET = NSID_OFFSET + 4 + 8;
    public static final int SGL_OFFSET = MPTR_OFFSET + 8;
    public static final int SGL_ADDRESS_OFFSET = SGL_OFFSET;
    public static final int SGL_LENGTH_OFFSET = SGL_ADDRESS_OFFSET + 8;
    public static final int SGL_IDENTIFIER_OFFSET = SGL_LENGTH_OFFSET + 4 + 3;
    public static final int CDW10_OFFSET = SGL_OFFSET + 16;

    /** PSDT = 01b: SGLs for data, metadata pointer is an address (Figure 87, CDW0 bits 15:14). */
    public static final int FLAGS_SGL = 0x40;

    /** SGL Data Block descriptor (type 0h), sub-type Offset (1h): data is in the capsule. */
    public static final int SGL_DATA_BLOCK_OFFSET = 0x01;
    /** Transport SGL Data Block (type 5h), transport-specific sub-type Ah: data moves in C2HData/H2CData (NVMe/TCP 1.0 §2.1). */
    public static final int SGL_TRANSPORT_DATA_BLOCK = 0x5A;

    private static final VarHandle SHORT = MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    private final byte[] bytes;

    public Sqe() {
        this.bytes = new byte[LENGTH];
        bytes[FLAGS_OFFSET] = (byte) FLAGS_SGL;
    }

    private Sqe(byte[] bytes) {
        this.bytes = bytes;
    }

    /** Reads 64 bytes at the buffer's reader index and advances it. */
    public static Sqe readFrom(ByteBuf buf) {
        byte[] b = new byte[LENGTH];
        buf.readBytes(b);
        return new Sqe(b);
    }

    /** Writes the 64 bytes at the buffer's writer index. */
    public void writeTo(ByteBuf buf) {
        buf.writeBytes(bytes);
    }

    public int opcode() {
        return u8(OPCODE_OFFSET);
    }

    public Sqe opcode(int opcode) {
        bytes[OPCODE_OFFSET] = (byte) opcode;
        return this;
    }

    /** Byte 1: PSDT (bits 7:6) and FUSE (bits 1:0). */
    public int flags() {
        return u8(FLAGS_OFFSET);
    }

    public Sqe flags(int flags) {
        bytes[FLAGS_OFFSET] = (byte) flags;
        return this;
    }

    /** The command identifier: opaque to a controller, which echoes it in the CQE. */
    public int commandId() {
        return u16(CID_OFFSET);
    }

    public Sqe commandId(int cid) {
        return u16(CID_OFFSET, cid);
    }

    public int nsid() {
        return (int) INT.get(bytes, NSID_OFFSET);
    }

    public Sqe nsid(int nsid) {
        INT.set(bytes, NSID_OFFSET, nsid);
        return this;
    }

    public int fabricsType() {
        return u8(FCTYPE_OFFSET);
    }

    public Sqe fabricsType(int fctype) {
        bytes[FCTYPE_OFFSET] = (byte) fctype;
        return this;
    }

    public long sglAddress() {
        return (long) LONG.get(bytes, SGL_ADDRESS_OFFSET);
    }

    public int sglLength() {
        return (int) INT.get(bytes, SGL_LENGTH_OFFSET);
    }

    public int sglIdentifier() {
        return u8(SGL_IDENTIFIER_OFFSET);
    }

    /** Describes data carried in the capsule itself, at offset 0 of the in-capsule data. */
    public Sqe sglInCapsule(int length) {
        return sgl(0, length, SGL_DATA_BLOCK_OFFSET);
    }

    /** Describes data carried by C2HData or H2CData PDUs (and a null transfer when length is 0). */
    public Sqe sglTransport(int length) {
        return sgl(0, length, SGL_TRANSPORT_DATA_BLOCK);
    }

    public Sqe sgl(long address, int length, int identifier) {
        LONG.set(bytes, SGL_ADDRESS_OFFSET, address);
        INT.set(bytes, SGL_LENGTH_OFFSET, length);
        bytes[SGL_IDENTIFIER_OFFSET] = (byte) identifier;
        return this;
    }

    /** Command dword 10 + {@code n} (n = 0..5). */
    public int cdw(int dword) {
        if (dword < 10 || dword > 15) {
            throw new IllegalArgumentException("dword: " + dword + " (expected: 10..15)");
        }
        return (int) INT.get(bytes, CDW10_OFFSET + (dword - 10) * 4);
    }

    public Sqe cdw(int dword, int value) {
        if (dword < 10 || dword > 15) {
            throw new IllegalArgumentException("dword: " + dword + " (expected: 10..15)");
        }
        INT.set(bytes, CDW10_OFFSET + (dword - 10) * 4, value);
        return this;
    }

    /** CDW10–11 as one 64-bit value (Read/Write SLBA). */
    public long cdw10And11() {
        return (long) LONG.get(bytes, CDW10_OFFSET);
    }

    public Sqe cdw10And11(long value) {
        LONG.set(bytes, CDW10_OFFSET, value);
        return this;
    }

    public int u8(int offset) {
        return bytes[offset] & 0xFF;
    }

    public Sqe u8(int offset, int value) {
        bytes[offset] = (byte) value;
        return this;
    }

    public int u16(int offset) {
        return (short) SHORT.get(bytes, offset) & 0xFFFF;
    }

    public Sqe u16(int offset, int value) {
        SHORT.set(bytes, offset, (short) value);
        return this;
    }

    public int u32(int offset) {
        return (int) INT.get(bytes, offset);
    }

    public Sqe u32(int offset, int value) {
        INT.set(bytes, offset, value);
        return this;
    }

    public long u64(int offset) {
        return (long) LONG.get(bytes, offset);
    }

    public Sqe u64(int offset, long value) {
        LONG.set(bytes, offset, value);
        return this;
    }

    @Override
    public String toString() {
        return opcode() == NvmeOpcodes.FABRICS
                ? String.format("Sqe{fabrics fctype=0x%02x cid=%d}", fabricsType(), commandId())
                : String.format("Sqe{opc=0x%02x cid=%d nsid=%d sgl=%02x/%d}", opcode(), commandId(), nsid(),
                        sglIdentifier(), sglLength());
    }
}
