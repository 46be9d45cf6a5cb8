package io.thermocline.nvmeof.target;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.Future;
import io.thermocline.nvmeof.pdu.AnaState;
import io.thermocline.nvmeof.auth.TlsPsk;
import io.thermocline.nvmeof.auth.TlsPskHandler;
import io.thermocline.nvmeof.pdu.PduDecoder;
import io.thermocline.nvmeof.pdu.PduEncoder;
import io.thermocline.nvmeof.pdu.PduSession;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A software NVMe/TCP target: serves {@link Subsystem}s and a discovery controller on one TCP
 * port, to the Linux kernel's nvme-tcp host ({@code nvme discover}, {@code nvme connect}) and to
 * Thermocline's own host.
 *
 * <pre>{@code
 * try (NvmeTcpTarget target = NvmeTcpTarget.builder()
 *         .port(4420)
 *         .subsystem(Subsystem.builder("nqn.2024-01.io.thermocline:demo")
 *                 .namespace(Namespace.openFile(Path.of("/var/lib/demo.img"), 1L << 30, 4096, false))
 *                 .allowHost("nqn.2014-08.org.nvmexpress:uuid:...")
 *                 .build())
 *         .build()) {
 *     InetSocketAddress at = target.start();
 *     ...
 * }
 * }</pre>
 *
 * <p>What it implements: NVMe/TCP Transport 1.0 (connection initialisation, every PDU, header and
 * data digests, R2T/H2CData with its own transfer tags, C2HData, TermReq on fatal errors), NVMe
 * over Fabrics 1.1 (Connect with the dynamic controller model, Property Get/Set, Disconnect,
 * keep-alive, SQ flow control or none), and of NVMe Base 2.0 / the NVM command set what a host
 * needs: Identify, Get Log Page (with the discovery log), Get/Set Features, Asynchronous Event
 * Request, Keep Alive, Abort, Read, Write, Flush, Write Zeroes, Dataset Management.
 *
 * <p><b>ANA.</b> For subsystems that report Asymmetric Namespace Access (see {@link Subsystem}),
 * this target — one port — holds the state of each ANA group: Optimized unless the builder or
 * {@link #anaState(String, int, AnaState)} says otherwise. Several targets serving the same
 * subsystem and namespaces are several ports of it, each with its own states. A change is
 * announced to every controller of the subsystem on this target that enabled ANA Change
 * notices, through an outstanding Asynchronous Event Request (NVMe Base 2.0 §5.2, §8.1.4), and
 * I/O to a namespace whose group is Inaccessible, in Persistent Loss or in Change completes with
 * the matching path-related status, which a multipath host retries elsewhere.
 *
 * <p><b>Discovery.</b> The discovery controller lists, for each host, the subsystems whose allow
 * list admits it (every host sees those that allow any host) and then the configured
 * {@link DiscoveryReferral referrals}. Subsystems and referrals can be added and removed while
 * running ({@link #addSubsystem}, {@link #removeSubsystem}, {@link #addReferral},
 * {@link #removeReferral}); each change increments the log's Generation Counter and sends a
 * Discovery Log Page Change notice to the discovery controllers of the hosts whose log changed,
 * if they enabled it (a host keeping a persistent discovery connection does).
 *
 * <p>Threads: one group of event loops, epoll where the native transport loads, NIO otherwise;
 * each connection (queue) is served on one loop, and block I/O completes on the namespace's own
 * threads before its response is sent from the loop. Nothing blocks a loop.
 *
 * <p>Thread-safe. {@link #close()} must not be called from one of the target's event loops.
 */
public final class NvmeTcpTarget implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NvmeTcpTarget.class);

    private final InetAddress bindAddress;
    private final int port;
    private final int eventLoopThreads;
    /**
     * The subsystems served, and by NQN: immutable snapshots replaced under {@link #discoveryLock}
     * when subsystems are added or removed at run time (see {@link #addSubsystem}).
     */
    private volatile List<Subsystem> subsystems;
    private volatile Map<String, Subsystem> byNqn;
    /** Referrals the discovery controller lists; replaced under {@link #discoveryLock}. */
    private volatile List<DiscoveryReferral> referrals;
    /**
     * GENCTR of the discovery log page (NVMe Base 2.0 §5.16.1.23): bumped on every change of the
     * subsystems or referrals, read with them under {@link #discoveryLock} so a page never pairs
     * one generation with another's entries.
     */
    private long discoveryGeneration = 1;
    private final Object discoveryLock = new Object();
    /** Subsystems removed at run time, whose close-with-target namespaces close with the target. */
    private final List<Subsystem> retired = new ArrayList<>();
    private final TargetConfig config;
    /** Configured TLS PSKs by host NQN; when any is set, every connection must start with TLS. */
    private final Map<String, TlsPsk> tlsKeys;
    private final Map<Integer, Controller> controllers = new ConcurrentHashMap<>();
    private final AtomicInteger nextCntlid = new AtomicInteger();
    private final int cntlidMin;
    private final int cntlidMax;
    private final int anaTransitionSeconds;
    private final Set<QueueConnection> connections = ConcurrentHashMap.newKeySet();
    /** Open connections by source address, and those without a successful Connect yet; under {@link #limits}. */
    private final Map<InetAddress, Integer> connectionsByAddress = new java.util.HashMap<>();
    private int unconnected;
    /** Controllers by host NQN; under {@link #limits}. */
    private final Map<String, Integer> controllersByHost = new java.util.HashMap<>();
    private final Object limits = new Object();
    private final AtomicLong refusedConnections = new AtomicLong();
    /** Read-only channels for zero-copy reads, by namespace; filled by start(), read-only after. */
    private final Map<Namespace, FileChannel> zeroCopy = Collections.synchronizedMap(new IdentityHashMap<>());
    /** ANA state by subsystem NQN and group; absent means Optimized. */
    private final Map<String, Map<Integer, AnaState>> anaStates = new ConcurrentHashMap<>();
    /** Change count of the ANA log page (NVMe Base 2.0 Figure 222): bumped on each state change. */
    private final AtomicLong anaChangeCount = new AtomicLong(1);
    private final AtomicLong anaRefusals = new AtomicLong();
    private final AtomicLong authentications = new AtomicLong();
    /**
     * Per-host rate limiters by subsystem (its identity: a subsystem removed and added again under
     * the same NQN starts afresh, with its own limits) and host NQN, made at the host's first I/O queue.
     */
    private final Map<Subsystem, Map<String, HostRateLimiter>> rateLimiters = Collections.synchronizedMap(new IdentityHashMap<>());
    /** Whether Identify Controller advertises service time reporting (VendorIdentify). */
    private final boolean serviceTimeReporting;
    private volatile boolean closing;
    private boolean started;
    private boolean closed;
    private EventLoopGroup group;
    private Channel server;
    private String transport = "none";

    private NvmeTcpTarget(Builder b) {
        this.bindAddress = b.bindAddress;
        this.port = b.port;
        this.eventLoopThreads = b.eventLoopThreads;
        this.subsystems = List.copyOf(b.subsystems.values());
        this.byNqn = Collections.unmodifiableMap(new LinkedHashMap<>(b.subsystems));
        this.referrals = List.copyOf(b.referrals);
        this.tlsKeys = Map.copyOf(b.tlsKeys);
        this.config = new TargetConfig(b.maxH2cData, b.inCapsuleDataSize, b.maxQueueSize, b.maxIoQueues, b.mdts,
                b.c2hSuccess, b.maxC2hDataPerPdu, b.portId, b.connectTimeout, b.shutdownTimeout, b.maxUnsentBytes,
                b.h2cDataTimeout, b.maxR2tBytesPerController, b.maxConnections, b.maxConnectionsPerAddress,
                b.maxUnconnected, b.maxControllersPerHost);
        b.anaStates.forEach((nqn, groups) -> anaStates.put(nqn, new ConcurrentHashMap<>(groups)));
        this.anaTransitionSeconds = b.anaTransitionSeconds;
        this.cntlidMin = b.cntlidMin;
        this.cntlidMax = b.cntlidMax;
        this.serviceTimeReporting = b.serviceTimeReporting;
    }

    /**
     * The TLS PSK for an identity a host offers: {@code NVMe0Rhh <hostnqn> <subnqn>} (version 0) or
     * {@code NVMe1Rhh <hostnqn> <subnqn> <digest>} (version 1, the digest matching the host's key),
     * naming a host with a configured key of hash {@code hh} and a subsystem of this target (NVMe/TCP
     * 1.1 §3.6.1.4); {@code null} otherwise. Whichever version the host offers is accepted.
     */
    private byte[] tlsPsk(String identity) {
        String[] f = identity.split(" ");
        if (f[0].length() != 8 || !(f[0].startsWith("NVMe0R") && f.length == 3 || f[0].startsWith("NVMe1R") && f.length == 4)) {
            return null;
        }
        int version = f[0].charAt(4) - '0';
        TlsPsk key = tlsKeys.get(f[1]);
        if (key == null || !f[0].substring(6).equals(String.format("%02d", key.hash())) || subsystem(f[2]) == null
                && !f[2].equals(io.thermocline.nvmeof.pdu.NvmeOpcodes.DISCOVERY_NQN)) {
            return null;
        }
        if (version == 1 && !f[3].equals(key.digest(f[1], f[2]))) {
            log.info("TLS: identity '{}' has a PSK digest that does not match the key configured for {} ({} derivation)",
                    identity, f[1], key.derivation());
            return null;
        }
        return key.tlsPsk(f[1], f[2], version);
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Opens the zero-copy files, binds the port and starts accepting connections.
     *
     * @return the address bound (with the actual port when the builder asked for port 0)
     * @throws UncheckedIOException if the port cannot be bound or a zero-copy file cannot be opened
     * @throws IllegalStateException if already started or closed
     */
    public synchronized InetSocketAddress start() {
        if (started || closed) {
            throw new IllegalStateException("target " + (closed ? "is closed" : "is started already")
                    + " (expected a new target)");
        }
        started = true;
        boolean ok = false;
        try {
            openZeroCopyFiles();
            boolean epoll = Epoll.isAvailable();
            IoHandlerFactory factory = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
            transport = epoll ? "epoll" : "nio";
            group = new MultiThreadIoEventLoopGroup(eventLoopThreads, new DefaultThreadFactory("nvme-target", true), factory);
            Class<? extends ServerChannel> serverType = epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
            ServerBootstrap bootstrap = new ServerBootstrap()
                    .group(group)
                    .channel(serverType)
                    .option(ChannelOption.SO_BACKLOG, 128)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    // a host that vanished without a FIN or RST is found and its connection reaped
                    .childOption(ChannelOption.SO_KEEPALIVE, true)
                    // backpressure: above the high mark a connection stops reading (QueueConnection)
                    .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK,
                            new io.netty.channel.WriteBufferWaterMark(config.maxUnsentBytes() / 2, config.maxUnsentBytes()))
                    .childHandler(new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            int firstCapsuleLimit = Math.max(TargetConfig.ADMIN_IN_CAPSULE_DATA_SIZE, config.ioInCapsuleDataSize());
                            PduSession session = new PduSession(PduSession.Role.CONTROLLER, firstCapsuleLimit, config.maxH2cData());
                            PduEncoder encoder = new PduEncoder(session);
                            // responses written while a batch of commands is being read leave in one write
                            if (!tlsKeys.isEmpty()) {
                                // a TLS port (NVMe/TCP 1.1 §3.6): TLS 1.3 with a PSK before ICReq, nothing in clear
                                ch.pipeline().addLast("tls", TlsPskHandler.server(NvmeTcpTarget.this::tlsPsk));
                            }
                            ch.pipeline().addLast("flush", new FlushConsolidationHandler(64, true));
                            ch.pipeline().addLast("nvme-tcp-decoder", new PduDecoder(session, encoder));
                            ch.pipeline().addLast("nvme-queue", new QueueConnection(NvmeTcpTarget.this, session, encoder));
                        }
                    });
            ChannelFuture bound = bootstrap.bind(bindAddress, port).awaitUninterruptibly();
            if (!bound.isSuccess()) {
                Throwable cause = bound.cause();
                throw new UncheckedIOException("cannot listen on " + bindAddress.getHostAddress() + ":" + port + ": " + cause,
                        cause instanceof IOException io ? io : new IOException(cause));
            }
            server = bound.channel();
            InetSocketAddress at = (InetSocketAddress) server.localAddress();
            log.info("NVMe/TCP target listening on {}:{} ({}), subsystems {}", at.getAddress().getHostAddress(), at.getPort(),
                    transport, subsystemNqns());
            ok = true;
            return at;
        } finally {
            if (!ok) {
                shutdownQuietly();
            }
        }
    }

    private void openZeroCopyFiles() {
        openZeroCopyFiles(subsystems);
    }

    private void openZeroCopyFiles(List<Subsystem> subsystems) {
        if (!tlsKeys.isEmpty()) {
            return;  // sendfile(2) would bypass TLS: a TLS port reads through the block device
        }
        for (Subsystem s : subsystems) {
            for (Namespace ns : s.namespaces()) {
                if (ns.zeroCopyFile() == null || zeroCopy.containsKey(ns)) {
                    continue;
                }
                try {
                    FileChannel ch = FileChannel.open(ns.zeroCopyFile(), StandardOpenOption.READ);
                    zeroCopy.put(ns, ch);
                    long size = ch.size();
                    if (size < ns.device().sizeInBytes()) {
                        throw new IllegalArgumentException("zero-copy file " + ns.zeroCopyFile() + " has " + size
                                + " bytes (expected at least the namespace's " + ns.device().sizeInBytes() + ")");
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot open " + ns.zeroCopyFile() + " for zero-copy reads: " + e, e);
                }
            }
        }
    }

    /** The bound address, or {@code null} before {@link #start()}. */
    public synchronized InetSocketAddress address() {
        return server == null ? null : (InetSocketAddress) server.localAddress();
    }

    /** "epoll" or "nio" once started. */
    public synchronized String transport() {
        return transport;
    }

    public List<Subsystem> subsystems() {
        return subsystems;
    }

    /**
     * Stops accepting connections, lets the commands in flight finish (up to the shutdown timeout;
     * new ones complete with Command Aborted due to SQ Deletion), closes every connection, stops
     * the event loops, and closes the namespaces marked {@link Namespace#closeWithTarget()}.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            closing = true;
        }
        if (server != null) {
            server.close().awaitUninterruptibly();
        }
        long deadline = System.nanoTime() + config.shutdownTimeout().toNanos();
        List<Future<Void>> drains = new ArrayList<>();
        for (QueueConnection q : connections) {
            drains.add(q.drain());
        }
        for (Future<Void> d : drains) {
            long left = deadline - System.nanoTime();
            if (left <= 0 || !d.awaitUninterruptibly(left, TimeUnit.NANOSECONDS)) {
                log.warn("commands still in flight after the shutdown timeout of {} ms: closing their connections",
                        config.shutdownTimeout().toMillis());
                break;
            }
        }
        List<Future<Void>> closes = new ArrayList<>();
        for (QueueConnection q : connections) {
            closes.add(q.channel().close());
        }
        for (Future<Void> c : closes) {
            c.awaitUninterruptibly(1, TimeUnit.SECONDS);
        }
        shutdownQuietly();
        log.info("NVMe/TCP target closed");
    }

    private void shutdownQuietly() {
        if (group != null) {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
        }
        synchronized (zeroCopy) {
            for (FileChannel ch : zeroCopy.values()) {
                try {
                    ch.close();
                } catch (IOException e) {
                    log.debug("closing a zero-copy channel: {}", e.toString());
                }
            }
            zeroCopy.clear();
        }
        if (closed) {
            Set<Namespace> seen = Collections.newSetFromMap(new IdentityHashMap<>());
            List<Subsystem> all = new ArrayList<>(subsystems);
            synchronized (retired) {
                all.addAll(retired);
            }
            for (Subsystem s : all) {
                for (Namespace ns : s.namespaces()) {
                    if (ns.closeWithTarget() && seen.add(ns)) {
                        try {
                            ns.device().close();
                        } catch (RuntimeException e) {
                            log.warn("closing namespace {}: {}", ns.device().name(), e.toString());
                        }
                    }
                }
            }
        }
    }

    /**
     * Changes the ANA state of group {@code groupId} of subsystem {@code nqn} on this target, and
     * sends an ANA Change notice to each of the subsystem's controllers here that asked for them
     * (held until the controller has an Asynchronous Event Request outstanding). Commands already
     * running finish; commands that arrive after this returns see the new state.
     *
     * @throws IllegalArgumentException if the subsystem is not served here, reports no ANA, or has no such group
     */
    public void anaState(String nqn, int groupId, AnaState state) {
        Objects.requireNonNull(state, "state");
        Subsystem s = checkAnaGroup(byNqn, nqn, groupId);
        AnaState old = anaStates.computeIfAbsent(nqn, k -> new ConcurrentHashMap<>()).put(groupId, state);
        if (old == state) {
            return;
        }
        anaChangeCount.incrementAndGet();
        log.info("ANA group {} of {} on port {}: {} -> {}", groupId, nqn, port, old == null ? AnaState.OPTIMIZED : old, state);
        for (Controller c : controllers.values()) {
            if (c.subsystem == s) {
                c.anaChanged();
            }
        }
    }

    /** The ANA state of group {@code groupId} of subsystem {@code nqn} on this target. */
    public AnaState anaState(String nqn, int groupId) {
        checkAnaGroup(byNqn, nqn, groupId);
        return anaStates.getOrDefault(nqn, Map.of()).getOrDefault(groupId, AnaState.OPTIMIZED);
    }

    private static Subsystem checkAnaGroup(Map<String, Subsystem> byNqn, String nqn, int groupId) {
        Subsystem s = byNqn.get(nqn);
        if (s == null) {
            throw new IllegalArgumentException("subsystem '" + nqn + "' (expected one of " + byNqn.keySet() + ")");
        }
        if (!s.anaGroupIds().contains(groupId)) {
            throw new IllegalArgumentException("ANA group " + groupId + " of " + nqn + " (expected one of " + s.anaGroupIds()
                    + (s.reportsAna() ? "" : ": the subsystem reports no ANA; add namespaces with an ANA group ID") + ")");
        }
        return s;
    }

    // ---------------------------------------------------------------- for queues and controllers

    /** The ANA state of a namespace on this target: Optimized when the subsystem reports no ANA. */
    AnaState anaStateOf(Subsystem s, int nsid) {
        if (!s.reportsAna()) {
            return AnaState.OPTIMIZED;
        }
        return anaStates.getOrDefault(s.nqn(), Map.of()).getOrDefault(s.anaGroupId(nsid), AnaState.OPTIMIZED);
    }

    int anaTransitionSeconds() {
        return anaTransitionSeconds;
    }

    long anaChangeCount() {
        return anaChangeCount.get();
    }

    /** Counts an I/O command refused because its namespace's ANA group is not usable here. */
    void anaRefused() {
        anaRefusals.incrementAndGet();
    }

    /**
     * I/O commands this target refused with a path-related status because the namespace's ANA
     * group was Inaccessible, in Persistent Loss or in Change here: what a host sent to a path it
     * should not have used (or before it heard of the change).
     */
    public long anaRefusals() {
        return anaRefusals.get();
    }

    /** Counts a successful DH-HMAC-CHAP transaction on a queue. */
    void authenticated() {
        authentications.incrementAndGet();
    }

    /**
     * Successful DH-HMAC-CHAP transactions on this target's queues since it started: one per queue
     * at connect, and one more per queue each time a host re-authenticates it.
     */
    public long authentications() {
        return authentications.get();
    }

    TargetConfig config() {
        return config;
    }

    /**
     * What the rate limiter of host {@code hostNqn} on subsystem {@code subsystemNqn} has done, or
     * {@code null} when that host is not limited there or has not connected an I/O queue yet.
     */
    public HostRateStats rateLimitStats(String subsystemNqn, String hostNqn) {
        Subsystem s = subsystem(subsystemNqn);
        Map<String, HostRateLimiter> hosts = s == null ? null : rateLimiters.get(s);
        HostRateLimiter l = hosts == null ? null : hosts.get(hostNqn);
        return l == null ? null : l.stats();
    }

    /** The limiter one host shares across its controllers and queues on a subsystem, or null when it is not limited. */
    HostRateLimiter rateLimiter(Subsystem s, String hostNqn) {
        HostRateLimit limit = s.hostRateLimit(hostNqn);
        if (limit == null) {
            return null;
        }
        return rateLimiters.computeIfAbsent(s, k -> new ConcurrentHashMap<>()).computeIfAbsent(hostNqn, k -> {
            log.info("host {} on {}: rate limit {}", hostNqn, s.nqn(), limit);
            return new HostRateLimiter(limit);
        });
    }

    /** Whether this target offers per-command service times to hosts that opt in (see VendorIdentify). */
    boolean serviceTimeReporting() {
        return serviceTimeReporting;
    }

    Subsystem subsystem(String nqn) {
        return byNqn.get(nqn);
    }

    List<String> subsystemNqns() {
        return subsystems.stream().map(Subsystem::nqn).toList();
    }

    /** The subsystems a host may connect to: the entries of its discovery log page. */
    List<Subsystem> subsystemsFor(String hostNqn) {
        return subsystems.stream().filter(s -> s.allows(hostNqn)).toList();
    }

    /** What one host's discovery log page holds, with the generation it belongs to. */
    record DiscoveryView(long generation, List<Subsystem> subsystems, List<DiscoveryReferral> referrals) {
    }

    /**
     * The discovery log as host {@code hostNqn} sees it: the subsystems whose allow list admits it
     * (every host sees those that allow any host), then every referral.
     */
    DiscoveryView discoveryView(String hostNqn) {
        synchronized (discoveryLock) {
            return new DiscoveryView(discoveryGeneration, subsystemsFor(hostNqn), referrals);
        }
    }

    /** GENCTR of the discovery log page now: 1 for the log the target was built with, then one more per change. */
    public long discoveryGeneration() {
        synchronized (discoveryLock) {
            return discoveryGeneration;
        }
    }

    /** The referrals the discovery controller lists now. */
    public List<DiscoveryReferral> referrals() {
        return referrals;
    }

    /**
     * Serves another subsystem from now on. It appears in the discovery log of each host it
     * allows, with a new generation, and each of those hosts' discovery controllers that enabled
     * Discovery Log Page Change notices gets one (see {@link Controller#discoveryLogChanged()}).
     *
     * @throws IllegalArgumentException if a subsystem of that NQN is served already
     * @throws IllegalStateException if the target is closed
     * @throws UncheckedIOException if a zero-copy file of its namespaces cannot be opened
     */
    public void addSubsystem(Subsystem subsystem) {
        Objects.requireNonNull(subsystem, "subsystem");
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("target is closed (expected an open target to add " + subsystem.nqn() + " to)");
            }
            synchronized (discoveryLock) {
                if (byNqn.containsKey(subsystem.nqn())) {
                    throw new IllegalArgumentException("subsystem NQN " + subsystem.nqn()
                            + " is served already (expected a new NQN; remove the old one first)");
                }
            }
            if (started) {
                openZeroCopyFiles(List.of(subsystem));
            }
            synchronized (discoveryLock) {
                Map<String, Subsystem> next = new LinkedHashMap<>(byNqn);
                next.put(subsystem.nqn(), subsystem);
                byNqn = Collections.unmodifiableMap(next);
                subsystems = List.copyOf(next.values());
                discoveryGeneration++;
            }
        }
        log.info("subsystem {} added on port {}; discovery log generation {}", subsystem.nqn(), port, discoveryGeneration());
        discoveryChanged(subsystem::allows);
    }

    /**
     * Stops serving subsystem {@code nqn}: new Connects to it are refused, the associations of
     * its controllers end (their hosts see the connections close), and it leaves the discovery log
     * of each host it allowed, who is notified as for {@link #addSubsystem}. Its namespaces marked
     * {@link Namespace#closeWithTarget()} close with the target, not now.
     *
     * @return false if no such subsystem was served
     */
    public boolean removeSubsystem(String nqn) {
        Subsystem removed;
        synchronized (discoveryLock) {
            removed = byNqn.get(nqn);
            if (removed == null) {
                return false;
            }
            Map<String, Subsystem> next = new LinkedHashMap<>(byNqn);
            next.remove(nqn);
            byNqn = Collections.unmodifiableMap(next);
            subsystems = List.copyOf(next.values());
            discoveryGeneration++;
        }
        synchronized (retired) {
            retired.add(removed);
        }
        rateLimiters.remove(removed);  // its hosts' buckets go with it
        log.info("subsystem {} removed from port {}; discovery log generation {}", nqn, port, discoveryGeneration());
        for (Controller c : controllers.values()) {
            if (c.subsystem == removed) {
                c.destroy("subsystem " + nqn + " was removed");
            }
        }
        discoveryChanged(removed::allows);
        return true;
    }

    /**
     * Lists a referral to another discovery controller from now on (every host sees referrals).
     *
     * @return false if the same referral (address, port and PORTID) is listed already
     */
    public boolean addReferral(DiscoveryReferral referral) {
        Objects.requireNonNull(referral, "referral");
        synchronized (discoveryLock) {
            if (referrals.contains(referral)) {
                return false;
            }
            List<DiscoveryReferral> next = new ArrayList<>(referrals);
            next.add(referral);
            referrals = List.copyOf(next);
            discoveryGeneration++;
        }
        log.info("referral to {}:{} added on port {}", referral.traddr(), referral.trsvcid(), port);
        discoveryChanged(host -> true);
        return true;
    }

    /** Stops listing a referral; false if it was not listed. */
    public boolean removeReferral(DiscoveryReferral referral) {
        synchronized (discoveryLock) {
            if (!referrals.contains(referral)) {
                return false;
            }
            List<DiscoveryReferral> next = new ArrayList<>(referrals);
            next.remove(referral);
            referrals = List.copyOf(next);
            discoveryGeneration++;
        }
        log.info("referral to {}:{} removed from port {}", referral.traddr(), referral.trsvcid(), port);
        discoveryChanged(host -> true);
        return true;
    }

    /** Tells the discovery controllers of the hosts whose log changed. */
    private void discoveryChanged(java.util.function.Predicate<String> affectsHost) {
        for (Controller c : controllers.values()) {
            if (c.discovery() && affectsHost.test(c.hostNqn)) {
                c.discoveryLogChanged();
            }
        }
    }

    FileChannel zeroCopyChannel(Namespace ns) {
        return zeroCopy.get(ns);
    }

    /** A controller with a fresh CNTLID (within the configured range, reused last), or {@code null} if all are taken. */
    Controller newController(Subsystem subsystem, String hostNqn, UUID hostId, QueueConnection admin, int katoMillis) {
        int range = cntlidMax - cntlidMin + 1;
        for (int tries = 0; tries < range; tries++) {
            int id = Math.floorMod(nextCntlid.getAndIncrement(), range) + cntlidMin;
            Controller c = new Controller(this, id, subsystem, hostNqn, hostId, admin, katoMillis);
            if (controllers.putIfAbsent(id, c) == null) {
                return c;
            }
        }
        return null;
    }

    /**
     * Takes one of the {@link TargetConfig#maxControllersPerHost()} controllers host {@code hostNqn}
     * may hold; false when it holds them all. Given back by {@link #controllerReleased}.
     */
    boolean reserveController(String hostNqn) {
        synchronized (limits) {
            int held = controllersByHost.getOrDefault(hostNqn, 0);
            if (held >= config.maxControllersPerHost()) {
                return false;
            }
            controllersByHost.put(hostNqn, held + 1);
            return true;
        }
    }

    void controllerReleased(String hostNqn) {
        synchronized (limits) {
            controllersByHost.computeIfPresent(hostNqn, (k, n) -> n <= 1 ? null : n - 1);
        }
    }

    Controller controller(int cntlid) {
        return controllers.get(cntlid);
    }

    void forgetController(Controller c) {
        if (controllers.remove(c.cntlid, c)) {
            controllerReleased(c.hostNqn);
        }
    }

    int controllerCount() {
        return controllers.size();
    }

    /**
     * Admits a new connection within the limits (in total, per source address, not yet connected);
     * false, and nothing counted, when one is reached or the target is closing.
     */
    boolean connectionOpened(QueueConnection q) {
        InetAddress from = q.channel().remoteAddress() instanceof InetSocketAddress a ? a.getAddress() : null;
        synchronized (limits) {
            String refusal = null;
            int fromThere = from == null ? 0 : connectionsByAddress.getOrDefault(from, 0);
            if (connections.size() >= config.maxConnections()) {
                refusal = connections.size() + " connections are open (the most allowed: max-connections "
                        + config.maxConnections() + ")";
            } else if (fromThere >= config.maxConnectionsPerAddress()) {
                refusal = fromThere + " connections from " + from.getHostAddress()
                        + " are open (the most allowed: max-connections-per-address " + config.maxConnectionsPerAddress() + ")";
            } else if (unconnected >= config.maxUnconnected()) {
                refusal = unconnected + " connections have not completed a Connect yet (the most allowed: "
                        + "max-unconnected " + config.maxUnconnected() + ")";
            }
            if (refusal != null) {
                long n = refusedConnections.incrementAndGet();
                if (n == 1 || Long.bitCount(n) == 1) {  // once, then at powers of two: a flood does not flood the log
                    log.warn("refusing a connection from {}: {} ({} refused so far)", q.channel().remoteAddress(), refusal, n);
                }
                return false;
            }
            connections.add(q);
            if (closing) {
                connections.remove(q);
                return false;
            }
            if (from != null) {
                connectionsByAddress.merge(from, 1, Integer::sum);
            }
            unconnected++;
            return true;
        }
    }

    /** A counted connection completed its Connect: it no longer counts as not yet connected. */
    void connectionConnected(QueueConnection q) {
        synchronized (limits) {
            if (connections.contains(q)) {
                unconnected--;
            }
        }
    }

    /** A connection admitted by {@link #connectionOpened} closed; {@code connected} says whether its Connect succeeded. */
    void connectionClosed(QueueConnection q, boolean connected) {
        InetAddress from = q.channel().remoteAddress() instanceof InetSocketAddress a ? a.getAddress() : null;
        synchronized (limits) {
            if (!connections.remove(q)) {
                return;
            }
            if (from != null) {
                connectionsByAddress.computeIfPresent(from, (k, n) -> n <= 1 ? null : n - 1);
            }
            if (!connected) {
                unconnected--;
            }
        }
    }

    /** Connections refused because a connection limit was reached. */
    public long refusedConnections() {
        return refusedConnections.get();
    }

    /** The channels of the connections open now (for tests). */
    List<Channel> openChannels() {
        List<Channel> all = new ArrayList<>();
        for (QueueConnection q : connections) {
            all.add(q.channel());
        }
        return all;
    }

    /** Builds an {@link NvmeTcpTarget}. Not thread-safe. */
    public static final class Builder {
        private InetAddress bindAddress;
        private int port = 4420;
        private int eventLoopThreads = Math.min(4, Runtime.getRuntime().availableProcessors());
        private final Map<String, Subsystem> subsystems = new LinkedHashMap<>();
        private int maxH2cData = 128 * 1024;
        private int inCapsuleDataSize = 16 * 1024;
        private int maxQueueSize = 128;
        private int maxIoQueues = 16;
        private int mdts = 8;
        private boolean c2hSuccess;
        private int maxC2hDataPerPdu = 128 * 1024;
        private int portId = 1;
        private Duration connectTimeout = Duration.ofSeconds(30);
        private Duration shutdownTimeout = Duration.ofSeconds(5);
        private final Map<String, TlsPsk> tlsKeys = new LinkedHashMap<>();
        private final List<DiscoveryReferral> referrals = new ArrayList<>();
        private final Map<String, Map<Integer, AnaState>> anaStates = new LinkedHashMap<>();
        private int anaTransitionSeconds = 10;
        private int cntlidMin = 1;
        private int cntlidMax = 0xFFEF;
        private boolean serviceTimeReporting = true;
        private int maxUnsentBytes = 4 << 20;
        private Duration h2cDataTimeout = Duration.ofSeconds(30);
        private long maxR2tBytesPerController = 64L << 20;
        private int maxConnections = 4096;
        private int maxConnectionsPerAddress = 512;
        private int maxUnconnected = 256;
        private int maxControllersPerHost = 128;

        private Builder() {
            try {
                bindAddress = InetAddress.getByAddress("127.0.0.1", new byte[] {127, 0, 0, 1});
            } catch (UnknownHostException e) {
                throw new IllegalStateException(e);
            }
        }

        /** The address to listen on; default 127.0.0.1. */
        public Builder bindAddress(InetAddress address) {
            this.bindAddress = Objects.requireNonNull(address, "bind address");
            return this;
        }

        /** The address to listen on, as a literal or a name; default 127.0.0.1. */
        public Builder bindAddress(String address) {
            try {
                return bindAddress(InetAddress.getByName(Objects.requireNonNull(address, "bind address")));
            } catch (UnknownHostException e) {
                throw new IllegalArgumentException("bind address: '" + address + "' does not resolve (expected an IP address)", e);
            }
        }

        /** TCP port; 0 picks a free one (see {@link #start()}); default 4420, NVMe/TCP's well-known port. */
        public Builder port(int port) {
            this.port = check("port", port, 0, 65535);
            return this;
        }

        /** Adds a subsystem; NQNs must be distinct. */
        public Builder subsystem(Subsystem subsystem) {
            Objects.requireNonNull(subsystem, "subsystem");
            if (subsystems.putIfAbsent(subsystem.nqn(), subsystem) != null) {
                throw new IllegalArgumentException("subsystem NQN " + subsystem.nqn() + " is added twice (expected distinct NQNs)");
            }
            return this;
        }

        /**
         * The ANA state group {@code groupId} of subsystem {@code nqn} starts in on this target;
         * default Optimized. Add the subsystem first.
         */
        public Builder anaState(String nqn, int groupId, AnaState state) {
            Objects.requireNonNull(state, "state");
            checkAnaGroup(subsystems, nqn, groupId);
            anaStates.computeIfAbsent(nqn, k -> new LinkedHashMap<>()).put(groupId, state);
            return this;
        }

        /**
         * The controller IDs this target hands out (NVMe over Fabrics: 1..FFEFh; default all of
         * them). Several targets serving one subsystem — its ports — need disjoint ranges, as the
         * kernel's nvmet has {@code cntlid_min}/{@code cntlid_max}: a host's multipath tells a
         * subsystem's controllers apart by CNTLID, and Linux refuses a second controller with an ID
         * it already holds for the subsystem.
         */
        public Builder controllerIds(int min, int max) {
            check("minimum controller ID", min, 1, 0xFFEF);
            check("maximum controller ID", max, min, 0xFFEF);
            this.cntlidMin = min;
            this.cntlidMax = max;
            return this;
        }

        /**
         * ANATT, the most seconds an ANA group of this target stays in the Change state (1..255;
         * default 10). State changes here are instant; hosts reset a controller whose group stays
         * in Change much longer than this (Linux after twice ANATT).
         */
        public Builder anaTransitionTime(Duration anaTransitionTime) {
            long seconds = checkPositive("ANA transition time", anaTransitionTime).toSeconds();
            this.anaTransitionSeconds = (int) check("ANA transition time in seconds", (int) Math.min(seconds, 256), 1, 255);
            return this;
        }

        /** Event loop threads serving connections; default min(4, processors). */
        public Builder eventLoopThreads(int threads) {
            this.eventLoopThreads = check("event loop threads", threads, 1, 1024);
            return this;
        }

        /** MAXH2CDATA: the most data one H2CData PDU (and one R2T) carries; default 128 KiB. */
        public Builder maxH2cData(int bytes) {
            check("MAXH2CDATA", bytes, 4096, 16 << 20);
            if (bytes % 4 != 0) {
                throw new IllegalArgumentException("MAXH2CDATA: " + bytes + " (expected a multiple of 4, which the Linux host requires)");
            }
            this.maxH2cData = bytes;
            return this;
        }

        /**
         * The most in-capsule data an I/O queue command may carry (reported as IOCCSZ); the Linux
         * host sends writes up to this size inside the capsule. Default 16 KiB; 0 sends every
         * write through R2T.
         */
        public Builder inCapsuleDataSize(int bytes) {
            check("in-capsule data size", bytes, 0, 1 << 20);
            if (bytes % 16 != 0) {
                throw new IllegalArgumentException("in-capsule data size: " + bytes + " (expected a multiple of 16: IOCCSZ counts 16-byte units)");
            }
            this.inCapsuleDataSize = bytes;
            return this;
        }

        /** The most entries an I/O queue may have (CAP.MQES + 1, and MAXCMD); default 128. */
        public Builder maxQueueSize(int entries) {
            this.maxQueueSize = check("max queue size", entries, 2, 1024);
            return this;
        }

        /** The most I/O queues one controller may create; default 16. */
        public Builder maxIoQueues(int queues) {
            this.maxIoQueues = check("max I/O queues", queues, 1, 1024);
            return this;
        }

        /** MDTS: transfers of at most 2^mdts × 4 KiB; default 8 (1 MiB). */
        public Builder mdts(int mdts) {
            this.mdts = check("MDTS", mdts, 1, 12);
            return this;
        }

        /**
         * On a queue whose SQ flow control is disabled, complete reads with SUCCESS in the last
         * C2HData instead of a CapsuleResp; default off.
         */
        public Builder c2hSuccessOptimization(boolean on) {
            this.c2hSuccess = on;
            return this;
        }

        /** The most data bytes per C2HData PDU; longer reads are split. Default 128 KiB. */
        public Builder maxC2hDataPerPdu(int bytes) {
            this.maxC2hDataPerPdu = check("C2HData size", bytes, 512, 16 << 20);
            return this;
        }

        /**
         * Lists a referral to another discovery controller in this target's discovery log
         * (subtype 1h entries, after the subsystems); repeatable, none by default. See also
         * {@link NvmeTcpTarget#addReferral} to add one at run time.
         */
        public Builder referral(DiscoveryReferral referral) {
            Objects.requireNonNull(referral, "referral");
            if (!referrals.contains(referral)) {
                referrals.add(referral);
            }
            return this;
        }

        /** PORTID reported in discovery log entries; default 1. */
        public Builder portId(int portId) {
            this.portId = check("port ID", portId, 0, 0xFFFE);
            return this;
        }

        /** How long a new connection has for ICReq and a successful Connect; default 30 s. */
        public Builder connectTimeout(Duration timeout) {
            this.connectTimeout = checkPositive("connect timeout", timeout);
            return this;
        }

        /** How long {@link #close()} waits for commands in flight; default 5 s. */
        public Builder shutdownTimeout(Duration timeout) {
            this.shutdownTimeout = checkPositive("shutdown timeout", timeout);
            return this;
        }

        /**
         * Makes this a TLS port (NVMe/TCP 1.1 §3.6, TP8011) and lets {@code hostNqn} in with the
         * configured PSK {@code key} ({@code NVMeTLSkey-1:01:...:}): every connection must then
         * start with a TLS 1.3 handshake offering the identity {@code NVMe0Rhh <hostnqn> <subnqn>}
         * of a host given here. Repeatable, one key per host; off by default.
         */
        public Builder tlsKey(String hostNqn, TlsPsk key) {
            tlsKeys.put(Subsystem.checkNqn("host NQN", hostNqn), java.util.Objects.requireNonNull(key, "key"));
            return this;
        }

        /**
         * Whether Identify Controller advertises, in its vendor specific area, that Read and Write
         * completions can carry the target's service time for hosts that opt in (default on; see
         * {@link io.thermocline.nvmeof.pdu.VendorIdentify}). Off, the target looks like any other.
         */
        public Builder serviceTimeReporting(boolean on) {
            this.serviceTimeReporting = on;
            return this;
        }

        /**
         * The most bytes of responses a connection may have queued and not yet sent before it stops
         * reading commands (it reads again once they fall below half); default 4 MiB. A host that
         * does not read its socket so holds at most this, plus its queue's commands in flight.
         */
        public Builder maxUnsentBytes(int bytes) {
            this.maxUnsentBytes = check("max unsent bytes", bytes, 64 * 1024, 1 << 30);
            return this;
        }

        /**
         * How long an R2T may go unanswered — no H2CData arriving for a Write that waits for data —
         * before the connection is ended; default 30 s.
         */
        public Builder h2cDataTimeout(Duration timeout) {
            this.h2cDataTimeout = checkPositive("H2C data timeout", timeout);
            return this;
        }

        /**
         * The most bytes of buffers the queues of one controller hold for Write data asked for with
         * R2T and not yet received; further Writes get their R2T once buffers free. One Write is
         * always let through, whatever its size. Default 64 MiB.
         */
        public Builder maxR2tBytesPerController(long bytes) {
            if (bytes < 4096 || bytes > 1L << 40) {
                throw new IllegalArgumentException("max R2T bytes per controller: " + bytes + " (expected 4096.." + (1L << 40) + ")");
            }
            this.maxR2tBytesPerController = bytes;
            return this;
        }

        /** The most connections open at once; more are closed as they arrive. Default 4096. */
        public Builder maxConnections(int connections) {
            this.maxConnections = check("max connections", connections, 1, 1 << 20);
            return this;
        }

        /** The most connections open at once from one source IP address; default 512. */
        public Builder maxConnectionsPerAddress(int connections) {
            this.maxConnectionsPerAddress = check("max connections per address", connections, 1, 1 << 20);
            return this;
        }

        /**
         * The most connections open at once that have not completed a Connect (they have the connect
         * timeout to do so); default 256.
         */
        public Builder maxUnconnected(int connections) {
            this.maxUnconnected = check("max unconnected connections", connections, 1, 1 << 20);
            return this;
        }

        /**
         * The most controllers one host NQN may hold at once, discovery controllers included; its
         * next admin Connect is refused with Controller Busy. Default 128.
         */
        public Builder maxControllersPerHost(int controllers) {
            this.maxControllersPerHost = check("max controllers per host", controllers, 1, 0xFFEF);
            return this;
        }

        public NvmeTcpTarget build() {
            return new NvmeTcpTarget(this);
        }

        private static int check(String what, int value, int min, int max) {
            if (value < min || value > max) {
                throw new IllegalArgumentException(what + ": " + value + " (expected " + min + ".." + max + ")");
            }
            return value;
        }

        private static Duration checkPositive(String what, Duration d) {
            Objects.requireNonNull(d, what);
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(what + ": " + d + " (expected a positive duration)");
            }
            return d;
        }
    }
}
