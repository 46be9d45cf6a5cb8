package io.thermocline.nvmeof.pdu;

/**
 * Opcodes and command fields used over the fabric: admin (NVMe Base Specification 2.0, §5,
 * Figure 138), NVM I/O (NVM Command Set Specification 1.0, §3, Figure 12), and Fabrics
 * (NVMe over Fabrics 1.1, §3.2, Figure 12 and Figure 13).
 */
public final class NvmeOpcodes {
    private NvmeOpcodes() {
    }

    // Admin commands
    public static final int ADMIN_GET_LOG_PAGE = 0x02;
    public static final int ADMIN_IDENTIFY = 0x06;
    public static final int ADMIN_ABORT = 0x08;
    public static final int ADMIN_SET_FEATURES = 0x09;
    public static final int ADMIN_GET_FEATURES = 0x0A;
    public static final int ADMIN_ASYNC_EVENT_REQUEST = 0x0C;
    public static final int ADMIN_KEEP_ALIVE = 0x18;

    // NVM command set I/O commands
    public static final int IO_FLUSH = 0x00;
    public static final int IO_WRITE = 0x01;
    public static final int IO_READ = 0x02;
    public static final int IO_WRITE_ZEROES = 0x08;
    public static final int IO_DATASET_MANAGEMENT = 0x09;

    /** The Fabrics command opcode; the command is chosen by FCTYPE (SQE byte 4). */
    public static final int FABRICS = 0x7F;
    public static final int FCTYPE_PROPERTY_SET = 0x00;
    public static final int FCTYPE_CONNECT = 0x01;
    public static final int FCTYPE_PROPERTY_GET = 0x04;
    public static final int FCTYPE_AUTH_SEND = 0x05;
    public static final int FCTYPE_AUTH_RECEIVE = 0x06;
    public static final int FCTYPE_DISCONNECT = 0x08;

    // Identify CNS values (CDW10 bits 7:0, NVMe Base 2.0 §5.17.1, Figure 274)
    public static final int CNS_NAMESPACE = 0x00;
    public static final int CNS_CONTROLLER = 0x01;
    public static final int CNS_ACTIVE_NAMESPACES = 0x02;
    public static final int CNS_NAMESPACE_DESCRIPTORS = 0x03;

    // Log page identifiers (NVMe Base 2.0 §5.16.1, Figure 202; NVMe-oF 1.1 §5.3)
    public static final int LOG_ERROR = 0x01;
    public static final int LOG_SMART = 0x02;
    public static final int LOG_FIRMWARE_SLOT = 0x03;
    public static final int LOG_CHANGED_NAMESPACES = 0x04;
    public static final int LOG_COMMANDS_EFFECTS = 0x05;
    public static final int LOG_ANA = 0x0C;
    public static final int LOG_DISCOVERY = 0x70;

    // Feature identifiers (NVMe Base 2.0 §5.27.1, Figure 317)
    public static final int FEATURE_NUMBER_OF_QUEUES = 0x07;
    public static final int FEATURE_ASYNC_EVENT_CONFIG = 0x0B;
    public static final int FEATURE_KEEP_ALIVE_TIMER = 0x0F;
    public static final int FEATURE_HOST_IDENTIFIER = 0x81;

    /** The well-known NQN of a discovery controller (NVMe Base 2.0 §4.5). */
    public static final String DISCOVERY_NQN = "nqn.2014-08.org.nvmexpress.discovery";

    /** Controller properties (NVMe Base 2.0 §3.1.3, Figure 35): offsets and sizes. */
    public static final int PROPERTY_CAP = 0x00;   // 8 bytes
    public static final int PROPERTY_VS = 0x08;    // 4 bytes
    public static final int PROPERTY_CC = 0x14;    // 4 bytes
    public static final int PROPERTY_CSTS = 0x1C;  // 4 bytes

    /** Which properties are 8 bytes wide. */
    public static boolean isEightByteProperty(int offset) {
        return offset == PROPERTY_CAP;
    }
}
