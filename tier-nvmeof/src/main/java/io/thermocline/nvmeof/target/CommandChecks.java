package io.thermocline.nvmeof.target;

import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.NvmeStatus;
import io.thermocline.nvmeof.pdu.Sqe;

/**
 * The checks every command passes before the target acts on it: the common fields of the
 * submission queue entry (FUSE, PSDT), the SGL descriptor's type against the direction of the
 * command's data, and the SGL descriptor's length against the length the command itself
 * implies. Each check returns null when the command passes, or the {@link Refusal} to complete
 * it with (always with DNR: the same command would fail again). The table of checks, with
 * their sources, is docs/nvmet-checks.md.
 *
 * <p>The statuses are those the Linux target (drivers/nvme/target) answers, so that a host sees
 * the same completion from either target.
 */
final class CommandChecks {
    /** CDW0 bits 9:8 (byte 1 bits 1:0), FUSE (NVMe Base 2.0 Figure 87). */
    static final int FUSE_MASK = 0x03;
    /** CDW0 bits 15:14 (byte 1 bits 7:6), PSDT (NVMe Base 2.0 Figure 87). */
    static final int PSDT_MASK = 0xC0;
    /** Identify data structures are 4096 bytes (NVMe Base 2.0 §5.17). */
    static final int IDENTIFY_LENGTH = 4096;
    /** Host Identifier feature data, 16 bytes (NVMe Base 2.0 §5.27.1.26). */
    static final int HOST_IDENTIFIER_LENGTH = 16;

    /** Why a command is refused: the status (sent with DNR) and a message naming field, value and expectation. */
    record Refusal(NvmeStatus status, String why) {
    }

    private CommandChecks() {
    }

    /**
     * FUSE must be 00b (no fused operations) and PSDT 01b (SGLs for the data, a single
     * contiguous buffer for metadata: NVMe over Fabrics 1.1 §2.2 requires SGLs). Applies to every
     * command, the Fabrics commands included (NVMe Base 2.0 §4.1: Fabrics commands share CDW0).
     */
    static Refusal fuseAndPsdt(Sqe sqe) {
        int flags = sqe.flags();
        if ((flags & FUSE_MASK) != 0) {
            return new Refusal(NvmeStatus.INVALID_FIELD, "FUSE " + (flags & FUSE_MASK) + " in " + name(sqe)
                    + " (expected 0: fused operations are not supported)");
        }
        if ((flags & PSDT_MASK) != Sqe.FLAGS_SGL) {
            return new Refusal(NvmeStatus.INVALID_FIELD, "PSDT " + ((flags & PSDT_MASK) >>> 6) + " in " + name(sqe)
                    + " (expected 1: SGLs, which NVMe over Fabrics requires)");
        }
        return null;
    }

    /**
     * In-capsule data (SGL Data Block, offset sub-type, NVMe/TCP 1.0 §2.1) carries data to the
     * controller: a command whose data goes to the host (opcode bit 0 clear, NVMe Base 2.0 §3.1
     * data transfer direction) may not describe its buffer that way. An SGL of length 0 moves no
     * data and is not looked at.
     */
    static Refusal inCapsuleDirection(Sqe sqe) {
        if (sqe.sglLength() != 0 && sqe.sglIdentifier() == Sqe.SGL_DATA_BLOCK_OFFSET && (sqe.opcode() & 1) == 0) {
            return new Refusal(NvmeStatus.INVALID_FIELD, "in-capsule SGL (identifier 01h) of " + sglLength(sqe)
                    + " bytes on " + name(sqe) + ", whose data goes to the host (expected 5Ah transport)");
        }
        return null;
    }

    /**
     * The SGL must describe exactly the command's transfer: {@code expected} bytes
     * (SGL Data Block Length Invalid otherwise, NVMe Base 2.0 Figure 100).
     */
    static Refusal transferLength(Sqe sqe, long expected, String implied) {
        long length = sglLength(sqe);
        if (length != expected) {
            return new Refusal(NvmeStatus.SGL_INVALID_DATA_LENGTH, "SGL length " + length + " on " + name(sqe)
                    + " (expected " + expected + ": " + implied + ")");
        }
        return null;
    }

    /** The SGL must describe at least {@code needed} bytes (the command reads no more than that). */
    static Refusal transferLengthAtLeast(Sqe sqe, long needed, String implied) {
        long length = sglLength(sqe);
        if (length < needed) {
            return new Refusal(NvmeStatus.SGL_INVALID_DATA_LENGTH, "SGL length " + length + " on " + name(sqe)
                    + " (expected at least " + needed + ": " + implied + ")");
        }
        return null;
    }

    /** A command without data: the SGL length must be 0. */
    static Refusal noData(Sqe sqe) {
        return transferLength(sqe, 0, "the command moves no data");
    }

    /** Get Log Page (NVMe Base 2.0 §5.16): NUMDL CDW10 31:16, NUMDU CDW11 15:0, 0's based dwords. */
    static long logPageLength(Sqe sqe) {
        long numd = ((long) (sqe.cdw(11) & 0xFFFF) << 16 | (sqe.cdw(10) >>> 16)) + 1;
        return numd * 4;
    }

    /** Get Features data: 16 bytes for the Host Identifier, none for every other feature (NVMe Base 2.0 §5.15). */
    static long getFeaturesLength(Sqe sqe) {
        return (sqe.cdw(10) & 0xFF) == NvmeOpcodes.FEATURE_HOST_IDENTIFIER ? HOST_IDENTIFIER_LENGTH : 0;
    }

    /**
     * {@code text} from a host (an NQN, say) fit for a log line or an error message: control
     * characters and anything outside printable ASCII as \\uXXXX, at most 256 characters, so that
     * a host cannot forge or flood the target's log.
     */
    static String printable(String text) {
        StringBuilder b = new StringBuilder(Math.min(text.length(), 256) + 8);
        for (int i = 0; i < text.length() && i < 256; i++) {
            char c = text.charAt(i);
            if (c >= 0x20 && c < 0x7F && c != '\\') {
                b.append(c);
            } else {
                b.append(String.format("\\u%04x", (int) c));
            }
        }
        if (text.length() > 256) {
            b.append("...");
        }
        return b.toString();
    }

    static long sglLength(Sqe sqe) {
        return Integer.toUnsignedLong(sqe.sglLength());
    }

    private static String name(Sqe sqe) {
        if (sqe.opcode() == NvmeOpcodes.FABRICS) {
            return "Fabrics command type 0x" + Integer.toHexString(sqe.fabricsType());
        }
        return "opcode 0x" + Integer.toHexString(sqe.opcode());
    }
}
