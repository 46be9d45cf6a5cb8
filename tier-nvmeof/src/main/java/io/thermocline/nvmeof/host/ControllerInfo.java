package io.thermocline.nvmeof.host;

import io.netty.buffer.ByteBuf;
import io.thermocline.nvmeof.pdu.Fabrics;
import io.thermocline.nvmeof.pdu.IdentifyLayout.Controller;

/**
 * What Identify Controller said (NVMe Base 2.0 §5.17.2.1, Figure 275), the fields the host uses.
 *
 * @param maxTransferSizeInBytes from MDTS and CAP.MPSMIN; 0 means the controller sets no limit
 * @param ioccszInBytes I/O queue command capsule size: SQE plus the most in-capsule data
 * @param keepAliveGranularityMillis from KAS; 0 means Keep Alive is not supported
 * @param cmic controller multi-path I/O and namespace sharing capabilities (bit 3: ANA reporting)
 * @param oaes optional asynchronous events supported (bit 11: ANA Change notices)
 * @param anaTransitionSeconds ANATT
 * @param anaGroupCount NANAGRPID: the most group descriptors the ANA log page holds
 * @param anaCapabilities ANACAP: bits 4:0 the states reported, bit 6 ANAGRPID fixed while attached
 * @param anaGroupMax ANAGRPMAX: the largest ANA group ID
 */
public record ControllerInfo(int vendorId, String serialNumber, String modelNumber, String firmwareRevision,
                             int controllerId, int version, int controllerType, long maxTransferSizeInBytes,
                             int maxCommands, int namespaceCount, int optionalNvmCommands, boolean volatileWriteCache,
                             int sglSupport, String subsystemNqn, int ioccszInBytes, int keepAliveGranularityMillis,
                             int cmic, int oaes, int anaTransitionSeconds, int anaGroupCount, int anaCapabilities,
                             int anaGroupMax) {

    static ControllerInfo parse(ByteBuf b, int memoryPageSize) {
        int mdts = b.getUnsignedByte(Controller.MDTS);
        return new ControllerInfo(
                b.getUnsignedShortLE(Controller.VID),
                Fabrics.readString(b, Controller.SN, Controller.SN_LENGTH),
                Fabrics.readString(b, Controller.MN, Controller.MN_LENGTH),
                Fabrics.readString(b, Controller.FR, Controller.FR_LENGTH),
                b.getUnsignedShortLE(Controller.CNTLID),
                b.getIntLE(Controller.VER),
                b.getUnsignedByte(Controller.CNTRLTYPE),
                mdts == 0 ? 0 : (long) memoryPageSize << mdts,
                b.getUnsignedShortLE(Controller.MAXCMD),
                b.getIntLE(Controller.NN),
                b.getUnsignedShortLE(Controller.ONCS),
                (b.getUnsignedByte(Controller.VWC) & 1) != 0,
                b.getIntLE(Controller.SGLS),
                Fabrics.readString(b, Controller.SUBNQN, Fabrics.NQN_FIELD_LENGTH),
                b.getIntLE(Controller.IOCCSZ) * 16,
                b.getUnsignedShortLE(Controller.KAS) * 100,
                b.getUnsignedByte(Controller.CMIC),
                b.getIntLE(Controller.OAES),
                b.getUnsignedByte(Controller.ANATT),
                b.getIntLE(Controller.NANAGRPID),
                b.getUnsignedByte(Controller.ANACAP),
                b.getIntLE(Controller.ANAGRPMAX));
    }

    public boolean supportsDatasetManagement() {
        return (optionalNvmCommands & Controller.ONCS_DSM) != 0;
    }

    public boolean supportsWriteZeroes() {
        return (optionalNvmCommands & Controller.ONCS_WRITE_ZEROES) != 0;
    }

    /** Whether the controller reports ANA states (CMIC bit 3). */
    public boolean reportsAna() {
        return (cmic & Controller.CMIC_ANA_REPORTING) != 0;
    }

    /** Whether the controller sends ANA Change notices as asynchronous events (OAES bit 11). */
    public boolean sendsAnaChangeNotices() {
        return (oaes & Controller.OAES_ANA_CHANGE) != 0;
    }

    /** "major.minor.tertiary" from VER. */
    public String versionString() {
        return (version >>> 16) + "." + ((version >>> 8) & 0xFF) + "." + (version & 0xFF);
    }
}
