package io.thermocline.nvmeof.host;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.testkit.BlockDeviceContractTest;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

/** The BlockDevice contract over NVMe/TCP: the user-space host against the Java target on 127.0.0.1. */
abstract class NvmeTcpBlockDeviceContract extends BlockDeviceContractTest {
    @TempDir
    Path dir;
    private final List<AutoCloseable> resources = new ArrayList<>();
    private final Map<BlockDevice, LoopbackFabric> fabrics = new IdentityHashMap<>();
    private final Map<BlockDevice, NvmeTcpController> controllers = new IdentityHashMap<>();

    abstract int lbaSize();

    NvmeTcpHostOptions.Builder tune(NvmeTcpHostOptions.Builder b) {
        return b;
    }

    @Override
    protected BlockDevice newDevice(long sizeInBytes) {
        LoopbackFabric fabric = LoopbackFabric.start(dir.resolve("ns-" + fabrics.size()), sizeInBytes, lbaSize(),
                "nqn.2026-11.io.thermocline:test-" + lbaSize());
        resources.add(fabric);
        return open(fabric);
    }

    private BlockDevice open(LoopbackFabric fabric) {
        NvmeTcpController c = fabric.connect(tune(fabric.options()).build());
        resources.add(c);
        NvmeTcpBlockDevice d = c.openNamespace(1);
        fabrics.put(d, fabric);
        controllers.put(d, c);
        return d;
    }

    @Override
    protected BlockDevice reopen(BlockDevice device) {
        device.close();
        controllers.get(device).close();
        return open(fabrics.get(device));
    }

    @AfterEach
    void closeFabrics() throws Exception {
        for (AutoCloseable c : resources.reversed()) {
            c.close();
        }
    }
}

