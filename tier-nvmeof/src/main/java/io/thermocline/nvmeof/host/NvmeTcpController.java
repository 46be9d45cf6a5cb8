package io.thermocline.nvmeof.host;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;
import io.thermocline.nvmeof.pdu.AnaState;
import io.thermocline.nvmeof.pdu.Cqe;
import io.thermocline.nvmeof.pdu.Fabrics;
import io.thermocline.nvmeof.pdu.IdentifyLayout;
import io.thermocline.nvmeof.pdu.VendorIdentify;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.NvmeStatus;
import io.thermocline.nvmeof.pdu.Sqe;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The host's side of one NVMe/TCP controller: an association of an admin queue and
 * {@code nr-io-queues} (+ {@code nr-write-queues}) I/O queues, each its own connection, and the
 * associations that replace it when the path fails.
 *
 * <p><b>Bring-up</b> (NVMe Base 2.0 §3.5.2 "Controller Initialization" as adapted by NVMe-oF
 * 1.1 §3.3 and §3.5): connect the admin queue (ICReq/ICResp, then Fabrics Connect with the
 * dynamic controller ID 0xFFFF; the response names the controller), read CAP and VS with
 * Property Get, write CC (EN, 64-byte SQEs, 16-byte CQEs) with Property Set and wait for
 * CSTS.RDY, Identify Controller, Set Features Number of Queues, then connect each I/O queue
 * naming the controller ID. When the controller reports ANA (CMIC bit 3), the ANA log page is
 * read before the association counts as live, ANA Change notices are enabled (Asynchronous Event
 * Configuration bit 11) and one Asynchronous Event Request is kept outstanding; each ANA Change
 * notice re-reads the log (NVMe Base 2.0 §8.1, §5.2).
 *
 * <p><b>Losing the path.</b> The association ends when any of its connections ends (a reset is
 * noticed at once), when it goes silent — no PDU on any of its queues for keep-alive-tmo while a
 * command has been outstanding that long (Keep Alive goes out every KATO/2, so a live target is
 * never silent and an idle path has a command outstanding too) — or when a command passes the
 * command timeout. The state becomes {@link State#RECONNECTING}: the queues close,
 * their commands fail with scope {@link NvmeException.Scope#QUEUE} (the block device retries
 * them, see {@link NvmeTcpBlockDevice}), and a new association is attempted every
 * reconnect-delay until ctrl-loss-tmo has passed since the loss, after which the controller is
 * {@link State#DELETED} for good. fast-io-fail-tmo after the loss, {@link #failsFast()} turns
 * true: I/O waiting for this path gives up while the attempts go on (the kernel's rules).
 *
 * <p><b>Shutdown</b> is orderly: keep-alive stops, I/O queues close, CC.SHN asks for a normal
 * shutdown and CSTS.SHST is awaited (bounded), then the admin queue closes.
 *
 * <p>Thread-safe. Futures complete on event loops (see {@link QueuePair}).
 */
public final class NvmeTcpController implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NvmeTcpController.class);
    /** In-capsule data the admin queue accepts (NVMe/TCP 1.0 §3.3: 8 KiB, as nvmet-tcp). */
    static final int ADMIN_IN_CAPSULE = 8192;
    private static final int MEMORY_PAGE_SIZE = 4096;
    /** Asynchronous Event Configuration (feature 0Bh) bit 11: ANA Change notices (NVMe Base 2.0 Figure 326). */
    private static final int AEC_ANA_CHANGE = 1 << 11;
    /** Asynchronous event type Notice (CQE DW0 bits 2:0) and its information ANA Change (bits 15:8) — Figures 146, 149. */
    private static final int AE_TYPE_NOTICE = 2;
    private static final int AE_NOTICE_ANA_CHANGE = 3;

    /** Where the controller is in its life. */
    public enum State {
        /** An association is up; I/O may be sent. */
        LIVE,
        /** The association was lost; attempts to connect again go on until ctrl-loss-tmo. */
        RECONNECTING,
        /** ctrl-loss-tmo passed without a new association: the controller will not come back. */
        DELETED,
        /** Closed by its owner. */
        CLOSED
    }

    /** What the controller's latest ANA log page said. */
    private record AnaView(long changeCount, Map<Integer, AnaState> byGroup, Map<Integer, AnaState> byNsid) {
        static final AnaView NONE = new AnaView(0, Map.of(), Map.of());
    }

    /** One association: the queues and timers of one successful bring-up. */
    private static final class Association {
        final QueuePair admin;
        final List<QueuePair> ioQueues = new ArrayList<>();
        int readQueues;
        volatile int controllerId;
        volatile long capabilities;
        volatile ControllerInfo info;
        volatile int maxTransferSizeInBytes;
        volatile List<Integer> activeNamespaces = List.of();
        volatile AnaView ana = AnaView.NONE;
        /** Identify Controller advertised service times (VendorIdentify) / the opt-in succeeded. */
        volatile boolean offersServiceTime;
        volatile boolean serviceTime;
        ScheduledFuture<?> keepAlive;
        /** An ANA log page read is in flight / another was asked for meanwhile (guarded by this). */
        boolean anaReading;
        boolean anaReadAgain;
        /** Armed while a group is in ANA Change: resets the association if it stays there past 2 x ANATT. */
        ScheduledFuture<?> anaTransitionTimer;
        /** Set once, when the association is lost or closed: later queue closes are expected. */
        volatile boolean ended;

        Association(QueuePair admin) {
            this.admin = admin;
        }

        void closeQueues() {
            if (keepAlive != null) {
                keepAlive.cancel(false);
            }
            synchronized (this) {
                if (anaTransitionTimer != null) {
                    anaTransitionTimer.cancel(false);
                }
            }
            synchronized (ioQueues) {
                for (QueuePair q : ioQueues) {
                    q.close();
                }
            }
            admin.close();
        }
    }

    private final NvmeEventLoops loops;
    private final NvmeTcpHostOptions options;
    private final AtomicInteger nextQueue = new AtomicInteger();
    private final AtomicInteger nextWriteQueue = new AtomicInteger();
    private final AtomicLong reconnects = new AtomicLong();
    private final Object lock = new Object();
    /** The live association, or null. */
    private volatile Association current;
    /** The latest association that came up: what info() and friends describe while reconnecting. */
    private volatile Association latest;
    private volatile State state = State.LIVE;
    private volatile boolean failFast;
    private volatile Throwable lastFailure;
    private volatile CompletableFuture<Void> changed = new CompletableFuture<>();
    private long lostAtNanos;
    private ScheduledFuture<?> reconnectTimer;
    private ScheduledFuture<?> fastFailTimer;
    private volatile boolean closed;
    private final FabricReadLatency readLatency;

    private NvmeTcpController(NvmeEventLoops loops, NvmeTcpHostOptions options) {
        this.loops = loops;
        this.options = options;
        this.readLatency = new FabricReadLatency(options.nqn(), options.traddr() + ":" + options.trsvcid());
    }

    /**
     * Connects and brings the controller up; the future fails with an {@link NvmeException}
     * naming the step. A first connection that fails is not retried: reconnecting is for paths
     * that worked once.
     */
    public static CompletableFuture<NvmeTcpController> connect(NvmeEventLoops loops, NvmeTcpHostOptions options) {
        NvmeTcpController c = new NvmeTcpController(loops, options);
        return c.establish().thenApply(a -> {
            c.activate(a);
            log.info("connected to {} at {}:{}: controller {} ({} {}), {} I/O queue(s), namespaces {}{}; keep-alive-tmo {} ms, "
                            + "reconnect-delay {} ms, ctrl-loss-tmo {} ms, fast-io-fail-tmo {} ms", options.nqn(),
                    options.traddr(), options.trsvcid(), a.controllerId, a.info.modelNumber(), a.info.firmwareRevision(),
                    a.ioQueues.size(), a.activeNamespaces, a.info.reportsAna() ? ", ANA " + a.ana.byGroup() : "",
                    options.keepAliveTimeout().toMillis(), options.reconnectDelay().toMillis(),
                    options.ctrlLossTimeout().toMillis(), options.fastIoFailTimeout().toMillis());
            return c;
        });
    }

    /** {@link #connect} and wait, with the cause unwrapped. */
    public static NvmeTcpController connectAndWait(NvmeEventLoops loops, NvmeTcpHostOptions options) {
        return join(connect(loops, options));
    }

    /** Opens the admin queue and brings a new association up; on failure everything opened is closed. */
    private CompletableFuture<Association> establish() {
        return QueuePair.open(loops, loops.group().next(), options, 0, options.adminQueueSize(), ADMIN_IN_CAPSULE, 64 << 10)
                .thenCompose(admin -> {
                    Association a = new Association(admin);
                    return bringUp(a).whenComplete((x, t) -> {
                        if (t != null) {
                            a.ended = true;
                            a.closeQueues();
                        }
                    });
                });
    }

    private CompletableFuture<Association> bringUp(Association a) {
        QueuePair admin = a.admin;
        long kato = options.keepAliveTimeout().toMillis();
        return fabricsConnect(admin, Fabrics.CNTLID_DYNAMIC, options.adminQueueSize(), (int) kato)
                .thenCompose(cqe -> {
                    a.controllerId = cqe.dw0() & 0xFFFF;
                    return propertyGet(admin, NvmeOpcodes.PROPERTY_CAP);
                })
                .thenCompose(cap -> {
                    a.capabilities = cap;
                    // CC: EN (bit 0), CSS 000b NVM (6:4), MPS 0 = 4 KiB (10:7), IOSQES 6 (19:16), IOCQES 4 (23:20) — §3.1.3.5, Figure 46
                    long cc = 1L | (6L << 16) | (4L << 20);
                    return admin.submitChecked(new QueuePair.Request(Fabrics.propertySet(NvmeOpcodes.PROPERTY_CC, cc), "Property Set CC"));
                })
                .thenCompose(v -> awaitStatus(admin, 1, 1, readyTimeout(a.capabilities), "CSTS.RDY"))
                .thenCompose(v -> identify(admin, NvmeOpcodes.CNS_CONTROLLER, 0))
                .thenCompose(buf -> {
                    try {
                        a.info = ControllerInfo.parse(buf, MEMORY_PAGE_SIZE);
                        a.offersServiceTime = VendorIdentify.offersServiceTime(buf);
                    } finally {
                        buf.release();
                    }
                    long mdts = a.info.maxTransferSizeInBytes();
                    a.maxTransferSizeInBytes = (int) (mdts == 0 ? options.maxTransferSizeInBytes() : Math.min(mdts, options.maxTransferSizeInBytes()));
                    int n = options.nrIoQueues() + options.nrWriteQueues();
                    if (a.info.controllerType() == IdentifyLayout.Controller.CNTRLTYPE_DISCOVERY || n == 0) {
                        return CompletableFuture.completedFuture(0);
                    }
                    Sqe setQueues = new Sqe().opcode(NvmeOpcodes.ADMIN_SET_FEATURES)
                            .cdw(10, NvmeOpcodes.FEATURE_NUMBER_OF_QUEUES).cdw(11, ((n - 1) << 16) | (n - 1));
                    return admin.submitChecked(new QueuePair.Request(setQueues, "Set Features Number of Queues"))
                            .thenApply(cqe -> Math.min(n, Math.min(cqe.dw0() & 0xFFFF, cqe.dw0() >>> 16) + 1));
                })
                .thenCompose(count -> optInServiceTime(a).thenCompose(v -> connectIoQueues(a, count)))
                .thenCompose(v -> a.info.controllerType() == IdentifyLayout.Controller.CNTRLTYPE_DISCOVERY
                        ? CompletableFuture.completedFuture(List.<Integer>of()) : listActiveNamespaces(admin))
                .thenCompose(list -> {
                    a.activeNamespaces = list;
                    return a.info.reportsAna() ? readAna(a) : CompletableFuture.completedFuture(AnaView.NONE);
                })
                .thenApply(view -> {
                    a.ana = view;
                    return a;
                })
                .whenComplete((x, t) -> {
                    if (t != null) {
                        synchronized (a.ioQueues) {
                            for (QueuePair q : a.ioQueues) {
                                q.close();
                            }
                        }
                    }
                });
    }

    /** Makes a new association the current one and watches it; false (and closed) if the controller closed meanwhile. */
    private boolean activate(Association a) {
        synchronized (lock) {
            if (closed) {
                a.ended = true;
                a.closeQueues();
                return false;
            }
            current = a;
            latest = a;
            state = State.LIVE;
            failFast = false;
            if (fastFailTimer != null) {
                fastFailTimer.cancel(false);
                fastFailTimer = null;
            }
        }
        long silence = options.keepAliveTimeout().toNanos();
        AtomicLong lastReceive = new AtomicLong(System.nanoTime());
        List<QueuePair> all = new ArrayList<>();
        all.add(a.admin);
        synchronized (a.ioQueues) {
            all.addAll(a.ioQueues);
        }
        for (QueuePair q : all) {
            if (silence > 0) {
                q.watchSilence(silence, lastReceive);
            }
            q.closeFuture().thenAccept(cause -> pathLost(a, cause));
        }
        startKeepAlive(a);
        startAsyncEvents(a);
        watchAnaTransition(a, a.ana);
        signal();
        return true;
    }

    /** A queue of {@code a} ended: the association is lost; reconnect unless closed. */
    private void pathLost(Association a, Throwable cause) {
        synchronized (lock) {
            if (a.ended) {
                return;
            }
            a.ended = true;
            if (current != a || closed) {
                return;
            }
            current = null;
            lastFailure = cause;
            lostAtNanos = System.nanoTime();
            state = State.RECONNECTING;
            long fast = options.fastIoFailTimeout().toNanos();
            if (fast >= 0) {
                long lostAt = lostAtNanos;
                try {
                    fastFailTimer = loops.group().next().schedule(() -> {
                        synchronized (lock) {
                            if (state == State.RECONNECTING && lostAtNanos == lostAt) {
                                failFast = true;
                            }
                        }
                        signal();
                    }, fast, TimeUnit.NANOSECONDS);
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    failFast = true;  // the event loops are shut down: nothing will come back
                }
            }
        }
        log.warn("{} at {}:{}: controller {} lost its path: {}; reconnecting every {} ms for up to {}", options.nqn(),
                options.traddr(), options.trsvcid(), a.controllerId, cause.getMessage(), options.reconnectDelay().toMillis(),
                options.ctrlLossTimeout().isNegative() ? "ever" : options.ctrlLossTimeout().toMillis() + " ms (ctrl-loss-tmo)");
        a.closeQueues();
        signal();
        scheduleReconnect();
    }

    private void scheduleReconnect() {
        long delay = options.reconnectDelay().toNanos();
        long loss = options.ctrlLossTimeout().toNanos();
        synchronized (lock) {
            if (closed || state != State.RECONNECTING) {
                return;
            }
            boolean scheduled = false;
            if (loss < 0 || System.nanoTime() + delay - (lostAtNanos + loss) <= 0) {
                try {
                    reconnectTimer = loops.group().next().schedule(this::reconnect, delay, TimeUnit.NANOSECONDS);
                    scheduled = true;
                } catch (java.util.concurrent.RejectedExecutionException e) {
                    lastFailure = new NvmeException(options.nqn() + ": the host's event loops are shut down: no reconnect",
                            NvmeException.Scope.ASSOCIATION, false, e);
                }
            }
            if (scheduled) {
                return;
            }
            state = State.DELETED;
            if (fastFailTimer != null) {
                fastFailTimer.cancel(false);
            }
        }
        log.error("{} at {}:{}: no new association within ctrl-loss-tmo {} ms ({} attempts): giving the controller up; last error: {}",
                options.nqn(), options.traddr(), options.trsvcid(), options.ctrlLossTimeout().toMillis(), reconnects.get(),
                lastFailure == null ? "none" : unwrap(lastFailure).getMessage());
        signal();
    }

    private void reconnect() {
        if (closed) {
            return;
        }
        long attempt = reconnects.incrementAndGet();
        establish().whenComplete((a, t) -> {
            if (t == null) {
                if (activate(a)) {
                    log.info("{} at {}:{}: reconnected as controller {} (attempt {}), {} I/O queue(s){}", options.nqn(),
                            options.traddr(), options.trsvcid(), a.controllerId, attempt, a.ioQueues.size(),
                            a.info.reportsAna() ? ", ANA " + a.ana.byGroup() : "");
                }
            } else {
                lastFailure = unwrap(t);
                log.info("{} at {}:{}: reconnect attempt {} failed: {}", options.nqn(), options.traddr(), options.trsvcid(),
                        attempt, unwrap(t).getMessage());
                scheduleReconnect();
            }
        });
    }

    /** Wakes whoever waits for a change of state or of ANA states. */
    private void signal() {
        CompletableFuture<Void> old;
        synchronized (lock) {
            old = changed;
            changed = new CompletableFuture<>();
        }
        old.complete(null);
    }

    private static Duration readyTimeout(long capabilities) {
        // CAP.TO, bits 31:24, in 500 ms units (Figure 36)
        long to = (capabilities >>> 24) & 0xFF;
        return Duration.ofMillis(Math.max(1, to) * 500);
    }

    private CompletableFuture<Cqe> fabricsConnect(QueuePair q, int cntlid, int queueSize, int katoMillis) {
        ByteBuf data = Unpooled.buffer(Fabrics.CONNECT_DATA_LENGTH);
        Fabrics.writeConnectData(data, options.identity().hostId(), cntlid, options.nqn(), options.identity().hostNqn());
        Sqe sqe = Fabrics.connect(q.qid, queueSize, katoMillis, true);
        return q.submit(new QueuePair.Request(sqe, "Connect").write(data)).thenApply(cqe -> {
            if (!cqe.isSuccess()) {
                throw new NvmeException("Connect to " + options.nqn() + " at " + options.traddr() + ":" + options.trsvcid()
                        + " as " + options.identity().hostNqn() + " (qid " + q.qid + ")", cqe);
            }
            return cqe;
        }).thenCompose(cqe -> InBandAuthentication.afterConnect(q, options, options.security(), cqe));
    }

    /**
     * When Identify Controller advertised per-command service times in its vendor specific area,
     * asks for them with Set Features C0h (see {@link VendorIdentify}); a refusal leaves them off.
     * Nothing is sent to a controller that did not advertise them.
     */
    private CompletableFuture<Void> optInServiceTime(Association a) {
        if (!a.offersServiceTime || a.info.controllerType() == IdentifyLayout.Controller.CNTRLTYPE_DISCOVERY) {
            return CompletableFuture.completedFuture(null);
        }
        Sqe sqe = new Sqe().opcode(NvmeOpcodes.ADMIN_SET_FEATURES).cdw(10, VendorIdentify.FEATURE_SERVICE_TIME)
                .cdw(11, VendorIdentify.SERVICE_TIME_ENABLE);
        return a.admin.submit(new QueuePair.Request(sqe, "Set Features C0h (service time reporting)")).thenAccept(cqe -> {
            a.serviceTime = cqe.isSuccess();
            if (!cqe.isSuccess()) {
                log.info("{} at {}:{}: the controller advertised service times but refused the opt-in: {}", options.nqn(),
                        options.traddr(), options.trsvcid(), cqe);
            }
        });
    }

    private CompletableFuture<Void> connectIoQueues(Association a, int count) {
        if (count == 0) {
            return CompletableFuture.completedFuture(null);
        }
        int mqes = (int) (a.capabilities & 0xFFFF) + 1;
        int queueSize = Math.min(options.queueSize(), mqes);
        int inCapsule = Math.max(0, a.info.ioccszInBytes() - Sqe.LENGTH);
        // with write queues, the first nr-io-queues carry reads and the rest writes; too few granted: all share
        a.readQueues = options.nrWriteQueues() > 0 && count > options.nrIoQueues() ? options.nrIoQueues() : count;
        List<CompletableFuture<QueuePair>> opening = new ArrayList<>();
        for (int qid = 1; qid <= count; qid++) {
            EventLoop loop = loops.group().next();
            int id = qid;
            opening.add(QueuePair.open(loops, loop, options, id, queueSize, inCapsule, a.maxTransferSizeInBytes)
                    .thenCompose(q -> fabricsConnect(q, a.controllerId, queueSize, 0).handle((cqe, t) -> {
                        if (t != null) {
                            q.close();
                            throw t instanceof CompletionException ce ? ce : new CompletionException(t);
                        }
                        q.recordReads(readLatency, a.serviceTime);
                        return q;
                    })));
        }
        return CompletableFuture.allOf(opening.toArray(CompletableFuture[]::new)).whenComplete((v, t) -> {
            synchronized (a.ioQueues) {
                for (CompletableFuture<QueuePair> f : opening) {
                    if (!f.isCompletedExceptionally()) {
                        a.ioQueues.add(f.join());
                    }
                }
                a.ioQueues.sort(java.util.Comparator.comparingInt(q -> q.qid));
            }
        });
    }

    private CompletableFuture<Long> propertyGet(QueuePair admin, int offset) {
        return admin.submitChecked(new QueuePair.Request(Fabrics.propertyGet(offset), "Property Get 0x" + Integer.toHexString(offset)))
                .thenApply(cqe -> NvmeOpcodes.isEightByteProperty(offset) ? cqe.result() : cqe.result() & 0xFFFF_FFFFL);
    }

    /** Polls CSTS until {@code (csts & mask) == value}, every 10 ms, until the timeout. */
    private CompletableFuture<Void> awaitStatus(QueuePair admin, int mask, int value, Duration timeout, String what) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        pollStatus(admin, mask, value, deadline, what, timeout, done);
        return done;
    }

    private void pollStatus(QueuePair admin, int mask, int value, long deadline, String what, Duration timeout,
                            CompletableFuture<Void> done) {
        propertyGet(admin, NvmeOpcodes.PROPERTY_CSTS).whenComplete((csts, t) -> {
            if (t != null) {
                done.completeExceptionally(t);
            } else if ((csts & 0x2) != 0) {
                done.completeExceptionally(new NvmeException(options.nqn() + ": controller fatal status (CSTS.CFS) while waiting for "
                        + what, NvmeException.Scope.ASSOCIATION, false, null));
            } else if ((csts & mask) == value) {
                done.complete(null);
            } else if (System.nanoTime() - deadline > 0) {
                done.completeExceptionally(new NvmeException(options.nqn() + ": " + what + " not reached within " + timeout
                        + " (CSTS 0x" + Long.toHexString(csts) + ")", NvmeException.Scope.ASSOCIATION, true, null));
            } else {
                admin.eventLoop().schedule(() -> pollStatus(admin, mask, value, deadline, what, timeout, done), 10, TimeUnit.MILLISECONDS);
            }
        });
    }

    /** The live association, or an exception saying why there is none. */
    private Association live() {
        Association a = current;
        if (a == null) {
            throw new NvmeException(options.nqn() + " at " + options.traddr() + ":" + options.trsvcid() + " is " + state
                    + (lastFailure != null ? " (" + unwrap(lastFailure).getMessage() + ")" : ""),
                    NvmeException.Scope.ASSOCIATION, state == State.RECONNECTING, lastFailure);
        }
        return a;
    }

    /** Identify with the given CNS; the 4096-byte result is returned as a buffer the caller releases. */
    public CompletableFuture<ByteBuf> identify(int cns, int nsid) {
        try {
            return identify(live().admin, cns, nsid);
        } catch (NvmeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private static CompletableFuture<ByteBuf> identify(QueuePair admin, int cns, int nsid) {
        ByteBuffer dst = ByteBuffer.allocate(IdentifyLayout.IDENTIFY_LENGTH);
        Sqe sqe = new Sqe().opcode(NvmeOpcodes.ADMIN_IDENTIFY).nsid(nsid).cdw(10, cns);
        return admin.submitChecked(new QueuePair.Request(sqe, "Identify CNS " + cns + (nsid != 0 ? " nsid " + nsid : ""))
                .read(dst, IdentifyLayout.IDENTIFY_LENGTH)).thenApply(cqe -> Unpooled.wrappedBuffer(dst.array()));
    }

    private static CompletableFuture<List<Integer>> listActiveNamespaces(QueuePair admin) {
        return identify(admin, NvmeOpcodes.CNS_ACTIVE_NAMESPACES, 0).thenApply(b -> {
            try {
                List<Integer> ids = new ArrayList<>();
                for (int i = 0; i < 1024; i++) {
                    int id = b.getIntLE(i * 4);
                    if (id == 0) {
                        break;
                    }
                    ids.add(id);
                }
                return List.copyOf(ids);
            } finally {
                b.release();
            }
        });
    }

    public CompletableFuture<NamespaceInfo> identifyNamespace(int nsid) {
        return identify(NvmeOpcodes.CNS_NAMESPACE, nsid).thenApply(b -> {
            try {
                return NamespaceInfo.parse(nsid, b);
            } finally {
                b.release();
            }
        });
    }

    /**
     * Get Log Page (NVMe Base 2.0 §5.16): fills {@code dst}'s remaining bytes (a multiple of 4)
     * with the log from byte {@code offset}.
     */
    public CompletableFuture<Void> getLogPage(int logId, long offset, ByteBuffer dst) {
        try {
            return getLogPage(live().admin, logId, 0, offset, dst);
        } catch (NvmeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private static CompletableFuture<Void> getLogPage(QueuePair admin, int logId, int lsp, long offset, ByteBuffer dst) {
        int length = dst.remaining();
        if (length == 0 || length % 4 != 0 || offset % 4 != 0) {
            throw new IllegalArgumentException("log page read of " + length + " bytes at " + offset + " (expected multiples of 4)");
        }
        int numd = length / 4 - 1; // 0's based dwords: NUMDL in CDW10 31:16, NUMDU in CDW11 15:0; LSP in CDW10 11:8
        Sqe sqe = new Sqe().opcode(NvmeOpcodes.ADMIN_GET_LOG_PAGE).nsid(0xFFFF_FFFF)
                .cdw(10, ((numd & 0xFFFF) << 16) | ((lsp & 0xF) << 8) | logId)
                .cdw(11, numd >>> 16)
                .cdw(12, (int) offset)
                .cdw(13, (int) (offset >>> 32));
        return admin.submitChecked(new QueuePair.Request(sqe, "Get Log Page 0x" + Integer.toHexString(logId)).read(dst, length))
                .thenApply(cqe -> {
                    dst.position(dst.position() + length);
                    return null;
                });
    }

    /** Sends an admin command; the future fails with an {@link NvmeException} unless it succeeds. */
    public CompletableFuture<Cqe> adminCommand(Sqe sqe, String what) {
        try {
            return live().admin.submitChecked(new QueuePair.Request(sqe, what));
        } catch (NvmeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Sends one Asynchronous Event Request on the live association's admin queue (NVMe Base 2.0
     * §5.2), with no command timeout: it completes when the controller reports an event (CQE DW0:
     * type, information, log page) or fails when the association ends. For events this class does
     * not consume itself — it keeps its own request outstanding only for ANA Change notices of I/O
     * controllers — such as a discovery controller's Discovery Log Page Change notices. The
     * controller accepts AERL + 1 outstanding at most.
     */
    public CompletableFuture<Cqe> asyncEventRequest() {
        try {
            return live().admin.submit(new QueuePair.Request(new Sqe().opcode(NvmeOpcodes.ADMIN_ASYNC_EVENT_REQUEST),
                    "Asynchronous Event Request").untimed());
        } catch (NvmeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    // ---------------------------------------------------------------- keep-alive, events, ANA

    private void startKeepAlive(Association a) {
        long kato = options.keepAliveTimeout().toMillis();
        if (kato == 0 || a.info.keepAliveGranularityMillis() == 0) {
            return;
        }
        long period = Math.max(1, kato / 2);
        a.keepAlive = a.admin.eventLoop().scheduleAtFixedRate(() -> {
            if (a.ended) {
                return;
            }
            a.admin.submitChecked(new QueuePair.Request(new Sqe().opcode(NvmeOpcodes.ADMIN_KEEP_ALIVE), "Keep Alive"))
                    .whenComplete((c, t) -> {
                        if (t != null && !a.ended) {
                            log.warn("{}: keep alive failed: {}", options.nqn(), unwrap(t).getMessage());
                        }
                    });
        }, period, period, TimeUnit.MILLISECONDS);
    }

    /** Enables ANA Change notices and keeps an Asynchronous Event Request outstanding, when the controller reports ANA. */
    private void startAsyncEvents(Association a) {
        if (!a.info.reportsAna() || a.info.controllerType() == IdentifyLayout.Controller.CNTRLTYPE_DISCOVERY) {
            return;
        }
        CompletableFuture<?> enabled = a.info.sendsAnaChangeNotices()
                ? a.admin.submitChecked(new QueuePair.Request(new Sqe().opcode(NvmeOpcodes.ADMIN_SET_FEATURES)
                        .cdw(10, NvmeOpcodes.FEATURE_ASYNC_EVENT_CONFIG).cdw(11, AEC_ANA_CHANGE), "Set Features Asynchronous Event Configuration"))
                : CompletableFuture.completedFuture(null);
        enabled.whenComplete((v, t) -> {
            if (t != null) {
                if (!a.ended) {
                    log.warn("{}: cannot enable ANA Change notices: {}", options.nqn(), unwrap(t).getMessage());
                }
                return;
            }
            submitAsyncEventRequest(a);
        });
    }

    private void submitAsyncEventRequest(Association a) {
        if (a.ended) {
            return;
        }
        a.admin.submit(new QueuePair.Request(new Sqe().opcode(NvmeOpcodes.ADMIN_ASYNC_EVENT_REQUEST), "Asynchronous Event Request")
                .untimed()).whenComplete((cqe, t) -> {
                    if (t != null || a.ended) {
                        return;  // the association ended; the next one asks again
                    }
                    if (!cqe.isSuccess()) {
                        log.warn("{}: Asynchronous Event Request failed: {}", options.nqn(), NvmeStatus.describe(cqe.status()));
                        return;
                    }
                    // Completion DW0 (NVMe Base 2.0 Figure 146): type 2:0, information 15:8, log page 23:16
                    int dw0 = cqe.dw0();
                    int type = dw0 & 0x7;
                    int info = (dw0 >>> 8) & 0xFF;
                    log.info("{} at {}:{}: asynchronous event type {} information 0x{} log page 0x{}", options.nqn(),
                            options.traddr(), options.trsvcid(), type, Integer.toHexString(info), Integer.toHexString((dw0 >>> 16) & 0xFF));
                    submitAsyncEventRequest(a);
                    if (type == AE_TYPE_NOTICE && info == AE_NOTICE_ANA_CHANGE) {
                        refreshAna(a);
                    }
                });
    }

    /**
     * Re-reads the ANA log page of {@code a} and publishes what it says. One read at a time: a
     * request while one is in flight makes one more read after it, since the state may have
     * changed after the page was sent.
     */
    private void refreshAna(Association a) {
        synchronized (a) {
            if (a.anaReading) {
                a.anaReadAgain = true;
                return;
            }
            a.anaReading = true;
        }
        readAna(a).whenComplete((view, t) -> {
            boolean again;
            synchronized (a) {
                again = a.anaReadAgain && !a.ended;
                a.anaReadAgain = false;
                a.anaReading = false;
            }
            if (t != null) {
                if (!a.ended) {
                    log.warn("{}: reading the ANA log page failed: {}", options.nqn(), unwrap(t).getMessage());
                }
            } else {
                AnaView before = a.ana;
                a.ana = view;
                if (!view.byGroup().equals(before.byGroup()) || view.changeCount() != before.changeCount()) {
                    log.info("{} at {}:{}: ANA change count {}, groups {}", options.nqn(), options.traddr(), options.trsvcid(),
                            view.changeCount(), view.byGroup());
                }
                watchAnaTransition(a, view);
                signal();
            }
            if (again) {
                refreshAna(a);
            }
        });
    }

    /**
     * A group in ANA Change must leave it within ANATT (NVMe Base 2.0 §8.1.3.5); as Linux does,
     * a controller still reporting Change after twice ANATT is reset, which re-reads everything.
     */
    private void watchAnaTransition(Association a, AnaView view) {
        boolean changing = view.byGroup().containsValue(AnaState.CHANGE);
        int anatt = a.info.anaTransitionSeconds();
        synchronized (a) {
            if (!changing || anatt == 0 || a.ended) {
                if (a.anaTransitionTimer != null) {
                    a.anaTransitionTimer.cancel(false);
                    a.anaTransitionTimer = null;
                }
                return;
            }
            if (a.anaTransitionTimer != null) {
                return;
            }
            a.anaTransitionTimer = a.admin.eventLoop().schedule(() -> {
                synchronized (a) {
                    a.anaTransitionTimer = null;
                }
                if (!a.ended && a.ana.byGroup().containsValue(AnaState.CHANGE)) {
                    pathLost(a, new NvmeException(options.nqn() + " at " + address() + ": ANA groups " + a.ana.byGroup()
                            + " still in Change after twice ANATT (" + 2 * anatt + " s): resetting the controller",
                            NvmeException.Scope.ASSOCIATION, true, null));
                }
            }, 2L * anatt, TimeUnit.SECONDS);
        }
    }

    /**
     * Reads the whole ANA log page (NVMe Base 2.0 §5.16.1.12): its size is bounded by the header,
     * NANAGRPID descriptors and one NSID per namespace (NN), as the kernel sizes it.
     */
    private CompletableFuture<AnaView> readAna(Association a) {
        ControllerInfo info = a.info;
        long size = IdentifyLayout.AnaLog.HEADER_LENGTH + (long) Math.max(1, info.anaGroupCount()) * IdentifyLayout.AnaLog.DESCRIPTOR_LENGTH
                + 4L * Math.max(0, info.namespaceCount());
        int length = (int) Math.min((size + 3) & ~3L, a.maxTransferSizeInBytes);
        ByteBuffer dst = ByteBuffer.allocate(length);
        return getLogPage(a.admin, NvmeOpcodes.LOG_ANA, 0, 0, dst).thenApply(v -> parseAna(Unpooled.wrappedBuffer(dst.array())));
    }

    private AnaView parseAna(ByteBuf b) {
        long changeCount = b.getLongLE(IdentifyLayout.AnaLog.CHANGE_COUNT);
        int groups = b.getUnsignedShortLE(IdentifyLayout.AnaLog.DESCRIPTOR_COUNT);
        Map<Integer, AnaState> byGroup = new TreeMap<>();
        Map<Integer, AnaState> byNsid = new HashMap<>();
        int at = IdentifyLayout.AnaLog.HEADER_LENGTH;
        for (int g = 0; g < groups; g++) {
            if (at + IdentifyLayout.AnaLog.DESCRIPTOR_LENGTH > b.capacity()) {
                throw new NvmeException(options.nqn() + ": ANA log page descriptor " + g + " at byte " + at + " lies beyond the "
                        + b.capacity() + " bytes read (expected " + groups + " descriptors within them)", NvmeException.Scope.COMMAND, false, null);
            }
            int groupId = b.getIntLE(at + IdentifyLayout.AnaLog.GROUP_ID);
            int nsids = b.getIntLE(at + IdentifyLayout.AnaLog.NSID_COUNT);
            AnaState state = AnaState.of(b.getUnsignedByte(at + IdentifyLayout.AnaLog.STATE) & 0xF);
            byGroup.put(groupId, state);
            at += IdentifyLayout.AnaLog.DESCRIPTOR_LENGTH;
            if (nsids < 0 || at + 4L * nsids > b.capacity()) {
                throw new NvmeException(options.nqn() + ": ANA group " + groupId + " lists " + Integer.toUnsignedString(nsids)
                        + " NSIDs at byte " + at + " (expected them within the " + b.capacity() + " bytes read)", NvmeException.Scope.COMMAND, false, null);
            }
            for (int i = 0; i < nsids; i++) {
                byNsid.put(b.getIntLE(at), state);
                at += 4;
            }
        }
        return new AnaView(changeCount, Map.copyOf(byGroup), Map.copyOf(byNsid));
    }

    /**
     * The ANA state of a namespace through this controller: from the latest ANA log page (by NSID,
     * else by the namespace's ANA group), {@link AnaState#OPTIMIZED} when the controller does not
     * report ANA or does not list the namespace.
     */
    public AnaState anaState(NamespaceInfo ns) {
        Association a = latest;
        if (a == null || !a.info.reportsAna()) {
            return AnaState.OPTIMIZED;
        }
        AnaView v = a.ana;
        AnaState s = v.byNsid().get(ns.nsid());
        if (s == null) {
            s = v.byGroup().get(ns.anaGroupId());
        }
        return s != null ? s : AnaState.OPTIMIZED;
    }

    /**
     * A command for {@code ns} completed with a path-related status (SCT 3h): the ANA state it
     * implies holds until the log page, read again now, says otherwise.
     *
     * @return whether the status named an ANA state (Persistent Loss, Inaccessible, Transition)
     *         that now keeps commands off this path; false for other path errors
     */
    boolean pathStatus(NamespaceInfo ns, int status) {
        Association a = current;
        if (a == null) {
            return true;  // the path is down anyway
        }
        int sc = (status >>> 1) & 0xFF;
        AnaState implied = switch (sc) {
            case 0x01 -> AnaState.PERSISTENT_LOSS;
            case 0x02 -> AnaState.INACCESSIBLE;
            case 0x03 -> AnaState.CHANGE;
            default -> null;
        };
        if (implied != null && a.info.reportsAna()) {
            AnaView v = a.ana;
            Map<Integer, AnaState> byNsid = new HashMap<>(v.byNsid());
            byNsid.put(ns.nsid(), implied);
            a.ana = new AnaView(v.changeCount(), v.byGroup(), Map.copyOf(byNsid));
            signal();
            refreshAna(a);
            return true;
        }
        return false;
    }

    /** The ANA state of every group, from the latest ANA log page (empty when the controller does not report ANA). */
    public Map<Integer, AnaState> anaGroups() {
        Association a = latest;
        return a == null ? Map.of() : a.ana.byGroup();
    }

    // ---------------------------------------------------------------- I/O queues and state

    /**
     * An I/O queue of the live association, in turn: for writes one of the write queues when
     * {@code nr-write-queues} made some, else one of the shared queues.
     *
     * @throws NvmeException if the controller is not {@link State#LIVE} or has no I/O queues
     */
    QueuePair ioQueue(boolean write) {
        Association a = live();
        List<QueuePair> qs = a.ioQueues;
        int n = qs.size();
        if (n == 0) {
            throw new NvmeException(options.nqn() + " has no I/O queues", NvmeException.Scope.ASSOCIATION, false, null);
        }
        int reads = a.readQueues;
        if (write && reads < n) {
            return qs.get(reads + Math.floorMod(nextWriteQueue.getAndIncrement(), n - reads));
        }
        return qs.get(Math.floorMod(nextQueue.getAndIncrement(), reads));
    }

    /** Opens namespace {@code nsid} as a BlockDevice (Identify Namespace first). */
    public NvmeTcpBlockDevice openNamespace(int nsid) {
        NamespaceInfo ns = join(identifyNamespace(nsid));
        if (ns.sizeInBlocks() == 0) {
            throw new NvmeException("namespace " + nsid + " of " + options.nqn() + " is inactive (NSZE 0)",
                    NvmeException.Scope.COMMAND, false, null);
        }
        return new NvmeTcpBlockDevice(this, ns);
    }

    public State state() {
        return state;
    }

    /** Whether I/O waiting for this controller should give up now: fast-io-fail-tmo passed since the loss, or it is gone. */
    public boolean failsFast() {
        State s = state;
        return s == State.DELETED || s == State.CLOSED || s == State.RECONNECTING && failFast;
    }

    /** Completes at the next change of state or of ANA states. */
    public CompletableFuture<Void> nextChange() {
        return changed;
    }

    /** Attempts to connect again so far. */
    public long reconnectAttempts() {
        return reconnects.get();
    }

    /** Why the last association ended or the last attempt failed, or null. */
    public Throwable lastFailure() {
        return lastFailure;
    }

    /**
     * The latency split of this controller's reads (host, transit, target service time), over
     * its whole life; bind it to a MeterRegistry to publish it.
     */
    public FabricReadLatency readLatency() {
        return readLatency;
    }

    /**
     * Whether the latest association's reads carry the target's service time: the controller
     * advertised it in Identify Controller's vendor specific area and accepted the opt-in.
     */
    public boolean reportsServiceTime() {
        Association a = latest;
        return a != null && a.serviceTime;
    }

    /** "traddr:trsvcid". */
    public String address() {
        return options.traddr() + ":" + options.trsvcid();
    }

    public ControllerInfo info() {
        Association a = latest;
        return a == null ? null : a.info;
    }

    public int controllerId() {
        Association a = latest;
        return a == null ? 0 : a.controllerId;
    }

    public NvmeTcpHostOptions options() {
        return options;
    }

    /** Active namespace IDs as listed when the latest association came up. */
    public List<Integer> activeNamespaces() {
        Association a = latest;
        return a == null ? List.of() : a.activeNamespaces;
    }

    public int ioQueueCount() {
        Association a = latest;
        return a == null ? 0 : a.ioQueues.size();
    }

    /** The most bytes one Read or Write command moves. */
    public int maxTransferSizeInBytes() {
        Association a = latest;
        return a == null ? options.maxTransferSizeInBytes() : a.maxTransferSizeInBytes;
    }

    /** The most write data that goes in-capsule on I/O queues. */
    public int inCapsuleDataSizeInBytes() {
        return Math.max(0, info().ioccszInBytes() - Sqe.LENGTH);
    }

    /** Whether the controller is live and every queue is still connected. */
    public boolean isConnected() {
        Association a = current;
        if (closed || a == null || !a.admin.isOpen()) {
            return false;
        }
        for (QueuePair q : a.ioQueues) {
            if (!q.isOpen()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Authenticates every queue of the current association again with the configured DH-HMAC-CHAP
     * secrets: a new transaction, AUTH_Negotiate first, on the admin queue and each I/O queue at
     * once (NVMe Base 2.0 §8.13.4; what Linux's host does when its {@code dhchap_secret} is
     * rewritten). I/O goes on meanwhile. Completes when every queue succeeded; fails with an
     * {@link NvmeException} of scope association when one did not (the controller then ends the
     * association and the host reconnects as after any loss), or with an
     * {@link IllegalStateException} when no association is live or no dhchap-secret is configured.
     * Queues of a later association authenticate on their own when they connect.
     */
    public CompletableFuture<Void> reauthenticate() {
        Association a = current;
        if (closed || a == null || a.ended) {
            return CompletableFuture.failedFuture(new IllegalStateException(options.nqn() + " at " + options.traddr() + ":"
                    + options.trsvcid() + ": no live association to re-authenticate"));
        }
        if (options.security().dhchapSecret() == null) {
            return CompletableFuture.failedFuture(new IllegalStateException(options.nqn() + ": no dhchap-secret configured "
                    + "for host " + options.identity().hostNqn() + " (expected one to re-authenticate with)"));
        }
        List<QueuePair> all = new ArrayList<>();
        all.add(a.admin);
        synchronized (a.ioQueues) {
            all.addAll(a.ioQueues);
        }
        CompletableFuture<?>[] each = all.stream()
                .map(q -> InBandAuthentication.reauthenticate(q, options, options.security()))
                .toArray(CompletableFuture[]::new);
        return CompletableFuture.allOf(each);
    }

    /** Shuts the controller down in order (see the class comment). Blocks up to a few seconds; never call it from an event loop. */
    @Override
    public void close() {
        Association a;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            state = State.CLOSED;
            a = current;
            current = null;
            if (a != null) {
                a.ended = true;
            }
            if (reconnectTimer != null) {
                reconnectTimer.cancel(false);
            }
            if (fastFailTimer != null) {
                fastFailTimer.cancel(false);
            }
        }
        signal();
        if (a == null) {
            return;
        }
        if (a.keepAlive != null) {
            a.keepAlive.cancel(false);
        }
        for (QueuePair q : a.ioQueues) {
            q.close().join();
        }
        if (a.admin.isOpen()) {
            try {
                // CC.SHN = 01b normal shutdown (bits 15:14), EN stays set; then CSTS.SHST = 10b (bits 3:2)
                long cc = 1L | (6L << 16) | (4L << 20) | (1L << 14);
                a.admin.submitChecked(new QueuePair.Request(Fabrics.propertySet(NvmeOpcodes.PROPERTY_CC, cc), "Property Set CC.SHN"))
                        .thenCompose(v -> awaitStatus(a.admin, 0xC, 0x8, Duration.ofSeconds(5), "CSTS.SHST complete"))
                        .get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                log.debug("{}: shutdown notification: {}", options.nqn(), e.toString());
            }
        }
        a.admin.close().join();
    }

    static <T> T join(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            Throwable t = unwrap(e);
            if (t instanceof RuntimeException re) {
                throw re;
            }
            throw e;
        }
    }

    static Throwable unwrap(Throwable t) {
        while (t instanceof CompletionException && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }
}
