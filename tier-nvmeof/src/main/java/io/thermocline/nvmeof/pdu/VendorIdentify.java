package io.thermocline.nvmeof.pdu;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;

/**
 * Thermocline's vendor specific handshake for per-command target service time, between a
 * Thermocline host and a Thermocline target. Nothing here is sent to a peer that did not ask.
 *
 * <p><b>1. The target advertises</b> in the Vendor Specific area of Identify Controller, bytes
 * 4095:3072 (NVMe Base 2.0 Figure 275, "Vendor Specific"), which the specification leaves to the
 * vendor and hosts that do not know the vendor ignore:
 *
 * <pre>
 *   byte 3072        3080      3081          3082          3083
 *  +-----------------+---------+-------------+-------------+------------+
 *  | "THERMOCL"      | version | capabilities| opt-in FID  | time unit  |
 *  | (8 ASCII bytes) | 01h     | bit 0: ST   | C0h         | 00h: ns    |
 *  +-----------------+---------+-------------+-------------+------------+
 * </pre>
 *
 * <p><b>2. The host opts in</b> per controller with Set Features, Feature Identifier
 * C0h — in the range C0h..FFh that NVMe Base 2.0 Figure 317
 * reserves as Vendor Specific — with CDW11 bit 0 set (cleared turns it off again). A host that
 * does not know the vendor never sends it; the Linux kernel's host does not.
 *
 * <p><b>3. Only then</b> the target's completions of Read and Write on that controller's I/O
 * queues carry the service time — nanoseconds from the command capsule's arrival to its data or
 * completion being handed to the connection, at least 1, saturating at FFFFFFFFh (~4.3 s) — in
 * CQE Dword 1. Why DW1 is safe: in NVMe Base 2.0 Figure 90 DW1 is "command specific" (reserved
 * before 2.0), and the NVM Command Set 1.0 defines no command specific completion dwords for Read
 * (§3.3.4) or Write (§3.3.6): no standard meaning can clash. (The one I/O command that returns
 * DW0–DW1, Zone Append, has its own opcode.) DW0 stays 0. A completion for any other host or
 * command is standard, with DW1 0; a completion carried as SUCCESS in the last C2HData (no CQE)
 * is never used for an opted-in controller, since the target sends a CQE when DW1 is not 0.
 */
public final class VendorIdentify {
    private VendorIdentify() {
    }

    /** Start of Identify Controller's Vendor Specific area (NVMe Base 2.0 Figure 275: bytes 4095:3072). */
    public static final int VS_OFFSET = 3072;
    public static final int SIGNATURE_OFFSET = VS_OFFSET;
    public static final int SIGNATURE_LENGTH = 8;
    public static final int VERSION_OFFSET = SIGNATURE_OFFSET + SIGNATURE_LENGTH;
    public static final int CAPABILITIES_OFFSET = VERSION_OFFSET + 1;
    public static final int OPT_IN_FEATURE_OFFSET = CAPABILITIES_OFFSET + 1;
    public static final int TIME_UNIT_OFFSET = OPT_IN_FEATURE_OFFSET + 1;

    private static final byte[] SIGNATURE = "THERMOCL".getBytes(StandardCharsets.US_ASCII);
    public static final int VERSION = 1;
    /** Capabilities bit 0: service time in CQE DW1 of Read and Write after the opt-in. */
    public static final int CAPABILITY_SERVICE_TIME = 1;
    /** Set/Get Features FID of the opt-in: vendor specific (C0h..FFh). */
    public static final int FEATURE_SERVICE_TIME = 0xC0;
    /** CDW11 bit 0 of the opt-in: report service times. */
    public static final int SERVICE_TIME_ENABLE = 1;
    /** Time unit code 0: nanoseconds. */
    public static final int TIME_UNIT_NANOSECONDS = 0;

    /** Writes the advertisement into an Identify Controller structure (4096 bytes from index 0). */
    public static void advertise(ByteBuf identifyController) {
        identifyController.setBytes(SIGNATURE_OFFSET, SIGNATURE);
        identifyController.setByte(VERSION_OFFSET, VERSION);
        identifyController.setByte(CAPABILITIES_OFFSET, CAPABILITY_SERVICE_TIME);
        identifyController.setByte(OPT_IN_FEATURE_OFFSET, FEATURE_SERVICE_TIME);
        identifyController.setByte(TIME_UNIT_OFFSET, TIME_UNIT_NANOSECONDS);
    }

    /**
     * Whether an Identify Controller structure (4096 bytes from index 0) advertises service time
     * reporting in a form this host understands: the signature, version 1, the capability bit,
     * the opt-in feature C0h and nanoseconds.
     */
    public static boolean offersServiceTime(ByteBuf identifyController) {
        if (identifyController.capacity() < TIME_UNIT_OFFSET + 1) {
            return false;
        }
        for (int i = 0; i < SIGNATURE_LENGTH; i++) {
            if (identifyController.getByte(SIGNATURE_OFFSET + i) != SIGNATURE[i]) {
                return false;
            }
        }
        return identifyController.getUnsignedByte(VERSION_OFFSET) == VERSION
                && (identifyController.getUnsignedByte(CAPABILITIES_OFFSET) & CAPABILITY_SERVICE_TIME) != 0
                && identifyController.getUnsignedByte(OPT_IN_FEATURE_OFFSET) == FEATURE_SERVICE_TIME
                && identifyController.getUnsignedByte(TIME_UNIT_OFFSET) == TIME_UNIT_NANOSECONDS;
    }

    /** The service time a CQE carries (DW1), in nanoseconds; 0 when it carries none. */
    public static long serviceTimeNanos(Cqe cqe) {
        return cqe.result() >>> 32;
    }
}
