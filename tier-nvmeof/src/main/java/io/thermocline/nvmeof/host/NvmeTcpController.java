package io.thermocline.nvmeof.host;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;
import io.thermocline.nvmeof.pdu.Cqe;
import io.thermocline.nvmeof.pdu.Fabrics;
import io.thermocline.nvmeof.pdu.IdentifyLayout;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.Sqe;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The host's side of one controller association over NVMe/TCP: an admin queue and
 * {@code nr-io-queues} I/O queues, each its own connection.
 *
 * <p><b>Bring-up</b> (NVMe Base 2.0 §3.5.2 "Controller Initialization" as adapted by NVMe-oF
 * 1.1 §3.3 and §3.5): connect the admin queue (ICReq/ICResp, then Fabrics Connect with the
 * dynamic controller ID 0xFFFF; the response names the controller), read CAP and VS with
 * Property Get, write CC (EN, 64-byte SQEs, 16-byte CQEs) with Property Set and wait for
 * CSTS.RDY, Identify Controller, Set Features Number of Queues, then connect each I/O queue
 * naming the controller ID. Keep Alive is sent every KATO/2 while the association lives.
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

    private final NvmeEventLoops loops;
    private final NvmeTcpHostOptions options;
    private final QueuePair admin;
    private final List<QueuePair> ioQueues = new ArrayList<>();
    private final AtomicInteger nextQueue = new AtomicInteger();
    private volatile ControllerInfo info;
    private volatile int controllerId;
    private volatile long capabilities;
    private volatile int maxTransferSizeInBytes;
    private volatile List<Integer> activeNamespaces = List.of();
    private ScheduledFuture<?> keepAlive;
    private volatile boolean closed;

    private NvmeTcpController(NvmeEventLoops loops, NvmeTcpHostOptions options, QueuePair admin) {
        this.loops = loops;
        this.options = options;
        this.admin = admin;
    }

    /** Connects and brings the controller up; the future fails with an {@link NvmeException} naming the step. */
    public static CompletableFuture<NvmeTcpController> connect(NvmeEventLoops loops, NvmeTcpHostOptions options) {
        return QueuePair.open(loops, loops.group().next(), options, 0, options.adminQueueSize(), ADMIN_IN_CAPSULE, 64 << 10)
                .thenCompose(admin -> new NvmeTcpController(loops, options, admin).bringUp()
                        .whenComplete((c, t) -> {
                            if (t != null) {
                                admin.close();
                            }
                        }));
    }

    /** {@link #connect} and wait, with the cause unwrapped. */
    public static NvmeTcpController connectAndWait(NvmeEventLoops loops, NvmeTcpHostOptions options) {
        return join(connect(loops, options));
    }

    private CompletableFuture<NvmeTcpController> bringUp() {
        long kato = options.keepAliveTimeout().toMillis();
        return fabricsConnect(admin, Fabrics.CNTLID_DYNAMIC, options.adminQueueSize(), (int) kato)
                .thenCompose(cqe -> {
                    controllerId = cqe.dw0() & 0xFFFF;
                    return propertyGet(NvmeOpcodes.PROPERTY_CAP);
                })
                .thenCompose(cap -> {
                    capabilities = cap;
                    // CC: EN (bit 0), CSS 000b NVM (6:4), MPS 0 = 4 KiB (10:7), IOSQES 6 (19:16), IOCQES 4 (23:20) — §3.1.3.5, Figure 46
                    long cc = 1L | (6L << 16) | (4L << 20);
                    return admin.submitChecked(new QueuePair.Request(Fabrics.propertySet(NvmeOpcodes.PROPERTY_CC, cc), "Property Set CC"));
                })
                .thenCompose(v -> awaitStatus(1, 1, readyTimeout(), "CSTS.RDY"))
                .thenCompose(v -> identify(NvmeOpcodes.CNS_CONTROLLER, 0))
                .thenCompose(buf -> {
                    try {
                        info = ControllerInfo.parse(buf, MEMORY_PAGE_SIZE);
                    } finally {
                        buf.release();
                    }
                    long mdts = info.maxTransferSizeInBytes();
                    maxTransferSizeInBytes = (int) (mdts == 0 ? options.maxTransferSizeInBytes() : Math.min(mdts, options.maxTransferSizeInBytes()));
                    if (info.controllerType() == IdentifyLayout.Controller.CNTRLTYPE_DISCOVERY || options.nrIoQueues() == 0) {
                        return CompletableFuture.completedFuture(0);
                    }
                    int n = options.nrIoQueues();
                    Sqe setQueues = new Sqe().opcode(NvmeOpcodes.ADMIN_SET_FEATURES)
                            .cdw(10, NvmeOpcodes.FEATURE_NUMBER_OF_QUEUES).cdw(11, ((n - 1) << 16) | (n - 1));
                    return admin.submitChecked(new QueuePair.Request(setQueues, "Set Features Number of Queues"))
                            .thenApply(cqe -> Math.min(n, Math.min(cqe.dw0() & 0xFFFF, cqe.dw0() >>> 16) + 1));
                })
                .thenCompose(this::connectIoQueues)
                .thenCompose(v -> info.controllerType() == IdentifyLayout.Controller.CNTRLTYPE_DISCOVERY
                        ? CompletableFuture.completedFuture(List.<Integer>of()) : listActiveNamespaces())
                .thenApply(list -> {
                    activeNamespaces = list;
                    startKeepAlive();
                    log.info("connected to {} at {}:{}: controller {} ({} {}), {} I/O queue(s), namespaces {}", options.nqn(),
                            options.traddr(), options.trsvcid(), controllerId, info.modelNumber(), info.firmwareRevision(),
                            ioQueues.size(), list);
                    return this;
                })
                .whenComplete((c, t) -> {
                    if (t != null) {
                        for (QueuePair q : ioQueues) {
                            q.close();
                        }
                    }
                });
    }

    private Duration readyTimeout() {
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
        });
    }

    private CompletableFuture<Void> connectIoQueues(int count) {
        if (count == 0) {
            return CompletableFuture.completedFuture(null);
        }
        int mqes = (int) (capabilities & 0xFFFF) + 1;
        int queueSize = Math.min(options.queueSize(), mqes);
        int inCapsule = Math.max(0, info.ioccszInBytes() - Sqe.LENGTH);
        List<CompletableFuture<QueuePair>> opening = new ArrayList<>();
        for (int qid = 1; qid <= count; qid++) {
            EventLoop loop = loops.group().next();
            int id = qid;
            opening.add(QueuePair.open(loops, loop, options, id, queueSize, inCapsule, maxTransferSizeInBytes)
                    .thenCompose(q -> fabricsConnect(q, controllerId, queueSize, 0).handle((cqe, t) -> {
                        if (t != null) {
                            q.close();
                            throw t instanceof CompletionException ce ? ce : new CompletionException(t);
                        }
                        return q;
                    })));
        }
        return CompletableFuture.allOf(opening.toArray(CompletableFuture[]::new)).whenComplete((v, t) -> {
            for (CompletableFuture<QueuePair> f : opening) {
                if (!f.isCompletedExceptionally()) {
                    synchronized (ioQueues) {
                        ioQueues.add(f.join());
                    }
                }
            }
        });
    }

    private CompletableFuture<Long> propertyGet(int offset) {
        return admin.submitChecked(new QueuePair.Request(Fabrics.propertyGet(offset), "Property Get 0x" + Integer.toHexString(offset)))
                .thenApply(cqe -> NvmeOpcodes.isEightByteProperty(offset) ? cqe.result() : cqe.result() & 0xFFFF_FFFFL);
    }

    /** Polls CSTS until {@code (csts & mask) == value}, every 10 ms, until the timeout. */
    private CompletableFuture<Void> awaitStatus(int mask, int value, Duration timeout, String what) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        pollStatus(mask, value, deadline, what, timeout, done);
        return done;
    }

    private void pollStatus(int mask, int value, long deadline, String what, Duration timeout, CompletableFuture<Void> done) {
        propertyGet(NvmeOpcodes.PROPERTY_CSTS).whenComplete((csts, t) -> {
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
                admin.eventLoop().schedule(() -> pollStatus(mask, value, deadline, what, timeout, done), 10, TimeUnit.MILLISECONDS);
            }
        });
    }

    /** Identify with the given CNS; the 4096-byte result is returned as a buffer the caller releases. */
    public CompletableFuture<ByteBuf> identify(int cns, int nsid) {
        ByteBuffer dst = ByteBuffer.allocate(IdentifyLayout.IDENTIFY_LENGTH);
        Sqe sqe = new Sqe().opcode(NvmeOpcodes.ADMIN_IDENTIFY).nsid(nsid).cdw(10, cns);
        return admin.submitChecked(new QueuePair.Request(sqe, "Identify CNS " + cns + (nsid != 0 ? " nsid " + nsid : ""))
                .read(dst, IdentifyLayout.IDENTIFY_LENGTH)).thenApply(cqe -> Unpooled.wrappedBuffer(dst.array()));
    }

    private CompletableFuture<List<Integer>> listActiveNamespaces() {
        return identify(NvmeOpcodes.CNS_ACTIVE_NAMESPACES, 0).thenApply(b -> {
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
        int length = dst.remaining();
        if (length == 0 || length % 4 != 0 || offset % 4 != 0) {
            throw new IllegalArgumentException("log page read of " + length + " bytes at " + offset + " (expected multiples of 4)");
        }
        int numd = length / 4 - 1; // 0's based dwords: NUMDL in CDW10 31:16, NUMDU in CDW11 15:0
        Sqe sqe = new Sqe().opcode(NvmeOpcodes.ADMIN_GET_LOG_PAGE).nsid(0xFFFF_FFFF)
                .cdw(10, ((numd & 0xFFFF) << 16) | logId)
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
        return admin.submitChecked(new QueuePair.Request(sqe, what));
    }

    private void startKeepAlive() {
        long kato = options.keepAliveTimeout().toMillis();
        if (kato == 0 || info.keepAliveGranularityMillis() == 0) {
            return;
        }
        long period = Math.max(1, kato / 2);
        keepAlive = admin.eventLoop().scheduleAtFixedRate(() -> {
            if (closed) {
                return;
            }
            admin.submitChecked(new QueuePair.Request(new Sqe().opcode(NvmeOpcodes.ADMIN_KEEP_ALIVE), "Keep Alive"))
                    .whenComplete((c, t) -> {
                        if (t != null && !closed) {
                            log.warn("{}: keep alive failed: {}", options.nqn(), unwrap(t).getMessage());
                        }
                    });
        }, period, period, TimeUnit.MILLISECONDS);
    }

    QueuePair ioQueue() {
        int n = ioQueues.size();
        if (n == 0) {
            throw new NvmeException(options.nqn() + " has no I/O queues", NvmeException.Scope.ASSOCIATION, false, null);
        }
        return ioQueues.get(Math.floorMod(nextQueue.getAndIncrement(), n));
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

    public ControllerInfo info() {
        return info;
    }

    public int controllerId() {
        return controllerId;
    }

    public NvmeTcpHostOptions options() {
        return options;
    }

    /** Active namespace IDs as listed at connect time. */
    public List<Integer> activeNamespaces() {
        return activeNamespaces;
    }

    public int ioQueueCount() {
        return ioQueues.size();
    }

    /** The most bytes one Read or Write command moves. */
    public int maxTransferSizeInBytes() {
        return maxTransferSizeInBytes;
    }

    /** The most write data that goes in-capsule on I/O queues. */
    public int inCapsuleDataSizeInBytes() {
        return Math.max(0, info.ioccszInBytes() - Sqe.LENGTH);
    }

    /** Whether every queue is still connected. */
    public boolean isConnected() {
        if (closed || !admin.isOpen()) {
            return false;
        }
        for (QueuePair q : ioQueues) {
            if (!q.isOpen()) {
                return false;
            }
        }
        return true;
    }

    /** Shuts the controller down in order (see the class comment). Blocks up to a few seconds; never call it from an event loop. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (keepAlive != null) {
            keepAlive.cancel(false);
        }
        for (QueuePair q : ioQueues) {
            q.close().join();
        }
        if (admin.isOpen()) {
            try {
                // CC.SHN = 01b normal shutdown (bits 15:14), EN stays set; then CSTS.SHST = 10b (bits 3:2)
                long cc = 1L | (6L << 16) | (4L << 20) | (1L << 14);
                admin.submitChecked(new QueuePair.Request(Fabrics.propertySet(NvmeOpcodes.PROPERTY_CC, cc), "Property Set CC.SHN"))
                        .thenCompose(v -> awaitStatus(0xC, 0x8, Duration.ofSeconds(5), "CSTS.SHST complete"))
                        .get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                log.debug("{}: shutdown notification: {}", options.nqn(), e.toString());
            }
        }
        admin.close().join();
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
