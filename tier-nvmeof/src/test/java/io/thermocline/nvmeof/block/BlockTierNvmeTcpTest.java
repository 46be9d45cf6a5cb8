package io.thermocline.nvmeof.block;

import io.thermocline.nvmeof.host.LoopbackFabric;
import io.thermocline.tier.BlockDevice;

/**
 * BlockTier over a namespace reached through the user-space NVMe/TCP host, served by the Java
 * target from a file on 127.0.0.1, against the tier contract. Each device owns its fabric: the
 * base closes devices after tiers, and closing the device disconnects and stops the target.
 */
class BlockTierNvmeTcpTest extends BlockTierContractBase {
    private int namespaces;

    @Override
    protected int blockSizeInBytes() {
        return 4096;
    }

    @Override
    protected BlockDevice newDevice(long sizeInBytes) {
        int n = namespaces++;
        return LoopbackFabric.start(dir.resolve("namespace-" + n), sizeInBytes, blockSizeInBytes(),
                "nqn.2026-11.io.thermocline:blocktier-" + n).openOwningNamespace();
    }
}
