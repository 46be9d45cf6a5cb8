package io.thermocline.nvmeof.pdu;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * The Fabrics commands (NVMe over Fabrics 1.1, §3): Connect, Property Get and Set,
 * Authentication Send and Receive, Disconnect — SQE builders, field accessors, and the Connect
 * command's 1024-byte data.
 *
 * <p>Connect SQE (Figure 20): byte 4 FCTYPE = 01h; bytes 24–39 the SGL for the 1024 data bytes;
 * 40–41 RECFMT; 42–43 QID; 44–45 SQSIZE (0's based); 46 CATTR; 48–51 KATO (ms).
 *
 * <pre>
 * Connect data (Figure 21):
 *    0  HOSTID (16)  | 16 CNTLID (2) | 18 reserved (238)
 *  256  SUBNQN (256, NUL-terminated UTF-8)
 *  512  HOSTNQN (256)
 *  768  reserved (256)
 * </pre>
 */
public final class Fabrics {
    private Fabrics() {
    }

    public static final int CONNECT_RECFMT_OFFSET = 40;
    public static final int CONNECT_QID_OFFSET = CONNECT_RECFMT_OFFSET + 2;
    public static final int CONNECT_SQSIZE_OFFSET = CONNECT_QID_OFFSET + 2;
    public static final int CONNECT_CATTR_OFFSET = CONNECT_SQSIZE_OFFSET + 2;
    public static final int CONNECT_KATO_OFFSET = CONNECT_CATTR_OFFSET + 2;

    public static final int CONNECT_DATA_LENGTH = 1024;
    public static final int CONNECT_DATA_HOSTID_OFFSET = 0;
    public static final int CONNECT_DATA_CNTLID_OFFSET = CONNECT_DATA_HOSTID_OFFSET + 16;
    public static final int CONNECT_DATA_SUBNQN_OFFSET = 256;
    public static final int CONNECT_DATA_HOSTNQN_OFFSET = CONNECT_DATA_SUBNQN_OFFSET + 256;
    public static final int NQN_FIELD_LENGTH = 256;
    /** The longest NQN (NVMe Base 2.0 §4.5: 223 bytes, UTF-8). */
    public static final int MAX_NQN_LENGTH = 223;

    /** CNTLID 0xFFFF in Connect data: any controller (dynamic controller model). */
    public static final int CNTLID_DYNAMIC = 0xFFFF;

    /** CATTR bit 2 (Figure 20): the host asks to disable SQ flow control. */
    public static final int CATTR_DISABLE_SQ_FLOW_CONTROL = 0x04;

    /** Property Get/Set SQE: byte 40 ATTRIB (bits 2:0, 0 = 4 bytes, 1 = 8 bytes), 44–47 OFST, 48–55 VALUE (Figures 16, 18). */
    public static final int PROPERTY_ATTRIB_OFFSET = 40;
    public static final int PROPERTY_OFST_OFFSET = 44;
    public static final int PROPERTY_VALUE_OFFSET = 48;

    /** Authentication Send/Receive SQE (Figures 14, 15): 41 SPSP0, 42 SPSP1, 43 SECP, 44–47 TL or AL. */
    public static final int AUTH_SPSP0_OFFSET = 41;
    public static final int AUTH_SPSP1_OFFSET = 42;
    public static final int AUTH_SECP_OFFSET = 43;
    public static final int AUTH_LENGTH_OFFSET = 44;
    /** SECP for NVMe in-band authentication (NVMe Base 2.0 §8.13). */
    public static final int AUTH_SECP_NVME = 0xE9;

    /** Disconnect SQE (NVMe-oF 1.1 §3.4, Figure 22): 40–41 RECFMT. */
    public static final int DISCONNECT_RECFMT_OFFSET = 40;

    /** A Connect SQE for queue {@code qid} with {@code queueSize} entries, its data sent in-capsule. */
    public static Sqe connect(int qid, int queueSize, int keepAliveMillis, boolean disableSqFlowControl) {
        return new Sqe().opcode(NvmeOpcodes.FABRICS).fabricsType(NvmeOpcodes.FCTYPE_CONNECT)
                .sglInCapsule(CONNECT_DATA_LENGTH)
                .u16(CONNECT_RECFMT_OFFSET, 0)
                .u16(CONNECT_QID_OFFSET, qid)
                .u16(CONNECT_SQSIZE_OFFSET, queueSize - 1)
                .u8(CONNECT_CATTR_OFFSET, disableSqFlowControl ? CATTR_DISABLE_SQ_FLOW_CONTROL : 0)
                .u32(CONNECT_KATO_OFFSET, keepAliveMillis);
    }

    /** Writes the 1024 bytes of Connect data. */
    public static void writeConnectData(ByteBuf out, UUID hostId, int controllerId, String subsystemNqn, String hostNqn) {
        int start = out.writerIndex();
        out.writeLong(hostId.getMostSignificantBits()).writeLong(hostId.getLeastSignificantBits());
        out.writeShortLE(controllerId);
        out.writeZero(CONNECT_DATA_SUBNQN_OFFSET - (out.writerIndex() - start));
        writeNqn(out, subsystemNqn);
        writeNqn(out, hostNqn);
        out.writeZero(CONNECT_DATA_LENGTH - (out.writerIndex() - start));
    }

    private static void writeNqn(ByteBuf out, String nqn) {
        byte[] b = nqn.getBytes(StandardCharsets.UTF_8);
        if (b.length > MAX_NQN_LENGTH) {
            throw new IllegalArgumentException("NQN: " + nqn + " (expected at most " + MAX_NQN_LENGTH + " bytes)");
        }
        out.writeBytes(b).writeZero(NQN_FIELD_LENGTH - b.length);
    }

    /** Connect data as parsed by a controller. */
    public record ConnectData(UUID hostId, int controllerId, String subsystemNqn, String hostNqn) {
    }

    /** Parses Connect data (does not move the buffer's indexes). */
    public static ConnectData readConnectData(ByteBuf data) {
        int base = data.readerIndex();
        UUID hostId = new UUID(data.getLong(base), data.getLong(base + 8));
        int cntlid = data.getUnsignedShortLE(base + CONNECT_DATA_CNTLID_OFFSET);
        return new ConnectData(hostId, cntlid, readString(data, base + CONNECT_DATA_SUBNQN_OFFSET, NQN_FIELD_LENGTH),
                readString(data, base + CONNECT_DATA_HOSTNQN_OFFSET, NQN_FIELD_LENGTH));
    }

    /** A NUL-terminated or space-padded string field. */
    public static String readString(ByteBuf buf, int index, int length) {
        int end = index;
        while (end < index + length && buf.getByte(end) != 0) {
            end++;
        }
        return buf.toString(index, end - index, StandardCharsets.UTF_8).stripTrailing();
    }

    public static Sqe propertyGet(int offset) {
        return new Sqe().opcode(NvmeOpcodes.FABRICS).fabricsType(NvmeOpcodes.FCTYPE_PROPERTY_GET).sglTransport(0)
                .u8(PROPERTY_ATTRIB_OFFSET, NvmeOpcodes.isEightByteProperty(offset) ? 1 : 0)
                .u32(PROPERTY_OFST_OFFSET, offset);
    }

    public static Sqe propertySet(int offset, long value) {
        return new Sqe().opcode(NvmeOpcodes.FABRICS).fabricsType(NvmeOpcodes.FCTYPE_PROPERTY_SET).sglTransport(0)
                .u8(PROPERTY_ATTRIB_OFFSET, NvmeOpcodes.isEightByteProperty(offset) ? 1 : 0)
                .u32(PROPERTY_OFST_OFFSET, offset)
                .u64(PROPERTY_VALUE_OFFSET, value);
    }

    public static Sqe disconnect() {
        return new Sqe().opcode(NvmeOpcodes.FABRICS).fabricsType(NvmeOpcodes.FCTYPE_DISCONNECT).sglTransport(0)
                .u16(DISCONNECT_RECFMT_OFFSET, 0);
    }

    /** Authentication Send with {@code length} bytes of in-capsule or transport data. */
    public static Sqe authenticationSend(int spsp0, int spsp1, int length) {
        return new Sqe().opcode(NvmeOpcodes.FABRICS).fabricsType(NvmeOpcodes.FCTYPE_AUTH_SEND).sglInCapsule(length)
                .u8(AUTH_SPSP0_OFFSET, spsp0).u8(AUTH_SPSP1_OFFSET, spsp1).u8(AUTH_SECP_OFFSET, AUTH_SECP_NVME)
                .u32(AUTH_LENGTH_OFFSET, length);
    }

    /** Authentication Receive of up to {@code allocationLength} bytes. */
    public static Sqe authenticationReceive(int spsp0, int spsp1, int allocationLength) {
        return new Sqe().opcode(NvmeOpcodes.FABRICS).fabricsType(NvmeOpcodes.FCTYPE_AUTH_RECEIVE).sglTransport(allocationLength)
                .u8(AUTH_SPSP0_OFFSET, spsp0).u8(AUTH_SPSP1_OFFSET, spsp1).u8(AUTH_SECP_OFFSET, AUTH_SECP_NVME)
                .u32(AUTH_LENGTH_OFFSET, allocationLength);
    }
}
