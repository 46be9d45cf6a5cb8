package io.thermocline.nvmeof.target;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.thermocline.nvmeof.pdu.IdentifyLayout;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;

/**
 * The data structures admin commands return: Identify (controller, namespace, active namespace
 * list, namespace identification descriptors, I/O command set specific controller) and log
 * pages. Each method returns a new buffer the caller owns and must release (or hand to the
 * encoder, which takes it).
 */
final class AdminData {
    private AdminData() {
    }

    /** Model and firmware strings of the discovery controller. */
    static final String DISCOVERY_MODEL = "Thermocline discovery";
    static final String DISCOVERY_SERIAL = "thermocline-disc";
    static final String FIRMWARE = "0.1";

    private static final int LOG_ERROR_ENTRY_LENGTH = 64;
    private static final int LOG_SMART_LENGTH = 512;
    private static final int LOG_FIRMWARE_SLOT_LENGTH = 512;
    private static final int LOG_CHANGED_NAMESPACES_LENGTH = 4096;

    /** Identify Controller (CNS 01h; NVMe Base 2.0 Figure 275, Fabrics fields NVMe-oF 1.1 Figure 28). */
    static ByteBuf identifyController(ByteBufAllocator alloc, Controller c, TargetConfig config) {
        ByteBuf b = zeroed(alloc, IdentifyLayout.IDENTIFY_LENGTH);
        boolean disc = c.discovery();
        ascii(b, IdentifyLayout.Controller.SN, IdentifyLayout.Controller.SN_LENGTH, disc ? DISCOVERY_SERIAL : c.subsystem.serial());
        ascii(b, IdentifyLayout.Controller.MN, IdentifyLayout.Controller.MN_LENGTH, disc ? DISCOVERY_MODEL : c.subsystem.model());
        ascii(b, IdentifyLayout.Controller.FR, IdentifyLayout.Controller.FR_LENGTH, disc ? FIRMWARE : c.subsystem.firmware());
        b.setByte(IdentifyLayout.Controller.RAB, 6);
        // CMIC bit 1: the subsystem may have more than one controller (one per association), so
        // a host may connect twice without being told the subsystem is single-controller.
        boolean ana = !disc && c.subsystem.reportsAna();
        b.setByte(IdentifyLayout.Controller.CMIC, disc ? 0 : 0x02 | (ana ? IdentifyLayout.Controller.CMIC_ANA_REPORTING : 0));
        if (ana) {
            // ANA (NVMe Base 2.0 §8.1): change notices (OAES bit 11), every state reported
            // (ANACAP bits 4:0) and ANAGRPID fixed while attached (bit 6); one group per ID up to the largest.
            b.setIntLE(IdentifyLayout.Controller.OAES, IdentifyLayout.Controller.OAES_ANA_CHANGE);
            b.setByte(IdentifyLayout.Controller.ANATT, c.anaTransitionSeconds());
            b.setByte(IdentifyLayout.Controller.ANACAP, 0x1F | 0x40);
            b.setIntLE(IdentifyLayout.Controller.ANAGRPMAX, c.subsystem.maxAnaGroupId());
            b.setIntLE(IdentifyLayout.Controller.NANAGRPID, c.subsystem.maxAnaGroupId());
            // MNAN: hosts size the ANA log page by it (the Linux host refuses a controller reporting ANA with MNAN 0 or above NN)
            b.setIntLE(IdentifyLayout.Controller.MNAN, c.subsystem.namespaces().size());
        }
        b.setByte(IdentifyLayout.Controller.MDTS, config.mdts());
        b.setShortLE(IdentifyLayout.Controller.CNTLID, c.cntlid);
        b.setIntLE(IdentifyLayout.Controller.VER, Controller.VERSION);
        b.setByte(IdentifyLayout.Controller.CNTRLTYPE, disc ? IdentifyLayout.Controller.CNTRLTYPE_DISCOVERY
                : IdentifyLayout.Controller.CNTRLTYPE_IO);
        if (disc) {
            // OAES bit 31: Discovery Log Page Change notices (NVMe Base 2.0 Figure 275), which a
            // host enables with Asynchronous Event Configuration bit 31 on a persistent connection.
            b.setIntLE(IdentifyLayout.Controller.OAES, Controller.OAES_DISCOVERY_LOG_CHANGE);
        }
        b.setByte(IdentifyLayout.Controller.ACL, TargetConfig.ACL);
        b.setByte(IdentifyLayout.Controller.AERL, TargetConfig.AERL);
        // FRMW: bit 0 slot 1 read-only, bits 3:1 one slot.
        b.setByte(IdentifyLayout.Controller.FRMW, disc ? 0 : 0x03);
        // LPA bit 2: extended data for Get Log Page (NUMDU, LPOL/LPOU), which discovery needs.
        b.setByte(IdentifyLayout.Controller.LPA, 0x04);
        b.setByte(IdentifyLayout.Controller.ELPE, 0);
        b.setShortLE(IdentifyLayout.Controller.KAS, TargetConfig.KAS);
        b.setByte(IdentifyLayout.Controller.SQES, 0x66);
        b.setByte(IdentifyLayout.Controller.CQES, 0x44);
        b.setShortLE(IdentifyLayout.Controller.MAXCMD, config.maxQueueSize());  // as CAP.MQES + 1, for discovery too
        b.setIntLE(IdentifyLayout.Controller.NN, disc ? 0 : c.subsystem.namespaces().size());
        if (!disc) {
            b.setShortLE(IdentifyLayout.Controller.ONCS, IdentifyLayout.Controller.ONCS_DSM | IdentifyLayout.Controller.ONCS_WRITE_ZEROES);
            b.setByte(IdentifyLayout.Controller.VWC, 0x01);
        }
        // SGLS bits 1:0 = 01b: SGLs without alignment constraints; bit 20: the address of an SGL
        // Data Block descriptor may be an offset (into in-capsule data).
        b.setIntLE(IdentifyLayout.Controller.SGLS, 0x1 | (1 << 20));
        ascii0(b, IdentifyLayout.Controller.SUBNQN, 256, c.subsystemNqn());
        if (!disc) {
            // IOCCSZ/IORCSZ in 16-byte units: SQE plus in-capsule data, and the 16-byte CQE.
            b.setIntLE(IdentifyLayout.Controller.IOCCSZ, (64 + config.ioInCapsuleDataSize()) / 16);
            b.setIntLE(IdentifyLayout.Controller.IORCSZ, 1);
        }
        b.setShortLE(IdentifyLayout.Controller.ICDOFF, 0);
        b.setByte(IdentifyLayout.Controller.FCATT, 0);  // dynamic controller model
        b.setByte(IdentifyLayout.Controller.MSDBD, 1);
        return b;
    }

