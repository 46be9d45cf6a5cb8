package io.thermocline.nvmeof.host;

import io.thermocline.nvmeof.pdu.AnaState;
import io.thermocline.tier.BlockDevice;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One namespace reached through several NVMe/TCP paths — several target ports or target
 * instances serving the same subsystem — as a single {@link BlockDevice}: the host's native
 * multipath (NVMe Base 2.0 §8.1, Asymmetric Namespace Access).
 *
 * <p>Each path is its own {@link NvmeTcpController}, with its own keep-alive, reconnects and ANA
 * states (read from the ANA log page when it connects and again on every ANA Change notice).
 * I/O goes to Optimized paths by the {@link IoPolicy}, to Non-Optimized paths only when no
 * Optimized one is usable, never to Inaccessible, Persistent Loss or Change paths; a command on
 * a path that fails is sent again on another (see {@link NamespacePaths} for the rules, and
 * {@link NvmeTcpHostOptions} for the timeouts that decide when an I/O gives up).
 *
 * <pre>{@code
 * NvmeTcpHostOptions a = NvmeTcpHostOptions.builder("10.0.0.1", 4420, nqn).preset(Preset.LATENCY_SENSITIVE).build();
 * NvmeTcpHostOptions b = a.toBuilder().traddr("10.0.1.1").build();
 * try (MultipathBlockDevice d = MultipathBlockDevice.connect(loops, List.of(a, b), 1, IoPolicy.ROUND_ROBIN)) {
 *     d.read(0, buffer).join();
 * }
 * }</pre>
 *
 * <p><b>Paths down at start.</b> At least one path must connect. A path that cannot is tried again
 * in the background every reconnect-delay, for up to ctrl-loss-tmo, and joins the device when it
 * connects and shows the same namespace; until then {@link #paths()} reports it as
 * {@link NvmeTcpController.State#RECONNECTING} with no ANA state, and I/O with no other path
 * waits for it.
 *
 * <p>Thread-safe. Closing the device closes every path's controller and stops those attempts.
 */
public final class MultipathBlockDevice implements BlockDevice {
    private static final Logger log = LoggerFactory.getLogger(MultipathBlockDevice.class);

    /**
     * What one path looks like now.
     *
     * @param ana the namespace's ANA state through the path; null while the path has never connected
     */
    public record PathStatus(String address, NvmeTcpController.State state, AnaState ana, int outstanding,
                             long reconnectAttempts) {
    }

    private final NvmeEventLoops loops;
    private final int nsid;
    private final List<NvmeTcpController> controllers;
    private final NvmeTcpBlockDevice device;
    /** Paths down at start still being tried, by address, with their attempts so far. */
    private final java.util.Map<String, Long> pending = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile boolean closed;

    private MultipathBlockDevice(NvmeEventLoops loops, int nsid, List<NvmeTcpController> controllers, NvmeTcpBlockDevice device) {
        this.loops = loops;
        this.nsid = nsid;
        this.controllers = new java.util.concurrent.CopyOnWriteArrayList<>(controllers);
        this.device = device;
    }

    /**
     * Connects every path and opens namespace {@code nsid} through them. The paths that connect
     * must show the same namespace (the same NGUID and size); otherwise what was connected is
     * closed and the cause thrown. Paths that do not connect are tried again in the background
     * (see the class comment).
     *
     * @param paths one set of options per path; they must name the same subsystem NQN
     * @throws NvmeException if no path can be connected, or the namespace is missing on one
     * @throws IllegalArgumentException if the paths name different subsystems or show different namespaces
     */
    public static MultipathBlockDevice connect(NvmeEventLoops loops, List<NvmeTcpHostOptions> paths, int nsid, IoPolicy policy) {
        Objects.requireNonNull(policy, "policy");
        if (paths.isEmpty()) {
            throw new IllegalArgumentException("paths: none (expected at least one)");
        }
        String nqn = paths.getFirst().nqn();
        for (NvmeTcpHostOptions o : paths) {
            if (!o.nqn().equals(nqn)) {
                throw new IllegalArgumentException("path " + o.traddr() + ":" + o.trsvcid() + " names subsystem " + o.nqn()
                        + " (expected every path to name " + nqn + ")");
            }
        }
        List<CompletableFuture<NvmeTcpController>> connecting = new ArrayList<>();
        for (NvmeTcpHostOptions o : paths) {
            connecting.add(NvmeTcpController.connect(loops, o));
        }
        List<NvmeTcpController> controllers = new ArrayList<>();
        List<NvmeTcpHostOptions> down = new ArrayList<>();
        boolean ok = false;
        try {
            RuntimeException failure = null;
            for (int i = 0; i < connecting.size(); i++) {
                try {
                    controllers.add(NvmeTcpController.join(connecting.get(i)));
                } catch (RuntimeException e) {
                    failure = failure == null ? e : failure;
                    down.add(paths.get(i));
                    log.warn("path {}:{} to {} is down at start: {}; trying it again every {} ms for up to {}", paths.get(i).traddr(),
                            paths.get(i).trsvcid(), nqn, e.getMessage(), paths.get(i).reconnectDelay().toMillis(),
                            paths.get(i).ctrlLossTimeout().isNegative() ? "ever" : paths.get(i).ctrlLossTimeout().toMillis() + " ms");
                }
            }
            if (controllers.isEmpty()) {
                throw failure;
            }
            List<NamespacePaths.Path> list = new ArrayList<>();
            NamespaceInfo first = null;
            for (NvmeTcpController c : controllers) {
                NamespaceInfo ns = NvmeTcpController.join(c.identifyNamespace(nsid));
                if (ns.sizeInBlocks() == 0) {
                    throw new NvmeException("namespace " + nsid + " of " + nqn + " is inactive through " + c.address() + " (NSZE 0)",
                            NvmeException.Scope.COMMAND, false, null);
                }
                if (first == null) {
                    first = ns;
                } else if (!first.nguid().equals(ns.nguid()) || first.sizeInBlocks() != ns.sizeInBlocks()
                        || first.blockSizeInBytes() != ns.blockSizeInBytes()) {
                    throw new IllegalArgumentException("namespace " + nsid + " through " + c.address() + " has NGUID " + ns.nguid()
                            + ", " + ns.sizeInBlocks() + " x " + ns.blockSizeInBytes() + " B (expected the namespace of the first path: "
                            + first.nguid() + ", " + first.sizeInBlocks() + " x " + first.blockSizeInBytes() + " B)");
                }
                list.add(new NamespacePaths.Path(c, ns));
            }
            StringBuilder where = new StringBuilder();
            for (NvmeTcpController c : controllers) {
                where.append(where.isEmpty() ? "" : ",").append(c.address());
            }
            for (NvmeTcpHostOptions o : down) {
                where.append(',').append(o.traddr()).append(':').append(o.trsvcid());
            }
            NamespacePaths namespacePaths = new NamespacePaths(list, policy);
            NvmeTcpBlockDevice device = new NvmeTcpBlockDevice(namespacePaths, "nvme-tcp://[" + where + "]/" + nqn + "/ns" + nsid);
            MultipathBlockDevice d = new MultipathBlockDevice(loops, nsid, controllers, device);
            for (NvmeTcpHostOptions o : down) {
                namespacePaths.pathPending(o);
                d.pending.put(o.traddr() + ":" + o.trsvcid(), 0L);
                long loss = o.ctrlLossTimeout().toNanos();
                d.tryLater(o, loss < 0 ? Long.MAX_VALUE : System.nanoTime() + loss);
            }
            log.info("{}: {} path(s), I/O policy {}, ANA {}", device.name(), controllers.size(), policy.cliName(), d.paths());
            ok = true;
            return d;
        } finally {
            if (!ok) {
                for (CompletableFuture<NvmeTcpController> f : connecting) {
                    f.thenAccept(NvmeTcpController::close);
                }
            }
        }
    }

    /** Tries a path that was down at start again after its reconnect-delay, unless past its deadline. */
    private void tryLater(NvmeTcpHostOptions o, long deadlineNanos) {
        String address = o.traddr() + ":" + o.trsvcid();
        long delay = o.reconnectDelay().toNanos();
        if (closed || deadlineNanos != Long.MAX_VALUE && System.nanoTime() + delay - deadlineNanos > 0) {
            if (!closed) {
                log.error("{}: path {} did not connect within ctrl-loss-tmo {} ms: giving it up", device.name(), address,
                        o.ctrlLossTimeout().toMillis());
            }
            settle(address);
            return;
        }
        try {
            loops.group().next().schedule(() -> tryNow(o, deadlineNanos), delay, java.util.concurrent.TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            settle(address);
        }
    }

    private void tryNow(NvmeTcpHostOptions o, long deadlineNanos) {
        String address = o.traddr() + ":" + o.trsvcid();
        if (closed) {
            settle(address);
            return;
        }
        pending.computeIfPresent(address, (k, n) -> n + 1);
        NvmeTcpController.connect(loops, o).whenComplete((c, t) -> {
            if (t != null) {
                log.info("{}: path {} still down: {}", device.name(), address, NvmeTcpController.unwrap(t).getMessage());
                tryLater(o, deadlineNanos);
                return;
            }
            c.identifyNamespace(nsid).whenComplete((ns, u) -> {
                NamespaceInfo first = device.namespace();
                String wrong = u != null ? NvmeTcpController.unwrap(u).getMessage()
                        : !ns.nguid().equals(first.nguid()) || ns.sizeInBlocks() != first.sizeInBlocks()
                                || ns.blockSizeInBytes() != first.blockSizeInBytes()
                        ? "namespace " + nsid + " has NGUID " + ns.nguid() + ", " + ns.sizeInBlocks() + " x " + ns.blockSizeInBytes()
                                + " B (expected the device's: " + first.nguid() + ", " + first.sizeInBlocks() + " x "
                                + first.blockSizeInBytes() + " B)"
                        : null;
                boolean joined = false;
                if (wrong == null) {
                    synchronized (this) {
                        if (!closed) {
                            controllers.add(c);
                            device.paths().add(new NamespacePaths.Path(c, ns));
                            joined = true;
                        }
                    }
                }
                if (joined) {
                    log.info("{}: path {} joined ({} ANA {})", device.name(), address, c.info().modelNumber(), c.anaState(ns));
                } else {
                    if (wrong != null) {
                        log.error("{}: path {} connected but is refused: {}", device.name(), address, wrong);
                    }
                    Thread.ofVirtual().start(c::close);  // close() blocks: not on an event loop
                }
                settle(address);
            });
        });
    }

    private void settle(String address) {
        if (pending.remove(address) != null) {
            device.paths().pathSettled();
        }
    }

    /**
     * Every path: those connected (in the order they joined), then those down since the start and
     * still being tried.
     */
    public List<PathStatus> paths() {
        List<PathStatus> out = new ArrayList<>();
        for (NamespacePaths.Path p : device.paths().paths()) {
            NvmeTcpController c = p.controller();
            out.add(new PathStatus(c.address(), c.state(), p.ana(), p.outstanding().get(), c.reconnectAttempts()));
        }
        pending.forEach((address, attempts) -> out.add(new PathStatus(address, NvmeTcpController.State.RECONNECTING, null, 0, attempts)));
        return out;
    }

    /** The controllers of the connected paths, in the order they joined. */
    public List<NvmeTcpController> controllers() {
        return List.copyOf(controllers);
    }

    public IoPolicy policy() {
        return device.paths().policy();
    }

    public NamespaceInfo namespace() {
        return device.namespace();
    }

    @Override
    public String name() {
        return device.name();
    }

    @Override
    public long sizeInBytes() {
        return device.sizeInBytes();
    }

    @Override
    public int blockSizeInBytes() {
        return device.blockSizeInBytes();
    }

    @Override
    public CompletableFuture<Void> read(long offset, ByteBuffer dst) {
        return device.read(offset, dst);
    }

    @Override
    public CompletableFuture<Void> write(long offset, ByteBuffer src) {
        return device.write(offset, src);
    }

    @Override
    public CompletableFuture<Void> flush() {
        return device.flush();
    }

    @Override
    public CompletableFuture<Void> trim(long offset, long lengthInBytes) {
        return device.trim(offset, lengthInBytes);
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long offset, long lengthInBytes) {
        return device.writeZeroes(offset, lengthInBytes);
    }

    /** Closes every path's controller. Blocks for their orderly shutdown; never call it from an event loop. */
    @Override
    public void close() {
        synchronized (this) {
            closed = true;
        }
        for (NvmeTcpController c : controllers) {
            try {
                c.close();
            } catch (RuntimeException e) {
                log.warn("closing the path to {}: {}", c.address(), e.toString());
            }
        }
    }

    @Override
    public String toString() {
        return device.name() + " " + paths();
    }
}
