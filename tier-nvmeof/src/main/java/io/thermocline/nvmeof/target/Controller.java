package io.thermocline.nvmeof.target;

import io.netty.util.concurrent.ScheduledFuture;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One controller of the dynamic controller model (NVMe over Fabrics 1.1): created by an admin
 * queue Connect with CNTLID FFFFh, joined by I/O queue Connects that name its CNTLID from the same
 * host, and gone — with every queue of its association — when the admin queue's connection closes
 * or the keep-alive timer expires.
 *
 * <p>Its queues run on different event loops, so its state is guarded by {@code this}; the
 * keep-alive timer runs on the admin queue's loop.
 */
final class Controller {
    private static final Logger log = LoggerFactory.getLogger(Controller.class);

    /** CC fields (NVMe Base 2.0 §3.1.3, property CC at offset 14h). */
    static final int CC_EN = 1;
    static final int CC_SHN_SHIFT = 14;
    /** CSTS fields (property CSTS at offset 1Ch): RDY bit 0, CFS bit 1, SHST bits 3:2. */
    static final int CSTS_RDY = 1;
    static final int CSTS_CFS = 1 << 1;
    static final int CSTS_SHST_MASK = 3 << 2;
    static final int CSTS_SHST_OCCURRING = 1 << 2;
    static final int CSTS_SHST_COMPLETE = 2 << 2;
    /** VS (offset 08h) for NVMe 1.3: major 31:16, minor 15:8. */
    static final int VERSION = 0x00010300;

    private final NvmeTcpTarget target;
    final int cntlid;
    /** The subsystem, or {@code null} for the discovery controller. */
    final Subsystem subsystem;
    final String hostNqn;
    final UUID hostId;
    final QueueConnection admin;

    private final Map<Integer, QueueConnection> ioQueues = new HashMap<>();
    /** Bytes of Write buffers this controller's queues hold for R2T data not yet arrived, and who waits for some. */
    private long r2tBytes;
    private final java.util.Set<QueueConnection> r2tWaiters = new java.util.LinkedHashSet<>();
    private int cc;
    private int csts;
    private int grantedIoQueues = -1;
    private int asyncEventConfig;
    private boolean dead;
    private volatile int katoMillis;
    private volatile long lastCommandNanos = System.nanoTime();
    /** Touched on the admin queue's event loop only. */
    private ScheduledFuture<?> keepAliveTimer;
    /** The host opted in to service times in Read/Write completions (Set Features C0h; see VendorIdentify). */
    private volatile boolean serviceTimeReporting;

    Controller(NvmeTcpTarget target, int cntlid, Subsystem subsystem, String hostNqn, UUID hostId,
               QueueConnection admin, int katoMillis) {
        this.target = target;
        this.cntlid = cntlid;
        this.subsystem = subsystem;
        this.hostNqn = hostNqn;
        this.hostId = hostId;
        this.admin = admin;
        this.katoMillis = roundKato(katoMillis);
    }

    boolean discovery() {
        return subsystem == null;
    }

    String subsystemNqn() {
        return subsystem == null ? NvmeOpcodes.DISCOVERY_NQN : subsystem.nqn();
    }

    /**
     * CAP (NVMe Base 2.0 §3.1.3, offset 0h): MQES 15:0, CQR bit 16, TO 31:24 in 500 ms units,
     * CSS bits 44:37 with bit 37 the NVM command set, MPSMIN 51:48 = 0 (4 KiB pages), MPSMAX 55:52 = 0.
     */
    long cap() {
        // The discovery controller has no I/O queues, but the Linux host clamps its queue size to
        // MQES + 1 for every controller and warns when that is below its default of 128: report
        // the same as I/O controllers, as the kernel's own target does.
        int mqes = target.config().maxQueueSize() - 1;
        return (mqes & 0xFFFFL) | (1L << 16) | (15L << 24) | (1L << 37);
    }

    synchronized int cc() {
        return cc;
    }

