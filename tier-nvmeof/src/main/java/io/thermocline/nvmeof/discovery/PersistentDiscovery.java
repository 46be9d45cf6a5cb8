package io.thermocline.nvmeof.discovery;

import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeException;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.pdu.Cqe;
import io.thermocline.nvmeof.pdu.IdentifyLayout.DiscoveryLog;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.NvmeStatus;
import io.thermocline.nvmeof.pdu.Sqe;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A persistent connection to a discovery controller, as {@code nvme discover --persistent}
 * keeps: the association stays up with keep-alive, Discovery Log Page Change notices are enabled
 * (Asynchronous Event Configuration bit 31) and an Asynchronous Event Request is kept
 * outstanding. Each notice — type Notice, information F0h, log page 70h (NVMe Base 2.0 §5.2,
 * Figures 146 and 149) — makes it read the log again; when the Generation Counter moved and the
 * entries differ, the {@link DiscoveryListener} hears which entries appeared and which went.
 *
 * <p><b>Auto-connect.</b> With {@link Builder#autoConnect(NvmeTcpHostOptions)}, every NVM
 * subsystem entry (subtype 2h) over TCP that appears is connected to with a copy of the template
 * options naming the entry's address, port and NQN, through {@link NvmeTcpController}; the
 * listener gets the controller. An entry that goes away is not disconnected — its controller
 * keeps to its own reconnect and ctrl-loss-tmo rules, as the Linux host does — and a connect that
 * fails is tried again after the next change of the log while the entry is still listed.
 *
 * <p><b>Losing the discovery controller.</b> The connection reconnects by the options'
 * reconnect-delay and ctrl-loss-tmo (by default forever); after each new association notices
 * are enabled again and the log is read again, so changes made while it was down are reported.
 * If it is given up, {@link DiscoveryListener#discoveryLost} is called.
 *
 * <p>Events and connects are handled on one thread of its own, which also calls the listener.
 * Thread-safe; {@link #close()} closes the discovery connection and every auto-connected
 * controller.
 */
public final class PersistentDiscovery implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PersistentDiscovery.class);
    /**
     * Keep-alive timeout a persistent discovery connection uses unless told otherwise: nvme-cli's
     * NVMF_DEF_DISC_TMO, 30 s.
     */
    public static final Duration DEFAULT_KEEP_ALIVE_TIMEOUT = Duration.ofSeconds(30);
    /** Asynchronous Event Configuration bit 31: Discovery Log Page Change notices (NVMe Base 2.0 Figure 326). */
    static final int AEC_DISCOVERY_LOG_CHANGE = 1 << 31;
    /** Identify Controller OAES bit 31: the controller sends them (NVMe Base 2.0 Figure 275). */
    static final int OAES_DISCOVERY_LOG_CHANGE = 1 << 31;
    /** Asynchronous event type Notice and its information Discovery Log Page Change (Figures 147, 149). */
    static final int AE_TYPE_NOTICE = 2;
    static final int AE_NOTICE_DISCOVERY_LOG_CHANGE = 0xF0;

    private final NvmeEventLoops loops;
    private final NvmeTcpController controller;
    private final DiscoveryListener listener;
    /** Options to connect to an entry with, or null to leave it; null when auto-connect is off. */
    private final java.util.function.Function<DiscoveryLogEntry, NvmeTcpHostOptions> autoConnect;
    private final ExecutorService thread;
    /** Touched on {@link #thread} only. */
    private NvmeDiscovery.Log last;
    private final Map<String, NvmeTcpController> connected = new ConcurrentHashMap<>();
    /** Keys of connects in flight; touched on {@link #thread} only. */
    private final Set<String> connecting = new HashSet<>();
    private volatile long generation;
    private volatile long notices;
    private volatile boolean closed;
    /** Set while {@link Builder#open()} arms the connection: a failed first read is thrown, not logged. */
    private boolean failFirstRead;

    private PersistentDiscovery(NvmeEventLoops loops, NvmeTcpController controller, DiscoveryListener listener,
                                java.util.function.Function<DiscoveryLogEntry, NvmeTcpHostOptions> autoConnect) {
        this.loops = loops;
        this.controller = controller;
        this.listener = listener;
        this.autoConnect = autoConnect;
        String name = "nvme-discovery-" + controller.address();
        this.thread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Options for a persistent connection to the discovery controller at {@code traddr:trsvcid}:
     * the discovery NQN, no I/O queues, keep-alive {@link #DEFAULT_KEEP_ALIVE_TIMEOUT} and
     * reconnecting forever; adjust the rest (identity, timeouts) on the builder.
     */
    public static NvmeTcpHostOptions.Builder options(String traddr, int trsvcid) {
        return NvmeTcpHostOptions.builder(traddr, trsvcid, NvmeOpcodes.DISCOVERY_NQN)
                .nrIoQueues(0).keepAliveTimeout(DEFAULT_KEEP_ALIVE_TIMEOUT).ctrlLossTimeout(NvmeTcpHostOptions.OFF);
    }

    public static Builder builder(NvmeEventLoops loops, NvmeTcpHostOptions discoveryOptions) {
        return new Builder(loops, discoveryOptions);
    }

    /** Builds and opens a {@link PersistentDiscovery}. */
    public static final class Builder {
        private final NvmeEventLoops loops;
        private final NvmeTcpHostOptions options;
        private DiscoveryListener listener = change -> { };
        private java.util.function.Function<DiscoveryLogEntry, NvmeTcpHostOptions> autoConnect;

        private Builder(NvmeEventLoops loops, NvmeTcpHostOptions options) {
            this.loops = Objects.requireNonNull(loops, "loops");
            this.options = Objects.requireNonNull(options, "discovery options");
            if (!NvmeOpcodes.DISCOVERY_NQN.equals(options.nqn())) {
                throw new IllegalArgumentException("discovery options name " + options.nqn() + " (expected the discovery NQN "
                        + NvmeOpcodes.DISCOVERY_NQN + ")");
            }
            if (options.keepAliveTimeout().isZero()) {
                throw new IllegalArgumentException("keep-alive-tmo 0 for a persistent discovery connection (expected a positive "
                        + "timeout: without keep-alive the controller cannot tell the host is still there; nvme-cli uses 30 s)");
            }
        }

        /** Who hears about changes (default: no one). */
        public Builder listener(DiscoveryListener listener) {
            this.listener = Objects.requireNonNull(listener, "listener");
            return this;
        }

        /**
         * Connects to every NVM subsystem entry over TCP, with {@code template}'s options (queues,
         * timeouts, identity, digests, secrets) and the entry's address, port and NQN. Off by default.
         */
        public Builder autoConnect(NvmeTcpHostOptions template) {
            Objects.requireNonNull(template, "auto-connect template");
            this.autoConnect = e -> template.toBuilder().traddr(e.traddr()).trsvcid(Integer.parseInt(e.trsvcid().trim()))
                    .nqn(e.subnqn()).build();
            return this;
        }

        /**
         * Connects to NVM subsystem entries over TCP with the options {@code optionsFor} returns
         * for each, or leaves those it returns {@code null} for: for a host that reaches targets
         * through other addresses than they list (NAT, port forwarding), or connects to some only.
         * Off by default.
         */
        public Builder autoConnect(java.util.function.Function<DiscoveryLogEntry, NvmeTcpHostOptions> optionsFor) {
            this.autoConnect = Objects.requireNonNull(optionsFor, "auto-connect options");
            return this;
        }

        /**
         * Connects to the discovery controller, enables the notices, reads the log (the listener
         * hears its first {@link DiscoveryLogChange}, with every entry added, before this returns)
         * and starts listening.
         *
         * @throws NvmeException if the discovery controller cannot be connected to or read
         */
        public PersistentDiscovery open() {
            NvmeTcpController c = NvmeTcpController.connectAndWait(loops, options.toBuilder().nrIoQueues(0).nrWriteQueues(0).build());
            PersistentDiscovery d = new PersistentDiscovery(loops, c, listener, autoConnect);
            boolean ok = false;
            try {
                if ((c.info().oaes() & OAES_DISCOVERY_LOG_CHANGE) == 0) {
                    log.warn("discovery controller at {} does not report Discovery Log Page Change notices (OAES bit 31): "
                            + "changes will be seen only after a reconnect", c.address());
                }
                join(d.thread.submit(() -> {
                    d.failFirstRead = true;
                    try {
                        d.arm();
                    } finally {
                        d.failFirstRead = false;
                    }
                }));
                ok = true;
                return d;
            } finally {
                if (!ok) {
                    d.close();
                }
            }
        }
    }

    /**
     * Enables the notices, keeps an Asynchronous Event Request outstanding and reads the log —
     * in that order, so a change after the read is always announced. Runs on {@link #thread}.
     */
    private void arm() {
        if (closed) {
            return;
        }
        CompletableFuture<Void> change = controller.nextChange();
        if (controller.state() != NvmeTcpController.State.LIVE) {
            awaitLive(change);
            return;
        }
        try {
            join(controller.adminCommand(new Sqe().opcode(NvmeOpcodes.ADMIN_SET_FEATURES)
                    .cdw(10, NvmeOpcodes.FEATURE_ASYNC_EVENT_CONFIG).cdw(11, AEC_DISCOVERY_LOG_CHANGE),
                    "Set Features Asynchronous Event Configuration (Discovery Log Page Change)"));
        } catch (NvmeException e) {
            if (controller.state() != NvmeTcpController.State.LIVE) {
                awaitLive(change);
                return;
            }
            log.warn("discovery controller at {}: cannot enable Discovery Log Page Change notices: {}", controller.address(),
                    e.getMessage());
        }
        listenForEvent();
        refresh();
    }

    /** Waits (without blocking the thread) for the controller to be live again, then arms it. */
    private void awaitLive(CompletableFuture<Void> change) {
        NvmeTcpController.State s = controller.state();
        if (s == NvmeTcpController.State.DELETED) {
            Throwable cause = controller.lastFailure();
            log.warn("discovery controller at {} is given up (ctrl-loss-tmo): no more discovery log changes", controller.address());
            callListener(() -> listener.discoveryLost(cause != null ? cause
                    : new NvmeException("discovery controller at " + controller.address() + " is gone", NvmeException.Scope.ASSOCIATION, false, null)));
            return;
        }
        if (s == NvmeTcpController.State.CLOSED || closed) {
            return;
        }
        change.thenRun(() -> execute(this::arm));
    }

    private void listenForEvent() {
        controller.asyncEventRequest().whenComplete((cqe, t) -> execute(() -> onEvent(cqe, t)));
    }

    private void onEvent(Cqe cqe, Throwable t) {
        if (closed) {
            return;
        }
        if (t != null) {
            // the association ended: the controller reconnects; arm again once it is live
            log.debug("discovery controller at {}: Asynchronous Event Request ended: {}", controller.address(), t.toString());
            CompletableFuture<Void> change = controller.nextChange();
            if (controller.state() == NvmeTcpController.State.LIVE) {
                // still live (the loss may not be noticed yet, or the request alone failed): look again shortly
                CompletableFuture.runAsync(() -> execute(this::arm),
                        CompletableFuture.delayedExecutor(200, TimeUnit.MILLISECONDS));
            } else {
                awaitLive(change);
            }
            return;
        }
        if (!cqe.isSuccess()) {
            log.warn("discovery controller at {}: Asynchronous Event Request failed: {}; not asking again",
                    controller.address(), NvmeStatus.describe(cqe.status()));
            return;
        }
        // Completion DW0 (NVMe Base 2.0 Figure 146): type 2:0, information 15:8, log page 23:16
        int dw0 = cqe.dw0();
        int type = dw0 & 0x7;
        int info = (dw0 >>> 8) & 0xFF;
        int page = (dw0 >>> 16) & 0xFF;
        listenForEvent();
        if (type == AE_TYPE_NOTICE && info == AE_NOTICE_DISCOVERY_LOG_CHANGE) {
            notices++;
            log.debug("discovery controller at {}: Discovery Log Page Change notice", controller.address());
            refresh();
        } else {
            log.info("discovery controller at {}: asynchronous event type {} information 0x{} log page 0x{} ignored",
                    controller.address(), type, Integer.toHexString(info), Integer.toHexString(page));
        }
    }

    /** Reads the log; reports a change if the generation moved and the entries differ; auto-connects. */
    private void refresh() {
        NvmeDiscovery.Log now;
        boolean first = failFirstRead;
        failFirstRead = false;
        try {
            now = NvmeDiscovery.readLog(controller);
        } catch (RuntimeException e) {
            if (first) {
                throw e;
            }
            if (!closed) {
                log.warn("discovery controller at {}: reading the discovery log failed: {}", controller.address(), e.getMessage());
            }
            return;
        }
        NvmeDiscovery.Log before = last;
        last = now;
        generation = now.generation();
        if (before != null && before.generation() == now.generation()) {
            return;  // GENCTR unchanged: the log is the one already reported
        }
        List<DiscoveryLogEntry> added = new ArrayList<>(now.entries());
        List<DiscoveryLogEntry> removed = new ArrayList<>();
        if (before != null) {
            added.removeAll(before.entries());
            removed.addAll(before.entries());
            removed.removeAll(now.entries());
        }
        if (before == null || !added.isEmpty() || !removed.isEmpty()) {
            DiscoveryLogChange change = new DiscoveryLogChange(before == null ? 0 : before.generation(), now.generation(),
                    now.entries(), added, removed);
            log.info("discovery controller at {}: log generation {}, {} entries ({} new, {} gone)", controller.address(),
                    now.generation(), now.entries().size(), added.size(), removed.size());
            callListener(() -> listener.logChanged(change));
        }
        if (autoConnect != null) {
            connectNew(now.entries());
        }
    }

    private void connectNew(List<DiscoveryLogEntry> entries) {
        for (DiscoveryLogEntry e : entries) {
            if (e.subtype() != DiscoveryLog.SUBTYPE_NVME || e.trtype() != DiscoveryLog.TRTYPE_TCP) {
                continue;
            }
            String key = key(e);
            if (connected.containsKey(key) || connecting.contains(key)) {
                continue;
            }
            if (parsePort(e.trsvcid()) < 1 || parsePort(e.trsvcid()) > 65535) {
                callListener(() -> listener.connectFailed(e, new IllegalArgumentException("entry for " + e.subnqn()
                        + " has trsvcid '" + e.trsvcid() + "' (expected a TCP port number)")));
                continue;
            }
            NvmeTcpHostOptions options;
            try {
                options = autoConnect.apply(e);
            } catch (RuntimeException failure) {
                callListener(() -> listener.connectFailed(e, failure));
                continue;
            }
            if (options == null) {
                continue;
            }
            connecting.add(key);
            String address = options.traddr() + ":" + options.trsvcid();
            log.info("discovery: connecting to {} at {}", e.subnqn(), address);
            NvmeTcpController.connect(loops, options).whenComplete((c, t) -> execute(() -> {
                connecting.remove(key);
                if (t != null) {
                    Throwable cause = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
                    log.warn("discovery: cannot connect to {} at {}: {}", e.subnqn(), address, cause.getMessage());
                    callListener(() -> listener.connectFailed(e, cause));
                } else if (closed) {
                    c.close();
                } else {
                    connected.put(key, c);
                    callListener(() -> listener.connected(e, c));
                }
            }, () -> {
                if (c != null) {
                    c.close();  // the discovery connection closed meanwhile
                }
            }));
        }
    }

    private static String key(DiscoveryLogEntry e) {
        return e.subnqn() + "|" + NvmeDiscovery.addressKey(e.traddr(), parsePort(e.trsvcid()));
    }

    private static int parsePort(String trsvcid) {
        try {
            return Integer.parseInt(trsvcid.trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private void callListener(Runnable call) {
        try {
            call.run();
        } catch (RuntimeException e) {
            log.warn("discovery listener failed: {}", e.toString(), e);
        }
    }

    private void execute(Runnable task) {
        execute(task, () -> { });
    }

    private void execute(Runnable task, Runnable ifClosed) {
        try {
            thread.execute(task);
        } catch (RejectedExecutionException closing) {
            ifClosed.run();
        }
    }

    /** The discovery controller's connection (its state, address, identify data). */
    public NvmeTcpController discoveryController() {
        return controller;
    }

    /** GENCTR of the last log read. */
    public long generation() {
        return generation;
    }

    /** Discovery Log Page Change notices received so far. */
    public long notices() {
        return notices;
    }

    /** The controllers auto-connect brought up, by "subnqn|traddr|trsvcid". */
    public Map<String, NvmeTcpController> connectedControllers() {
        return Map.copyOf(new LinkedHashMap<>(connected));
    }

    /**
     * Closes the discovery connection and every auto-connected controller, and stops the thread
     * (waiting for a listener call in progress unless called from one). Blocks a few seconds at most per controller.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        thread.shutdown();
        controller.close();
        if (!Thread.currentThread().getName().equals("nvme-discovery-" + controller.address())) {
            try {
                if (!thread.awaitTermination(10, TimeUnit.SECONDS)) {
                    log.warn("discovery thread for {} still busy after 10 s (a listener call is blocking)", controller.address());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (NvmeTcpController c : connected.values()) {
            c.close();
        }
        connected.clear();
    }

    private static <T> T join(java.util.concurrent.Future<T> f) {
        try {
            return f.get();
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while opening the discovery connection", e);
        }
    }

    private static <T> T join(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw e;
        }
    }
}
