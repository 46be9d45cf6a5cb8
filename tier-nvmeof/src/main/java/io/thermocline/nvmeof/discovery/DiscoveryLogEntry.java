package io.thermocline.nvmeof.discovery;

import io.netty.buffer.ByteBuf;
import io.thermocline.nvmeof.pdu.Fabrics;
import io.thermocline.nvmeof.pdu.IdentifyLayout.DiscoveryLog;

/**
 * One Discovery Log Page entry (NVMe Base 2.0 §5.16.1.23, Figure 263).
 *
 * @param trtype transport type (3 = TCP)
 * @param adrfam address family (1 = IPv4, 2 = IPv6)
 * @param subtype 1 referral, 2 NVM subsystem, 3 current discovery subsystem
 * @param treq transport requirements (bits 1:0 secure channel)
 * @param sectype for TCP, TSAS byte 0: 0 none, 1 TLS 1.2, 2 TLS 1.3
 */
public record DiscoveryLogEntry(int trtype, int adrfam, int subtype, int treq, int portId, int controllerId,
                                int adminMaxSqSize, int eflags, String trsvcid, String subnqn, String traddr,
                                int sectype) {

    static DiscoveryLogEntry parse(ByteBuf b, int base) {
        return new DiscoveryLogEntry(
                b.getUnsignedByte(base + DiscoveryLog.TRTYPE),
                b.getUnsignedByte(base + DiscoveryLog.ADRFAM),
                b.getUnsignedByte(base + DiscoveryLog.SUBTYPE),
                b.getUnsignedByte(base + DiscoveryLog.TREQ),
                b.getUnsignedShortLE(base + DiscoveryLog.PORTID),
                b.getUnsignedShortLE(base + DiscoveryLog.CNTLID),
                b.getUnsignedShortLE(base + DiscoveryLog.ASQSZ),
                b.getUnsignedShortLE(base + DiscoveryLog.EFLAGS),
                Fabrics.readString(b, base + DiscoveryLog.TRSVCID, DiscoveryLog.TRSVCID_LENGTH),
                Fabrics.readString(b, base + DiscoveryLog.SUBNQN, Fabrics.NQN_FIELD_LENGTH),
                Fabrics.readString(b, base + DiscoveryLog.TRADDR, DiscoveryLog.TRADDR_LENGTH),
                b.getUnsignedByte(base + DiscoveryLog.TSAS));
    }

    /** nvme-cli's name for the transport type. */
    public String trtypeName() {
        return switch (trtype) {
            case 1 -> "rdma";
            case 2 -> "fc";
            case 3 -> "tcp";
            case 0xFE -> "loop";
            default -> "unrecognized";
        };
    }

    public String adrfamName() {
        return switch (adrfam) {
            case 1 -> "ipv4";
            case 2 -> "ipv6";
            case 3 -> "infiniband";
            case 4 -> "fibre-channel";
            case 0xFE -> "intra-host";
            default -> "unrecognized";
        };
    }

    public String subtypeName() {
        return switch (subtype) {
            case DiscoveryLog.SUBTYPE_REFERRAL -> "discovery subsystem referral";
            case DiscoveryLog.SUBTYPE_NVME -> "nvme subsystem";
            case DiscoveryLog.SUBTYPE_CURRENT_DISCOVERY -> "current discovery subsystem";
            default -> "unrecognized";
        };
    }

    public String treqName() {
        return switch (treq & 0x3) {
            case 0 -> "not specified";
            case 1 -> "required";
            case 2 -> "not required";
            default -> "reserved";
        };
    }

    public String sectypeName() {
        return switch (sectype) {
            case 0 -> "none";
            case 1 -> "tls1.2";
            case 2 -> "tls1.3";
            default -> "unrecognized";
        };
    }
}