    synchronized int csts() {
        return csts;
    }

    synchronized boolean ready() {
        return (csts & CSTS_RDY) != 0 && !dead;
    }

    /**
     * A Property Set of CC. EN 0→1 checks the entry sizes and page size the host chose (IOSQES 6,
     * IOCQES 4, MPS 0, AMS 0, CSS 0) and sets CSTS.RDY, or CSTS.CFS when they are wrong; EN 1→0
     * clears RDY. A shutdown notification (SHN ≠ 0) flushes every namespace, reporting SHST
     * "occurring" until the flushes finish and "complete" after; RDY clears as for a reset.
     */
    void writeCc(int value) {
        boolean shutdown;
        synchronized (this) {
            int old = cc;
            cc = value;
            boolean enable = (value & CC_EN) != 0;
            if (enable && (old & CC_EN) == 0) {
                int css = (value >>> 4) & 7;
                int mps = (value >>> 7) & 0xF;
                int ams = (value >>> 11) & 7;
                int iosqes = (value >>> 16) & 0xF;
                int iocqes = (value >>> 20) & 0xF;
                if (css != 0 || mps != 0 || ams != 0 || iosqes != 6 || iocqes != 4) {
                    log.warn("controller {}: CC 0x{} enables with CSS {}, MPS {}, AMS {}, IOSQES {}, IOCQES {} "
                            + "(expected 0, 0, 0, 6, 4): controller fatal status", cntlid, Integer.toHexString(value),
                            css, mps, ams, iosqes, iocqes);
                    csts |= CSTS_CFS;
                } else {
                    csts = (csts & ~CSTS_SHST_MASK) | CSTS_RDY;
                }
            } else if (!enable && (old & CC_EN) != 0) {
                csts &= ~(CSTS_RDY | CSTS_CFS);
            }
            int shn = (value >>> CC_SHN_SHIFT) & 3;
            int oldShn = (old >>> CC_SHN_SHIFT) & 3;
            shutdown = shn != 0 && oldShn == 0;
            if (shutdown) {
                csts = (csts & ~(CSTS_SHST_MASK | CSTS_RDY)) | CSTS_SHST_OCCURRING;
                cc = 0;
            } else if (shn == 0 && oldShn != 0) {
                csts &= ~CSTS_SHST_MASK;
            }
        }
        if (shutdown) {
            log.info("controller {}: shutdown notification from {}", cntlid, hostNqn);
            flushAll().whenComplete((v, e) -> {
                if (e != null) {
                    log.warn("controller {}: flush at shutdown failed: {}", cntlid, e.toString());
                }
                synchronized (this) {
                    if ((csts & CSTS_SHST_MASK) == CSTS_SHST_OCCURRING) {
                        csts = (csts & ~CSTS_SHST_MASK) | CSTS_SHST_COMPLETE;
                    }
                }
            });
        }
    }

