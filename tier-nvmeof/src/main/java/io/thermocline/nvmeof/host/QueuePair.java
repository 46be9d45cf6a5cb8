package io.thermocline.nvmeof.host;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import io.thermocline.nvmeof.auth.TlsPskHandler;
import io.thermocline.nvmeof.pdu.Cqe;
import io.thermocline.nvmeof.pdu.FatalErrorStatus;
import io.thermocline.nvmeof.pdu.Pdu;
import io.thermocline.nvmeof.pdu.PduDecoder;
import io.thermocline.nvmeof.pdu.PduEncoder;
import io.thermocline.nvmeof.pdu.PduSession;
import io.thermocline.nvmeof.pdu.Sqe;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One NVMe/TCP queue: a TCP connection carrying one submission/completion queue pair (NVMe/TCP
 * 1.0 §2.2: each queue is its own connection), bound to one event loop.
 *
 * <p><b>Commands.</b> {@link #submit} may be called from any thread; the work moves to the
 * queue's event loop. A command takes one of {@code queueSize} slots; when all are taken,
 * commands wait in arrival order. The command identifier is the slot index in bits 11:0 and a
 * 4-bit generation in bits 15:12, so a late or forged completion for a reused slot is caught.
 *
 * <p><b>Data.</b> Write data of up to the queue's in-capsule limit goes in the capsule (SGL Data
 * Block, offset sub-type); larger writes are announced with a Transport SGL and sent as H2CData
 * when the controller asks with R2T (§3.4.2), split at the controller's MAXH2CDATA. Read data
 * arrives as C2HData and is copied straight into the caller's buffer at its offset; a last
 * C2HData with SUCCESS completes the command without a CapsuleResp (§3.6.2.9).
 *
 * <p><b>Futures</b> complete on the queue's event loop: dependent stages must not block (use
 * the {@code ...Async} forms for blocking work).
 *
 * <p><b>Failures.</b> A TermReq, a protocol violation by the peer, a closed connection, a
 * command past its deadline, or the association's silence (see {@link #watchSilence}) ends the queue: the close
 * listener hears of it first, then every command on it fails with an {@link NvmeException} of
 * scope {@link NvmeException.Scope#QUEUE}.
 */
final class QueuePair extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(QueuePair.class);
    private static final int SLOT_BITS = 12;
    private static final int SLOT_MASK = (1 << SLOT_BITS) - 1;

    /** One command in flight. */
    static final class Request {
        final Sqe sqe;
        final String what;
        /** Write data, owned by the request until it completes; null if none. */
        ByteBuf data;
        /** Where read data goes: [readBase, readBase + readLength) of this buffer; null if none. */
        ByteBuffer readDst;
        int readBase;
        int readLength;
        int received;
        final CompletableFuture<Cqe> future = new CompletableFuture<>();
        long deadlineNanos;
        long sentNanos;
        /** For the read latency split (reads on I/O queues): submitted, capsule written, time copying data. */
        long submitNanos;
        long wireNanos;
        long copyNanos;
        /** Exempt from the command timeout and from silence: an Asynchronous Event Request, held until an event. */
        boolean untimed;
        int commandId;
        Throwable failure;

        Request(Sqe sqe, String what) {
            this.sqe = sqe;
            this.what = what;
        }

        /** Attaches write data (owned from now on). */
        Request write(ByteBuf data) {
            this.data = data;
            return this;
        }

        /** Marks the command as one the controller may hold indefinitely. */
        Request untimed() {
            this.untimed = true;
            return this;
        }

        /** Attaches the destination of read data: {@code dst}'s bytes from its position, {@code length} of them. */
        Request read(ByteBuffer dst, int length) {
            this.readDst = dst;
            this.readBase = dst.position();
            this.readLength = length;
            return this;
        }
    }

    final int qid;
    private final String name;
    private final PduSession session = new PduSession(PduSession.Role.HOST, 0, 0);
    private final PduEncoder encoder = new PduEncoder(session);
    private final Request[] slots;
    private final int[] generations;
    private final int[] freeStack;
    private int freeTop;
    private final ArrayDeque<Request> waiting = new ArrayDeque<>();
    private final long timeoutNanos;
    private int inCapsuleLimit;
    private int maxH2cData = 4096;
    private Channel channel;
    private CompletableFuture<QueuePair> ready;
    private ScheduledFuture<?> sweeper;
    private volatile Throwable closedCause;
    private long silenceNanos;
    /** When any queue of the association last received a PDU (shared by its queues); null until watched. */
    private volatile java.util.concurrent.atomic.AtomicLong associationLastReceive;
    private final CompletableFuture<Throwable> closed = new CompletableFuture<>();
    /** Where reads record their latency split (I/O queues), or null; event loop only. */
    private FabricReadLatency.Recorder readLatency;
    /** The controller's completions of reads carry its service time in DW1 (opted in); event loop only. */
    private boolean serviceTimeInCqe;

    private QueuePair(int qid, String name, int queueSize, int inCapsuleLimit, int maxReceiveData, long timeoutNanos) {
        this.qid = qid;
        this.name = name;
        this.slots = new Request[queueSize];
        this.generations = new int[queueSize];
        this.freeStack = new int[queueSize];
        for (int i = 0; i < queueSize; i++) {
            freeStack[i] = queueSize - 1 - i;
        }
        this.freeTop = queueSize;
        this.inCapsuleLimit = inCapsuleLimit;
        this.timeoutNanos = timeoutNanos;
        session.maxDataPerPdu(maxReceiveData);
    }

    /**
     * Opens the connection and initialises it (ICReq/ICResp, §3.3). The returned queue still
     * needs its Fabrics Connect, which the controller sends as the queue's first command.
     *
     * @param queueSize command slots (the SQSIZE the Connect will ask for)
     * @param maxReceiveData the most data one C2HData may carry (the largest read)
     */
    static CompletableFuture<QueuePair> open(NvmeEventLoops loops, EventLoop loop, NvmeTcpHostOptions options, int qid,
                                             int queueSize, int inCapsuleLimit, int maxReceiveData) {
        String name = options.nqn() + " at " + options.traddr() + ":" + options.trsvcid() + " qid " + qid;
        QueuePair q = new QueuePair(qid, name, queueSize, inCapsuleLimit, maxReceiveData,
                options.commandTimeout().toNanos());
        q.ready = new CompletableFuture<>();
        Bootstrap b = new Bootstrap().group(loop).channel(loops.channelType())
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, options.connectTimeout().toMillis()))
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        PduDecoder decoder = new PduDecoder(q.session, q.encoder);
                        // read data is copied once, into the caller's buffer: a composite cumulation
                        // keeps a large C2HData in the socket's buffers instead of merging it into one
                        decoder.setCumulator(ByteToMessageDecoder.COMPOSITE_CUMULATOR);
                        // commands issued while completions are being read go out in one write at the end of the read
                        if (options.security().tlsKey() != null) {
                            // TLS 1.3 with the configured PSK (NVMe/TCP 1.1 §3.6) before ICReq, below everything else
                            ch.pipeline().addLast("tls", TlsPskHandler.client(options.security().tlsKey(),
                                    options.identity().hostNqn(), options.nqn()));
                        }
                        ch.pipeline().addLast("flush", new FlushConsolidationHandler(64, true))
                                .addLast("pdu", decoder).addLast("queue", q);
                    }
                });
        ChannelFuture cf = b.connect(options.traddr(), options.trsvcid());
        q.channel = cf.channel();
        cf.addListener(f -> {
            if (!f.isSuccess()) {
                q.ready.completeExceptionally(new NvmeException("cannot connect to " + name + ": " + f.cause().getMessage(),
                        NvmeException.Scope.QUEUE, true, f.cause()));
                return;
            }
            q.channel.writeAndFlush(q.encoder.icReq(q.channel.alloc(),
                    new Pdu.IcReq(0, 0, options.headerDigest(), options.dataDigest(), 0)));
            long connectNanos = options.connectTimeout().toNanos();
            q.channel.eventLoop().schedule(() -> {
                if (!q.ready.isDone()) {
                    q.ready.completeExceptionally(new NvmeException(name + ": no ICResp within " + options.connectTimeout(),
                            NvmeException.Scope.QUEUE, true, null));
                    q.channel.close();
                }
            }, connectNanos, TimeUnit.NANOSECONDS);
        });
        return q.ready;
    }

    String name() {
        return name;
    }

    /** Sets the in-capsule limit (known for I/O queues only after Identify Controller's IOCCSZ). */
    void inCapsuleLimit(int bytes) {
        channel.eventLoop().execute(() -> inCapsuleLimit = bytes);
    }

    EventLoop eventLoop() {
        return channel.eventLoop();
    }

    /**
     * Records the latency split of every read from now on into a new recorder of
     * {@code latency}; {@code serviceTimeInCqe}: the controller puts its service time in CQE DW1
     * of reads (see {@link io.thermocline.nvmeof.pdu.VendorIdentify}). Call before the queue carries I/O.
     */
    void recordReads(FabricReadLatency latency, boolean serviceTimeInCqe) {
        FabricReadLatency.Recorder recorder = latency.newRecorder(channel.eventLoop());
        channel.eventLoop().execute(() -> {
            this.readLatency = recorder;
            this.serviceTimeInCqe = serviceTimeInCqe;
        });
    }

    boolean isOpen() {
        return closedCause == null && channel.isActive();
    }

    /**
     * Ends the queue when the association goes silent: a command here has been outstanding for
     * {@code nanos} and nothing at all arrived on any queue of the association in that time
     * (keep-alive-tmo: a path that drops everything is noticed within it, not after the command
     * timeout, while a slow command on a target that still answers Keep Alive is left alone).
     *
     * @param lastReceive when any queue of the association last received a PDU, updated by each
     */
    void watchSilence(long nanos, java.util.concurrent.atomic.AtomicLong lastReceive) {
        associationLastReceive = lastReceive;
        channel.eventLoop().execute(() -> silenceNanos = nanos);
    }

    /**
     * Completes with the cause when the queue ends, before the commands on it fail, so that the
     * owner can mark the path down before anyone retries.
     */
    CompletableFuture<Throwable> closeFuture() {
        return closed;
    }

    /** Submits a command; the future completes with its CQE whatever its status (see {@link #submitChecked}). */
    CompletableFuture<Cqe> submit(Request r) {
        r.submitNanos = System.nanoTime();
        EventLoop loop = channel.eventLoop();
        if (loop.inEventLoop()) {
            dispatch(r);
        } else {
            try {
                loop.execute(() -> dispatch(r));
            } catch (RejectedExecutionException e) {
                fail(r, new NvmeException(name + " is closed", NvmeException.Scope.QUEUE, true, e));
            }
        }
        return r.future;
    }

    /** Submits a command and fails the future with an {@link NvmeException} unless the status is success. */
    CompletableFuture<Cqe> submitChecked(Request r) {
        return submit(r).thenApply(cqe -> {
            if (!cqe.isSuccess()) {
                throw new NvmeException(r.what + " on " + name, cqe);
            }
            return cqe;
        });
    }

    private void dispatch(Request r) {
        Throwable closed = closedCause;
        if (closed != null) {
            fail(r, closed);
            return;
        }
        if (freeTop == 0) {
            waiting.add(r);
            return;
        }
        int slot = freeStack[--freeTop];
        int gen = (generations[slot] + 1) & 0xF;
        generations[slot] = gen;
        r.commandId = slot | (gen << SLOT_BITS);
        r.sentNanos = System.nanoTime();
        r.deadlineNanos = r.untimed ? Long.MAX_VALUE : r.sentNanos + timeoutNanos;
        slots[slot] = r;
        r.sqe.commandId(r.commandId);
        ByteBuf inCapsule = null;
        if (r.data != null) {
            int n = r.data.readableBytes();
            if (n <= inCapsuleLimit) {
                r.sqe.sglInCapsule(n);
                inCapsule = r.data.retainedDuplicate();
            } else {
                r.sqe.sglTransport(n);
            }
        } else {
            r.sqe.sglTransport(r.readDst != null ? r.readLength : 0);
        }
        channel.writeAndFlush(encoder.capsuleCmd(channel.alloc(), r.sqe, inCapsule), channel.voidPromise());
        if (readLatency != null && r.readDst != null) {
            r.wireNanos = System.nanoTime();
        }
        if (sweeper == null) {
            long period = Math.max(TimeUnit.MILLISECONDS.toNanos(100), timeoutNanos / 8);
            if (silenceNanos > 0) {
                period = Math.min(period, Math.max(TimeUnit.MILLISECONDS.toNanos(20), silenceNanos / 20));
            }
            sweeper = channel.eventLoop().scheduleAtFixedRate(this::sweep, period, period, TimeUnit.NANOSECONDS);
        }
    }

    private void sweep() {
        long now = System.nanoTime();
        java.util.concurrent.atomic.AtomicLong clock = associationLastReceive;
        long last = clock == null ? now : clock.get();
        boolean quiet = silenceNanos > 0 && now - last > silenceNanos;
        for (Request r : slots) {
            if (r != null && quiet && !r.untimed && now - r.sentNanos > silenceNanos) {
                failAll(new NvmeException(name + ": nothing received on any queue of the association for "
                        + TimeUnit.NANOSECONDS.toMillis(now - last) + " ms while " + r.what + " was outstanding (expected "
                        + "traffic within keep-alive-tmo, " + TimeUnit.NANOSECONDS.toMillis(silenceNanos) + " ms): the path is silent",
                        NvmeException.Scope.QUEUE, true, null));
                channel.close();
                return;
            }
            if (r != null && now - r.deadlineNanos > 0) {
                failAll(new NvmeException(r.what + " on " + name + " got no completion within "
                        + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms", NvmeException.Scope.QUEUE, true, null));
                channel.close();
                return;
            }
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        java.util.concurrent.atomic.AtomicLong clock = associationLastReceive;
        if (clock != null) {
            clock.lazySet(System.nanoTime());
        }
        if (closedCause != null) {
            // the queue ended and its commands were failed: what was still in the socket's buffer is stale
            if (msg instanceof Pdu p) {
                p.release();
            } else {
                ReferenceCountUtil.release(msg);
            }
            return;
        }
        try {
            switch (msg) {
                case Pdu.CapsuleResp resp -> onResponse(ctx, resp.cqe());
                case Pdu.C2hData data -> onData(ctx, data);
                case Pdu.R2t r2t -> onR2t(ctx, r2t);
                case Pdu.IcResp resp -> onIcResp(resp);
                case Pdu.TermReq term -> {
                    failAll(new NvmeException(name + ": the controller ended the connection: " + term,
                            NvmeException.Scope.QUEUE, true, null));
                    ctx.close();
                }
                case PduDecoder.DataDigestError e -> {
                    Request r = lookup(e.commandId());
                    if (r != null) {
                        r.failure = new NvmeException(String.format("%s on %s: data digest 0x%08x, computed 0x%08x at data offset %d",
                                r.what, name, e.expected(), e.actual(), e.offset()), NvmeException.Scope.COMMAND, true, null);
                    }
                }
                default -> protocolError(ctx, FatalErrorStatus.PDU_SEQUENCE_ERROR, 0, "unexpected " + msg);
            }
        } finally {
            if (msg instanceof Pdu p) {
                p.release();
            } else {
                ReferenceCountUtil.release(msg);
            }
        }
    }

    private void onIcResp(Pdu.IcResp resp) {
        // §3.6.2.3: the controller echoes the digests it enabled; adopt what it says
        session.initialize(resp.headerDigest(), resp.dataDigest(), 0, resp.cpda());
        maxH2cData = resp.maxH2cData();
        ready.complete(this);
    }

    private Request lookup(int commandId) {
        Request r = slots[commandId & SLOT_MASK];
        return r != null && r.commandId == commandId ? r : null;
    }

    private void onResponse(ChannelHandlerContext ctx, Cqe cqe) {
        Request r = lookup(cqe.commandId());
        if (r == null) {
            protocolError(ctx, FatalErrorStatus.INVALID_HEADER_FIELD, 8 + 12, "CapsuleResp for unknown command id " + cqe.commandId());
            return;
        }
        complete(r, cqe);
    }

    private void onData(ChannelHandlerContext ctx, Pdu.C2hData d) {
        Request r = lookup(d.commandId());
        int n = d.data().readableBytes();
        if (r == null || r.readDst == null) {
            protocolError(ctx, FatalErrorStatus.INVALID_HEADER_FIELD, 8, "C2HData for command id " + d.commandId()
                    + (r == null ? ", which is not in flight" : ", which reads no data"));
            return;
        }
        if ((long) d.offset() + n > r.readLength) {
            protocolError(ctx, FatalErrorStatus.DATA_TRANSFER_OUT_OF_RANGE, 0, "C2HData " + d.offset() + "+" + n
                    + " beyond the " + r.readLength + " bytes of " + r.what);
            return;
        }
        long copyStart = r.wireNanos != 0 ? System.nanoTime() : 0;
        if (r.failure == null) {
            ByteBuffer dst = r.readDst.duplicate();
            dst.limit(r.readBase + d.offset() + n).position(r.readBase + d.offset());
            try {
                d.data().getBytes(d.data().readerIndex(), dst);
            } catch (WrongThreadException | IllegalStateException e) {
                // the caller's buffer cannot be written from this I/O thread (memory of a confined
                // arena, or of one already closed): that is this command's fault, not the path's —
                // fail the command when it completes instead of dropping the connection
                r.failure = new NvmeException(r.what + " on " + name + ": the destination buffer cannot be written from the"
                        + " I/O thread (" + e.getMessage() + "); give reads memory of a shared or global arena, or a heap"
                        + " or direct buffer", NvmeException.Scope.COMMAND, false, e);
            }
        }
        if (copyStart != 0) {
            r.copyNanos += System.nanoTime() - copyStart;
        }
        r.received += n;
        if (d.success()) {
            complete(r, new Cqe(0, 0, qid, r.commandId, 0));
        }
    }

    private void onR2t(ChannelHandlerContext ctx, Pdu.R2t r2t) {
        Request r = lookup(r2t.commandId());
        if (r == null || r.data == null) {
            protocolError(ctx, FatalErrorStatus.INVALID_HEADER_FIELD, 8, "R2T for command id " + r2t.commandId()
                    + (r == null ? ", which is not in flight" : ", which writes no data"));
            return;
        }
        int total = r.data.readableBytes();
        long end = (long) r2t.offset() + r2t.length();
        if (end > total) {
            protocolError(ctx, FatalErrorStatus.DATA_TRANSFER_OUT_OF_RANGE, 0, "R2T " + r2t.offset() + "+" + r2t.length()
                    + " beyond the " + total + " bytes of " + r.what);
            return;
        }
        int base = r.data.readerIndex();
        for (int o = r2t.offset(); o < end; ) {
            int n = (int) Math.min(maxH2cData, end - o);
            boolean last = o + n == end;
            ctx.write(encoder.h2cData(ctx.alloc(), r.commandId, r2t.transferTag(), o, last, r.data.retainedSlice(base + o, n)),
                    ctx.voidPromise());
            o += n;
        }
        ctx.flush();
    }

    private void complete(Request r, Cqe cqe) {
        int slot = r.commandId & SLOT_MASK;
        slots[slot] = null;
        freeStack[freeTop++] = slot;
        release(r);
        if (r.failure != null) {
            r.future.completeExceptionally(r.failure);
        } else if (cqe.isSuccess() && r.readDst != null && r.received != r.readLength) {
            r.future.completeExceptionally(new NvmeException(r.what + " on " + name + " completed after " + r.received
                    + " of " + r.readLength + " bytes", NvmeException.Scope.COMMAND, true, null));
        } else {
            if (r.wireNanos != 0 && cqe.isSuccess()) {
                recordRead(r, cqe);
            }
            r.future.complete(cqe);
        }
        while (freeTop > 0 && !waiting.isEmpty() && closedCause == null) {
            dispatch(waiting.poll());
        }
    }

    /**
     * The split of a successful read (see {@link FabricReadLatency}): host = submission to capsule
     * written, plus copying the data; round trip = capsule written to completion, less the copy;
     * the target's service time from CQE DW1 when the controller reports it (a SUCCESS carried in
     * C2HData has no CQE and so no service time).
     */
    private void recordRead(Request r, Cqe cqe) {
        long now = System.nanoTime();
        long host = r.wireNanos - r.submitNanos + r.copyNanos;
        long roundTrip = now - r.wireNanos - r.copyNanos;
        long target = serviceTimeInCqe ? cqe.result() >>> 32 : 0;
        readLatency.record(host, roundTrip, target);
    }

    private static void release(Request r) {
        if (r.data != null) {
            r.data.release();
            r.data = null;
        }
    }

    private void fail(Request r, Throwable cause) {
        release(r);
        r.future.completeExceptionally(cause);
    }

    private void protocolError(ChannelHandlerContext ctx, int fes, int fei, String reason) {
        log.warn("{}: ending the connection: {}", name, reason);
        failAll(new NvmeException(name + ": " + reason, NvmeException.Scope.QUEUE, false, null));
        PduDecoder.sendTermReqAndClose(ctx, encoder, session, fes, fei, Unpooled.EMPTY_BUFFER);
    }

    private void failAll(Throwable cause) {
        if (closedCause == null) {
            closedCause = cause;
        }
        closed.complete(closedCause);
        if (sweeper != null) {
            sweeper.cancel(false);
        }
        if (readLatency != null) {
            readLatency.retire();  // nothing completes after this: the figures join the controller's total
        }
        for (int i = 0; i < slots.length; i++) {
            Request r = slots[i];
            if (r != null) {
                slots[i] = null;
                fail(r, cause);
            }
        }
        Request w;
        while ((w = waiting.poll()) != null) {
            fail(w, cause);
        }
        if (!ready.isDone()) {
            ready.completeExceptionally(cause);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof PduDecoder.Terminated t) {
            failAll(new NvmeException(name + ": malformed PDU from the controller: " + t.reason(), NvmeException.Scope.QUEUE, false, null));
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        failAll(new NvmeException(name + ": connection closed", NvmeException.Scope.QUEUE, true, null));
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.debug("{}: {}", name, cause.toString());
        failAll(new NvmeException(name + ": " + cause.getMessage(), NvmeException.Scope.QUEUE, true, cause));
        ctx.close();
    }

    /** Closes the connection; in-flight commands fail. */
    CompletableFuture<Void> close() {
        CompletableFuture<Void> done = new CompletableFuture<>();
        channel.close().addListener(f -> done.complete(null));
        return done;
    }
}
