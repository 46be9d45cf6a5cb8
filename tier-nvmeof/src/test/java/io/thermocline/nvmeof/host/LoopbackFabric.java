package io.thermocline.nvmeof.host;

import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import io.thermocline.tier.BlockDevice;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;

/**
 * A Java NVMe/TCP target on 127.0.0.1 serving one file-backed namespace, and the user-space host
 * connected to it: the fixture for tests of the host, of {@link NvmeTcpBlockDevice} and of
 * anything built on a namespace. The target and host run in this JVM, on their own event loops.
 */
public final class LoopbackFabric implements AutoCloseable {
    public static final String HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:6c9f7a6e-1111-4c2e-9e8a-0c3ad3a7f0aa";
    private static final UUID HOST_ID = UUID.fromString("6c9f7a6e-1111-4c2e-9e8a-0c3ad3a7f0aa");

    private final NvmeTcpTarget target;
    private final NvmeEventLoops loops;
    private final String nqn;
    private final InetSocketAddress address;

    private LoopbackFabric(NvmeTcpTarget target, NvmeEventLoops loops, String nqn, InetSocketAddress address) {
        this.target = target;
        this.loops = loops;
        this.nqn = nqn;
        this.address = address;
    }

    /** Starts a target serving {@code file} (created at {@code sizeInBytes}) as namespace 1 of {@code nqn}. */
    public static LoopbackFabric start(Path file, long sizeInBytes, int blockSize, String nqn) {
        NvmeTcpTarget target = NvmeTcpTarget.builder()
                .subsystem(Subsystem.builder(nqn).allowHost(HOST_NQN)
                        .namespace(Namespace.openFile(file, sizeInBytes, blockSize, false)).build())
                .port(0)
                .eventLoopThreads(1)
                .build();
        InetSocketAddress address = target.start();
        return new LoopbackFabric(target, new NvmeEventLoops(1), nqn, address);
    }

    public NvmeTcpHostOptions.Builder options() {
        return NvmeTcpHostOptions.builder(address.getHostString(), address.getPort(), nqn)
                .identity(new HostIdentity(HOST_NQN, HOST_ID))
                .commandTimeout(Duration.ofSeconds(20));
    }

    public NvmeTcpController connect() {
        return connect(options().build());
    }

    public NvmeTcpController connect(NvmeTcpHostOptions options) {
        return NvmeTcpController.connectAndWait(loops, options);
    }

    /**
     * Connects and opens namespace 1 as a device that, when closed, also disconnects and stops
     * this fabric: for owners that close devices but know nothing of fabrics.
     */
    public BlockDevice openOwningNamespace() {
        NvmeTcpController controller = connect();
        NvmeTcpBlockDevice device = controller.openNamespace(1);
        return new BlockDevice() {
            @Override public String name() { return device.name(); }
            @Override public long sizeInBytes() { return device.sizeInBytes(); }
            @Override public int blockSizeInBytes() { return device.blockSizeInBytes(); }
            @Override public CompletableFuture<Void> read(long offset, ByteBuffer dst) { return device.read(offset, dst); }
            @Override public CompletableFuture<Void> write(long offset, ByteBuffer src) { return device.write(offset, src); }
            @Override public CompletableFuture<Void> flush() { return device.flush(); }
            @Override public CompletableFuture<Void> trim(long offset, long length) { return device.trim(offset, length); }
            @Override public CompletableFuture<Void> writeZeroes(long offset, long length) { return device.writeZeroes(offset, length); }

            @Override
            public void close() {
                device.close();
                controller.close();
                LoopbackFabric.this.close();
            }
        };
    }

    public NvmeEventLoops loops() {
        return loops;
    }

    public NvmeTcpTarget target() {
        return target;
    }

    public InetSocketAddress address() {
        return address;
    }

    public String nqn() {
        return nqn;
    }

    @Override
    public void close() {
        try {
            target.close();
        } finally {
            loops.close();
        }
    }
}