    /** Identify Namespace for the NVM command set (CNS 00h; NVM Command Set 1.0 Figure 97). */
    static ByteBuf identifyNamespace(ByteBufAllocator alloc, Subsystem s, int nsid) {
        Namespace ns = s.namespace(nsid);
        ByteBuf b = zeroed(alloc, IdentifyLayout.IDENTIFY_LENGTH);
        long blocks = ns.blocks();
        b.setLongLE(IdentifyLayout.Namespace.NSZE, blocks);
        b.setLongLE(IdentifyLayout.Namespace.NCAP, blocks);
        b.setLongLE(IdentifyLayout.Namespace.NUSE, blocks);
        b.setByte(IdentifyLayout.Namespace.NLBAF, 0);
        b.setByte(IdentifyLayout.Namespace.FLBAS, 0);
        // NMIC bit 0: the namespace may be reached through more than one controller.
        b.setByte(IdentifyLayout.Namespace.NMIC, 0x01);
        // DLFEAT bits 2:0 = 001b deallocated blocks read as zeros; bit 3: Write Zeroes honours DEAC.
        b.setByte(IdentifyLayout.Namespace.DLFEAT, ns.deallocatedReadsZeroes() ? 0x09 : 0x00);
        b.setBytes(IdentifyLayout.Namespace.NGUID, s.nguid(nsid));
        b.setBytes(IdentifyLayout.Namespace.EUI64, s.eui64(nsid));
        b.setByte(IdentifyLayout.Namespace.LBAF0_LBADS, Integer.numberOfTrailingZeros(ns.blockSize()));
        b.setIntLE(IdentifyLayout.Namespace.ANAGRPID, s.anaGroupId(nsid));
        return b;
    }

