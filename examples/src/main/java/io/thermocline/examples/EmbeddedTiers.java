package io.thermocline.examples;

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
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Objects;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

/**
 * Three tiers to run the examples on without any infrastructure, all in this process on
 * 127.0.0.1: {@code local} (files under a directory), {@code fabric} (extents on a namespace that
 * a Java NVMe/TCP target exports from a file, reached through the user-space NVMe/TCP host) and
 * {@code s3} (the embedded S3-compatible server). {@link #engineConfig()} is the engine
 * configuration over them; a real deployment builds the same {@link EngineConfig} with its own
 * endpoints (or loads it from YAML).
 *
 * <p>{@link #close()} stops the host, the target and the server, in reverse order of starting. An
 * engine opened on {@link #engineConfig()} must be closed first. Not thread-safe.
 */
public final class EmbeddedTiers implements AutoCloseable {

    public static final String BUCKET = "thermocline-examples";
    public static final String NQN = "nqn.2026-11.io.thermocline:examples";

    private final Deque<AutoCloseable> started = new ArrayDeque<>();
    private final Path dir;
    private EmbeddedS3Server s3;
    private InetSocketAddress targetAddress;
    private long namespaceBytes;
    private EngineConfig config;

    private EmbeddedTiers(Path dir) {
        this.dir = dir;
    }

    /** Options; start with {@link #builder(Path)}. */
    public static final class Builder {
        private final Path dir;
        private long localBytes = 1L << 30;
        private long fabricBytes = 1L << 30;
        private boolean localDirectIo;
        private final List<Rule> rules = new ArrayList<>();
        private Duration plannerInterval = Duration.ofMillis(200);
        private Path namespaceFile;

        private Builder(Path dir) {
            this.dir = Objects.requireNonNull(dir, "dir");
        }

        /** Capacity of the local tier (default 1 GiB). */
        public Builder localBytes(long v) { this.localBytes = v; return this; }
        /** Capacity of the fabric tier; the namespace file is sized to hold it (default 1 GiB). */
        public Builder fabricBytes(long v) { this.fabricBytes = v; return this; }
        /** Read and write the local tier with O_DIRECT (default false). */
        public Builder localDirectIo(boolean v) { this.localDirectIo = v; return this; }
        /** Adds a placement rule over the tiers {@code local}, {@code fabric} and {@code s3}. */
        public Builder rule(Rule v) { this.rules.add(v); return this; }
        /** How often the engine's planner runs (default 200 ms: examples want to see moves soon). */
        public Builder plannerInterval(Duration v) { this.plannerInterval = v; return this; }
        /** The file behind the NVMe/TCP namespace (default {@code <dir>/fabric-namespace.img}). */
        public Builder namespaceFile(Path v) { this.namespaceFile = v; return this; }

        /** Starts the S3 server, the NVMe/TCP target and the host, under {@code dir}. */
        public EmbeddedTiers start() {
            return EmbeddedTiers.start(this);
        }
    }

    public static Builder builder(Path dir) {
        return new Builder(dir);
    }

    private static EmbeddedTiers start(Builder b) {
        EmbeddedTiers t = new EmbeddedTiers(b.dir);
        boolean ok = false;
        try {
            t.s3 = EmbeddedS3Server.start(b.dir.resolve("s3"));
            t.started.push(t.s3);
            t.s3.createBucket(BUCKET);

            HostIdentity host = HostIdentity.random();
            t.namespaceBytes = BlockTier.deviceSizeFor(b.fabricBytes, BlockTierConfig.DEFAULT_ALLOCATION_UNIT_IN_BYTES, 4096);
            Path file = b.namespaceFile != null ? b.namespaceFile : b.dir.resolve("fabric-namespace.img");
            NvmeTcpTarget target = NvmeTcpTarget.builder().bindAddress("127.0.0.1").port(0).eventLoopThreads(1)
                    .subsystem(Subsystem.builder(NQN).allowHost(host.hostNqn())
                            .namespace(Namespace.openFile(file, t.namespaceBytes, 4096, false)).build())
                    .build();
            t.started.push(target);
            t.targetAddress = target.start();
            NvmeEventLoops loops = new NvmeEventLoops(1);
            t.started.push(loops);
            NvmeTcpController controller = NvmeTcpController.connectAndWait(loops,
                    NvmeTcpHostOptions.builder("127.0.0.1", t.targetAddress.getPort(), NQN).identity(host)
                            .nrIoQueues(2).queueSize(64).build());
            t.started.push(controller);

            TierSpec local = TierSpec.builder("local", b.localBytes).build();
            TierSpec fabric = TierSpec.builder("fabric", b.fabricBytes).build();
            TierSpec s3 = TierSpec.builder("s3", 1L << 40).build();
            PolicyConfig policy = PolicyConfig.builder().tiers(List.of(local, fabric, s3)).rules(List.copyOf(b.rules)).build();
            S3TierConfig s3Config = S3TierConfig.builder(BUCKET).endpoint(t.s3.endpoint())
                    .credentials(StaticCredentialsProvider.create(AwsBasicCredentials.create(t.s3.accessKey(), t.s3.secretKey())))
                    .build();
            t.config = EngineConfig.builder(b.dir.resolve("engine"))
                    .regionPath(b.dir.resolve("engine").resolve("region"))
                    .regionMaxObjects(16384)
                    .tier(StandardTiers.local(local, b.dir.resolve("local"), b.localDirectIo))
                    .tier(StandardTiers.block(fabric, () -> controller.openNamespace(1), b.dir.resolve("fabric-catalog"), host.hostNqn(),
                            "NVMe/TCP nvme-tcp://127.0.0.1:" + t.targetAddress.getPort() + "/" + NQN + "/ns1"))
                    .tier(StandardTiers.s3(s3, s3Config))
                    .policy(policy)
                    .plannerInterval(b.plannerInterval)
                    .drainGrace(Duration.ofMillis(50))
                    .build();
            ok = true;
            return t;
        } catch (Exception e) {
            throw new IllegalStateException("cannot start the embedded tiers under " + b.dir + ": " + e.getMessage(), e);
        } finally {
            if (!ok) {
                t.close();
            }
        }
    }

    /** An engine configuration over the three tiers, its data root under the directory. */
    public EngineConfig engineConfig() {
        return config;
    }

    /** Opens an engine on {@link #engineConfig()}; the caller closes it before closing this. */
    public TierEngine openEngine() {
        return TierEngine.open(config);
    }

    public EmbeddedS3Server s3Server() {
        return s3;
    }

    public InetSocketAddress targetAddress() {
        return targetAddress;
    }

    public long namespaceBytes() {
        return namespaceBytes;
    }

    public Path directory() {
        return dir;
    }

    /** Stops the host, the target and the S3 server; failures are collected, the first one thrown after all are stopped. */
    @Override
    public void close() {
        RuntimeException first = null;
        while (!started.isEmpty()) {
            try {
                started.pop().close();
            } catch (Exception e) {
                RuntimeException r = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                if (first == null) {
                    first = r;
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
