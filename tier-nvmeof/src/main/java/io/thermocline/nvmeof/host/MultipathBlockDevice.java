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
 * <p>Thread-safe. Closing the device closes every path's controller.
 */
public final class MultipathBlockDevice implements BlockDevice {
    private static final Logger log = LoggerFactory.getLogger(MultipathBlockDevice.class);

    /** What one path looks like now. */
    public record PathStatus(String address, NvmeTcpController.State state, AnaState ana, int outstanding,
                             long reconnectAttempts) {
    }

    private final List<NvmeTcpController> controllers;
    private final NvmeTcpBlockDevice device;

    private MultipathBlockDevice(List<NvmeTcpController> controllers, NvmeTcpBlockDevice device) {
        this.controllers = controllers;
        this.device = device;
    }

    /**
     * Connects every path and opens namespace {@code nsid} through them. Every path must connect
     * and show the same namespace (the same NGUID and size); otherwise what was connected is
     * closed and the cause thrown.
     *
     * @param paths one set of options per path; they must name the same subsystem NQN
     * @throws NvmeException if a path cannot be connected or the namespace is missing on one
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
        boolean ok = false;
        try {
            RuntimeException failure = null;
            for (CompletableFuture<NvmeTcpController> f : connecting) {
                try {
                    controllers.add(NvmeTcpController.join(f));
                } catch (RuntimeException e) {
                    failure = failure == null ? e : failure;
                }
            }
            if (failure != null) {
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
            NvmeTcpBlockDevice device = new NvmeTcpBlockDevice(new NamespacePaths(list, policy),
                    "nvme-tcp://[" + where + "]/" + nqn + "/ns" + nsid);
            MultipathBlockDevice d = new MultipathBlockDevice(List.copyOf(controllers), device);
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

    /** Every path, in the order given to {@link #connect}. */
    public List<PathStatus> paths() {
        List<PathStatus> out = new ArrayList<>();
        for (NamespacePaths.Path p : device.paths().paths()) {
            NvmeTcpController c = p.controller();
            out.add(new PathStatus(c.address(), c.state(), p.ana(), p.outstanding().get(), c.reconnectAttempts()));
        }
        return out;
    }

    /** The controllers, one per path, in the order given to {@link #connect}. */
    public List<NvmeTcpController> controllers() {
        return controllers;
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