    /**
     * I/O Command Set Independent Identify Namespace (CNS 08h; NVMe Base 2.0 §5.17.2):
     * NMIC byte 1 (bit 0 shared), NSTAT byte 13 (bit 0 ready). Newer Linux hosts ask for it
     * before CNS 00h, and ignore a namespace it reports not ready.
     */
    static ByteBuf identifyNamespaceIndependent(ByteBufAllocator alloc) {
        ByteBuf b = zeroed(alloc, IdentifyLayout.IDENTIFY_LENGTH);
        b.setByte(1, 0x01);
        b.setByte(13, 0x01);
        return b;
    }

    /** Active Namespace ID list (CNS 02h; NVMe Base 2.0 §5.17.2.2): NSIDs above {@code after}, ascending. */
    static ByteBuf activeNamespaces(ByteBufAllocator alloc, int count, int after) {
        return activeNamespaces(alloc, count, after, nsid -> true);
    }

    /**
     * Active Namespace ID list of the namespaces 1..count that are {@code attached} to the
     * controller: the others are inactive NSIDs for it and are not listed.
     */
    static ByteBuf activeNamespaces(ByteBufAllocator alloc, int count, int after, java.util.function.IntPredicate attached) {
        ByteBuf b = zeroed(alloc, IdentifyLayout.IDENTIFY_LENGTH);
        int at = 0;
        for (long nsid = Integer.toUnsignedLong(after) + 1; nsid <= count && at < IdentifyLayout.IDENTIFY_LENGTH; nsid++) {
            if (attached.test((int) nsid)) {
                b.setIntLE(at, (int) nsid);
                at += 4;
            }
        }
        return b;
    }

    /**
     * Namespace Identification Descriptor list (CNS 03h; NVMe Base 2.0 §5.17.2.3, Figure 278):
     * EUI-64, NGUID, UUID and the command set identifier (NVM, 0).
     */
    static ByteBuf namespaceDescriptors(ByteBufAllocator alloc, Subsystem s, int nsid) {
        ByteBuf b = zeroed(alloc, IdentifyLayout.IDENTIFY_LENGTH);
        b.writerIndex(0);
        descriptor(b, IdentifyLayout.NamespaceDescriptor.NIDT_EUI64, s.eui64(nsid));
        descriptor(b, IdentifyLayout.NamespaceDescriptor.NIDT_NGUID, s.nguid(nsid));
        UUID uuid = s.uuid(nsid);
        byte[] u = new byte[16];
        for (int i = 0; i < 8; i++) {
            u[i] = (byte) (uuid.getMostSignificantBits() >>> (56 - 8 * i));
            u[8 + i] = (byte) (uuid.getLeastSignificantBits() >>> (56 - 8 * i));
        }
        descriptor(b, IdentifyLayout.NamespaceDescriptor.NIDT_UUID, u);
        descriptor(b, IdentifyLayout.NamespaceDescriptor.NIDT_CSI, new byte[] {0});
        b.writerIndex(IdentifyLayout.IDENTIFY_LENGTH);
        return b;
    }

    private static void descriptor(ByteBuf b, int type, byte[] id) {
        b.writeByte(type).writeByte(id.length).writeShort(0).writeBytes(id);
    }

    /**
     * I/O Command Set specific Identify Controller for the NVM command set (CNS 06h, CSI 0; NVM
     * Command Set 1.0 §4.1.5.2): VSL, WZSL, WUSL, DMRL, DMRSL, DMSL all 0, "no limit reported".
     */
    static ByteBuf identifyNvmController(ByteBufAllocator alloc) {
        return zeroed(alloc, IdentifyLayout.IDENTIFY_LENGTH);
    }

    /**
     * A log page an I/O controller serves (NVMe Base 2.0 §5.16.1, Figure 202), or {@code null}
     * when the identifier is not supported. Error Information holds one empty entry (ELPE 0);
     * SMART / Health and Changed Namespace List are zero-filled (nothing to report); Firmware Slot
     * reports slot 1 active with the firmware revision.
     */
    static ByteBuf logPage(ByteBufAllocator alloc, int lid, Subsystem s) {
        return switch (lid) {
            case NvmeOpcodes.LOG_ERROR -> zeroed(alloc, LOG_ERROR_ENTRY_LENGTH);  // ELPE + 1 = 1 entry
            case NvmeOpcodes.LOG_SMART -> zeroed(alloc, LOG_SMART_LENGTH);
            case NvmeOpcodes.LOG_FIRMWARE_SLOT -> {
                // Firmware Slot Information: AFI bits 2:0 = active slot 1; FRS1 at byte 8.
                ByteBuf b = zeroed(alloc, LOG_FIRMWARE_SLOT_LENGTH);
                b.setByte(0, 0x01);
                ascii(b, 8, 8, s.firmware());
                yield b;
            }
            case NvmeOpcodes.LOG_CHANGED_NAMESPACES -> zeroed(alloc, LOG_CHANGED_NAMESPACES_LENGTH);
            default -> null;
        };
    }

