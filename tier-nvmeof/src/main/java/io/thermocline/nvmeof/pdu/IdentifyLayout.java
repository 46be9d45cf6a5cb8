package io.thermocline.nvmeof.pdu;

/**
 * Byte offsets of the data structures the host and target exchange through Identify and Get Log
 * Page. One place for both sides, each offset from the figure named beside it.
 */
public final class IdentifyLayout {
    private IdentifyLayout() {
    }

    public static final int IDENTIFY_LENGTH = 4096;

    /** Identify Controller data structure (NVMe Base 2.0 §5.17.2.1, Figure 275; Fabrics fields from NVMe-oF 1.1 §4.1, Figure 28). */
    public static final class Controller {
        private Controller() {
        }

        public static final int VID = 0;           // 2
        public static final int SSVID = 2;         // 2
        public static final int SN = 4;            // 20, ASCII, space padded
        public static final int SN_LENGTH = 20;
        public static final int MN = 24;           // 40
        public static final int MN_LENGTH = 40;
        public static final int FR = 64;           // 8
        public static final int FR_LENGTH = 8;
        public static final int RAB = 72;          // 1
        public static final int IEEE = 73;         // 3
        public static final int CMIC = 76;         // 1
        /** Maximum data transfer size: 2^MDTS minimum memory pages (CAP.MPSMIN); 0 = no limit. */
        public static final int MDTS = 77;         // 1
        public static final int CNTLID = 78;       // 2
        public static final int VER = 80;          // 4
        public static final int OAES = 92;         // 4
        public static final int CTRATT = 96;       // 4
        /** Controller type: 1 I/O, 2 discovery, 3 administrative. */
        public static final int CNTRLTYPE = 111;   // 1
        public static final int OACS = 256;        // 2
        public static final int ACL = 258;         // 1
        public static final int AERL = 259;        // 1
        public static final int FRMW = 260;        // 1
        /** Log page attributes; bit 2: extended data for Get Log Page (NUMDU, LPOL/LPOU). */
        public static final int LPA = 261;         // 1
        public static final int ELPE = 262;        // 1
        /** Keep alive support: granularity in 100 ms units; 0 = not supported. */
        public static final int KAS = 320;         // 2
        /** ANA transition time: the most seconds a namespace stays in the ANA Change state. */
        public static final int ANATT = 342;       // 1
        /** ANA capabilities: bits 4:0 which states are reported, bit 6 ANAGRPID fixed while attached. */
        public static final int ANACAP = 343;      // 1
        /** The largest ANA group ID the controller supports. */
        public static final int ANAGRPMAX = 344;   // 4
        /** How many ANA groups the controller reports (the ANA log page holds at most this many descriptors). */
        public static final int NANAGRPID = 348;   // 4
        public static final int SQES = 512;        // 1
        public static final int CQES = 513;        // 1
        public static final int MAXCMD = 514;      // 2
        public static final int NN = 516;          // 4
        /** Optional NVM command support; bit 2 Dataset Management, bit 3 Write Zeroes. */
        public static final int ONCS = 520;        // 2
        public static final int FUSES = 522;       // 2
        public static final int FNA = 524;         // 1
        /** Volatile write cache: bit 0 present (the host then sends Flush). */
        public static final int VWC = 525;         // 1
        public static final int AWUN = 526;        // 2
        public static final int AWUPF = 528;       // 2
        /** SGL support; bits 1:0 = 01b supported, bit 20 offset in SGL data block descriptors. */
        public static final int SGLS = 536;        // 4
        public static final int MNAN = 540;        // 4
        public static final int SUBNQN = 768;      // 256
        /** I/O queue command capsule supported size, in 16-byte units (SQE + in-capsule data). */
        public static final int IOCCSZ = 1792;     // 4
        /** I/O queue response capsule supported size, in 16-byte units. */
        public static final int IORCSZ = 1796;     // 4
        /** In-capsule data offset, in 16-byte units (NVMe/TCP requires 0). */
        public static final int ICDOFF = 1800;     // 2
        /** Fabrics controller attributes; bit 0 = static controller model. */
        public static final int FCATT = 1802;      // 1
        /** Maximum SGL data block descriptors per command. */
        public static final int MSDBD = 1803;      // 1

        /** CMIC bit 3: the controller reports Asymmetric Namespace Access (Figure 275). */
        public static final int CMIC_ANA_REPORTING = 1 << 3;
        /** OAES bit 11: the controller sends ANA Change notices (Figure 275). */
        public static final int OAES_ANA_CHANGE = 1 << 11;
        public static final int CNTRLTYPE_IO = 1;
        public static final int CNTRLTYPE_DISCOVERY = 2;
        public static final int ONCS_DSM = 1 << 2;
        public static final int ONCS_WRITE_ZEROES = 1 << 3;
    }

    /** Identify Namespace data structure for the NVM command set (NVM Command Set 1.0 §4.1.5.1, Figure 97). */
    public static final class Namespace {
        private Namespace() {
        }

