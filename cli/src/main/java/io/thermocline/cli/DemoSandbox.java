package io.thermocline.cli;

import io.thermocline.engine.EngineConfig;
import io.thermocline.engine.StandardTiers;
import io.thermocline.engine.TierEngine;
import io.thermocline.nvmeof.block.BlockTier;
import io.thermocline.nvmeof.block.BlockTierConfig;
import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import io.thermocline.placement.PolicyConfig;
import io.thermocline.placement.Rule;
import io.thermocline.placement.TierSpec;
import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.s3.S3TierConfig;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

/**
 * Everything the demo runs on, in this process and on 127.0.0.1 only: the embedded S3 server, a
 * Java NVMe/TCP target exporting a file-backed namespace, the user-space host connected to it,
 * and a {@link TierEngine} over {@code local} (files), {@code fabric} (extents on the NVMe/TCP
 * namespace) and {@code s3}. {@link #close()} stops all of it in reverse order of starting, so the
 * demo leaves no server, connection or thread behind.
 */
final class DemoSandbox implements AutoCloseable {

    static final String BUCKET = "thermocline-demo";
    static final String NQN = "nqn.2026-11.io.thermocline:demo";

    private final Deque<AutoCloseable> started = new ArrayDeque<>();
    private EmbeddedS3Server s3;
    private NvmeTcpTarget target;
    private InetSocketAddress targetAddress;
    private long namespaceBytes;
    private TierEngine engine;

    private DemoSandbox() {
    }

    /**
     * Starts the servers under {@code dir} and opens the engine.
     *
     * @param localBytes  capacity of the local tier
     * @param fabricBytes capacity of the fabric tier (the namespace is sized to hold it)
     * @param rules       placement rules over the tiers {@code local}, {@code fabric} and {@code s3}
     */
    static DemoSandbox start(Path dir, long localBytes, long fabricBytes, List<Rule> rules) throws Exception {
        DemoSandbox s = new DemoSandbox();
        boolean ok = false;
        try {
            s.s3 = EmbeddedS3Server.start(dir.resolve("s3"));
            s.started.push(s.s3);
            s.s3.createBucket(BUCKET);

            HostIdentity host = HostIdentity.random();
            s.namespaceBytes = BlockTier.deviceSizeFor(fabricBytes, BlockTierConfig.DEFAULT_ALLOCATION_UNIT_IN_BYTES, 4096);
            s.target = NvmeTcpTarget.builder().bindAddress("127.0.0.1").port(0).eventLoopThreads(1)
                    .subsystem(Subsystem.builder(NQN).allowHost(host.hostNqn())
                            .namespace(Namespace.openFile(dir.resolve("fabric-namespace.img"), s.namespaceBytes, 4096, false)).build())
                    .build();
            s.started.push(s.target);
            s.targetAddress = s.target.start();
            NvmeEventLoops loops = new NvmeEventLoops(1);
            s.started.push(loops);
            NvmeTcpController controller = NvmeTcpController.connectAndWait(loops,
                    NvmeTcpHostOptions.builder("127.0.0.1", s.targetAddress.getPort(), NQN).identity(host)
                            .nrIoQueues(2).queueSize(64).build());
            s.started.push(controller);

            TierSpec localSpec = TierSpec.builder("local", localBytes).build();
            TierSpec fabricSpec = TierSpec.builder("fabric", fabricBytes).build();
            TierSpec s3Spec = TierSpec.builder("s3", 1L << 40).build();
            // rules name tiers, so the policy is built with them
            PolicyConfig policy = PolicyConfig.builder().tiers(List.of(localSpec, fabricSpec, s3Spec)).rules(rules).build();
            S3TierConfig s3Config = S3TierConfig.builder(BUCKET).endpoint(s.s3.endpoint())
                    .credentials(StaticCredentialsProvider.create(AwsBasicCredentials.create(s.s3.accessKey(), s.s3.secretKey())))
                    .build();
            EngineConfig config = EngineConfig.builder(dir.resolve("engine"))
                    .regionPath(dir.resolve("engine").resolve("region"))
                    .regionMaxObjects(4096)
                    .tier(StandardTiers.local(localSpec, dir.resolve("local"), false))
                    .tier(StandardTiers.block(fabricSpec, () -> controller.openNamespace(1),
                            dir.resolve("fabric-catalog"), host.hostNqn(),
                            "NVMe/TCP nvme-tcp://127.0.0.1:" + s.targetAddress.getPort() + "/" + NQN + "/ns1"))
                    .tier(StandardTiers.s3(s3Spec, s3Config))
                    .policy(policy)
                    .plannerInterval(Duration.ofMillis(200))
                    .drainGrace(Duration.ofMillis(50))
                    .build();
            s.engine = TierEngine.open(config);
            s.started.push(s.engine);
            ok = true;
            return s;
        } finally {
            if (!ok) {
                s.close();
            }
        }
    }

    TierEngine engine() {
        return engine;
    }

    EmbeddedS3Server s3() {
        return s3;
    }

    InetSocketAddress targetAddress() {
        return targetAddress;
    }

    long namespaceBytes() {
        return namespaceBytes;
    }

    /** Closes the engine, the host, the target and the S3 server; the first failure is thrown after all are closed. */
    @Override
    public void close() throws Exception {
        Exception first = null;
        while (!started.isEmpty()) {
            try {
                started.pop().close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