    /**
     * The ANA log page (NVMe Base 2.0 §5.16.1.12, Figures 222–223): one descriptor per ANA group
     * of the subsystem, ascending, each with its state on this target and, unless {@code groupsOnly}
     * (LSP RGO), the NSIDs in the group that are {@code attached} to the controller (a namespace
     * granted to other hosts is inactive here and not listed). The change counts are the target's.
     */
    static ByteBuf anaLog(ByteBufAllocator alloc, Subsystem s, java.util.function.IntFunction<io.thermocline.nvmeof.pdu.AnaState> state,
                          long changeCount, boolean groupsOnly, java.util.function.IntPredicate attached) {
        java.util.SortedSet<Integer> groups = s.anaGroupIds();
        int length = IdentifyLayout.AnaLog.HEADER_LENGTH + groups.size() * IdentifyLayout.AnaLog.DESCRIPTOR_LENGTH
                + (groupsOnly ? 0 : 4 * s.namespaces().size());
        ByteBuf b = zeroed(alloc, length);
        b.setLongLE(IdentifyLayout.AnaLog.CHANGE_COUNT, changeCount);
        b.setShortLE(IdentifyLayout.AnaLog.DESCRIPTOR_COUNT, groups.size());
        int at = IdentifyLayout.AnaLog.HEADER_LENGTH;
        for (int g : groups) {
            int d = at;
            at += IdentifyLayout.AnaLog.DESCRIPTOR_LENGTH;
            int count = 0;
            for (int nsid = 1; nsid <= s.namespaces().size(); nsid++) {
                if (s.anaGroupId(nsid) == g && attached.test(nsid)) {
                    if (!groupsOnly) {
                        b.setIntLE(at, nsid);
                        at += 4;
                    }
                    count++;
                }
            }
            b.setIntLE(d + IdentifyLayout.AnaLog.GROUP_ID, g);
            b.setIntLE(d + IdentifyLayout.AnaLog.NSID_COUNT, groupsOnly ? 0 : count);
            b.setLongLE(d + IdentifyLayout.AnaLog.GROUP_CHANGE_COUNT, changeCount);
            b.setByte(d + IdentifyLayout.AnaLog.STATE, state.apply(g).code());
        }
        return b;
    }

