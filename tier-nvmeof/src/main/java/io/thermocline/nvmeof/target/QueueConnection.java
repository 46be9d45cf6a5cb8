package io.thermocline.nvmeof.target;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.DefaultFileRegion;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.collection.IntObjectHashMap;
import io.netty.util.collection.IntObjectMap;
import io.netty.util.concurrent.Promise;
import io.netty.util.concurrent.ScheduledFuture;
import io.thermocline.nvmeof.pdu.AnaState;
import io.thermocline.nvmeof.auth.DhchapControllerSession;
import io.thermocline.nvmeof.auth.DhchapHostConfig;
import io.thermocline.nvmeof.pdu.Cqe;
import io.thermocline.nvmeof.pdu.IdentifyLayout;
import io.thermocline.nvmeof.pdu.Fabrics;
import io.thermocline.nvmeof.pdu.FatalErrorStatus;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.NvmeStatus;
import io.thermocline.nvmeof.pdu.Pdu;
import io.thermocline.nvmeof.pdu.PduDecoder;
import io.thermocline.nvmeof.pdu.PduEncoder;
import io.thermocline.nvmeof.pdu.PduSession;
import io.thermocline.nvmeof.pdu.PduType;
import io.thermocline.nvmeof.pdu.Sqe;
import io.thermocline.nvmeof.pdu.VendorIdentify;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierIoException;
import io.thermocline.tier.TierUnavailableException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.security.SecureRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller end of one NVMe/TCP connection, which carries one queue (NVMe/TCP 1.0: one
 * connection per queue pair). Sits after the {@link PduDecoder} and runs entirely on the
 * connection's event loop; block I/O runs on the namespace's own threads and its completion comes
 * back to this loop before anything is sent.
 *
 * <p><b>Life of a connection.</b> ICReq → ICResp (§3.3), then the first capsule must be a Connect
 * (NVMe over Fabrics 1.1 §3.3): on the admin queue it creates a {@link Controller}, on an I/O queue
 * it joins one. Any other first command is answered with Command Sequence Error and the connection
 * is closed. A protocol violation the decoder cannot see (an H2CData PDU for a transfer tag this
 * end never issued, data outside the R2T's range) ends the connection with a C2HTermReq.
 *
 * <p><b>Commands.</b> Each capsule becomes a {@link Command} kept until its CapsuleResp (or a
 * C2HData with SUCCESS) is written; at most the queue's size are in flight, more is a PDU
 * sequence error. Commands that carry data to the controller get it in the capsule (SGL Data Block,
 * offset sub-type) or through R2T/H2CData (Transport SGL Data Block) with transfer tags this end
 * allocates; command identifiers are echoed, never interpreted.
 *
 * <p><b>Buffers.</b> Whoever holds a {@link ByteBuf} releases it: a capsule's data is owned by
 * {@link #onCapsule} until it hands it to a command's {@link Command#data} or releases it; a
 * command's data is released when the command completes or the connection closes — except while
 * a block device reads or writes through it ({@link Command#ioInFlight}), when the completion of
 * that I/O releases it. Buffers given to the {@link PduEncoder} belong to it from then on.
 */
final class QueueConnection extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(QueueConnection.class);

    /** Connect response DW0, Invalid Parameters (NVMe-oF 1.1 Figure 21): IATTR bit 16 = the offset is in the data. */
    private static final int IATTR_DATA = 1 << 16;

    private enum State { AWAIT_IC, AWAIT_CONNECT, READY, CLOSED }

    /** A command between its capsule and its completion. */
    private static final class Command {
        final int cid;
        final Sqe sqe;
        /** Data received for it, or read for it; owned by the command. */
        ByteBuf data;
        /** A block device is using {@link #data}: only the I/O's completion may release it. */
        boolean ioInFlight;
        /** An Asynchronous Event Request held until an event (none yet) or the end. */
        boolean aer;
        /** Host-to-controller data through R2T: total length, next offset to ask for, R2Ts outstanding, bytes in. */
        int length;
        int nextR2tOffset;
        int outstandingR2ts;
        int receivedBytes;
        DataHandler onData;
        /** When its capsule arrived (System.nanoTime), for the service time; 0 when not reported. */
        long arrivalNanos;
        /** Data bytes the rate limiter charges for it. */
        long costBytes;
        /** Bytes of its controller's R2T budget its data buffer holds (see {@link Controller#reserveR2tBytes}). */
        long r2tReserved;

        Command(int cid, Sqe sqe) {
            this.cid = cid;
            this.sqe = sqe;
        }

        void releaseData() {
            if (data != null) {
                data.release();
                data = null;
            }
        }
    }

    /** What to do with a command's data once all of it is here; takes ownership of {@code data}. */
    @FunctionalInterface
    private interface DataHandler {
        void accept(Command cmd, ByteBuf data);
    }

    /** One R2T: the range of a command's data it asked for, and how much of it has arrived. */
    private static final class Transfer {
        final Command cmd;
        final int ttag;
        final int offset;
        final int length;
        int received;

        Transfer(Command cmd, int ttag, int offset, int length) {
            this.cmd = cmd;
            this.ttag = ttag;
            this.offset = offset;
            this.length = length;
        }
    }

    /**
     * A file region over the target's shared read-only channel of a namespace file: releasing it
     * must not close that channel. Being a {@link DefaultFileRegion}, the epoll transport sends it
     * with sendfile(2).
     */
    private static final class SharedFileRegion extends DefaultFileRegion {
        SharedFileRegion(FileChannel file, long position, long count) {
            super(file, position, count);
        }

        @Override
        protected void deallocate() {
            // the channel belongs to the target, which closes it when it closes
        }
    }

    private final NvmeTcpTarget target;
    private final TargetConfig config;
    private final PduSession session;
    private final PduEncoder encoder;
    private ChannelHandlerContext ctx;
    private Channel channel;
    private State state = State.AWAIT_IC;
    /** A TermReq went out or came in: everything after is dropped. */
    private boolean terminated;
    private int hostMaxR2t = 1;
    private Controller controller;
    private int qid = -1;
    private int queueSize;
    private boolean sqFlowControl = true;
    /** Commands consumed from the submission queue; SQHD is this modulo the queue size. */
    private long consumed;
    private final IntObjectMap<Command> commands = new IntObjectHashMap<>();
    private final IntObjectMap<Transfer> transfers = new IntObjectHashMap<>();
    /** Transfer tags of commands failed for a data digest error: their late H2CData is dropped quietly. */
    private final Set<Integer> retiredTags = new HashSet<>();
    private int nextTtag;
    private int heldAers;
    /** An asynchronous event (its CQE DW0) waiting for an Asynchronous Event Request, or 0. */
    private int pendingEvent;
    private Command disconnect;
    private boolean draining;
    private Promise<Void> drained;
    private ScheduledFuture<?> connectTimer;
    /** In-band authentication of this queue (NVMe Base 2.0 §8.13), or null when the host needs none. */
    private DhchapControllerSession auth;
    /**
     * Set by the first successful transaction: a host may authenticate again at any time after it
     * (re-authentication, a new AUTH_Negotiate), and the queue goes on serving its commands
     * meanwhile, as Linux's nvmet does; a failed re-authentication ends the association.
     */
    private boolean authenticatedOnce;
    private ScheduledFuture<?> authTimer;
    /** Whether NSID i is attached to this queue's controller (index 0 unused); set by bind. */
    private boolean[] attached = new boolean[1];
    /** The rate limiter of this host on this subsystem, or null when it is not limited (I/O queues only). */
    private HostRateLimiter limiter;
    /** I/O commands over the limiter's budget, in arrival order; at most the queue's size (they are in {@link #commands}). */
    private final java.util.ArrayDeque<Command> deferred = new java.util.ArrayDeque<>();
    private ScheduledFuture<?> deferTimer;
    /**
     * Responses (CapsuleResp, or a C2HData carrying SUCCESS) written but not yet sent: their
     * commands still take a slot of the queue, as in Linux's nvmet, which frees a command when its
     * response has gone out. So a host that does not read holds at most a queue's worth.
     */
    private int unsentResponses;
    /** Writes waiting for their controller's R2T budget before their R2T goes out, in arrival order. */
    private final java.util.ArrayDeque<Command> r2tWaiting = new java.util.ArrayDeque<>();
    /** When the last H2CData arrived, or an R2T went out with none outstanding (System.nanoTime). */
    private long lastH2cNanos;
    private ScheduledFuture<?> h2cTimer;
    /** This connection counted as connected with the target (its Connect succeeded). */
    private boolean connectedCounted;
    /** An I/O queue whose host must authenticate joins its controller only once it has (see connect). */
    private boolean joinedController;
    /** The last authentication step of this queue: the next runs after it, never beside it. */
    private CompletableFuture<?> authTail = CompletableFuture.completedFuture(null);

    QueueConnection(NvmeTcpTarget target, PduSession session, PduEncoder encoder) {
        this.target = target;
        this.config = target.config();
        this.session = session;
        this.encoder = encoder;
    }

    Channel channel() {
        return channel;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.channel = ctx.channel();
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        if (!target.connectionOpened(this)) {
            ctx.close();
            return;
        }
        log.debug("{}: NVMe/TCP connection accepted", channel.remoteAddress());
        long timeout = config.connectTimeout().toNanos();
        connectTimer = ctx.executor().schedule(() -> {
            if (state != State.READY && state != State.CLOSED) {
                log.warn("{}: no successful Connect within {} ms: closing the connection", channel.remoteAddress(),
                        TimeUnit.NANOSECONDS.toMillis(timeout));
                ctx.close();
            }
        }, timeout, TimeUnit.NANOSECONDS);
        ctx.fireChannelActive();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        State was = state;
        state = State.CLOSED;
        if (authTimer != null) {
            authTimer.cancel(false);
        }
        if (connectTimer != null) {
            connectTimer.cancel(false);
        }
        if (deferTimer != null) {
            deferTimer.cancel(false);
            deferTimer = null;
        }
        if (h2cTimer != null) {
            h2cTimer.cancel(false);
            h2cTimer = null;
        }
        deferred.clear();  // their data is released with the commands below
        r2tWaiting.clear();
        if (controller != null) {
            controller.forgetR2tWaiter(this);
        }
        for (Command c : commands.values()) {
            releaseR2tBudget(c);
            if (!c.ioInFlight) {
                c.releaseData();
            }
        }
        commands.clear();
        transfers.clear();
        heldAers = 0;
        if (controller != null) {
            if (qid == 0) {
                controller.destroy("admin queue connection from " + channel.remoteAddress() + " closed");
            } else {
                controller.removeIoQueue(qid, this);
                log.info("I/O queue {} of controller {} ({}) closed", qid, controller.cntlid, channel.remoteAddress());
            }
        } else if (was != State.AWAIT_IC) {
            log.debug("{}: connection closed before a Connect succeeded", channel.remoteAddress());
        }
        target.connectionClosed(this, connectedCounted);
        if (drained != null) {
            drained.trySuccess(null);
        }
        ctx.fireChannelInactive();
    }

    /**
     * Backpressure: while more than the high water mark of responses waits to be sent (the host
     * does not read, or reads slowly), read no more commands; read again below the low mark.
     */
    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        boolean writable = channel.isWritable();
        if (channel.config().isAutoRead() != writable) {
            channel.config().setAutoRead(writable);
            log.debug("{} q{}: {} reading: {} bytes unsent", channel.remoteAddress(), qid, writable ? "resumes" : "stops",
                    channel.unsafe().outboundBuffer() == null ? 0 : channel.unsafe().outboundBuffer().totalPendingWriteBytes());
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof PduDecoder.Terminated) {
            terminated = true;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof java.io.IOException) {
            // the host went away or the network broke (a reset, say): routine for a target, no fault of its own
            log.info("{}: NVMe/TCP connection lost: {}", channel.remoteAddress(), cause.getMessage());
        } else {
            log.warn("{}: closing the NVMe/TCP connection after an error: {}", channel.remoteAddress(), cause.toString());
        }
        ctx.close();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (terminated || state == State.CLOSED) {
            release(msg);
            return;
        }
        switch (msg) {
            case Pdu.IcReq req -> onIcReq(req);
            case Pdu.CapsuleCmd cmd -> onCapsule(cmd.sqe(), cmd.data());
            case Pdu.H2cData data -> onH2cData(data);
            case PduDecoder.DataDigestError error -> onDataDigestError(error);
            case Pdu.TermReq term -> {
                term.release();
                terminated = true;
                log.warn("{}: host ended the connection: {}", channel.remoteAddress(), term);
                ctx.close();
            }
            default -> {
                release(msg);
                log.warn("{}: unexpected message {}: closing the connection", channel.remoteAddress(), msg);
                ctx.close();
            }
        }
    }

    private static void release(Object msg) {
        if (msg instanceof Pdu pdu) {
            pdu.release();
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    // ---------------------------------------------------------------- initialisation

    /** ICReq (NVMe/TCP 1.0 §3.6.2.2): answer with ICResp and apply what was agreed to the session. */
    private void onIcReq(Pdu.IcReq req) {
        // MAXR2T is 0's based; the kernel host sends 0 (one R2T at a time per command).
        hostMaxR2t = (int) Math.min(Integer.toUnsignedLong(req.maxR2t()) + 1, TargetConfig.MAX_R2T_PER_COMMAND);
        boolean hd = req.headerDigest();
        boolean dd = req.dataDigest();
        // ICResp (§3.6.2.3, Figure 16): PFV 0, CPDA 0 (no alignment asked of the host: the kernel
        // host refuses any other), the digests the host asked for, MAXH2CDATA.
        ByteBuf resp = encoder.icResp(ctx.alloc(), new Pdu.IcResp(0, 0, hd, dd, config.maxH2cData()));
        session.initialize(hd, dd, 0, req.hpda());
        session.maxDataPerPdu(config.maxH2cData());
        state = State.AWAIT_CONNECT;
        ctx.writeAndFlush(resp);
        log.debug("{}: ICReq HPDA {} MAXR2T {} header digest {} data digest {}", channel.remoteAddress(), req.hpda(),
                req.maxR2t(), hd, dd);
    }

    // ---------------------------------------------------------------- capsules

    /** A CapsuleCmd; owns {@code data} (possibly empty). */
    private void onCapsule(Sqe sqe, ByteBuf data) {
        int cid = sqe.commandId();
        if (state == State.AWAIT_CONNECT) {
            // FUSE and PSDT are checked before anything else, the Connect included (nvmet_req_init)
            CommandChecks.Refusal bad = CommandChecks.fuseAndPsdt(sqe);
            if (bad != null) {
                data.release();
                log.info("{}: command {} before Connect refused: {}", channel.remoteAddress(), sqe, bad.why());
                sendCqe(cid, 0, status(bad.status()), 0);
                return;
            }
            if (sqe.opcode() != NvmeOpcodes.FABRICS || sqe.fabricsType() != NvmeOpcodes.FCTYPE_CONNECT) {
                // Invalid Opcode, as nvmet_parse_connect_cmd answers any other command on an unconnected queue
                data.release();
                log.warn("{}: the first command on a queue is {} (expected a Fabrics Connect): closing the connection",
                        channel.remoteAddress(), sqe);
                state = State.CLOSED;
                ctx.writeAndFlush(encoder.capsuleResp(ctx.alloc(), new Cqe(0, 0, 0, cid, status(NvmeStatus.INVALID_OPCODE))))
                        .addListener(ChannelFutureListener.CLOSE);
                return;
            }
        }
        consumed++;
        if (controller != null && (auth == null || authenticatedOnce)) {
            controller.touch();  // a queue that has not authenticated keeps no association alive
        }
        if (commands.containsKey(cid)) {
            data.release();
            log.warn("{}: queue {} got command id {} while a command with that id is in flight", channel.remoteAddress(),
                    qid, cid);
            sendCqe(cid, Math.max(qid, 0), status(NvmeStatus.COMMAND_ID_CONFLICT), 0);
            return;
        }
        int limit = state == State.READY ? queueSize : 1;
        if (commands.size() + unsentResponses >= limit) {
            data.release();
            fatal(FatalErrorStatus.PDU_SEQUENCE_ERROR, 0, "a command arrived with " + commands.size()
                    + " in flight and " + unsentResponses + " responses not yet sent on a queue of " + limit
                    + " entries (expected at most " + limit + ")",
                    capsuleHeader(sqe));
            return;
        }
        Command cmd = new Command(cid, sqe);
        if (qid > 0 && controller.serviceTimeReporting()) {
            cmd.arrivalNanos = System.nanoTime();
        }
        commands.put(cid, cmd);
        if (log.isDebugEnabled()) {
            log.debug("{} q{}: {} ({} bytes in capsule)", channel.remoteAddress(), qid, sqe, data.readableBytes());
        }
        if (draining) {
            data.release();
            complete(cmd, retryable(NvmeStatus.ABORTED_SQ_DELETION), 0);
            return;
        }
        if (disconnect != null) {
            data.release();
            fail(cmd, NvmeStatus.COMMAND_SEQUENCE_ERROR, "command after Disconnect on queue " + qid);
            return;
        }
        try {
            dispatch(cmd, data);
        } catch (RuntimeException e) {
            log.error("{}: command {} failed inside the target", channel.remoteAddress(), sqe, e);
            if (commands.get(cid) == cmd) {
                complete(cmd, retryable(NvmeStatus.INTERNAL_ERROR), 0);
            }
        }
    }

    /** Owns {@code data}. */
    private void dispatch(Command cmd, ByteBuf data) {
        Sqe sqe = cmd.sqe;
        int opcode = sqe.opcode();
        // NVMe Base 2.0 Figure 87, CDW0: FUSE bits 9:8, PSDT bits 15:14 — on every command, the
        // Fabrics commands included, before anything else (nvmet_req_init)
        if (refused(cmd, CommandChecks.fuseAndPsdt(sqe))) {
            data.release();
            return;
        }
        if (auth != null && !authenticatedOnce && !(opcode == NvmeOpcodes.FABRICS
                && (sqe.fabricsType() == NvmeOpcodes.FCTYPE_AUTH_SEND || sqe.fabricsType() == NvmeOpcodes.FCTYPE_AUTH_RECEIVE))) {
            data.release();
            fail(cmd, NvmeStatus.AUTH_REQUIRED, "queue " + qid + " has not completed in-band authentication");
            return;
        }
        if (opcode == NvmeOpcodes.FABRICS) {
            fabrics(cmd, data);
            return;
        }
        if (!controller.ready()) {
            data.release();
            // a discovery controller answers Invalid Opcode until ready (nvmet_parse_discovery_cmd),
            // any other Command Sequence Error (nvmet_check_ctrl_status)
            fail(cmd, controller.discovery() ? NvmeStatus.INVALID_OPCODE : NvmeStatus.COMMAND_SEQUENCE_ERROR,
                    "controller " + controller.cntlid + " is not ready (CSTS 0x" + Integer.toHexString(controller.csts())
                            + "; expected RDY after CC.EN=1)");
            return;
        }
        // in-capsule data only for commands that carry data to the controller (nvmet_tcp_map_data)
        if (refused(cmd, CommandChecks.inCapsuleDirection(sqe))) {
            data.release();
            return;
        }
        if (qid == 0) {
            data.release();  // no admin command served here takes data from the host
            admin(cmd);
        } else {
            io(cmd, data);
        }
    }

    // ---------------------------------------------------------------- Fabrics commands

    private void fabrics(Command cmd, ByteBuf data) {
        Sqe sqe = cmd.sqe;
        int fctype = sqe.fabricsType();
        if (fctype == NvmeOpcodes.FCTYPE_CONNECT) {
            connect(cmd, data);
            return;
        }
        if ((fctype == NvmeOpcodes.FCTYPE_AUTH_SEND || fctype == NvmeOpcodes.FCTYPE_AUTH_RECEIVE) && auth != null) {
            authenticationCommand(cmd, data);
            return;
        }
        data.release();
        switch (fctype) {
            case NvmeOpcodes.FCTYPE_PROPERTY_GET -> {
                if (qid != 0) {
                    fail(cmd, NvmeStatus.INVALID_OPCODE, "Property Get on I/O queue " + qid + " (expected the admin queue)");
                } else if (!refused(cmd, CommandChecks.noData(sqe))) {
                    propertyGet(cmd);
                }
            }
            case NvmeOpcodes.FCTYPE_PROPERTY_SET -> {
                if (qid != 0) {
                    fail(cmd, NvmeStatus.INVALID_OPCODE, "Property Set on I/O queue " + qid + " (expected the admin queue)");
                } else if (!refused(cmd, CommandChecks.noData(sqe))) {
                    propertySet(cmd);
                }
            }
            case NvmeOpcodes.FCTYPE_DISCONNECT -> {
                if (qid == 0) {
                    fail(cmd, NvmeStatus.INVALID_FIELD, "Disconnect on the admin queue (expected an I/O queue: "
                            + "the admin queue ends with its connection)");
                } else if (!refused(cmd, CommandChecks.noData(sqe))) {
                    disconnect = cmd;
                    checkDisconnect();
                }
            }
            case NvmeOpcodes.FCTYPE_AUTH_SEND, NvmeOpcodes.FCTYPE_AUTH_RECEIVE ->
                    fail(cmd, NvmeStatus.INVALID_OPCODE, "in-band authentication (FCTYPE 0x" + Integer.toHexString(fctype)
                            + ") on a queue whose Connect did not ask for it (no DH-HMAC-CHAP key for this host)");
            default -> fail(cmd, NvmeStatus.INVALID_OPCODE, "Fabrics command type 0x" + Integer.toHexString(fctype)
                    + " (expected Connect, Property Get/Set or Disconnect)");
        }
    }

    /** Connect (NVMe-oF 1.1 §3.3, Figure 20): its 1024 bytes of data come in the capsule or through R2T. */
    private void connect(Command cmd, ByteBuf data) {
        if (state != State.AWAIT_CONNECT) {
            // a connected queue knows no Connect: Invalid Opcode (nvmet_parse_fabrics_admin_cmd / _io_cmd)
            data.release();
            fail(cmd, NvmeStatus.INVALID_OPCODE, "Connect on queue " + qid + ", which is connected already");
            return;
        }
        if (refused(cmd, CommandChecks.transferLength(cmd.sqe, Fabrics.CONNECT_DATA_LENGTH,
                "the Connect data, NVMe over Fabrics 1.1 Figure 20"))) {
            data.release();
            return;
        }
        receiveData(cmd, data, Fabrics.CONNECT_DATA_LENGTH, this::connectWithData);
    }

    private void connectWithData(Command cmd, ByteBuf data) {
        Fabrics.ConnectData d;
        try {
            d = Fabrics.readConnectData(data);
        } finally {
            data.release();
        }
        Sqe sqe = cmd.sqe;
        int recfmt = sqe.u16(Fabrics.CONNECT_RECFMT_OFFSET);
        int q = sqe.u16(Fabrics.CONNECT_QID_OFFSET);
        int sqsize = sqe.u16(Fabrics.CONNECT_SQSIZE_OFFSET);
        int cattr = sqe.u8(Fabrics.CONNECT_CATTR_OFFSET);
        int kato = sqe.u32(Fabrics.CONNECT_KATO_OFFSET);
        if (recfmt != 0) {
            refuseConnect(cmd, q, NvmeStatus.CONNECT_INCOMPATIBLE_FORMAT, 0, "RECFMT " + recfmt + " (expected 0)");
            return;
        }
        if (sqsize == 0) {
            refuseConnect(cmd, q, NvmeStatus.CONNECT_INVALID_PARAMETERS, Fabrics.CONNECT_SQSIZE_OFFSET,
                    "SQSIZE 0 (expected at least 1: a queue of two entries, 0's based)");
            return;
        }
        String subnqn = d.subsystemNqn();
        String hostnqn = d.hostNqn();
        // as the host sent them: shown escaped, never raw, in logs and messages
        String subShown = CommandChecks.printable(subnqn);
        String hostShown = CommandChecks.printable(hostnqn);
        if (hostnqn.isEmpty()) {
            refuseConnect(cmd, q, NvmeStatus.CONNECT_INVALID_PARAMETERS, IATTR_DATA | Fabrics.CONNECT_DATA_HOSTNQN_OFFSET,
                    "empty HOSTNQN (expected the host's NQN)");
            return;
        }
        String tlsMismatch = tlsIdentityMismatch(hostnqn, subnqn);
        if (tlsMismatch != null) {
            log.warn("{}: Connect refused: {}", channel.remoteAddress(), tlsMismatch);
            refuseConnect(cmd, q, NvmeStatus.CONNECT_INVALID_HOST, 0, tlsMismatch);
            return;
        }
        boolean discovery = NvmeOpcodes.DISCOVERY_NQN.equals(subnqn);
        Subsystem subsystem = discovery ? null : target.subsystem(subnqn);
        if (!discovery && subsystem == null) {
            refuseConnect(cmd, q, NvmeStatus.CONNECT_INVALID_PARAMETERS, IATTR_DATA | Fabrics.CONNECT_DATA_SUBNQN_OFFSET,
                    "SUBNQN '" + subShown + "' is not a subsystem of this target (expected one of "
                            + target.subsystemNqns() + " or the discovery NQN)");
            return;
        }
        if (q == 0) {
            if (d.controllerId() != Fabrics.CNTLID_DYNAMIC) {
                refuseConnect(cmd, q, NvmeStatus.CONNECT_INVALID_PARAMETERS, IATTR_DATA | Fabrics.CONNECT_DATA_CNTLID_OFFSET,
                        "CNTLID 0x" + Integer.toHexString(d.controllerId())
                                + " in an admin queue Connect (expected FFFFh: dynamic controller model)");
                return;
            }
            if (sqsize + 1 > TargetConfig.ADMIN_QUEUE_SIZE) {
                refuseConnect(cmd, q, NvmeStatus.CONNECT_INVALID_PARAMETERS, Fabrics.CONNECT_SQSIZE_OFFSET,
                        "admin SQSIZE " + sqsize + " (expected at most " + (TargetConfig.ADMIN_QUEUE_SIZE - 1) + ", 0's based)");
                return;
            }
            if (!discovery && !subsystem.allows(hostnqn)) {
                log.info("{}: host {} is not allowed to connect to {}", channel.remoteAddress(), hostShown, subShown);
                refuseConnect(cmd, q, NvmeStatus.CONNECT_INVALID_HOST, IATTR_DATA | Fabrics.CONNECT_DATA_HOSTNQN_OFFSET,
                        "host " + hostShown + " is not in the allowed hosts of " + subShown);
                return;
            }
            if (!target.reserveController(hostnqn)) {
                refuseConnect(cmd, q, NvmeStatus.CONNECT_CONTROLLER_BUSY, 0, "host " + hostnqn + " holds "
                        + config.maxControllersPerHost() + " controllers already (the most allowed: max-controllers-per-host)");
                return;
            }
            // a discovery controller asked for no keep-alive gets one all the same (Linux nvmet: NVMET_DISC_KATO_MS)
            int katoMillis = discovery && kato == 0 ? TargetConfig.DISCOVERY_KATO_MILLIS : kato;
            Controller c = target.newController(subsystem, hostnqn, d.hostId(), this, katoMillis);
            if (c == null) {
                target.controllerReleased(hostnqn);
                refuseConnect(cmd, q, NvmeStatus.CONNECT_CONTROLLER_BUSY, 0, "every controller ID is in use");
                return;
            }
            bind(c, 0, sqsize + 1, cattr);
            log.info("{}: controller {} for host {} on {} (KATO {} ms{})", channel.remoteAddress(), c.cntlid, hostShown,
                    c.subsystemNqn(), c.katoMillis(), sqFlowControl ? "" : ", SQ flow control disabled");
            complete(cmd, 0, c.cntlid | startAuthentication(subsystem, hostnqn));
            c.armKeepAlive();
        } else {
            if (discovery) {
                refuseConnect(cmd, q, NvmeStatus.CONNECT_INVALID_PARAMETERS, Fabrics.CONNECT_QID_OFFSET,
                        "QID " + q + " on the discovery controller (expected 0: it has no I/O queues)");
                return;
            }
            Controller c = target.controller(d.controllerId());
            if (c == null || c.subsystem != subsystem || !c.hostNqn.equals(hostnqn)) {
                refuseConnect(cmd, q, NvmeStatus.CONNECT_INVALID_PARAMETERS, IATTR_DATA | Fabrics.CONNECT_DATA_CNTLID_OFFSET,
                        "CNTLID " + d.controllerId() + " is no controller of host " + hostShown + " on " + subShown);
                return;
            }
            if (!c.hostId.equals(d.hostId())) {
                refuseConnect(cmd, q, NvmeStatus.CONNECT_INVALID_PARAMETERS, IATTR_DATA | Fabrics.CONNECT_DATA_HOSTID_OFFSET,
                        "HOSTID " + d.hostId() + " (expected " + c.hostId + ", the admin queue's)");
                return;
            }
            if (q > c.ioQueueLimit()) {
                refuseConnect(cmd, q, NvmeStatus.CONNECT_INVALID_PARAMETERS, Fabrics.CONNECT_QID_OFFSET,
                        "QID " + q + " (expected 1.." + c.ioQueueLimit() + ")");
                return;
            }
            if (sqsize + 1 > config.maxQueueSize()) {
                refuseConnect(cmd, q, NvmeStatus.CONNECT_INVALID_PARAMETERS, Fabrics.CONNECT_SQSIZE_OFFSET,
                        "SQSIZE " + sqsize + " (expected at most CAP.MQES " + (config.maxQueueSize() - 1) + ")");
                return;
            }
            if (!c.ready()) {
                fail(cmd, NvmeStatus.COMMAND_SEQUENCE_ERROR, "I/O queue Connect to controller " + c.cntlid
                        + " before it is enabled (expected CC.EN=1 and CSTS.RDY first)");
                return;
            }
            // A queue whose host must authenticate takes its QID only once it has: until then it
            // can neither hold a slot of the controller nor keep its association alive.
            boolean mustAuthenticate = subsystem.hostAuthentication(hostnqn) != null;
            if (mustAuthenticate ? c.hasIoQueue(q) : !c.addIoQueue(q, this)) {
                // Command Sequence Error, as nvmet_install_queue answers for a queue created already
                refuseConnect(cmd, q, NvmeStatus.COMMAND_SEQUENCE_ERROR, 0,
                        "QID " + q + " of controller " + c.cntlid + " is connected already");
                return;
            }
            joinedController = !mustAuthenticate;
            bind(c, q, sqsize + 1, cattr);
            if (joinedController) {
                c.touch();
            }
            log.info("{}: I/O queue {} of controller {} ({} entries{})", channel.remoteAddress(), q, c.cntlid, queueSize,
                    sqFlowControl ? "" : ", SQ flow control disabled");
            complete(cmd, 0, startAuthentication(subsystem, hostnqn));
        }
    }

    // ---------------------------------------------------------------- in-band authentication

    /** Connect response DW0 bit 17, AUTHREQ.ATR (NVMe over Fabrics 1.1 Figure 21; Linux NVME_CONNECT_AUTHREQ_ATR). */
    private static final int AUTHREQ_ATR = 1 << 17;
    /** SECP E9h with SPSP0 = SPSP1 = 01h: DH-HMAC-CHAP (NVMe Base 2.0 §8.13.5.1). */
    private static final int AUTH_SPSP = 0x01;
    /** Auth messages are small: a Reply with an ffdhe8192 value is 1168 bytes. */
    private static final int AUTH_MAX_LENGTH = 8192;
    private static final SecureRandom AUTH_RANDOM = new SecureRandom();
    /** DH and HMAC work, off the event loop. */
    private static final Executor AUTH_WORK = Executors.newVirtualThreadPerTaskExecutor();

    /**
     * After a successful Connect: when the subsystem keeps a DH-HMAC-CHAP key for this host,
     * the queue serves nothing but Authentication Send/Receive until the transaction succeeds,
     * within the connect timeout. Returns the AUTHREQ bits for the Connect response.
     */
    private int startAuthentication(Subsystem subsystem, String hostNqn) {
        DhchapHostConfig keys = subsystem == null ? null : subsystem.hostAuthentication(hostNqn);
        if (keys == null) {
            return 0;
        }
        auth = new DhchapControllerSession(hostNqn, subsystem.nqn(), keys, AUTH_RANDOM);
        long timeout = config.connectTimeout().toNanos();
        authTimer = ctx.executor().schedule(() -> {
            if (auth != null && !auth.authenticated() && state == State.READY) {
                endAfterAuthentication("no successful in-band authentication within "
                        + TimeUnit.NANOSECONDS.toMillis(timeout) + " ms");
            }
        }, timeout, TimeUnit.NANOSECONDS);
        return AUTHREQ_ATR;
    }

    /**
     * Authentication Send (Figure 14: TL in CDW11) or Receive (Figure 15: AL in CDW11); owns
     * {@code data}. The session's work runs on {@link #AUTH_WORK}; the response goes out from this loop.
     */
    private void authenticationCommand(Command cmd, ByteBuf data) {
        Sqe sqe = cmd.sqe;
        boolean send = sqe.fabricsType() == NvmeOpcodes.FCTYPE_AUTH_SEND;
        int secp = sqe.u8(Fabrics.AUTH_SECP_OFFSET);
        int spsp0 = sqe.u8(Fabrics.AUTH_SPSP0_OFFSET);
        int spsp1 = sqe.u8(Fabrics.AUTH_SPSP1_OFFSET);
        long length = Integer.toUnsignedLong(sqe.u32(Fabrics.AUTH_LENGTH_OFFSET));
        String what = send ? "Authentication Send" : "Authentication Receive";
        // nvmet_execute_auth_send/_receive: SECP, SPSP0, SPSP1, then TL/AL nonzero, then the SGL against TL/AL
        if (secp != Fabrics.AUTH_SECP_NVME || spsp0 != AUTH_SPSP || spsp1 != AUTH_SPSP || length == 0) {
            data.release();
            fail(cmd, NvmeStatus.INVALID_FIELD, String.format("%s with SECP %02xh SPSP0 %02xh SPSP1 %02xh %s %d "
                    + "(expected E9h, 01h, 01h and a length of at least 1)", what, secp, spsp0, spsp1, send ? "TL" : "AL", length));
            return;
        }
        if (refused(cmd, CommandChecks.transferLength(sqe, length, (send ? "TL" : "AL") + " in CDW11"))) {
            data.release();
            return;
        }
        if (length > AUTH_MAX_LENGTH) {
            data.release();
            fail(cmd, NvmeStatus.INVALID_FIELD, what + " of " + length + " bytes (expected at most " + AUTH_MAX_LENGTH
                    + ": no DH-HMAC-CHAP message is longer)");
            return;
        }
        DhchapControllerSession session = auth;
        if (send) {
            receiveData(cmd, data, (int) length, (c, buf) -> {
                byte[] message = new byte[buf.readableBytes()];
                buf.readBytes(message);
                buf.release();
                // each step starts once the one before has been answered on this loop: in order, never two at once
                authTail = authTail.handle((x, e) -> null)
                        .thenRunAsync(() -> session.onSend(message, message.length), AUTH_WORK)
                        .handleAsync((v, t) -> {
                            afterAuthenticationStep(c, t, null);
                            return null;
                        }, ctx.executor());
            });
        } else {
            data.release();
            if (!checkControllerToHostSgl(cmd)) {
                return;
            }
            authTail = authTail.handle((x, e) -> null)
                    .thenApplyAsync(x -> session.onReceive((int) length), AUTH_WORK)
                    .handleAsync((bytes, t) -> {
                        afterAuthenticationStep(cmd, t, bytes);
                        return null;
                    }, ctx.executor());
        }
    }

    private void afterAuthenticationStep(Command cmd, Throwable t, byte[] response) {
        if (state == State.CLOSED) {
            return;
        }
        if (t == null && !joinedController && auth.authenticated()) {
            // an I/O queue that has authenticated takes its QID now (see connect)
            if (!controller.addIoQueue(qid, this)) {
                log.warn("{}: I/O queue {} of controller {} authenticated, but the QID is taken or the controller gone: "
                        + "closing the connection", channel.remoteAddress(), qid, controller.cntlid);
                ctx.close();
                return;
            }
            joinedController = true;
            controller.touch();
        }
        Throwable cause = t instanceof java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t;
        if (cause instanceof IllegalArgumentException e) {
            fail(cmd, NvmeStatus.INVALID_FIELD, e.getMessage());
            return;
        }
        if (cause != null) {
            log.error("{} q{}: in-band authentication failed inside the target", channel.remoteAddress(), qid, cause);
            complete(cmd, retryable(NvmeStatus.INTERNAL_ERROR), 0);
            return;
        }
        if (response != null) {
            sendData(cmd, Unpooled.wrappedBuffer(response), 0);
        } else {
            complete(cmd, 0, 0);
        }
        if (auth.failed()) {
            endAfterAuthentication(auth.failureDetail());
        } else if (auth.authenticated()) {
            if (authTimer != null) {
                authTimer.cancel(false);
                authTimer = null;
            }
            log.info("{}: queue {} of controller {} {} host {} ({}, {})", channel.remoteAddress(), qid,
                    controller.cntlid, authenticatedOnce ? "re-authenticated" : "authenticated", controller.hostNqn,
                    auth.hash().hmacName(), auth.group().groupName());
            authenticatedOnce = true;
            target.authenticated();
        }
    }

    /**
     * A failed or expired authentication ends the association, as a controller fatal error does
     * (the Linux target calls nvmet_ctrl_fatal_error): after what was written has gone out.
     */
    private void endAfterAuthentication(String why) {
        log.warn("{}: in-band authentication of host {} on queue {} of controller {} failed: {}", channel.remoteAddress(),
                controller.hostNqn, qid, controller.cntlid, why);
        if (!joinedController) {
            // an I/O queue that never authenticated has no part in the association: it alone ends
            // (Linux's nvmet likewise resets only that queue's authentication)
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        Controller c = controller;
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> c.destroy("in-band authentication failed on queue " + qid));
    }

    private void bind(Controller c, int q, int size, int cattr) {
        controller = c;
        qid = q;
        if (q == 0) {
            joinedController = true;  // the admin queue is its controller's own
        }
        if (c.subsystem != null) {
            int n = c.subsystem.namespaces().size();
            attached = new boolean[n + 1];
            for (int nsid = 1; nsid <= n; nsid++) {
                attached[nsid] = c.subsystem.attached(nsid, c.hostNqn);
            }
            if (q > 0) {
                limiter = target.rateLimiter(c.subsystem, c.hostNqn);
            }
        }
        queueSize = size;
        sqFlowControl = (cattr & Fabrics.CATTR_DISABLE_SQ_FLOW_CONTROL) == 0;
        state = State.READY;
        if (!connectedCounted) {
            connectedCounted = true;
            target.connectionConnected(this);
        }
        session.maxInCapsuleData(q == 0 ? TargetConfig.ADMIN_IN_CAPSULE_DATA_SIZE : config.ioInCapsuleDataSize());
        if (connectTimer != null) {
            connectTimer.cancel(false);
            connectTimer = null;
        }
    }

    private void refuseConnect(Command cmd, int q, NvmeStatus status, int dw0, String why) {
        log.info("{}: Connect for queue {} refused: {}", channel.remoteAddress(), q, why);
        if (commands.remove(cmd.cid) == cmd) {
            cmd.releaseData();
            sendCqe(cmd.cid, q, status(status), Integer.toUnsignedLong(dw0));
            afterCompletion();
        }
    }

    /** Property Get (NVMe-oF 1.1, Figure 16): CAP as 8 bytes; VS, CC, CSTS as 4. */
    private void propertyGet(Command cmd) {
        Sqe sqe = cmd.sqe;
        boolean eight = (sqe.u8(Fabrics.PROPERTY_ATTRIB_OFFSET) & 7) == 1;
        int offset = sqe.u32(Fabrics.PROPERTY_OFST_OFFSET);
        long value;
        if (eight && offset == NvmeOpcodes.PROPERTY_CAP) {
            value = controller.cap();
        } else if (!eight && offset == NvmeOpcodes.PROPERTY_VS) {
            value = Controller.VERSION;
        } else if (!eight && offset == NvmeOpcodes.PROPERTY_CC) {
            value = Integer.toUnsignedLong(controller.cc());
        } else if (!eight && offset == NvmeOpcodes.PROPERTY_CSTS) {
            value = Integer.toUnsignedLong(controller.csts());
        } else {
            fail(cmd, NvmeStatus.INVALID_FIELD, "Property Get of " + (eight ? 8 : 4) + " bytes at 0x" + Integer.toHexString(offset)
                    + " (expected CAP as 8 bytes, or VS, CC, CSTS as 4)");
            return;
        }
        complete(cmd, 0, value);
    }

    /** Property Set (NVMe-oF 1.1, Figure 18): CC only, 4 bytes. */
    private void propertySet(Command cmd) {
        Sqe sqe = cmd.sqe;
        boolean eight = (sqe.u8(Fabrics.PROPERTY_ATTRIB_OFFSET) & 7) == 1;
        int offset = sqe.u32(Fabrics.PROPERTY_OFST_OFFSET);
        if (eight || offset != NvmeOpcodes.PROPERTY_CC) {
            fail(cmd, NvmeStatus.INVALID_FIELD, "Property Set of " + (eight ? 8 : 4) + " bytes at 0x" + Integer.toHexString(offset)
                    + " (expected CC at 0x14, 4 bytes)");
            return;
        }
        controller.writeCc((int) sqe.u64(Fabrics.PROPERTY_VALUE_OFFSET));
        complete(cmd, 0, 0);
    }

    private void checkDisconnect() {
        if (disconnect != null && commands.size() == 1 && commands.get(disconnect.cid) == disconnect) {
            Command d = disconnect;
            log.info("{}: Disconnect of I/O queue {} of controller {}", channel.remoteAddress(), qid, controller.cntlid);
            complete(d, 0, 0);
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    // ---------------------------------------------------------------- admin commands

    private void admin(Command cmd) {
        boolean discovery = controller.discovery();
        switch (cmd.sqe.opcode()) {
            case NvmeOpcodes.ADMIN_IDENTIFY -> identify(cmd);
            case NvmeOpcodes.ADMIN_GET_LOG_PAGE -> getLogPage(cmd);
            case NvmeOpcodes.ADMIN_SET_FEATURES -> setFeatures(cmd);
            case NvmeOpcodes.ADMIN_GET_FEATURES -> getFeatures(cmd);
            case NvmeOpcodes.ADMIN_ASYNC_EVENT_REQUEST -> {
                if (!refused(cmd, CommandChecks.noData(cmd.sqe))) {
                    asyncEventRequest(cmd);
                }
            }
            case NvmeOpcodes.ADMIN_KEEP_ALIVE -> {
                if (!refused(cmd, CommandChecks.noData(cmd.sqe))) {
                    complete(cmd, 0, 0);  // every command restarts the timer
                }
            }
            case NvmeOpcodes.ADMIN_ABORT -> {
                if (discovery) {
                    fail(cmd, NvmeStatus.INVALID_OPCODE, "Abort on the discovery controller");
                } else if (!refused(cmd, CommandChecks.noData(cmd.sqe))) {
                    // NVMe Base 2.0 §5.1, Abort: DW0 bit 0 = 1, the command was not aborted.
                    complete(cmd, 0, 1);
                }
            }
            default -> fail(cmd, NvmeStatus.INVALID_OPCODE, "admin opcode 0x" + Integer.toHexString(cmd.sqe.opcode())
                    + " is not supported");
        }
    }

    /** Identify (NVMe Base 2.0 §5.17): CNS in CDW10 bits 7:0, CSI in CDW11 bits 31:24. */
    private void identify(Command cmd) {
        Sqe sqe = cmd.sqe;
        int cns = sqe.cdw(10) & 0xFF;
        int nsid = sqe.nsid();
        int csi = sqe.cdw(11) >>> 24;
        Subsystem s = controller.subsystem;
        if (controller.discovery() && cns != NvmeOpcodes.CNS_CONTROLLER) {
            // Invalid Opcode, as nvmet_parse_discovery_cmd answers
            fail(cmd, NvmeStatus.INVALID_OPCODE, "Identify CNS 0x" + Integer.toHexString(cns)
                    + " on the discovery controller (expected 01h)");
            return;
        }
        if (refused(cmd, CommandChecks.transferLength(sqe, CommandChecks.IDENTIFY_LENGTH, "an Identify data structure"))
                || !checkControllerToHostSgl(cmd)) {
            return;
        }
        ByteBuf data;
        switch (cns) {
            case NvmeOpcodes.CNS_NAMESPACE -> {
                if (s.namespace(nsid) == null) {
                    fail(cmd, NvmeStatus.INVALID_NAMESPACE, "Identify Namespace of NSID " + Integer.toUnsignedString(nsid)
                            + " (expected 1.." + s.namespaces().size() + ")");
                    return;
                }
                // an NSID not attached to this host is inactive: a zero-filled structure (NVMe Base 2.0 §5.17.2.1, CNS 00h)
                data = attached(nsid) ? AdminData.identifyNamespace(ctx.alloc(), s, nsid) : AdminData.identifyNvmController(ctx.alloc());
            }
            case NvmeOpcodes.CNS_CONTROLLER -> {
                data = AdminData.identifyController(ctx.alloc(), controller, config);
                if (!controller.discovery() && target.serviceTimeReporting()) {
                    VendorIdentify.advertise(data);
                }
            }
            case NvmeOpcodes.CNS_ACTIVE_NAMESPACES -> {
                if (Integer.compareUnsigned(nsid, 0xFFFFFFFE) >= 0) {
                    fail(cmd, NvmeStatus.INVALID_NAMESPACE, "active namespace list after NSID " + Integer.toUnsignedString(nsid)
                            + " (expected below FFFFFFFEh)");
                    return;
                }
                data = AdminData.activeNamespaces(ctx.alloc(), s.namespaces().size(), nsid, this::attached);
            }
            case NvmeOpcodes.CNS_NAMESPACE_DESCRIPTORS -> {
                // an inactive NSID has no descriptors: the status of NVMe Base 2.0 §3.2.1.5
                if (!attached(nsid)) {
                    fail(cmd, NvmeStatus.INVALID_NAMESPACE, "namespace descriptors of NSID " + Integer.toUnsignedString(nsid)
                            + " (expected 1.." + s.namespaces().size() + ")");
                    return;
                }
                data = AdminData.namespaceDescriptors(ctx.alloc(), s, nsid);
            }
            case 0x08 -> {
                if (s.namespace(nsid) == null) {
                    fail(cmd, NvmeStatus.INVALID_NAMESPACE, "command set independent Identify Namespace of NSID "
                            + Integer.toUnsignedString(nsid) + " (expected 1.." + s.namespaces().size() + ")");
                    return;
                }
                // inactive (not attached to this host): zero-filled, NSTAT "not ready" (NVMe Base 2.0 §5.17.2.1)
                data = attached(nsid) ? AdminData.identifyNamespaceIndependent(ctx.alloc()) : AdminData.identifyNvmController(ctx.alloc());
            }
            case 0x06 -> {
                if (csi != 0) {
                    fail(cmd, NvmeStatus.INVALID_FIELD, "I/O command set specific Identify Controller for CSI " + csi
                            + " (expected 0, the NVM command set)");
                    return;
                }
                data = AdminData.identifyNvmController(ctx.alloc());
            }
            default -> {
                fail(cmd, NvmeStatus.INVALID_FIELD, "Identify CNS 0x" + Integer.toHexString(cns)
                        + " is not supported (expected 00h, 01h, 02h, 03h, 06h or 08h)");
                return;
            }
        }
        sendData(cmd, data, 0);
    }

    /**
     * Get Log Page (NVMe Base 2.0 §5.16): LID CDW10 7:0, NUMDL 31:16, NUMDU CDW11
     * 15:0 (NUMD 0's based dwords), LPOL/LPOU CDW12–13 (byte offset, a multiple of 4), OT CDW14 bit 23.
     */
    private void getLogPage(Command cmd) {
        Sqe sqe = cmd.sqe;
        int cdw10 = sqe.cdw(10);
        int lid = cdw10 & 0xFF;
        long length = CommandChecks.logPageLength(sqe);
        long offset = Integer.toUnsignedLong(sqe.cdw(13)) << 32 | Integer.toUnsignedLong(sqe.cdw(12));
        if (refused(cmd, CommandChecks.transferLength(sqe, length, "NUMD + 1 dwords"))
                || !checkControllerToHostSgl(cmd)) {
            return;
        }
        if ((sqe.cdw(14) & (1 << 23)) != 0) {
            fail(cmd, NvmeStatus.INVALID_FIELD, "Get Log Page with an index offset (OT=1; expected a byte offset)");
            return;
        }
        if ((offset & 3) != 0) {
            fail(cmd, NvmeStatus.INVALID_FIELD, "log page offset " + Long.toUnsignedString(offset) + " (expected a multiple of 4)");
            return;
        }
        if (length > config.maxTransferBytes()) {
            fail(cmd, NvmeStatus.INVALID_FIELD, "log page read of " + length + " bytes (expected at most MDTS, "
                    + config.maxTransferBytes() + ")");
            return;
        }
        ByteBuf page;
        if (controller.discovery()) {
            if (lid != NvmeOpcodes.LOG_DISCOVERY) {
                fail(cmd, NvmeStatus.INVALID_FIELD, "log page 0x" + Integer.toHexString(lid)
                        + " on the discovery controller (expected 70h, Discovery)");
                return;
            }
            NvmeTcpTarget.DiscoveryView view = target.discoveryView(controller.hostNqn);
            page = AdminData.discoveryLog(ctx.alloc(), view.generation(), view.subsystems(), view.referrals(),
                    (java.net.InetSocketAddress) channel.localAddress(), config.portId());
        } else {
            page = lid == NvmeOpcodes.LOG_ANA && controller.subsystem.reportsAna()
                    ? AdminData.anaLog(ctx.alloc(), controller.subsystem, g -> target.anaState(controller.subsystem.nqn(), g),
                            target.anaChangeCount(), ((cdw10 >>> 8) & IdentifyLayout.AnaLog.LSP_RGO) != 0, this::attached)
                    : AdminData.logPage(ctx.alloc(), lid, controller.subsystem);
            if (page == null) {
                fail(cmd, NvmeStatus.INVALID_FIELD, "log page 0x" + Integer.toHexString(lid)
                        + " is not supported (expected 01h, 02h, 03h or 04h)");
                return;
            }
        }
        int size = page.readableBytes();
        if (offset < 0 || offset > size) {
            page.release();
            fail(cmd, NvmeStatus.INVALID_FIELD, "log page 0x" + Integer.toHexString(lid) + " offset " + Long.toUnsignedString(offset)
                    + " (expected at most its size, " + size + ")");
            return;
        }
        int n = (int) length;
        ByteBuf out = ctx.alloc().buffer(n, n);
        int copy = (int) Math.min(n, size - offset);
        out.writeBytes(page, (int) offset, copy).writeZero(n - copy);
        page.release();
        sendData(cmd, out, 0);
    }

    /** Set Features (NVMe Base 2.0 §5.27): FID CDW10 7:0, SV bit 31; value in CDW11. */
    private void setFeatures(Command cmd) {
        Sqe sqe = cmd.sqe;
        int cdw10 = sqe.cdw(10);
        int fid = cdw10 & 0xFF;
        int cdw11 = sqe.cdw(11);
        if (cdw10 < 0) {
            fail(cmd, NvmeStatus.FEATURE_NOT_SAVEABLE, "Set Features 0x" + Integer.toHexString(fid) + " with SV=1 (nothing is saveable)");
            return;
        }
        boolean discovery = controller.discovery();
        switch (fid) {
            case NvmeOpcodes.FEATURE_NUMBER_OF_QUEUES -> {
                int nsqr = cdw11 & 0xFFFF;
                int ncqr = cdw11 >>> 16;
                if (discovery) {
                    fail(cmd, NvmeStatus.INVALID_FIELD, "Number of Queues on the discovery controller, which has no I/O queues");
                } else if (nsqr == 0xFFFF || ncqr == 0xFFFF) {
                    fail(cmd, NvmeStatus.INVALID_FIELD, "Number of Queues NSQR " + nsqr + " NCQR " + ncqr
                            + " (expected below 65535, 0's based)");
                } else {
                    long granted = controller.setNumberOfQueues(nsqr + 1, ncqr + 1);
                    if (granted < 0) {
                        fail(cmd, NvmeStatus.COMMAND_SEQUENCE_ERROR, "Number of Queues after I/O queues were created");
                    } else {
                        complete(cmd, 0, granted);
                    }
                }
            }
            case NvmeOpcodes.FEATURE_KEEP_ALIVE_TIMER -> {
                controller.setKato(cdw11);
                complete(cmd, 0, 0);
            }
            case NvmeOpcodes.FEATURE_ASYNC_EVENT_CONFIG -> {
                controller.asyncEventConfig(cdw11);
                complete(cmd, 0, 0);
            }
            case VendorIdentify.FEATURE_SERVICE_TIME -> {
                if (discovery || !target.serviceTimeReporting()) {
                    fail(cmd, NvmeStatus.INVALID_FIELD, "Set Features 0x" + Integer.toHexString(fid)
                            + " (service time reporting) on a controller that does not offer it");
                } else if ((cdw11 & ~VendorIdentify.SERVICE_TIME_ENABLE) != 0) {
                    fail(cmd, NvmeStatus.INVALID_FIELD, "Set Features 0x" + Integer.toHexString(fid) + " with CDW11 0x"
                            + Integer.toHexString(cdw11) + " (expected 0 or 1)");
                } else {
                    controller.serviceTimeReporting((cdw11 & VendorIdentify.SERVICE_TIME_ENABLE) != 0);
                    log.debug("{}: controller {} service time reporting {}", channel.remoteAddress(), controller.cntlid,
                            controller.serviceTimeReporting() ? "on" : "off");
                    complete(cmd, 0, 0);
                }
            }
            default -> fail(cmd, NvmeStatus.INVALID_FIELD, "Set Features 0x" + Integer.toHexString(fid)
                    + " is not supported (expected 07h, 0Bh, 0Fh" + (target.serviceTimeReporting() ? " or C0h)" : ")"));
        }
    }

    /** Get Features: SEL CDW10 10:8 — current, default and saved read the same; 3 reports "changeable". */
    private void getFeatures(Command cmd) {
        Sqe sqe = cmd.sqe;
        int cdw10 = sqe.cdw(10);
        int fid = cdw10 & 0xFF;
        int sel = (cdw10 >>> 8) & 7;
        if (refused(cmd, CommandChecks.transferLength(sqe, CommandChecks.getFeaturesLength(sqe),
                "the data of Get Features 0x" + Integer.toHexString(fid)))) {
            return;
        }
        boolean supported = fid == NvmeOpcodes.FEATURE_KEEP_ALIVE_TIMER || fid == NvmeOpcodes.FEATURE_ASYNC_EVENT_CONFIG
                || fid == NvmeOpcodes.FEATURE_NUMBER_OF_QUEUES && !controller.discovery()
                || fid == VendorIdentify.FEATURE_SERVICE_TIME && !controller.discovery() && target.serviceTimeReporting();
        if (!supported) {
            fail(cmd, NvmeStatus.INVALID_FIELD, "Get Features 0x" + Integer.toHexString(fid)
                    + " is not supported (expected 07h, 0Bh or 0Fh)");
            return;
        }
        if (sel > 3) {
            fail(cmd, NvmeStatus.INVALID_FIELD, "Get Features SEL " + sel + " (expected 0..3)");
            return;
        }
        if (sel == 3) {
            complete(cmd, 0, 0x04);  // capabilities: changeable, neither saveable nor namespace specific
            return;
        }
        long value = switch (fid) {
            case NvmeOpcodes.FEATURE_NUMBER_OF_QUEUES -> controller.numberOfQueues();
            case NvmeOpcodes.FEATURE_KEEP_ALIVE_TIMER -> Integer.toUnsignedLong(controller.katoMillis());
            case VendorIdentify.FEATURE_SERVICE_TIME -> controller.serviceTimeReporting() ? VendorIdentify.SERVICE_TIME_ENABLE : 0;
            default -> Integer.toUnsignedLong(controller.asyncEventConfig());
        };
        complete(cmd, 0, value);
    }

    /**
     * Asynchronous Event Request (NVMe Base 2.0 §5.2): held until an event occurs — an ANA Change
     * notice on an I/O controller, a Discovery Log Page Change notice on a discovery controller
     * (see {@link #postAsyncEvent}) — or the connection ends; more than AERL + 1 at once fail with
     * Asynchronous Event Request Limit Exceeded.
     */
    private void asyncEventRequest(Command cmd) {
        if (heldAers >= TargetConfig.AERL + 1) {
            fail(cmd, NvmeStatus.ASYNC_EVENT_LIMIT_EXCEEDED, "Asynchronous Event Request beyond AERL+1 = "
                    + (TargetConfig.AERL + 1) + " outstanding");
            return;
        }
        cmd.aer = true;
        heldAers++;
        if (pendingEvent != 0) {
            int event = pendingEvent;
            pendingEvent = 0;
            complete(cmd, 0, Integer.toUnsignedLong(event));
            return;
        }
        checkDrained();
    }

    /**
     * Completes an outstanding Asynchronous Event Request with {@code dw0}, or keeps the event
     * until one arrives (a second event of the same kind meanwhile is the same news: one is kept).
     * Callable from any thread.
     */
    void postAsyncEvent(int dw0) {
        try {
            channel.eventLoop().execute(() -> {
                if (state != State.READY) {
                    return;
                }
                for (Command c : commands.values()) {
                    if (c.aer) {
                        complete(c, 0, Integer.toUnsignedLong(dw0));
                        return;
                    }
                }
                pendingEvent = dw0;
            });
        } catch (RejectedExecutionException closing) {
            // the target is closing: no one is left to tell
        }
    }

    // ---------------------------------------------------------------- I/O commands

    private void io(Command cmd, ByteBuf data) {
        int nsid = cmd.sqe.nsid();
        if (!attached(nsid) && !(nsid == -1 && cmd.sqe.opcode() == NvmeOpcodes.IO_FLUSH)) {
            data.release();
            failInactive(cmd, nsid);
            return;
        }
        if (limiter != null && !admit(cmd, data)) {
            return;  // held until the host's budget allows it; runDeferred goes on from here
        }
        ioAdmitted(cmd, data);
    }

    /** Whether namespace {@code nsid} is attached to this queue's controller (exists and is granted to its host). */
    private boolean attached(int nsid) {
        return nsid >= 1 && nsid < attached.length && attached[nsid];
    }

    /**
     * An I/O command to an NSID that is not an active namespace of this controller — absent, or
     * granted to other hosts — is aborted with Invalid Namespace or Format (NVMe Base 2.0 §3.2.1.5).
     */
    private void failInactive(Command cmd, int nsid) {
        fail(cmd, NvmeStatus.INVALID_NAMESPACE, "NSID " + Integer.toUnsignedString(nsid)
                + " is not an active namespace of this controller (expected one of its Active Namespace ID list)");
    }

    // ---------------------------------------------------------------- per-host rate limits

    /**
     * Takes the command's cost from the host's buckets, or holds it: behind commands already held
     * (arrival order is kept), or until the buckets refill, with a timer on this event loop. Never
     * blocks. Held commands stay in {@link #commands}, so the queue's size bounds how many can wait,
     * and a host that fills its queue simply waits for completions as with a slow device.
     * Returns true when the command may run now ({@code data} stays the caller's); false when it
     * was held, and then the held command owns {@code data}.
     */
    private boolean admit(Command cmd, ByteBuf data) {
        cmd.costBytes = costBytes(cmd);
        if (deferred.isEmpty()) {
            long wait = limiter.tryAdmit(cmd.costBytes, System.nanoTime());
            if (wait == 0) {
                return true;
            }
            armDeferTimer(wait);
        }
        limiter.deferred();
        cmd.data = data;
        deferred.add(cmd);
        return false;
    }

    /** Data bytes of a Read or Write (NLB × the namespace's block size); 0 for other commands. */
    private long costBytes(Command cmd) {
        int opcode = cmd.sqe.opcode();
        if (opcode != NvmeOpcodes.IO_READ && opcode != NvmeOpcodes.IO_WRITE) {
            return 0;
        }
        Namespace ns = controller.subsystem.namespace(cmd.sqe.nsid());
        return ns == null ? 0 : (long) ((cmd.sqe.cdw(12) & 0xFFFF) + 1) * ns.blockSize();
    }

    private void armDeferTimer(long nanos) {
        deferTimer = ctx.executor().schedule(this::runDeferred, nanos, TimeUnit.NANOSECONDS);
    }

    /** Lets held commands run, in order, while the buckets allow; re-arms the timer for the rest. */
    private void runDeferred() {
        deferTimer = null;
        while (!deferred.isEmpty() && state == State.READY) {
            Command cmd = deferred.peek();
            if (commands.get(cmd.cid) != cmd) {
                deferred.poll();
                continue;
            }
            long wait = limiter.tryAdmit(cmd.costBytes, System.nanoTime());
            if (wait > 0) {
                armDeferTimer(wait);
                return;
            }
            deferred.poll();
            ByteBuf data = cmd.data;
            cmd.data = null;
            try {
                ioAdmitted(cmd, data);
            } catch (RuntimeException e) {
                log.error("{}: command {} failed inside the target", channel.remoteAddress(), cmd.sqe, e);
                if (commands.get(cmd.cid) == cmd) {
                    complete(cmd, retryable(NvmeStatus.INTERNAL_ERROR), 0);
                }
            }
        }
    }

    /** An I/O command the rate limiter let through (or that is not limited). Owns {@code data}. */
    private void ioAdmitted(Command cmd, ByteBuf data) {
        int nsid = cmd.sqe.nsid();
        if (controller.subsystem.reportsAna() && controller.subsystem.namespace(nsid) != null) {
            AnaState ana = target.anaStateOf(controller.subsystem, nsid);
            if (!ana.usable()) {
                data.release();
                log.debug("{} q{}: {} refused: namespace {} is {} on this port", channel.remoteAddress(), qid, cmd.sqe, nsid, ana);
                target.anaRefused();
                complete(cmd, retryable(ana.pathStatus()), 0);  // path-related: the host may retry through another controller
                return;
            }
        }
        switch (cmd.sqe.opcode()) {
            case NvmeOpcodes.IO_READ -> {
                data.release();
                readOrWrite(cmd, null, false);
            }
            case NvmeOpcodes.IO_WRITE -> readOrWrite(cmd, data, true);
            case NvmeOpcodes.IO_FLUSH -> {
                data.release();
                if (!refused(cmd, CommandChecks.noData(cmd.sqe))) {
                    flush(cmd);
                }
            }
            case NvmeOpcodes.IO_WRITE_ZEROES -> {
                data.release();
                if (!refused(cmd, CommandChecks.noData(cmd.sqe))) {
                    writeZeroes(cmd);
                }
            }
            case NvmeOpcodes.IO_DATASET_MANAGEMENT -> datasetManagement(cmd, data);
            default -> {
                data.release();
                fail(cmd, NvmeStatus.INVALID_OPCODE, "I/O opcode 0x" + Integer.toHexString(cmd.sqe.opcode())
                        + " is not supported (expected Read, Write, Flush, Write Zeroes or Dataset Management)");
            }
        }
    }

    private Namespace namespaceOf(Command cmd) {
        int nsid = cmd.sqe.nsid();
        if (!attached(nsid)) {
            failInactive(cmd, nsid);
            return null;
        }
        return controller.subsystem.namespace(nsid);
    }

    /** Whether {@code [slba, slba + nlb)} lies within the namespace; fails the command if not. */
    private boolean checkRange(Command cmd, Namespace ns, long slba, long nlb) {
        long blocks = ns.blocks();
        if (slba < 0 || slba > blocks || nlb > blocks - slba) {
            fail(cmd, NvmeStatus.LBA_OUT_OF_RANGE, "LBAs " + Long.toUnsignedString(slba) + " + " + nlb
                    + " (expected within the namespace's " + blocks + " blocks)");
            return false;
        }
        return true;
    }

    /**
     * Read and Write (NVM Command Set 1.0 §3.2.4, §3.2.6): SLBA CDW10–11, NLB CDW12 15:0 (0's
     * based), FUA CDW12 bit 30. The SGL must describe exactly NLB blocks: a Transport SGL Data
     * Block for reads, in-capsule or transport for writes. Owns {@code data} (writes; null for reads).
     */
    private void readOrWrite(Command cmd, ByteBuf data, boolean write) {
        Sqe sqe = cmd.sqe;
        Namespace ns = namespaceOf(cmd);
        if (ns == null) {
            release(data);
            return;
        }
        long slba = sqe.cdw10And11();
        int cdw12 = sqe.cdw(12);
        int nlb = (cdw12 & 0xFFFF) + 1;
        if (!checkRange(cmd, ns, slba, nlb)) {
            release(data);
            return;
        }
        long length = (long) nlb * ns.blockSize();
        if (length > config.maxTransferBytes()) {
            release(data);
            fail(cmd, NvmeStatus.INVALID_FIELD, (write ? "write" : "read") + " of " + length + " bytes (expected at most MDTS, "
                    + config.maxTransferBytes() + " bytes)");
            return;
        }
        int type = sqe.sglIdentifier();
        boolean typeOk = type == Sqe.SGL_TRANSPORT_DATA_BLOCK || write && type == Sqe.SGL_DATA_BLOCK_OFFSET;
        if (!typeOk) {
            release(data);
            fail(cmd, NvmeStatus.SGL_DESCRIPTOR_TYPE_INVALID, "SGL identifier 0x" + Integer.toHexString(type) + " for a "
                    + (write ? "write (expected 01h in-capsule or 5Ah transport)" : "read (expected 5Ah transport)"));
            return;
        }
        long sglLength = Integer.toUnsignedLong(sqe.sglLength());
        if (sglLength != length) {
            release(data);
            fail(cmd, NvmeStatus.SGL_INVALID_DATA_LENGTH, "SGL length " + sglLength + " for " + nlb + " blocks of "
                    + ns.blockSize() + " bytes (expected " + length + ")");
            return;
        }
        boolean fua = (cdw12 & (1 << 30)) != 0;
        long offset = slba * ns.blockSize();
        if (write) {
            receiveData(cmd, data, (int) length, (c, buf) -> write(c, ns, offset, buf, fua));
        } else {
            read(cmd, ns, offset, (int) length);
        }
    }

    private void write(Command cmd, Namespace ns, long offset, ByteBuf buf, boolean fua) {
        cmd.data = buf;
        ByteBuffer src = buf.nioBuffer(buf.readerIndex(), buf.readableBytes());
        CompletableFuture<Void> f = ns.device().write(offset, src);
        if (fua) {
            f = f.thenCompose(v -> ns.device().flush());
        }
        whenDone(cmd, f, NvmeStatus.WRITE_FAULT, () -> complete(cmd, 0, serviceTime(cmd)));
    }

    /**
     * The service time of a Read or Write for its CQE, for a host that opted in with the vendor
     * specific feature {@link VendorIdentify#FEATURE_SERVICE_TIME}: nanoseconds from the capsule's
     * arrival to the data (or completion) being handed to the connection, at least 1, saturating
     * at FFFFFFFFh, in DW1 (bits 63:32 of the result); 0 for every other host. See
     * {@link VendorIdentify} for why DW1 is free for these commands.
     */
    private static long serviceTime(Command cmd) {
        if (cmd.arrivalNanos == 0) {
            return 0;
        }
        long n = System.nanoTime() - cmd.arrivalNanos;
        return Math.min(Math.max(n, 1), 0xFFFF_FFFFL) << 32;
    }

    private void read(Command cmd, Namespace ns, long offset, int length) {
        FileChannel file = target.zeroCopyChannel(ns);
        if (file != null && !session.dataDigest()) {
            sendFileRegions(cmd, file, offset, length, serviceTime(cmd));
            return;
        }
        ByteBuf buf = ctx.alloc().directBuffer(length, length);
        cmd.data = buf;
        CompletableFuture<Void> f = ns.device().read(offset, buf.nioBuffer(0, length));
        whenDone(cmd, f, NvmeStatus.UNRECOVERED_READ_ERROR, () -> {
            ByteBuf b = cmd.data;
            cmd.data = null;
            b.writerIndex(length);
            respondWithData(cmd, b, serviceTime(cmd));
        });
    }

    /** Flush (NVMe Base 2.0 §7.1); NSID FFFFFFFFh flushes every namespace. */
    private void flush(Command cmd) {
        if (cmd.sqe.nsid() == -1) {
            // the broadcast NSID reaches the namespaces attached to this controller only
            List<CompletableFuture<Void>> all = new ArrayList<>();
            for (int nsid = 1; nsid < attached.length; nsid++) {
                if (attached[nsid]) {
                    all.add(controller.subsystem.namespace(nsid).device().flush());
                }
            }
            whenDone(cmd, CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)), NvmeStatus.WRITE_FAULT,
                    () -> complete(cmd, 0, 0));
            return;
        }
        Namespace ns = namespaceOf(cmd);
        if (ns != null) {
            whenDone(cmd, ns.device().flush(), NvmeStatus.WRITE_FAULT, () -> complete(cmd, 0, 0));
        }
    }

    /**
     * Write Zeroes (NVM Command Set 1.0 §3.2.8): SLBA, NLB as for Write; DEAC CDW12 bit 25 lets the
     * range be deallocated instead, which this target does when deallocated blocks read as zeros.
     * MDTS does not apply.
     */
    private void writeZeroes(Command cmd) {
        Namespace ns = namespaceOf(cmd);
        if (ns == null) {
            return;
        }
        Sqe sqe = cmd.sqe;
        long slba = sqe.cdw10And11();
        int cdw12 = sqe.cdw(12);
        int nlb = (cdw12 & 0xFFFF) + 1;
        if (!checkRange(cmd, ns, slba, nlb)) {
            return;
        }
        boolean deallocate = (cdw12 & (1 << 25)) != 0 && ns.deallocatedReadsZeroes();
        boolean fua = (cdw12 & (1 << 30)) != 0;
        long offset = slba * ns.blockSize();
        long length = (long) nlb * ns.blockSize();
        CompletableFuture<Void> f = deallocate ? ns.device().trim(offset, length) : ns.device().writeZeroes(offset, length);
        if (fua) {
            f = f.thenCompose(v -> ns.device().flush());
        }
        whenDone(cmd, f, NvmeStatus.WRITE_FAULT, () -> complete(cmd, 0, 0));
    }

    /**
     * Dataset Management (NVM Command Set 1.0 §3.2.3): NR CDW10 7:0 (0's based ranges), AD CDW11
     * bit 2 (deallocate). The data is NR+1 16-byte ranges (Range Definition: context attributes 4,
     * length in blocks 4, starting LBA 8). Owns {@code data}.
     */
    private void datasetManagement(Command cmd, ByteBuf data) {
        Namespace ns = namespaceOf(cmd);
        if (ns == null) {
            data.release();
            return;
        }
        Sqe sqe = cmd.sqe;
        int ranges = (sqe.cdw(10) & 0xFF) + 1;
        boolean deallocate = (sqe.cdw(11) & (1 << 2)) != 0;
        long sglLength = Integer.toUnsignedLong(sqe.sglLength());
        if (sglLength < ranges * 16L || sglLength > 4096) {
            data.release();
            fail(cmd, NvmeStatus.SGL_INVALID_DATA_LENGTH, "Dataset Management of " + ranges + " ranges with SGL length "
                    + sglLength + " (expected " + ranges * 16 + "..4096)");
            return;
        }
        receiveData(cmd, data, (int) sglLength, (c, buf) -> deallocateRanges(c, ns, ranges, deallocate, buf));
    }

    private void deallocateRanges(Command cmd, Namespace ns, int ranges, boolean deallocate, ByteBuf buf) {
        long[] starts = new long[ranges];
        long[] lengths = new long[ranges];
        try {
            int base = buf.readerIndex();
            for (int i = 0; i < ranges; i++) {
                lengths[i] = buf.getUnsignedIntLE(base + i * 16 + 4);
                starts[i] = buf.getLongLE(base + i * 16 + 8);
            }
        } finally {
            buf.release();
        }
        for (int i = 0; i < ranges; i++) {
            if (!checkRange(cmd, ns, starts[i], lengths[i])) {
                return;
            }
        }
        if (!deallocate) {
            complete(cmd, 0, 0);  // only attributes: nothing to do
            return;
        }
        List<CompletableFuture<Void>> trims = new ArrayList<>();
        for (int i = 0; i < ranges; i++) {
            if (lengths[i] > 0) {
                trims.add(ns.device().trim(starts[i] * ns.blockSize(), lengths[i] * ns.blockSize()));
            }
        }
        whenDone(cmd, CompletableFuture.allOf(trims.toArray(CompletableFuture[]::new)), NvmeStatus.WRITE_FAULT,
                () -> complete(cmd, 0, 0));
    }

    /**
     * Runs {@code onSuccess} on this loop when {@code io} completes, or fails the command with a
     * status for the error. The command's data stays alive until then.
     */
    private void whenDone(Command cmd, CompletableFuture<?> io, NvmeStatus ioFailure, Runnable onSuccess) {
        cmd.ioInFlight = true;
        io.whenComplete((v, e) -> {
            try {
                channel.eventLoop().execute(() -> ioDone(cmd, e, ioFailure, onSuccess));
            } catch (RejectedExecutionException closing) {
                cmd.ioInFlight = false;
                cmd.releaseData();
            }
        });
    }

    private void ioDone(Command cmd, Throwable error, NvmeStatus ioFailure, Runnable onSuccess) {
        cmd.ioInFlight = false;
        if (commands.get(cmd.cid) != cmd) {
            cmd.releaseData();  // the connection closed meanwhile
            return;
        }
        if (error == null) {
            onSuccess.run();
            return;
        }
        Throwable t = TierException.unwrap(error);
        int status = switch (t) {
            case InvalidArgumentException x -> status(NvmeStatus.INVALID_FIELD);
            case TierUnavailableException x -> retryable(NvmeStatus.NAMESPACE_NOT_READY);
            case TierIoException x -> status(ioFailure);
            default -> retryable(NvmeStatus.INTERNAL_ERROR);
        };
        log.warn("{} q{}: {} failed: {}", channel.remoteAddress(), qid, cmd.sqe, t.toString());
        complete(cmd, status, 0);
    }

    // ---------------------------------------------------------------- data to the controller

    /**
     * Gets {@code length} bytes of a command's data from the host — from the capsule (SGL Data
     * Block, offset sub-type: the address is an offset into the in-capsule data) or with R2Ts
     * (Transport SGL Data Block, NVMe/TCP 1.0 §2.1) — and hands them to {@code then}. Owns
     * {@code capsuleData}.
     */
    private void receiveData(Command cmd, ByteBuf capsuleData, int length, DataHandler then) {
        int type = cmd.sqe.sglIdentifier();
        if (type == Sqe.SGL_DATA_BLOCK_OFFSET) {
            long address = cmd.sqe.sglAddress();
            int have = capsuleData.readableBytes();
            if (address < 0 || address > have || length > have - address) {
                capsuleData.release();
                fail(cmd, address != 0 ? NvmeStatus.SGL_OFFSET_INVALID : NvmeStatus.SGL_INVALID_DATA_LENGTH,
                        "in-capsule SGL at offset " + address + " of " + length + " bytes, but the capsule carries "
                                + have + " bytes");
                return;
            }
            ByteBuf slice = capsuleData.retainedSlice(capsuleData.readerIndex() + (int) address, length);
            capsuleData.release();
            then.accept(cmd, slice);
        } else if (type == Sqe.SGL_TRANSPORT_DATA_BLOCK) {
            if (capsuleData.isReadable()) {
                int have = capsuleData.readableBytes();
                capsuleData.release();
                fail(cmd, NvmeStatus.SGL_DESCRIPTOR_TYPE_INVALID, "capsule carries " + have
                        + " data bytes but the SGL is a Transport Data Block (5Ah; expected 01h for in-capsule data)");
                return;
            }
            capsuleData.release();
            if (length == 0) {
                then.accept(cmd, Unpooled.EMPTY_BUFFER);
                return;
            }
            cmd.length = length;
            cmd.onData = then;
            if (controller != null && (!r2tWaiting.isEmpty() || !controller.reserveR2tBytes(length, this))) {
                r2tWaiting.add(cmd);  // its R2T goes out once the controller's buffers for Write data free
                return;
            }
            startR2t(cmd);
        } else {
            capsuleData.release();
            fail(cmd, NvmeStatus.SGL_DESCRIPTOR_TYPE_INVALID, "SGL identifier 0x" + Integer.toHexString(type)
                    + " (expected 01h in-capsule or 5Ah transport data)");
        }
    }

    /** Allocates the buffer of a Write whose R2T budget is reserved and asks for its data. */
    private void startR2t(Command cmd) {
        cmd.r2tReserved = controller != null ? cmd.length : 0;
        cmd.data = ctx.alloc().buffer(cmd.length, cmd.length);
        if (transfers.isEmpty()) {
            lastH2cNanos = System.nanoTime();
        }
        sendR2ts(cmd);
        ctx.flush();
        if (h2cTimer == null) {
            h2cTimer = ctx.executor().schedule(this::checkH2cData, config.h2cDataTimeout().toNanos(), TimeUnit.NANOSECONDS);
        }
    }

    /**
     * The H2C data timer: a host that leaves R2Ts unanswered for the H2C data timeout loses the
     * connection (and with an admin queue, its association), which frees the buffers it held.
     */
    private void checkH2cData() {
        h2cTimer = null;
        if (state == State.CLOSED || transfers.isEmpty()) {
            return;
        }
        long timeout = config.h2cDataTimeout().toNanos();
        long idle = System.nanoTime() - lastH2cNanos;
        if (idle >= timeout) {
            log.warn("{} q{}: no H2CData for {} outstanding R2Ts within the H2C data timeout of {} ms: closing the connection",
                    channel.remoteAddress(), qid, transfers.size(), TimeUnit.NANOSECONDS.toMillis(timeout));
            ctx.close();
            return;
        }
        h2cTimer = ctx.executor().schedule(this::checkH2cData, timeout - idle, TimeUnit.NANOSECONDS);
    }

    /** Gives back the command's share of the controller's R2T budget, once. */
    private void releaseR2tBudget(Command cmd) {
        if (cmd.r2tReserved > 0) {
            long n = cmd.r2tReserved;
            cmd.r2tReserved = 0;
            controller.releaseR2tBytes(n);
        }
    }

    /** The controller's R2T budget freed: another queue's (or this one's) waiting Writes may go on. Any thread. */
    void r2tBudgetFreed() {
        try {
            channel.eventLoop().execute(this::resumeR2tWaiting);
        } catch (RejectedExecutionException closing) {
            // the target is closing
        }
    }

    private void resumeR2tWaiting() {
        boolean sent = false;
        while (!r2tWaiting.isEmpty() && state != State.CLOSED) {
            Command c = r2tWaiting.peek();
            if (commands.get(c.cid) != c || c.onData == null) {
                r2tWaiting.poll();  // completed meanwhile (aborted, or the queue ended)
                continue;
            }
            if (!controller.reserveR2tBytes(c.length, this)) {
                return;
            }
            r2tWaiting.poll();
            startR2t(c);
            sent = true;
        }
        if (sent) {
            ctx.flush();
        }
    }

    /** Asks for the next ranges of a command's data, at most MAXH2CDATA each, as many as MAXR2T allows. */
    private void sendR2ts(Command cmd) {
        while (cmd.outstandingR2ts < hostMaxR2t && cmd.nextR2tOffset < cmd.length) {
            int offset = cmd.nextR2tOffset;
            int n = Math.min(config.maxH2cData(), cmd.length - offset);
            int ttag = allocateTransferTag();
            transfers.put(ttag, new Transfer(cmd, ttag, offset, n));
            cmd.nextR2tOffset += n;
            cmd.outstandingR2ts++;
            ctx.write(encoder.r2t(ctx.alloc(), cmd.cid, ttag, offset, n));
        }
    }

    /** The next 16-bit transfer tag not in use; FFFFh is skipped. */
    private int allocateTransferTag() {
        while (true) {
            int t = nextTtag;
            nextTtag = (nextTtag + 1) & 0xFFFF;
            if (t != 0xFFFF && !transfers.containsKey(t)) {
                retiredTags.remove(t);
                return t;
            }
        }
    }

    /** H2CData (NVMe/TCP 1.0 §3.6.2.8): data answering one of our R2Ts, in order, LAST_PDU on the R2T's last. */
    private void onH2cData(Pdu.H2cData pdu) {
        int ttag = pdu.transferTag();
        Transfer t = transfers.get(ttag);
        int n = pdu.data().readableBytes();
        if (t == null) {
            boolean retired = retiredTags.contains(ttag);
            pdu.release();
            if (!retired) {
                fatal(FatalErrorStatus.INVALID_HEADER_FIELD, 10, "H2CData for transfer tag " + ttag
                        + ", which no outstanding R2T carries", h2cHeader(pdu, n));
            }
            return;
        }
        if (pdu.commandId() != t.cmd.cid) {
            pdu.release();
            fatal(FatalErrorStatus.INVALID_HEADER_FIELD, 8, "H2CData with command id " + pdu.commandId()
                    + " for transfer tag " + ttag + " (expected " + t.cmd.cid + ")", h2cHeader(pdu, n));
            return;
        }
        long end = (long) pdu.offset() + n;
        if (pdu.offset() < t.offset || end > (long) t.offset + t.length) {
            pdu.release();
            fatal(FatalErrorStatus.DATA_TRANSFER_OUT_OF_RANGE, 0, "H2CData at " + pdu.offset() + " of " + n
                    + " bytes for an R2T of " + t.offset + ".." + (t.offset + t.length), h2cHeader(pdu, n));
            return;
        }
        if (pdu.offset() != t.offset + t.received) {
            pdu.release();
            fatal(FatalErrorStatus.PDU_SEQUENCE_ERROR, 0, "H2CData at offset " + pdu.offset() + " (expected "
                    + (t.offset + t.received) + ", the next byte of transfer tag " + ttag + ")", h2cHeader(pdu, n));
            return;
        }
        boolean complete = t.received + n == t.length;
        if (pdu.last() != complete) {
            pdu.release();
            fatal(FatalErrorStatus.PDU_SEQUENCE_ERROR, 0, "H2CData " + (pdu.last() ? "with" : "without")
                    + " LAST_PDU at " + pdu.offset() + "+" + n + " of an R2T for " + t.offset + "+" + t.length,
                    h2cHeader(pdu, n));
            return;
        }
        Command cmd = t.cmd;
        cmd.data.setBytes(pdu.offset(), pdu.data(), pdu.data().readerIndex(), n);
        pdu.release();
        lastH2cNanos = System.nanoTime();
        t.received += n;
        if (!complete) {
            return;
        }
        transfers.remove(ttag);
        cmd.outstandingR2ts--;
        cmd.receivedBytes += t.length;
        if (cmd.receivedBytes == cmd.length) {
            releaseR2tBudget(cmd);  // the data is here: what holds the buffer now is the command itself, bounded by the queue
            ByteBuf data = cmd.data;
            cmd.data = null;
            data.writerIndex(cmd.length);
            DataHandler then = cmd.onData;
            cmd.onData = null;
            then.accept(cmd, data);
        } else {
            sendR2ts(cmd);
            ctx.flush();
        }
    }

    /**
     * A data digest mismatch (NVMe/TCP 1.0 §3.5.2): the command fails with Transient Transport
     * Error, which the host may retry, and nothing is written. The decoder already dropped the
     * PDU; later H2CData for the same command is dropped quietly.
     */
    private void onDataDigestError(PduDecoder.DataDigestError e) {
        log.warn("{} q{}: data digest error in {} for command {} at offset {} (received 0x{}, computed 0x{})",
                channel.remoteAddress(), qid, e.type(), e.commandId(), e.offset(), Integer.toHexString(e.expected()),
                Integer.toHexString(e.actual()));
        if (e.type() == PduType.CAPSULE_CMD) {
            consumed++;
            if (controller != null) {
                controller.touch();
            }
            sendCqe(e.commandId(), Math.max(qid, 0), retryable(NvmeStatus.TRANSIENT_TRANSPORT_ERROR), 0);
            return;
        }
        Command cmd = commands.get(e.commandId());
        if (cmd == null || cmd.onData == null) {
            fatal(FatalErrorStatus.INVALID_HEADER_FIELD, 8, "H2CData (with a bad data digest) for command "
                    + e.commandId() + ", which awaits no data", Unpooled.EMPTY_BUFFER);
            return;
        }
        List<Integer> tags = new ArrayList<>();
        for (IntObjectMap.PrimitiveEntry<Transfer> entry : transfers.entries()) {
            if (entry.value().cmd == cmd) {
                tags.add(entry.key());
            }
        }
        for (int tag : tags) {
            transfers.remove(tag);
            retiredTags.add(tag);
        }
        cmd.onData = null;
        complete(cmd, retryable(NvmeStatus.TRANSIENT_TRANSPORT_ERROR), 0);
    }

    // ---------------------------------------------------------------- data to the host

    /** Checks that a command returning data describes its buffer with a Transport SGL Data Block. */
    private boolean checkControllerToHostSgl(Command cmd) {
        int type = cmd.sqe.sglIdentifier();
        if (type != Sqe.SGL_TRANSPORT_DATA_BLOCK) {
            fail(cmd, NvmeStatus.SGL_DESCRIPTOR_TYPE_INVALID, "SGL identifier 0x" + Integer.toHexString(type)
                    + " for data to the host (expected 5Ah transport)");
            return false;
        }
        return true;
    }

    /**
     * Sends at most the SGL's length of {@code data} (owned) and completes the command. The
     * commands that come here checked the SGL's length against their transfer first
     * ({@link CommandChecks#transferLength}); an Authentication Receive message may be shorter than AL.
     */
    private void sendData(Command cmd, ByteBuf data, long result) {
        long max = Integer.toUnsignedLong(cmd.sqe.sglLength());
        if (data.readableBytes() > max) {
            data.writerIndex(data.readerIndex() + (int) max);
        }
        respondWithData(cmd, data, result);
    }

    /** Whether the last C2HData may carry SUCCESS instead of a CapsuleResp following (§3.6.2.9). */
    private boolean successInData(long result) {
        return config.c2hSuccess() && !sqFlowControl && result == 0;
    }

    /** C2HData PDUs with {@code data} (owned), then the CapsuleResp unless SUCCESS stood in for it. */
    private void respondWithData(Command cmd, ByteBuf data, long result) {
        int n = data.readableBytes();
        if (n == 0 || !channel.isActive()) {
            data.release();
            complete(cmd, 0, result);
            return;
        }
        boolean success = successInData(result);
        int chunk = config.maxC2hDataPerPdu();
        int base = data.readerIndex();
        for (int off = 0; off < n; off += chunk) {
            int len = Math.min(chunk, n - off);
            boolean last = off + len == n;
            io.netty.channel.ChannelFuture written =
                    ctx.write(encoder.c2hData(ctx.alloc(), cmd.cid, off, last, last && success, data.retainedSlice(base + off, len)));
            if (last && success) {
                countUnsent(written);
            }
        }
        data.release();
        finishWithoutResponse(cmd, success, result);
    }

    /** Zero-copy read: C2HData headers followed by regions of the namespace file, sent with sendfile. */
    private void sendFileRegions(Command cmd, FileChannel file, long position, int length, long result) {
        boolean success = successInData(result);
        int chunk = config.maxC2hDataPerPdu();
        for (int off = 0; off < length; off += chunk) {
            int len = Math.min(chunk, length - off);
            boolean last = off + len == length;
            ctx.write(encoder.c2hDataHeader(ctx.alloc(), cmd.cid, off, last, last && success, len));
            io.netty.channel.ChannelFuture written = ctx.write(new SharedFileRegion(file, position + off, len));
            if (last && success) {
                countUnsent(written);
            }
        }
        finishWithoutResponse(cmd, success, result);
    }

    private void finishWithoutResponse(Command cmd, boolean successSent, long result) {
        if (successSent) {
            if (commands.remove(cmd.cid) == cmd) {
                cmd.releaseData();
                ctx.flush();
                afterCompletion();
            }
        } else {
            complete(cmd, 0, result);
        }
    }

    // ---------------------------------------------------------------- completion

    /** Fails the command when {@code refusal} is not null (with DNR); returns whether it did. */
    private boolean refused(Command cmd, CommandChecks.Refusal refusal) {
        if (refusal == null) {
            return false;
        }
        fail(cmd, refusal.status(), refusal.why());
        return true;
    }

    private void fail(Command cmd, NvmeStatus status, String why) {
        log.debug("{} q{}: {} -> {}: {}", channel.remoteAddress(), qid, cmd.sqe, status, why);
        complete(cmd, status(status), 0);
    }

    /** Sends the command's CapsuleResp and forgets it; releases its data. */
    private void complete(Command cmd, int status, long result) {
        if (commands.remove(cmd.cid) != cmd) {
            cmd.releaseData();
            return;
        }
        if (cmd.aer) {
            heldAers--;
        }
        releaseR2tBudget(cmd);
        cmd.releaseData();
        sendCqe(cmd.cid, Math.max(qid, 0), status, result);
        afterCompletion();
    }

    private void sendCqe(int cid, int sqid, int status, long result) {
        if (!channel.isActive()) {
            return;
        }
        int sqHead = sqFlowControl && queueSize > 0 ? (int) (consumed % queueSize) : 0;
        countUnsent(ctx.writeAndFlush(encoder.capsuleResp(ctx.alloc(), new Cqe(result, sqHead, sqid, cid, status))));
    }

    /** The response {@code written} takes a slot of the queue until it has been sent (or failed to be). */
    private void countUnsent(io.netty.channel.ChannelFuture written) {
        if (written.isDone()) {
            return;
        }
        unsentResponses++;
        written.addListener(f -> unsentResponses--);
    }

    /**
     * Why a Connect does not match the PSK identity its TLS connection was made with, or null when
     * it does (or the port has no TLS). The identity {@code NVMe0Rhh <hostnqn> <subnqn>} (or
     * {@code NVMe1Rhh ... <digest>}, NVMe/TCP 1.1 §3.6.1.3) binds the connection to one host and one
     * subsystem: a host holding the key of another may not connect as a third.
     */
    private String tlsIdentityMismatch(String hostnqn, String subnqn) {
        io.thermocline.nvmeof.auth.TlsPskHandler tls = ctx.pipeline().get(io.thermocline.nvmeof.auth.TlsPskHandler.class);
        if (tls == null) {
            return null;
        }
        String identity = tls.pskIdentity();
        String[] f = identity == null ? new String[0] : identity.split(" ");
        if (f.length < 3) {
            return "the TLS connection has no PSK identity naming a host and subsystem (got '" + identity + "')";
        }
        if (!f[1].equals(hostnqn)) {
            return "HOSTNQN " + hostnqn + " differs from the host of the TLS PSK identity, " + f[1];
        }
        if (!f[2].equals(subnqn)) {
            return "SUBNQN " + subnqn + " differs from the subsystem of the TLS PSK identity, " + f[2];
        }
        return null;
    }

    private void afterCompletion() {
        checkDisconnect();
        checkDrained();
    }

    /** The status field with DNR set: the same command would fail again. */
    private static int status(NvmeStatus s) {
        return s.field(true);
    }

    /** The status field without DNR: the host may retry. */
    private static int retryable(NvmeStatus s) {
        return s.field(false);
    }

    // ---------------------------------------------------------------- errors and shutdown

    /** Ends the connection with a C2HTermReq (§3.5.1); {@code header} (released) is the offending PDU header. */
    private void fatal(int fes, int fei, String reason, ByteBuf header) {
        log.warn("{} q{}: ending the NVMe/TCP connection: {} (FES {}: {})", channel.remoteAddress(), qid, reason, fes,
                FatalErrorStatus.describe(fes));
        terminated = true;
        PduDecoder.sendTermReqAndClose(ctx, encoder, session, fes, fei, header);
    }

    /** The 72-byte CapsuleCmd header of {@code sqe}, as the host sent it (for a TermReq). */
    private ByteBuf capsuleHeader(Sqe sqe) {
        ByteBuf b = ctx.alloc().buffer(PduType.CAPSULE_CMD.headerLength());
        b.writeByte(PduType.CAPSULE_CMD.code()).writeByte(session.headerDigest() ? PduDecoder.FLAG_HDGST : 0)
                .writeByte(PduType.CAPSULE_CMD.headerLength()).writeByte(0).writeIntLE(PduType.CAPSULE_CMD.headerLength());
        sqe.writeTo(b);
        return b;
    }

    /**
     * The 24-byte header of an H2CData PDU (Figure 22), rebuilt from its fields for a TermReq; PDO
     * and PLEN are those this session's alignment and digests give.
     */
    private ByteBuf h2cHeader(Pdu.H2cData pdu, int length) {
        int hlen = PduType.H2C_DATA.headerLength();
        int hd = session.headerDigest() ? 4 : 0;
        int dd = session.dataDigest() ? 4 : 0;
        int align = session.receiveAlignment();
        int pdo = (hlen + hd + align - 1) / align * align;
        int flags = (pdu.last() ? PduDecoder.FLAG_LAST_PDU : 0) | (hd != 0 ? PduDecoder.FLAG_HDGST : 0)
                | (dd != 0 ? PduDecoder.FLAG_DDGST : 0);
        ByteBuf b = ctx.alloc().buffer(hlen);
        b.writeByte(PduType.H2C_DATA.code()).writeByte(flags).writeByte(hlen).writeByte(pdo).writeIntLE(pdo + length + dd)
                .writeShortLE(pdu.commandId()).writeShortLE(pdu.transferTag()).writeIntLE(pdu.offset()).writeIntLE(length)
                .writeZero(4);
        return b;
    }

    /**
     * Stops taking new commands (they complete with Command Aborted due to SQ Deletion, which the
     * host may retry elsewhere) and completes the returned promise once the commands in flight
     * — other than held Asynchronous Event Requests — have completed, or the connection closed.
     * Callable from any thread.
     */
    Promise<Void> drain() {
        Promise<Void> p = channel.eventLoop().newPromise();
        try {
            channel.eventLoop().execute(() -> {
                draining = true;
                drained = p;
                if (state == State.CLOSED) {
                    p.trySuccess(null);
                } else {
                    checkDrained();
                }
            });
        } catch (RejectedExecutionException closing) {
            p.trySuccess(null);
        }
        return p;
    }

    private void checkDrained() {
        if (drained != null && commands.size() - heldAers == 0) {
            drained.trySuccess(null);
        }
    }
}