    /** Flushes every namespace of the subsystem (none for discovery). */
    CompletableFuture<Void> flushAll() {
        if (subsystem == null) {
            return CompletableFuture.completedFuture(null);
        }
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (Namespace ns : subsystem.namespaces()) {
            all.add(ns.device().flush());
        }
        return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new));
    }

    /** Adds an I/O queue; false if the QID is taken or the controller is gone. */
    synchronized boolean addIoQueue(int qid, QueueConnection queue) {
        if (dead || ioQueues.containsKey(qid)) {
            return false;
        }
        ioQueues.put(qid, queue);
        return true;
    }

    synchronized void removeIoQueue(int qid, QueueConnection queue) {
        ioQueues.remove(qid, queue);
    }

    /** Whether I/O queue {@code qid} is connected. */
    synchronized boolean hasIoQueue(int qid) {
        return ioQueues.containsKey(qid);
    }

    /**
     * Takes {@code bytes} of this controller's budget for Write buffers waiting for R2T data
     * ({@link TargetConfig#maxR2tBytesPerController()}); when it would be exceeded, remembers
     * {@code queue} to call back ({@link QueueConnection#r2tBudgetFreed}) once buffers free, and
     * returns false. A Write when none is held always fits, so that no size can wait forever.
     */
    synchronized boolean reserveR2tBytes(long bytes, QueueConnection queue) {
        if (r2tBytes > 0 && r2tBytes + bytes > target.config().maxR2tBytesPerController()) {
            r2tWaiters.add(queue);
            return false;
        }
        r2tBytes += bytes;
        return true;
    }

    void releaseR2tBytes(long bytes) {
        List<QueueConnection> wake;
        synchronized (this) {
            r2tBytes -= bytes;
            wake = new ArrayList<>(r2tWaiters);
            r2tWaiters.clear();
        }
        for (QueueConnection q : wake) {
            q.r2tBudgetFreed();
        }
    }

    synchronized void forgetR2tWaiter(QueueConnection queue) {
        r2tWaiters.remove(queue);
    }

    /** Bytes of Write buffers held now for R2T data not yet arrived (for tests). */
    synchronized long r2tBytesHeld() {
        return r2tBytes;
    }

    /** How many I/O queues the host may create: what Set Features Number of Queues granted, else the maximum. */
    synchronized int ioQueueLimit() {
        return grantedIoQueues >= 0 ? grantedIoQueues : target.config().maxIoQueues();
    }

    /**
     * Set Features, Number of Queues (NVMe Base 2.0 §5.27, feature 07h): grants
     * min(requested, configured) submission and completion queues; the reply holds both, 0's based.
     *
     * @return the CQE DW0, or -1 when I/O queues exist already (the feature must come first)
     */
    synchronized long setNumberOfQueues(int requestedSq, int requestedCq) {
        if (!ioQueues.isEmpty()) {
            return -1;
        }
        int max = target.config().maxIoQueues();
        int sq = Math.min(requestedSq, max);
        int cq = Math.min(requestedCq, max);
        grantedIoQueues = Math.min(sq, cq);
        return ((sq - 1) & 0xFFFFL) | (((cq - 1) & 0xFFFFL) << 16);
    }

    /** Get Features, Number of Queues: what was granted, else the maximum, 0's based. */
    synchronized long numberOfQueues() {
        int n = grantedIoQueues >= 0 ? grantedIoQueues : target.config().maxIoQueues();
        return ((n - 1) & 0xFFFFL) | (((n - 1) & 0xFFFFL) << 16);
    }

    /** ANATT this controller reports. */
    int anaTransitionSeconds() {
        return target.anaTransitionSeconds();
    }

    /** Asynchronous Event Configuration bit 11: ANA Change notices (NVMe Base 2.0 Figure 326). */
    static final int AEC_ANA_CHANGE = 1 << 11;

    /**
     * An ANA state of the subsystem changed on this target: sends a Notice / ANA Change event
     * (CQE DW0: type 2h bits 2:0, information 03h bits 15:8, log page 0Ch bits 23:16 — NVMe Base
     * 2.0 Figures 146, 149) if the host enabled it.
     */
    void anaChanged() {
        if (isDead() || (asyncEventConfig() & AEC_ANA_CHANGE) == 0) {
            return;
        }
        admin.postAsyncEvent(2 | (3 << 8) | (NvmeOpcodes.LOG_ANA << 16));
    }

    /**
     * OAES and Asynchronous Event Configuration bit 31: Discovery Log Page Change notices (NVMe
     * Base 2.0 Figures 275 and 326), for discovery controllers.
     */
    static final int OAES_DISCOVERY_LOG_CHANGE = 1 << 31;
    static final int AEC_DISCOVERY_LOG_CHANGE = 1 << 31;
    /** Asynchronous event information F0h, Discovery Log Page Change, of type Notice (NVMe Base 2.0 Figure 149). */
    static final int AE_NOTICE_DISCOVERY_LOG_CHANGE = 0xF0;

    /**
     * The discovery log this controller's host sees changed: sends a Notice / Discovery Log Page
     * Change event (CQE DW0: type 2h, information F0h, log page 70h — NVMe Base 2.0 Figures 146,
     * 149) if the host enabled it, as a host keeping a persistent connection to the discovery
     * controller does (NVMe over Fabrics 1.1, Discovery Service); it then reads the log again.
     */
    void discoveryLogChanged() {
        if (!discovery() || isDead() || (asyncEventConfig() & AEC_DISCOVERY_LOG_CHANGE) == 0) {
            return;
        }
        admin.postAsyncEvent(2 | (AE_NOTICE_DISCOVERY_LOG_CHANGE << 8) | (NvmeOpcodes.LOG_DISCOVERY << 16));
    }

    synchronized int asyncEventConfig() {
        return asyncEventConfig;
    }

    synchronized void asyncEventConfig(int value) {
        asyncEventConfig = value;
    }

    boolean serviceTimeReporting() {
        return serviceTimeReporting;
    }

    void serviceTimeReporting(boolean on) {
        serviceTimeReporting = on;
    }

    int katoMillis() {
        return katoMillis;
    }

    /** Any command on any queue of the controller restarts the keep-alive timer. */
    void touch() {
        lastCommandNanos = System.nanoTime();
    }

    /**
     * KATO rounded up to the KAS granularity (NVMe Base 2.0, Keep Alive: the controller may round
     * the timeout up to its granularity).
     */
    private static int roundKato(int kato) {
        int unit = TargetConfig.KAS * 100;
        long rounded = (Integer.toUnsignedLong(kato) + unit - 1) / unit * unit;
        return (int) Math.min(rounded, Integer.MAX_VALUE);
    }

    /** Set Features, Keep Alive Timer; restarts the timer with the new value. */
    void setKato(int kato) {
        katoMillis = roundKato(kato);
        touch();
        try {
            admin.channel().eventLoop().execute(this::armKeepAlive);
        } catch (java.util.concurrent.RejectedExecutionException shuttingDown) {
            // the target is closing: the association ends with it
        }
    }

    /** Arms the keep-alive timer (KATO 0 disables it). Runs on the admin queue's event loop. */
    void armKeepAlive() {
        if (keepAliveTimer != null) {
            keepAliveTimer.cancel(false);
            keepAliveTimer = null;
        }
        int kato = katoMillis;
        if (kato == 0 || isDead()) {
            return;
        }
        long idle = System.nanoTime() - lastCommandNanos;
        long left = TimeUnit.MILLISECONDS.toNanos(kato) - idle;
        if (left <= 0) {
            log.warn("controller {} ({}, host {}): no command within the keep-alive timeout of {} ms: ending the association",
                    cntlid, subsystemNqn(), hostNqn, kato);
            destroy("keep-alive timeout");
            return;
        }
        keepAliveTimer = admin.channel().eventLoop().schedule(this::armKeepAlive, left, TimeUnit.NANOSECONDS);
    }

    synchronized boolean isDead() {
        return dead;
    }

    /** Ends the association: forgets the controller and closes every queue's connection. */
    void destroy(String reason) {
        List<QueueConnection> queues;
        synchronized (this) {
            if (dead) {
                return;
            }
            dead = true;
            csts |= CSTS_CFS;
            queues = new ArrayList<>(ioQueues.values());
            ioQueues.clear();
        }
        target.forgetController(this);
        log.info("controller {} ({}, host {}) ends: {}", cntlid, subsystemNqn(), hostNqn, reason);
        try {
            admin.channel().eventLoop().execute(() -> {
                if (keepAliveTimer != null) {
                    keepAliveTimer.cancel(false);
                    keepAliveTimer = null;
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException shuttingDown) {
            // the loop is gone, and its timers with it
        }
        admin.channel().close();
        for (QueueConnection q : queues) {
            q.channel().close();
        }
    }
}