    /**
     * The Discovery log page (NVMe Base 2.0 §5.16.1.23, Figures 262–263): a 1024-byte header
     * (GENCTR, NUMREC, RECFMT 0) and one 1024-byte entry per subsystem, each naming this port as
     * {@code local} — the target's address as seen on the connection that asks — then one entry
     * of subtype 1h per referral, naming the other discovery controller.
     */
    static ByteBuf discoveryLog(ByteBufAllocator alloc, long generation, List<Subsystem> subsystems,
                                List<DiscoveryReferral> referrals, InetSocketAddress local, int portId) {
        int n = subsystems.size();
        int total = n + referrals.size();
        ByteBuf b = zeroed(alloc, IdentifyLayout.DiscoveryLog.HEADER_LENGTH + total * IdentifyLayout.DiscoveryLog.ENTRY_LENGTH);
        b.setLongLE(IdentifyLayout.DiscoveryLog.GENCTR, generation);
        b.setLongLE(IdentifyLayout.DiscoveryLog.NUMREC, total);
        b.setShortLE(IdentifyLayout.DiscoveryLog.RECFMT, 0);
        String traddr = local.getAddress().getHostAddress();
        int percent = traddr.indexOf('%');
        if (percent >= 0) {
            traddr = traddr.substring(0, percent);  // an IPv6 scope is not part of TRADDR
        }
        boolean v6 = local.getAddress() instanceof Inet6Address;
        for (int i = 0; i < n; i++) {
            int e = IdentifyLayout.DiscoveryLog.HEADER_LENGTH + i * IdentifyLayout.DiscoveryLog.ENTRY_LENGTH;
            b.setByte(e + IdentifyLayout.DiscoveryLog.TRTYPE, IdentifyLayout.DiscoveryLog.TRTYPE_TCP);
            b.setByte(e + IdentifyLayout.DiscoveryLog.ADRFAM, v6 ? IdentifyLayout.DiscoveryLog.ADRFAM_IPV6
                    : IdentifyLayout.DiscoveryLog.ADRFAM_IPV4);
            b.setByte(e + IdentifyLayout.DiscoveryLog.SUBTYPE, IdentifyLayout.DiscoveryLog.SUBTYPE_NVME);
            b.setByte(e + IdentifyLayout.DiscoveryLog.TREQ, 0);  // secure channel not specified
            b.setShortLE(e + IdentifyLayout.DiscoveryLog.PORTID, portId);
            b.setShortLE(e + IdentifyLayout.DiscoveryLog.CNTLID, 0xFFFF);  // dynamic controller model
            b.setShortLE(e + IdentifyLayout.DiscoveryLog.ASQSZ, TargetConfig.ADMIN_QUEUE_SIZE);
            ascii(b, e + IdentifyLayout.DiscoveryLog.TRSVCID, IdentifyLayout.DiscoveryLog.TRSVCID_LENGTH,
                    Integer.toString(local.getPort()));
            ascii0(b, e + IdentifyLayout.DiscoveryLog.SUBNQN, 256, subsystems.get(i).nqn());
            ascii(b, e + IdentifyLayout.DiscoveryLog.TRADDR, IdentifyLayout.DiscoveryLog.TRADDR_LENGTH, traddr);
            // TSAS byte 0, SECTYPE: 0, no security (already zero).
        }
        for (int i = 0; i < referrals.size(); i++) {
            DiscoveryReferral r = referrals.get(i);
            int e = IdentifyLayout.DiscoveryLog.HEADER_LENGTH + (n + i) * IdentifyLayout.DiscoveryLog.ENTRY_LENGTH;
            b.setByte(e + IdentifyLayout.DiscoveryLog.TRTYPE, IdentifyLayout.DiscoveryLog.TRTYPE_TCP);
            b.setByte(e + IdentifyLayout.DiscoveryLog.ADRFAM, r.ipv6() ? IdentifyLayout.DiscoveryLog.ADRFAM_IPV6
                    : IdentifyLayout.DiscoveryLog.ADRFAM_IPV4);
            b.setByte(e + IdentifyLayout.DiscoveryLog.SUBTYPE, IdentifyLayout.DiscoveryLog.SUBTYPE_REFERRAL);
            b.setByte(e + IdentifyLayout.DiscoveryLog.TREQ, 0);
            b.setShortLE(e + IdentifyLayout.DiscoveryLog.PORTID, r.portId());
            b.setShortLE(e + IdentifyLayout.DiscoveryLog.CNTLID, 0xFFFF);
            b.setShortLE(e + IdentifyLayout.DiscoveryLog.ASQSZ, TargetConfig.ADMIN_QUEUE_SIZE);
            ascii(b, e + IdentifyLayout.DiscoveryLog.TRSVCID, IdentifyLayout.DiscoveryLog.TRSVCID_LENGTH,
                    Integer.toString(r.trsvcid()));
            ascii0(b, e + IdentifyLayout.DiscoveryLog.SUBNQN, 256, NvmeOpcodes.DISCOVERY_NQN);
            ascii(b, e + IdentifyLayout.DiscoveryLog.TRADDR, IdentifyLayout.DiscoveryLog.TRADDR_LENGTH, r.traddr());
        }
        return b;
    }

    private static ByteBuf zeroed(ByteBufAllocator alloc, int length) {
        ByteBuf b = alloc.buffer(length, length);
        b.writeZero(length);
        return b;
    }

    /** An ASCII field padded with spaces (NVMe Base 2.0 §1.5, "ASCII string"). */
    private static void ascii(ByteBuf b, int at, int length, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.US_ASCII);
        int n = Math.min(bytes.length, length);
        b.setBytes(at, bytes, 0, n);
        for (int i = n; i < length; i++) {
            b.setByte(at + i, ' ');
        }
    }

    /** A UTF-8 field padded with NULs (NQN fields). */
    private static void ascii0(ByteBuf b, int at, int length, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        b.setBytes(at, bytes, 0, Math.min(bytes.length, length - 1));
    }
}
