package io.thermocline.nvmeof.host;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.thermocline.nvmeof.pdu.IdentifyLayout.Namespace;

/**
 * What Identify Namespace said (NVM Command Set 1.0 §4.1.5.1, Figure 97), the fields the host
 * uses.
 *
 * @param nguid the namespace globally unique identifier, hex; all zeros when the controller has none
 * @param anaGroupId ANAGRPID, the ANA group the namespace belongs to; 0 when the controller does not report ANA
 */
public record NamespaceInfo(int nsid, long sizeInBlocks, long capacityInBlocks, int blockSizeInBytes, String nguid,
                            boolean deallocatedReadsZero, int anaGroupId) {

    static NamespaceInfo parse(int nsid, ByteBuf b) {
        int format = b.getUnsignedByte(Namespace.FLBAS) & 0xF;
        int lbads = b.getUnsignedByte(Namespace.LBAF0_LBADS + format * 4);
        if (lbads < 9 || lbads > 16) {
            throw new NvmeException("namespace " + nsid + " reports LBADS " + lbads + " (expected 9..16: 512 B to 64 KiB blocks)",
                    NvmeException.Scope.COMMAND, false, null);
        }
        return new NamespaceInfo(nsid, b.getLongLE(Namespace.NSZE), b.getLongLE(Namespace.NCAP), 1 << lbads,
                ByteBufUtil.hexDump(b, Namespace.NGUID, 16), (b.getUnsignedByte(Namespace.DLFEAT) & 0x7) == 1,
                b.getIntLE(Namespace.ANAGRPID));
    }

    public long sizeInBytes() {
        return sizeInBlocks * blockSizeInBytes;
    }
}