        public static final int NSZE = 0;         // 8, in logical blocks
        public static final int NCAP = 8;         // 8
        public static final int NUSE = 16;        // 8
        /** Namespace features; bit 0 thin provisioning. */
        public static final int NSFEAT = 24;      // 1
        /** Number of LBA formats, 0's based. */
        public static final int NLBAF = 25;       // 1
        /** Formatted LBA size; bits 3:0 index of the LBA format in use. */
        public static final int FLBAS = 26;       // 1
        public static final int NMIC = 30;        // 1
        /** Deallocate logical block features; bits 2:0 = 001b: deallocated blocks read as zeros. */
        public static final int DLFEAT = 33;      // 1
        /** ANA group identifier of the namespace (NVMe Base 2.0 §8.1, "Asymmetric Namespace Access Reporting"). */
        public static final int ANAGRPID = 92;    // 4
        public static final int NGUID = 104;      // 16
        public static final int EUI64 = 120;      // 8
        /** LBA format 0: bits 15:0 metadata size, 23:16 LBADS (log2 of the block size). */
        public static final int LBAF0 = 128;      // 4
        public static final int LBAF0_LBADS = LBAF0 + 2;
    }

    /** Namespace Identification Descriptor (NVMe Base 2.0 §5.17.2.3, Figure 278): type, length, 2 reserved, then the identifier. */
    public static final class NamespaceDescriptor {
        private NamespaceDescriptor() {
        }

        public static final int NIDT_EUI64 = 1;
        public static final int NIDT_NGUID = 2;
        public static final int NIDT_UUID = 3;
        public static final int NIDT_CSI = 4;
        public static final int HEADER_LENGTH = 4;
    }

    /**
     * Asymmetric Namespace Access log page (log identifier 0Ch; NVMe Base 2.0 §5.16.1.12, Figures
     * 222–223): a 16-byte header, then one descriptor per ANA group, each 32 bytes followed by
     * its NSIDs (4 bytes each) unless the host asked for groups only (LSP bit 0, RGO).
     */
    public static final class AnaLog {
        private AnaLog() {
        }

        public static final int CHANGE_COUNT = 0;       // 8
        public static final int DESCRIPTOR_COUNT = 8;   // 2
        public static final int HEADER_LENGTH = 16;
        // in each group descriptor:
        public static final int GROUP_ID = 0;           // 4
        /** Number of NSID values that follow the descriptor. */
        public static final int NSID_COUNT = 4;         // 4
        public static final int GROUP_CHANGE_COUNT = 8; // 8
        /** ANA state, bits 3:0. */
        public static final int STATE = 16;             // 1
        public static final int DESCRIPTOR_LENGTH = 32;
        /** Get Log Page LSP (CDW10 bits 11:8) bit 0 for this log: return groups only, without NSIDs. */
        public static final int LSP_RGO = 1;
    }

    /**
     * Discovery Log Page (NVMe Base 2.0 §5.16.1.23, Figures 262–263): a 1024-byte header
     * (GENCTR 8, NUMREC 8, RECFMT 2), then 1024-byte entries.
     */
    public static final class DiscoveryLog {
        private DiscoveryLog() {
        }

        public static final int GENCTR = 0;       // 8
        public static final int NUMREC = 8;       // 8
        public static final int RECFMT = 16;      // 2
        public static final int HEADER_LENGTH = 1024;
        public static final int ENTRY_LENGTH = 1024;

        // entry fields, relative to the entry
        /** Transport type: 1 RDMA, 2 FC, 3 TCP, 0xFE loop. */
        public static final int TRTYPE = 0;       // 1
        /** Address family: 1 IPv4, 2 IPv6, 3 IB, 4 FC. */
        public static final int ADRFAM = 1;       // 1
        /** Subsystem type: 1 referral to a discovery service, 2 NVM subsystem, 3 current discovery subsystem. */
        public static final int SUBTYPE = 2;      // 1
        /** Transport requirements; bits 1:0 secure channel: 0 not specified, 1 required, 2 not required. */
        public static final int TREQ = 3;         // 1
        public static final int PORTID = 4;       // 2
        public static final int CNTLID = 6;       // 2
        public static final int ASQSZ = 8;        // 2
        public static final int EFLAGS = 10;      // 2
        public static final int TRSVCID = 32;     // 32, ASCII, space padded
        public static final int TRSVCID_LENGTH = 32;
        public static final int SUBNQN = 256;     // 256
        public static final int TRADDR = 512;     // 256, ASCII, space padded
        public static final int TRADDR_LENGTH = 256;
        /** Transport-specific address subtype; for TCP byte 0 is SECTYPE (0 none, 1 TLS 1.2, 2 TLS 1.3). */
        public static final int TSAS = 768;       // 256

        public static final int TRTYPE_TCP = 3;
        public static final int ADRFAM_IPV4 = 1;
        public static final int ADRFAM_IPV6 = 2;
        public static final int SUBTYPE_REFERRAL = 1;
        public static final int SUBTYPE_NVME = 2;
        public static final int SUBTYPE_CURRENT_DISCOVERY = 3;
    }
}
