package io.thermocline.nvmeof.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.thermocline.nvmeof.pdu.Cqe;
import io.thermocline.nvmeof.pdu.Fabrics;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.NvmeStatus;
import io.thermocline.nvmeof.pdu.Pdu;
import io.thermocline.nvmeof.pdu.PduDecoder;
import io.thermocline.nvmeof.pdu.PduEncoder;
import io.thermocline.nvmeof.pdu.PduSession;
import io.thermocline.nvmeof.pdu.Sqe;
import java.net.InetSocketAddress;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A deliberately small NVMe/TCP host for testing the target: it speaks through the PDU codec
 * only, one connection per instance, and lets a test send exactly the PDUs it wants — well formed
 * or not. {@link #run} sends one command, answers its R2Ts from the write data, gathers its
 * C2HData and returns at its CapsuleResp.
 *
 * <p>Received PDUs are queued by the connection's event loop; every PDU taken from the queue is
 * released here once its data has been copied out.
 */
final class RawHost implements AutoCloseable {
    static final String HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:00000000-1111-2222-3333-444444444444";
    static final UUID HOST_ID = UUID.fromString("00000000-1111-2222-3333-444444444444");
    static final long TIMEOUT_MS = 5000;
    private static final Object CLOSED = new Object();

    final PduSession session = new PduSession(PduSession.Role.HOST, 0, 16 << 20);
    final PduEncoder encoder = new PduEncoder(session);
    private final BlockingQueue<Object> inbox = new LinkedBlockingQueue<>();
    private final Channel channel;
    private volatile int hpda;
    private int maxH2cData;
    private int nextCid = 0xA000;  // high bits set, as the Linux host's generation counter sets them
    /** When set, H2CData answering an R2T carries this transfer tag instead of the R2T's. */
    Integer forcedTransferTag;

    /** What a command returned: its CQE (null when SUCCESS in C2HData stood in for it) and its data. */
    record Response(Cqe cqe, byte[] data, boolean successFlag) {
        NvmeStatus status() {
            return cqe == null ? NvmeStatus.SUCCESS : cqe.nvmeStatus();
        }

        Response assertSuccess() {
            assertTrue(cqe == null || cqe.isSuccess(), () -> "expected success, got " + cqe);
            return this;
        }

        Response assertStatus(NvmeStatus expected) {
            assertEquals(expected, status(), () -> "status of " + cqe);
            return this;
        }

        long result() {
            return cqe.result();
        }
    }

    private RawHost(EventLoopGroup group, InetSocketAddress address) {
        this(group, address, null);
    }

    /** @param first a handler before the codec (TLS, say), or null */
    private RawHost(EventLoopGroup group, InetSocketAddress address, java.util.function.Supplier<io.netty.channel.ChannelHandler> first) {
        channel = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel c) {
                        if (first != null) {
                            c.pipeline().addLast(first.get());
                        }
                        c.pipeline().addLast(new WireTap(), new PduDecoder(session, encoder), new Inbox());
                    }
                })
                .connect(address).syncUninterruptibly().channel();
    }

    /** Every byte received, in order, for tests that look at the PDUs' framing itself. */
    private final ByteBuf wire = Unpooled.buffer();

    /** Copies what arrives into {@link #wire}, then passes it on untouched. */
    private final class WireTap extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof ByteBuf b) {
                synchronized (wire) {
                    wire.writeBytes(b, b.readerIndex(), b.readableBytes());
                }
            }
            ctx.fireChannelRead(msg);
        }
    }

    /** The common headers (type, flags, HLEN, PDO, PLEN) of every PDU received so far. */
    java.util.List<int[]> receivedHeaders() {
        java.util.List<int[]> headers = new java.util.ArrayList<>();
        synchronized (wire) {
            for (int at = 0; at + 8 <= wire.writerIndex(); ) {
                int plen = wire.getIntLE(at + 4);
                headers.add(new int[] {wire.getUnsignedByte(at), wire.getUnsignedByte(at + 1), wire.getUnsignedByte(at + 2),
                    wire.getUnsignedByte(at + 3), plen});
                at += plen;
            }
        }
        return headers;
    }

    /** Queues what the decoder produces; applies ICResp to the session before the next PDU is decoded. */
    private final class Inbox extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Pdu.IcResp resp) {
                session.initialize(resp.headerDigest(), resp.dataDigest(), hpda, resp.cpda());
            }
            inbox.add(msg);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            inbox.add(CLOSED);
        }
    }

    static RawHost open(EventLoopGroup group, InetSocketAddress address) {
        return new RawHost(group, address);
    }

    /** A connection that starts with TLS, offering the PSK identity of {@code key} for {@code hostNqn} and {@code subNqn}. */
    static RawHost openTls(EventLoopGroup group, InetSocketAddress address, io.thermocline.nvmeof.auth.TlsPsk key,
                           String hostNqn, String subNqn) {
        return new RawHost(group, address, () -> io.thermocline.nvmeof.auth.TlsPskHandler.client(key, hostNqn, subNqn));
    }

    /**
     * Runs a DH-HMAC-CHAP transaction (NVMe Base 2.0 §8.13.5) on this queue, step by step, as
     * {@code hostNqn} with {@code secret}, the controller not authenticated; fails unless it succeeds.
     */
    void authenticate(String hostNqn, String subNqn, io.thermocline.nvmeof.auth.DhchapSecret secret, int transactionId) {
        io.thermocline.nvmeof.auth.DhchapHostSession auth = new io.thermocline.nvmeof.auth.DhchapHostSession(hostNqn, subNqn,
                secret, null, transactionId, new java.security.SecureRandom());
        byte[] negotiate = auth.negotiate();
        run(Fabrics.authenticationSend(1, 1, negotiate.length), Unpooled.wrappedBuffer(negotiate), null).assertSuccess();
        byte[] challenge = run(Fabrics.authenticationReceive(1, 1, io.thermocline.nvmeof.auth.DhchapHostSession.RECEIVE_LENGTH),
                null, null).assertSuccess().data();
        byte[] reply = auth.reply(challenge, challenge.length);
        run(Fabrics.authenticationSend(1, 1, reply.length), Unpooled.wrappedBuffer(reply), null).assertSuccess();
        byte[] success1 = run(Fabrics.authenticationReceive(1, 1, io.thermocline.nvmeof.auth.DhchapHostSession.RECEIVE_LENGTH),
                null, null).assertSuccess().data();
        assertEquals(false, auth.success1(success1, success1.length), "Success1 asks for no Success2 (no controller secret)");
    }

    Channel channel() {
        return channel;
    }

    /** ICReq / ICResp with HPDA 0 and MAXR2T 0 (one R2T at a time), as the Linux host sends. */
    Pdu.IcResp initialize(boolean headerDigest, boolean dataDigest) {
        return initialize(headerDigest, dataDigest, 0, 0);
    }

    Pdu.IcResp initialize(boolean headerDigest, boolean dataDigest, int hpda, int maxR2t) {
        this.hpda = hpda;
        send(encoder.icReq(channel.alloc(), new Pdu.IcReq(0, hpda, headerDigest, dataDigest, maxR2t)));
        Object msg = next();
        if (!(msg instanceof Pdu.IcResp resp)) {
            throw new AssertionError("expected ICResp, got " + msg);
        }
        maxH2cData = resp.maxH2cData();
        return resp;
    }

    /** An initialised connection with an admin queue connected and the controller enabled; returns the CNTLID. */
    int connectAdminAndEnable(String subnqn, int katoMillis) {
        Response r = connect(0, 32, katoMillis, Fabrics.CNTLID_DYNAMIC, subnqn, HOST_NQN, 0).assertSuccess();
        int cntlid = r.cqe().dw0() & 0xFFFF;
        enable();
        return cntlid;
    }

    /** Sets CC.EN with the entry sizes the Linux host uses and waits for CSTS.RDY. */
    void enable() {
        int cc = 1 | (6 << 16) | (4 << 20);
        run(Fabrics.propertySet(NvmeOpcodes.PROPERTY_CC, cc), null, null).assertSuccess();
        long csts = run(Fabrics.propertyGet(NvmeOpcodes.PROPERTY_CSTS), null, null).assertSuccess().result();
        assertEquals(1, csts & 3, "CSTS after enabling: 0x" + Long.toHexString(csts));
    }

    Response connect(int qid, int queueSize, int katoMillis, int cntlid, String subnqn, String hostnqn, int cattr) {
        Sqe sqe = Fabrics.connect(qid, queueSize, katoMillis, (cattr & Fabrics.CATTR_DISABLE_SQ_FLOW_CONTROL) != 0);
        ByteBuf data = Unpooled.buffer(Fabrics.CONNECT_DATA_LENGTH);
        Fabrics.writeConnectData(data, HOST_ID, cntlid, subnqn, hostnqn);
        return run(sqe, data, null);
    }

    Response identify(int cns, int nsid) {
        return run(new Sqe().opcode(NvmeOpcodes.ADMIN_IDENTIFY).nsid(nsid).cdw(10, cns).sglTransport(4096), null, null);
    }

    /** Get Log Page of {@code length} bytes (a multiple of 4) from byte {@code offset}. */
    Response logPage(int lid, long offset, int length) {
        int numd = length / 4 - 1;
        Sqe sqe = new Sqe().opcode(NvmeOpcodes.ADMIN_GET_LOG_PAGE).nsid(-1)
                .cdw(10, lid | (numd & 0xFFFF) << 16).cdw(11, numd >>> 16)
                .cdw(12, (int) offset).cdw(13, (int) (offset >>> 32)).sglTransport(length);
        return run(sqe, null, null);
    }

    Response read(int nsid, long slba, int blocks, int blockSize) {
        Sqe sqe = new Sqe().opcode(NvmeOpcodes.IO_READ).nsid(nsid).cdw10And11(slba).cdw(12, blocks - 1)
                .sglTransport(blocks * blockSize);
        return run(sqe, null, null);
    }

    /** A write whose data goes in the capsule. */
    Response writeInCapsule(int nsid, long slba, byte[] data, int blockSize) {
        Sqe sqe = new Sqe().opcode(NvmeOpcodes.IO_WRITE).nsid(nsid).cdw10And11(slba).cdw(12, data.length / blockSize - 1)
                .sglInCapsule(data.length);
        return run(sqe, Unpooled.wrappedBuffer(data), null);
    }

    /** A write whose data the target asks for with R2Ts. */
    Response writeWithR2t(int nsid, long slba, byte[] data, int blockSize) {
        return run(writeSqe(nsid, slba, data.length, blockSize), null, data);
    }

    static Sqe writeSqe(int nsid, long slba, int length, int blockSize) {
        return new Sqe().opcode(NvmeOpcodes.IO_WRITE).nsid(nsid).cdw10And11(slba).cdw(12, length / blockSize - 1)
                .sglTransport(length);
    }

    /**
     * Sends one command and runs it to its end: answers R2Ts with H2CData from {@code writeData}
     * (split at MAXH2CDATA, LAST_PDU on each R2T's last), collects C2HData, returns at the
     * CapsuleResp for it (or at a C2HData carrying SUCCESS).
     *
     * @param inCapsule in-capsule data (owned), or null
     */
    Response run(Sqe sqe, ByteBuf inCapsule, byte[] writeData) {
        int cid = nextCid();
        sqe.commandId(cid);
        send(encoder.capsuleCmd(channel.alloc(), sqe, inCapsule));
        return await(cid, writeData);
    }

    int nextCid() {
        int cid = nextCid;
        nextCid = nextCid == 0xFFFF ? 0xA000 : nextCid + 1;
        return cid;
    }

    /** Waits for the end of command {@code cid}, answering its R2Ts from {@code writeData}. */
    Response await(int cid, byte[] writeData) {
        ByteBuf in = Unpooled.buffer();
        try {
            while (true) {
                Object msg = next();
                switch (msg) {
                    case Pdu.CapsuleResp resp -> {
                        if (resp.cqe().commandId() != cid) {
                            throw new AssertionError("CapsuleResp for cid " + resp.cqe().commandId() + " while waiting for " + cid);
                        }
                        return new Response(resp.cqe(), ByteBufUtil.getBytes(in), false);
                    }
                    case Pdu.C2hData data -> {
                        try {
                            assertEquals(cid, data.commandId(), "C2HData command id");
                            assertEquals(in.writerIndex(), data.offset(), "C2HData offset");
                            in.writeBytes(data.data(), data.data().readerIndex(), data.data().readableBytes());
                            if (data.success()) {
                                return new Response(null, ByteBufUtil.getBytes(in), true);
                            }
                        } finally {
                            data.release();
                        }
                    }
                    case Pdu.R2t r2t -> answer(r2t, writeData);
                    default -> {
                        release(msg);
                        throw new AssertionError("expected the response of command " + cid + ", got " + msg);
                    }
                }
            }
        } finally {
            in.release();
        }
    }

    /** Sends the H2CData PDUs an R2T asks for. */
    void answer(Pdu.R2t r2t, byte[] writeData) {
        if (writeData == null) {
            throw new AssertionError("R2T for a command without data: " + r2t);
        }
        int ttag = forcedTransferTag != null ? forcedTransferTag : r2t.transferTag();
        int end = r2t.offset() + r2t.length();
        for (int o = r2t.offset(); o < end; ) {
            int n = Math.min(maxH2cData, end - o);
            boolean last = o + n == end;
            send(encoder.h2cData(channel.alloc(), r2t.commandId(), ttag, o, last, Unpooled.wrappedBuffer(writeData, o, n)));
            o += n;
        }
    }

    void send(ByteBuf pdu) {
        channel.writeAndFlush(pdu);
    }

    /** The next PDU or event, failing after the timeout; the closing of the connection is an error. */
    Object next() {
        Object msg = poll(TIMEOUT_MS);
        if (msg == null) {
            fail("nothing from the target within " + TIMEOUT_MS + " ms");
        }
        if (msg == CLOSED) {
            fail("the target closed the connection");
        }
        return msg;
    }

    /** The next PDU or event, the marker {@link #isClosed}, or null after {@code millis}. */
    Object poll(long millis) {
        try {
            return inbox.poll(millis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static boolean isClosed(Object msg) {
        return msg == CLOSED;
    }

    /** Waits for the connection to close, releasing whatever arrives before; returns what arrived. */
    java.util.List<Object> awaitClosed(long millis) {
        java.util.List<Object> seen = new java.util.ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (true) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            Object msg = left <= 0 ? inbox.poll() : poll(left);
            if (msg == null) {
                throw new AssertionError("the connection is still open after " + millis + " ms; received " + seen);
            }
            if (msg == CLOSED) {
                return seen;
            }
            seen.add(msg);
            release(msg);
        }
    }

    static void release(Object msg) {
        if (msg instanceof Pdu pdu) {
            pdu.release();
        }
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        synchronized (wire) {
            if (wire.refCnt() > 0) {
                wire.release();
            }
        }
        Object msg;
        while ((msg = inbox.poll()) != null) {
            release(msg);
        }
    }
}
