package io.thermocline.nvmeof.kernel;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierIoException;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.support.AlignedBufferPool;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A namespace that the Linux kernel's NVMe over Fabrics host attached — over TCP, RDMA or Fibre
 * Channel — as a {@link BlockDevice}. This is how the JVM reaches RDMA and FC: the kernel speaks
 * the fabric, and this class reads and writes the namespace's block device with O_DIRECT.
 *
 * <p><b>Connect.</b> {@link #connect} runs {@code nvme connect} with the options'
 * nvme-cli flags, finds the new controller in sysfs by subsystem NQN, transport and address, waits
 * for the kernel's scan to create namespace {@code nsid}'s block device ({@code /dev/nvmeXnY}; with
 * native multipath that is the subsystem's head node, not the per-controller path node), and opens it
 * with {@code O_DIRECT}. If a live controller to the same subsystem and port already exists, it is
 * used as it is and never disconnected here: someone else connected it. Controllers this JVM
 * connected are counted, and {@link #close()} of the last device using one runs
 * {@code nvme disconnect -d nvmeX}, which removes that controller only, not other controllers of the
 * same subsystem.
 *
 * <p><b>What is missing says so.</b> No nvme-cli, no {@code /dev/nvme-fabrics} (the nvme-fabrics
 * module), a transport module that did not load, no RDMA device for {@code -t rdma}: each fails
 * {@link #connect} with a {@link TierUnavailableException} naming the binary or module and how to
 * install or load it.
 *
 * <p><b>I/O.</b> Offsets and lengths are multiples of the namespace's logical block size (512 or
 * 4096 as formatted), per the {@link BlockDevice} contract. Buffers that are direct, 4096-aligned and
 * a whole number of blocks go to the kernel as they are; others go through an aligned bounce buffer.
 * Each request is one blocking system call on one of {@code ioThreads} platform threads (a native
 * call would pin a virtual thread's carrier), so that many requests are in flight at once.
 * {@link #flush()} is {@code fdatasync}, which the block layer turns into NVMe Flush;
 * {@link #trim} is {@code BLKDISCARD} (Dataset Management, deallocate; a no-op where the namespace
 * does not support it, which the contract allows); {@link #writeZeroes} is {@code BLKZEROOUT}
 * (Write Zeroes where supported, zero-filled writes otherwise).
 *
 * <p>The kernel, not this class, handles a lost path: it reconnects every {@code reconnect-delay}
 * and fails I/O after {@code fast-io-fail-tmo} or {@code ctrl-loss-tmo}, which then completes the
 * futures here with {@link TierIoException}.
 *
 * <p>Thread-safe. Connecting and disconnecting need root (or CAP_SYS_ADMIN), as {@code nvme connect}
 * does; the JVM needs native access ({@code --enable-native-access=ALL-UNNAMED}).
 */
public final class KernelNvmeDevice implements BlockDevice {

    private static final Logger log = LoggerFactory.getLogger(KernelNvmeDevice.class);
    private static final int BOUNCE_CHUNK = 1 << 20;
    private static final Duration DISCONNECT_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration POLL = Duration.ofMillis(20);
    /** Controllers this JVM connected, with how many open devices use each. Guarded by itself. */
    private static final Map<String, Integer> CONNECTED_HERE = new HashMap<>();
    private static final AtomicInteger THREADS = new AtomicInteger();

    private final KernelNvmeOptions options;
    private final NvmeCli cli;
    private final String controller;
    private final boolean connectedHere;
    private final Path devicePath;
    private final int blockSize;
    private final long sizeInBytes;
    private final DirectBlockFile file;
    private final ExecutorService io;
    private final AlignedBufferPool buffers = new AlignedBufferPool(8);
    private final String name;
    private volatile boolean closed;

    private KernelNvmeDevice(KernelNvmeOptions options, NvmeCli cli, String controller, boolean connectedHere,
                             NvmeSysfs.Namespace namespace, DirectBlockFile file) {
        this.options = options;
        this.cli = cli;
        this.controller = controller;
        this.connectedHere = connectedHere;
        this.devicePath = options.devRoot().resolve(namespace.blockDevice());
        this.blockSize = namespace.logicalBlockSize();
        this.sizeInBytes = namespace.sizeInBytes();
        this.file = file;
        this.name = devicePath + " (" + options.nqn() + " nsid " + namespace.nsid() + " over "
                    + options.transport().cliName() + " " + options.traddr()
                    + (options.trsvcid() != null ? ":" + options.trsvcid() : "") + ")";
        this.io = Executors.newFixedThreadPool(options.ioThreads(), r -> {
            Thread t = new Thread(r, "kernel-nvme-io-" + THREADS.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Connects (or finds the existing connection) and opens namespace {@code options.nsid()}.
     *
     * @throws TierUnavailableException if nvme-cli or a kernel module is missing (not retryable, the
     *         message says what to install or load), if {@code nvme connect} fails (retryable: the
     *         target may come up), or if the namespace does not appear within {@code connectTimeout}
     */
    public static KernelNvmeDevice connect(KernelNvmeOptions options) {
        NvmeCli cli = NvmeCli.locate(options.nvmeCommand());
        NvmeSysfs sysfs = new NvmeSysfs(options.sysfsRoot());
        requireFabricsHost(options, sysfs);
        long deadline = System.nanoTime() + options.connectTimeout().toNanos();
        String controller;
        boolean connectedHere;
        synchronized (CONNECTED_HERE) {
            try {
                Optional<NvmeSysfs.Controller> existing = sysfs.controllers().stream()
                        .filter(c -> c.live() && c.matches(options)).findFirst();
                if (existing.isPresent()) {
                    controller = existing.get().name();
                    connectedHere = CONNECTED_HERE.containsKey(controller);
                    if (connectedHere) {
                        CONNECTED_HERE.merge(controller, 1, Integer::sum);
                    } else {
                        log.info("{} is already connected to {} (not by this process): using it, and leaving it connected",
                                controller, options.nqn());
                    }
                } else {
                    controller = connectController(options, cli, sysfs, deadline);
                    connectedHere = true;
                    CONNECTED_HERE.put(controller, 1);
                }
            } catch (IOException e) {
                throw new TierUnavailableException("connecting " + options.nqn() + " failed: " + e, true, e);
            }
        }
        boolean success = false;
        try {
            NvmeSysfs.Namespace namespace = awaitNamespace(options, sysfs, controller, deadline);
            Path device = options.devRoot().resolve(namespace.blockDevice());
            if (namespace.sizeInBytes() <= 0 || namespace.sizeInBytes() % namespace.logicalBlockSize() != 0
                || Integer.bitCount(namespace.logicalBlockSize()) != 1 || namespace.logicalBlockSize() < 512) {
                throw new TierUnavailableException("namespace " + namespace + " of " + controller
                        + " has a size or block size this device cannot use (expected: a power-of-two block size "
                        + "of at least 512 and a positive multiple of it)", false);
            }
            DirectBlockFile file;
            try {
                file = DirectBlockFile.open(device);
            } catch (IOException e) {
                throw new TierUnavailableException("cannot open " + device + " with O_DIRECT: " + e.getMessage(), false, e);
            }
            KernelNvmeDevice opened = new KernelNvmeDevice(options, cli, controller, connectedHere, namespace, file);
            log.info("opened {}: {} bytes, {}-byte blocks, controller {}{}", opened.name, opened.sizeInBytes,
                    opened.blockSize, controller, connectedHere ? "" : " (connected elsewhere)");
            success = true;
            return opened;
        } finally {
            if (!success && connectedHere) {
                release(cli, controller, options.nqn());
            }
        }
    }

    private static void requireFabricsHost(KernelNvmeOptions options, NvmeSysfs sysfs) {
        String module = options.transport().hostModule();
        if (!Files.exists(options.devRoot().resolve("nvme-fabrics"))) {
            throw new TierUnavailableException("the kernel's NVMe over Fabrics host is not loaded: "
                    + options.devRoot().resolve("nvme-fabrics") + " does not exist. Load it as root with 'modprobe "
                    + module + "' (which loads nvme-fabrics with it); the module ships with the kernel (Debian: "
                    + "linux-image-*; Ubuntu: linux-modules-extra-$(uname -r)). A container needs the host's module "
                    + "and /dev/nvme-fabrics passed in", false);
        }
    }

    /** Runs nvme connect and returns the controller it created. Called with CONNECTED_HERE held. */
    private static String connectController(KernelNvmeOptions options, NvmeCli cli, NvmeSysfs sysfs, long deadline)
            throws IOException {
        Set<String> before = sysfs.controllers().stream().map(NvmeSysfs.Controller::name).collect(Collectors.toSet());
        boolean fastIoFailFlag = !options.fastIoFailTimeout().equals(KernelNvmeOptions.OFF) && cli.hasFastIoFailFlag();
        List<String> args = new java.util.ArrayList<>(List.of("connect"));
        args.addAll(options.connectArguments(fastIoFailFlag));
        NvmeCli.Result result = cli.run(args, remaining(deadline));
        if (!result.ok()) {
            throw connectFailure(options, sysfs, result);
        }
        String controller = null;
        while (controller == null) {
            controller = sysfs.controllers().stream()
                    .filter(c -> !before.contains(c.name()) && c.matches(options))
                    .map(NvmeSysfs.Controller::name).findFirst().orElse(null);
            if (controller == null) {
                if (System.nanoTime() > deadline) {
                    throw new TierUnavailableException(result + "; but no controller for " + options.nqn() + " at "
                            + options.traddr() + " appeared under " + options.sysfsRoot().resolve("class/nvme"), true);
                }
                sleep(POLL);
            }
        }
        if (!options.fastIoFailTimeout().equals(KernelNvmeOptions.OFF) && !fastIoFailFlag) {
            // this nvme-cli has no --fast_io_fail_tmo; the kernel takes it on the live controller as well
            sysfs.writeControllerAttribute(controller, "fast_io_fail_tmo",
                    Long.toString(options.fastIoFailTimeout().toSeconds()));
        }
        log.info("nvme connect {} -> {}", String.join(" ", options.connectArguments(fastIoFailFlag)), controller);
        return controller;
    }

    private static TierUnavailableException connectFailure(KernelNvmeOptions options, NvmeSysfs sysfs,
                                                           NvmeCli.Result result) throws IOException {
        StringBuilder message = new StringBuilder(result.toString());
        boolean retryable = true;
        String module = options.transport().hostModule();
        if (!sysfs.moduleLoaded(module)) {
            retryable = false;
            message.append(". The kernel module ").append(module).append(" is not loaded and was not loaded on demand: ")
                    .append("load it as root with 'modprobe ").append(module).append("' (Debian: in linux-image-*; ")
                    .append("Ubuntu: linux-modules-extra-$(uname -r))");
        }
        if (options.transport() == KernelNvmeOptions.Transport.RDMA && sysfs.rdmaDevices().isEmpty()) {
            retryable = false;
            message.append(". There is no RDMA device (").append(options.sysfsRoot().resolve("class/infiniband"))
                    .append(" is empty): an RDMA NIC needs its driver (e.g. mlx5_ib); for Soft-RoCE over an Ethernet ")
                    .append("interface run 'modprobe rdma_rxe' and 'rdma link add rxe0 type rxe netdev eth0' ")
                    .append("(rdma is in the iproute2 package)");
        }
        if (result.output().contains("already connected")) {
            message.append(". A controller to this subsystem and port exists but is not live; ")
                    .append("disconnect it ('nvme disconnect -n ").append(options.nqn()).append("') or wait for its reconnect");
        }
        return new TierUnavailableException(message.toString(), retryable);
    }

    private static NvmeSysfs.Namespace awaitNamespace(KernelNvmeOptions options, NvmeSysfs sysfs, String controller,
                                                      long deadline) {
        try {
            while (true) {
                Optional<NvmeSysfs.Namespace> namespace = sysfs.namespace(controller, options.nsid());
                if (namespace.isPresent() && Files.exists(options.devRoot().resolve(namespace.get().blockDevice()))) {
                    return namespace.get();
                }
                if (System.nanoTime() > deadline) {
                    Optional<NvmeSysfs.Controller> state = sysfs.controller(controller);
                    throw new TierUnavailableException("namespace " + options.nsid() + " of " + options.nqn()
                            + " did not appear as a block device of controller " + controller + " within "
                            + options.connectTimeout().toSeconds() + " s (controller state: "
                            + state.map(NvmeSysfs.Controller::state).orElse("gone") + ")", true);
                }
                sleep(POLL);
            }
        } catch (IOException e) {
            throw new TierUnavailableException("reading " + options.sysfsRoot() + " for " + controller + ": " + e, true, e);
        }
    }

    /** Drops one use of a controller this JVM connected; the last one disconnects it. */
    private static void release(NvmeCli cli, String controller, String nqn) {
        synchronized (CONNECTED_HERE) {
            Integer users = CONNECTED_HERE.get(controller);
            if (users == null) {
                return;
            }
            if (users > 1) {
                CONNECTED_HERE.put(controller, users - 1);
                return;
            }
            CONNECTED_HERE.remove(controller);
            try {
                NvmeCli.Result result = cli.run(List.of("disconnect", "-d", controller), DISCONNECT_TIMEOUT);
                if (result.ok()) {
                    log.info("nvme disconnect -d {} ({})", controller, nqn);
                } else {
                    log.warn("disconnecting {} ({}) failed: {}", controller, nqn, result);
                }
            } catch (IOException e) {
                log.warn("disconnecting {} ({}) failed", controller, nqn, e);
            }
        }
    }

    private static Duration remaining(long deadline) {
        return Duration.ofNanos(Math.max(deadline - System.nanoTime(), Duration.ofSeconds(1).toNanos()));
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TierUnavailableException("interrupted while waiting for the kernel", false, e);
        }
    }

    @Override
    public String name() {
        return name;
    }

    /** The block device node, e.g. {@code /dev/nvme1n1}. */
    public Path devicePath() {
        return devicePath;
    }

    /** The kernel controller's name, e.g. {@code nvme1}. */
    public String controllerName() {
        return controller;
    }

    /** True if this JVM ran {@code nvme connect} for the controller, so the last close disconnects it. */
    public boolean connectedHere() {
        return connectedHere;
    }

    public KernelNvmeOptions options() {
        return options;
    }

    @Override
    public long sizeInBytes() {
        return sizeInBytes;
    }

    @Override
    public int blockSizeInBytes() {
        return blockSize;
    }

    @Override
    public CompletableFuture<Void> read(long offset, ByteBuffer dst) {
        return submit("read", offset, dst.remaining(), () -> {
            int length = dst.remaining();
            if (zeroCopy(dst)) {
                file.read(offset, MemorySegment.ofBuffer(dst));
                dst.position(dst.limit());
                return;
            }
            ByteBuffer bounce = buffers.acquire(Math.min(length, BOUNCE_CHUNK));
            try {
                for (int done = 0; done < length; ) {
                    int n = Math.min(length - done, bounce.capacity());
                    file.read(offset + done, MemorySegment.ofBuffer(bounce.clear().limit(n)));
                    dst.put(bounce);
                    done += n;
                }
            } finally {
                buffers.release(bounce);
            }
        });
    }

    @Override
    public CompletableFuture<Void> write(long offset, ByteBuffer src) {
        return submit("write", offset, src.remaining(), () -> {
            if (zeroCopy(src)) {
                file.write(offset, MemorySegment.ofBuffer(src));
                return;
            }
            ByteBuffer from = src.duplicate();
            int length = from.remaining();
            ByteBuffer bounce = buffers.acquire(Math.min(length, BOUNCE_CHUNK));
            try {
                for (int done = 0; done < length; ) {
                    int n = Math.min(length - done, bounce.capacity());
                    bounce.clear().put(from.slice(from.position() + done, n)).flip();
                    file.write(offset + done, MemorySegment.ofBuffer(bounce));
                    done += n;
                }
            } finally {
                buffers.release(bounce);
            }
        });
    }

    private boolean zeroCopy(ByteBuffer b) {
        return b.isDirect() && MemorySegment.ofBuffer(b).address() % AlignedBufferPool.ALIGNMENT == 0
               && b.remaining() % blockSize == 0;
    }

    @Override
    public CompletableFuture<Void> flush() {
        return submit("flush", 0, 0, file::sync);
    }

    @Override
    public CompletableFuture<Void> trim(long offset, long lengthInBytes) {
        return submit("trim", offset, lengthInBytes, () -> {
            if (lengthInBytes == 0) {
                return;
            }
            int errno = file.discard(offset, lengthInBytes);
            if (errno == DirectBlockFile.ENOTTY && file.punchHole(offset, lengthInBytes) != 0) {
                // not a block device (a regular file standing in for one) on a file system without holes
                zero(offset, lengthInBytes);
            }
            // EOPNOTSUPP: the namespace does not deallocate; old contents stay, as the contract allows
        });
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long offset, long lengthInBytes) {
        return submit("write zeroes", offset, lengthInBytes, () -> {
            if (lengthInBytes == 0) {
                return;
            }
            int errno = file.zeroOut(offset, lengthInBytes);
            if (errno != 0) {
                zero(offset, lengthInBytes);
            }
        });
    }

    private void zero(long offset, long length) throws IOException {
        ByteBuffer zeros = buffers.acquire((int) Math.min(length, BOUNCE_CHUNK));
        try {
            zeros.put(0, new byte[zeros.limit()]);
            for (long done = 0; done < length; ) {
                int n = (int) Math.min(zeros.capacity(), length - done);
                file.write(offset + done, MemorySegment.ofBuffer(zeros.clear().limit(n)));
                done += n;
            }
        } finally {
            buffers.release(zeros);
        }
    }

    /**
     * Waits for the requests in flight, closes the block device and, if this was the last device
     * using a controller this JVM connected, disconnects it. Idempotent.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        io.shutdown();
        try {
            if (!io.awaitTermination(60, TimeUnit.SECONDS)) {
                log.warn("{}: requests still running 60 s after close; closing the device under them", name);
                io.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        file.close();
        if (connectedHere) {
            release(cli, controller, options.nqn());
        }
    }

    @Override
    public String toString() {
        return "KernelNvmeDevice[" + name + ", " + sizeInBytes + " bytes, block " + blockSize + ", controller "
               + controller + "]";
    }

    @FunctionalInterface
    private interface IoAction {
        void run() throws IOException;
    }

    private CompletableFuture<Void> submit(String what, long offset, long length, IoAction action) {
        if (offset < 0 || length < 0 || offset % blockSize != 0 || length % blockSize != 0
            || offset > sizeInBytes || length > sizeInBytes - offset) {
            return CompletableFuture.failedFuture(new InvalidArgumentException(what + " of " + devicePath + " at offset "
                    + offset + " of " + length + " bytes (expected: multiples of " + blockSize + " within 0.."
                    + sizeInBytes + ")"));
        }
        if (closed) {
            return CompletableFuture.failedFuture(new TierUnavailableException(name + " is closed", false));
        }
        CompletableFuture<Void> future = new CompletableFuture<>();
        try {
            io.execute(() -> {
                try {
                    action.run();
                    future.complete(null);
                } catch (TierException e) {
                    future.completeExceptionally(e);
                } catch (IOException | RuntimeException e) {
                    future.completeExceptionally(new TierIoException(what + " of " + name + " at offset " + offset
                            + " (" + length + " bytes) failed: " + e.getMessage(), false, e));
                }
            });
        } catch (RejectedExecutionException e) {
            future.completeExceptionally(new TierUnavailableException(name + " is closed", false, e));
        }
        return future;
    }
}
