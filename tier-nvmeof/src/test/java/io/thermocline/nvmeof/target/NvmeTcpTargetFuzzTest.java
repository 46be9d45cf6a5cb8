package io.thermocline.nvmeof.target;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.util.internal.PlatformDependent;
import io.thermocline.nvmeof.auth.AuthMessage;
import io.thermocline.nvmeof.auth.DhchapHash;
import io.thermocline.nvmeof.auth.DhchapHostConfig;
import io.thermocline.nvmeof.auth.DhchapHostSession;
import io.thermocline.nvmeof.auth.DhchapSecret;
import io.thermocline.nvmeof.auth.DhGroup;
import io.thermocline.nvmeof.pdu.Cqe;
import io.thermocline.nvmeof.pdu.Fabrics;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.Pdu;
import io.thermocline.nvmeof.pdu.Sqe;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.File;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes a live target with malformed Connect data (HOSTID, CNTLID, SUBNQN, HOSTNQN and the
 * Connect command's own fields) and malformed DH-HMAC-CHAP messages (AUTH_Negotiate, Reply,
 * Success1, Success2, Failure2 and garbage), each case on a fresh connection. The target must
 * answer every case (a completion of any status, or closing the connection: never silence), and
 * afterwards still serve a good Connect and a good authentication, with its direct memory, heap
 * after GC and open file descriptors no higher than after the warm-up (within a small slack),
 * and no Netty buffer leaked.
 *
 * <p>{@code -Dthermocline.fuzz.cases=N} (default 2000 per test) and
 * {@code -Dthermocline.fuzz.seed=S} (default: random, printed) repeat or widen a run.
 */
@ScaledTimeout(600)
class NvmeTcpTargetFuzzTest {
    private static final String NQN = "nqn.2024-01.io.thermocline.test:fuzz";
    private static final String AUTH_NQN = "nqn.2024-01.io.thermocline.test:fuzz-auth";
    private static final int CASES = Integer.getInteger("thermocline.fuzz.cases", 2000);
    private static final int WARMUP = Math.min(200, CASES / 4);
    private static final long DIRECT_SLACK = 16L << 20;
    private static final long HEAP_SLACK = 64L << 20;
    private static final int FD_SLACK = 16;
    private static final Object CLOSED = new Object();

    private static EventLoopGroup hostLoops;

    @TempDir
    Path dir;

    private NvmeTcpTarget target;
    private InetSocketAddress address;
    private String hostSecret;
    private final TreeMap<String, Integer> outcomes = new TreeMap<>();

    @BeforeAll
    static void loops() {
        LeakCheck.install();
        hostLoops = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    }

    @AfterAll
    static void stopLoops() throws InterruptedException {
        hostLoops.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        LeakCheck.assertNoLeaks();
    }

    @BeforeEach
    void startTarget() {
        hostSecret = DhchapSecret.generate(1, 32, new SecureRandom()).format();
        target = NvmeTcpTarget.builder().port(0).eventLoopThreads(2)
                .subsystem(Subsystem.builder(NQN).allowHost(RawHost.HOST_NQN)
                        .namespace(Namespace.openFile(dir.resolve("ns"), 1 << 20, 512, false)).build())
                .subsystem(Subsystem.builder(AUTH_NQN).allowHost(RawHost.HOST_NQN, DhchapHostConfig.of(hostSecret))
                        .namespace(Namespace.openFile(dir.resolve("auth"), 1 << 20, 512, false)).build())
                .build();
        address = target.start();
    }

    @AfterEach
    void stopTarget() {
        if (target != null) {
            target.close();
        }
    }

    private static long seed() {
        Long s = Long.getLong("thermocline.fuzz.seed");
        return s != null ? s : new SecureRandom().nextLong();
    }

    // ---------------------------------------------------------------- the tests

    @Test
    void malformedConnectData_isAnsweredOrRefused_andLeavesTheTargetWhole() {
        long seed = seed();
        System.out.println("NvmeTcpTargetFuzzTest connect data: seed " + seed + ", " + CASES
                + " cases (-Dthermocline.fuzz.seed=" + seed + " repeats them)");
        Random r = new Random(seed);
        run("connect data", seed, CASES, i -> connectCase(r));
    }

    @Test
    void malformedAuthenticationMessages_areAnsweredOrRefused_andLeaveTheTargetWhole() {
        long seed = seed();
        System.out.println("NvmeTcpTargetFuzzTest DH-HMAC-CHAP messages: seed " + seed + ", " + CASES
                + " cases (-Dthermocline.fuzz.seed=" + seed + " repeats them)");
        Random r = new Random(seed);
        run("DH-HMAC-CHAP messages", seed, CASES, i -> authCase(r));
    }

    @FunctionalInterface
    private interface Case {
        void run(int index);
    }

    private void run(String what, long seed, int cases, Case c) {
        Footprint warm = null;
        for (int i = 0; i < cases; i++) {
            if (i == WARMUP) {
                warm = settledFootprint();
            }
            try {
                c.run(i);
            } catch (AssertionError e) {
                throw new AssertionError(what + " case " + i + " of seed " + seed + ": " + e.getMessage(), e);
            }
        }
        if (warm == null) {
            warm = settledFootprint();
        }
        Footprint before = warm;
        System.out.println("NvmeTcpTargetFuzzTest " + what + " outcomes: " + outcomes);
        // the target must still serve good hosts
        goodConnectAndIdentify();
        goodAuthentication();
        // and it holds no more than after the warm-up: connections closed, buffers returned
        TestTimeouts.await("file descriptors back to " + before.fds + " + " + FD_SLACK, Duration.ofSeconds(30),
                () -> openFds() <= before.fds + FD_SLACK, () -> openFds() + " open");
        Footprint after = settledFootprint();
        System.out.println("NvmeTcpTargetFuzzTest " + what + " footprint after warm-up: " + before + "; after "
                + cases + " cases: " + after);
        assertTrue(after.direct <= before.direct + DIRECT_SLACK, () -> "direct memory grew from " + before.direct
                + " to " + after.direct + " bytes (expected at most " + DIRECT_SLACK + " more)");
        assertTrue(after.heap <= before.heap + HEAP_SLACK, () -> "heap after GC grew from " + before.heap + " to "
                + after.heap + " bytes (expected at most " + HEAP_SLACK + " more)");
        // a controller ends when the target's event loop sees its admin connection close, which
        // can come after this thread has closed it (a loaded run saw one still there)
        TestTimeouts.await("every controller ended once its fuzz connection closed", Duration.ofSeconds(30),
                () -> target.controllerCount() == 0, () -> target.controllerCount() + " controller(s) left");
    }

    // ---------------------------------------------------------------- Connect data

    private void connectCase(Random r) {
        int qid = r.nextInt(8) == 0 ? r.nextInt(0x10000) : r.nextInt(4) == 0 ? 1 : 0;
        int queueSize = r.nextInt(8) == 0 ? r.nextInt(0x10000) + 1 : 32;
        int kato = r.nextInt(8) == 0 ? r.nextInt() : 0;
        int cattr = r.nextInt(8) == 0 ? r.nextInt(256) : 0;
        Sqe sqe = Fabrics.connect(qid, Math.min(queueSize, 0x10000), 0, false).u32(Fabrics.CONNECT_KATO_OFFSET, kato)
                .u8(Fabrics.CONNECT_CATTR_OFFSET, cattr);
        if (r.nextInt(16) == 0) {
            sqe.u16(Fabrics.CONNECT_RECFMT_OFFSET, r.nextInt(0x10000));
        }
        String subnqn = switch (r.nextInt(4)) {
            case 0 -> NQN;
            case 1 -> AUTH_NQN;
            case 2 -> NvmeOpcodes.DISCOVERY_NQN;
            default -> "nqn.2024-01.io.thermocline.test:" + r.nextInt(1000);
        };
        int cntlid = r.nextBoolean() ? Fabrics.CNTLID_DYNAMIC : r.nextInt(0x10000);
        ByteBuf data = Unpooled.buffer(Fabrics.CONNECT_DATA_LENGTH);
        Fabrics.writeConnectData(data, r.nextInt(4) == 0 ? new UUID(r.nextLong(), r.nextLong()) : RawHost.HOST_ID, cntlid,
                subnqn, r.nextInt(4) == 0 ? "nqn.2014-08.org.nvmexpress:uuid:" + new UUID(r.nextLong(), r.nextLong())
                        : RawHost.HOST_NQN);
        byte[] d = ByteBufUtil.getBytes(data);
        data.release();
        switch (r.nextInt(6)) {
            case 0 -> flip(r, d, 0, d.length, 1 + r.nextInt(16));  // anywhere
            case 1 -> flip(r, d, Fabrics.CONNECT_DATA_HOSTID_OFFSET, 18, 1 + r.nextInt(4));  // HOSTID, CNTLID
            case 2 -> fill(r, d, Fabrics.CONNECT_DATA_SUBNQN_OFFSET);  // SUBNQN: no NUL, odd bytes
            case 3 -> fill(r, d, Fabrics.CONNECT_DATA_HOSTNQN_OFFSET);
            case 4 -> {
                // NQN fields without a terminating NUL, or with invalid UTF-8 inside
                int at = r.nextBoolean() ? Fabrics.CONNECT_DATA_SUBNQN_OFFSET : Fabrics.CONNECT_DATA_HOSTNQN_OFFSET;
                byte[] nqn = (r.nextBoolean() ? "nqn." + "x".repeat(252) : "nqn.\u00ff\u00fe").getBytes(StandardCharsets.ISO_8859_1);
                System.arraycopy(nqn, 0, d, at, Math.min(nqn.length, Fabrics.NQN_FIELD_LENGTH));
            }
            default -> {
                // valid data, only the SQE fields above are odd
            }
        }
        int sglLength = r.nextInt(12) == 0 ? r.nextInt(2048) : d.length;
        byte[] capsule = sglLength == d.length ? d : java.util.Arrays.copyOf(d, Math.min(sglLength, d.length));
        try (RawHost h = RawHost.open(hostLoops, address)) {
            h.initialize(false, false);
            Object answer = exchange(h, sqe.sglInCapsule(sglLength), capsule);
            count(answer);
        }
    }

    private static void flip(Random r, byte[] d, int from, int length, int count) {
        for (int i = 0; i < count; i++) {
            d[from + r.nextInt(length)] ^= (byte) (1 + r.nextInt(255));
        }
    }

    private static void fill(Random r, byte[] d, int at) {
        for (int i = 0; i < Fabrics.NQN_FIELD_LENGTH; i++) {
            d[at + i] = (byte) (r.nextInt(8) == 0 ? r.nextInt(256) : 'a' + r.nextInt(26));
        }
    }

    // ---------------------------------------------------------------- DH-HMAC-CHAP messages

    private void authCase(Random r) {
        try (RawHost h = RawHost.open(hostLoops, address)) {
            h.initialize(false, false);
            Object connected = exchange(h, Fabrics.connect(0, 32, 0, false).sglInCapsule(Fabrics.CONNECT_DATA_LENGTH),
                    connectData(AUTH_NQN));
            assertTrue(connected instanceof Cqe c && c.isSuccess(), () -> "a good Connect to " + AUTH_NQN + " got " + connected);
            int tid = r.nextInt(0x10000);
            int kind = r.nextInt(5);
            if (kind == 0) {
                // a malformed AUTH_Negotiate, then ask for the challenge
                byte[] negotiate = negotiate(tid);
                mutate(r, negotiate);
                Object a = send(h, negotiate);
                count(a);
                if (a instanceof Cqe) {
                    count(receive(h, r));
                }
                return;
            }
            if (kind == 4) {
                // garbage of any length, with odd lengths in the command too
                byte[] junk = new byte[1 + r.nextInt(1200)];
                r.nextBytes(junk);
                if (r.nextBoolean()) {
                    junk[0] = (byte) r.nextInt(2);  // AUTH_Type common or DH-HMAC-CHAP
                }
                count(send(h, junk));
                return;
            }
            Object a = send(h, negotiate(tid));
            if (!(a instanceof Cqe c) || !c.isSuccess()) {
                throw new AssertionError("a good AUTH_Negotiate got " + a);
            }
            Object challenge = receive(h, DhchapHostSession.RECEIVE_LENGTH);
            if (!(challenge instanceof byte[] ch)) {
                throw new AssertionError("no DH-HMAC-CHAP_Challenge after a good AUTH_Negotiate: " + challenge);
            }
            int hl = ch.length > 6 ? ch[6] & 0xFF : 32;
            byte[] message = switch (kind) {
                case 1 -> {
                    // a Reply with a wrong or malformed response
                    byte[] response = new byte[hl];
                    r.nextBytes(response);
                    byte[] reply = new AuthMessage.Reply(tid, response, r.nextBoolean(), r.nextInt(), new byte[hl],
                            new byte[r.nextInt(4) == 0 ? r.nextInt(600) : 0]).encode();
                    if (r.nextBoolean()) {
                        mutate(r, reply);
                    }
                    yield reply;
                }
                case 2 -> {
                    // a message out of order: Success1 / Success2 / Failure2 instead of a Reply
                    byte[] m = switch (r.nextInt(3)) {
                        case 0 -> new AuthMessage.Success1(tid, hl, r.nextBoolean() ? null : new byte[hl]).encode();
                        case 1 -> new AuthMessage.Success2(tid).encode();
                        default -> new AuthMessage.Failure(tid, false, r.nextInt(256), r.nextInt(256)).encode();
                    };
                    if (r.nextBoolean()) {
                        mutate(r, m);
                    }
                    yield m;
                }
                default -> {
                    // a second negotiate mid-transaction, mutated
                    byte[] n = negotiate(r.nextInt(0x10000));
                    mutate(r, n);
                    yield n;
                }
            };
            Object b = send(h, message);
            count(b);
            if (b instanceof Cqe) {
                count(receive(h, r));
            }
        }
    }

    private static byte[] negotiate(int tid) {
        return new AuthMessage.Negotiate(tid, 0, 1, List.of(DhchapHash.SHA_256.id()), List.of(DhGroup.NULL.id())).encode();
    }

    /** Flips bytes, truncates or extends the message. */
    private static byte[] mutate(Random r, byte[] m) {
        switch (r.nextInt(3)) {
            case 0 -> flip(r, m, 0, m.length, 1 + r.nextInt(6));
            case 1 -> flip(r, m, 0, Math.min(m.length, 16), 1 + r.nextInt(3));  // the header fields
            default -> {
                int i = r.nextInt(m.length);
                m[i] = (byte) (r.nextBoolean() ? 0xFF : 0);
            }
        }
        return m;
    }

    private Object send(RawHost h, byte[] message) {
        return exchange(h, Fabrics.authenticationSend(1, 1, message.length), message);
    }

    private Object receive(RawHost h, Random r) {
        int al = r.nextInt(8) == 0 ? 1 + r.nextInt(64) : DhchapHostSession.RECEIVE_LENGTH;
        return receive(h, al);
    }

    private Object receive(RawHost h, int al) {
        return exchange(h, Fabrics.authenticationReceive(1, 1, al), (byte[]) null);
    }

    // ---------------------------------------------------------------- one command, any answer

    /**
     * Sends one command (in-capsule data, or none) and returns its answer: the data of a
     * successful read (byte[]), the CQE of any other completion, or {@link #CLOSED} when the
     * target ended the connection. Silence is the one wrong answer.
     */
    private Object exchange(RawHost h, Sqe sqe, byte[] inCapsule) {
        int cid = h.nextCid();
        sqe.commandId(cid);
        h.send(h.encoder.capsuleCmd(h.channel().alloc(), sqe, inCapsule == null ? null : Unpooled.wrappedBuffer(inCapsule)));
        ByteBuf in = Unpooled.buffer();
        try {
            long limit = TestTimeouts.millis(10);
            while (true) {
                Object msg = h.poll(limit);
                if (msg == null) {
                    throw new AssertionError("no answer within " + limit + " ms to " + sqe);
                }
                if (RawHost.isClosed(msg)) {
                    return CLOSED;
                }
                try {
                    switch (msg) {
                        case Pdu.CapsuleResp resp -> {
                            Cqe cqe = resp.cqe();
                            return cqe.isSuccess() && in.isReadable() ? ByteBufUtil.getBytes(in) : cqe;
                        }
                        case Pdu.C2hData data -> {
                            in.writeBytes(data.data(), data.data().readerIndex(), data.data().readableBytes());
                            if (data.success()) {
                                return ByteBufUtil.getBytes(in);
                            }
                        }
                        default -> {
                            // a TermReq (or anything else): the connection ends next
                        }
                    }
                } finally {
                    RawHost.release(msg);
                }
            }
        } finally {
            in.release();
        }
    }

    private void count(Object answer) {
        String key = answer == CLOSED ? "closed" : answer instanceof Cqe c ? c.nvmeStatus().toString() : "data";
        outcomes.merge(key, 1, Integer::sum);
    }

    private static ByteBuf connectData(String subnqn) {
        ByteBuf data = Unpooled.buffer(Fabrics.CONNECT_DATA_LENGTH);
        Fabrics.writeConnectData(data, RawHost.HOST_ID, Fabrics.CNTLID_DYNAMIC, subnqn, RawHost.HOST_NQN);
        return data;
    }

    private Object exchange(RawHost h, Sqe sqe, ByteBuf data) {
        byte[] bytes = ByteBufUtil.getBytes(data);
        data.release();
        return exchange(h, sqe, bytes);
    }

    // ---------------------------------------------------------------- afterwards

    private void goodConnectAndIdentify() {
        try (RawHost h = RawHost.open(hostLoops, address)) {
            h.initialize(false, false);
            h.connectAdminAndEnable(NQN, 0);
            byte[] id = h.identify(NvmeOpcodes.CNS_CONTROLLER, 0).assertSuccess().data();
            assertEquals(4096, id.length, "Identify Controller after the fuzz cases");
        }
    }

    private void goodAuthentication() {
        try (RawHost h = RawHost.open(hostLoops, address)) {
            h.initialize(false, false);
            h.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, AUTH_NQN, RawHost.HOST_NQN, 0).assertSuccess();
            DhchapHostSession s = new DhchapHostSession(RawHost.HOST_NQN, AUTH_NQN, DhchapSecret.parse(hostSecret), null,
                    7, new SecureRandom());
            byte[] negotiate = s.negotiate();
            h.run(Fabrics.authenticationSend(1, 1, negotiate.length), Unpooled.wrappedBuffer(negotiate), null).assertSuccess();
            byte[] challenge = h.run(Fabrics.authenticationReceive(1, 1, DhchapHostSession.RECEIVE_LENGTH), null, null)
                    .assertSuccess().data();
            byte[] reply = s.reply(challenge, challenge.length);
            h.run(Fabrics.authenticationSend(1, 1, reply.length), Unpooled.wrappedBuffer(reply), null).assertSuccess();
            byte[] success1 = h.run(Fabrics.authenticationReceive(1, 1, DhchapHostSession.RECEIVE_LENGTH), null, null)
                    .assertSuccess().data();
            s.success1(success1, success1.length);
            h.enable();  // served only once authenticated
            h.identify(NvmeOpcodes.CNS_CONTROLLER, 0).assertSuccess();
        }
    }

    // ---------------------------------------------------------------- footprint

    private record Footprint(long direct, long heap, int fds) {
        @Override
        public String toString() {
            return "direct " + (direct >> 10) + " KiB, heap after GC " + (heap >> 20) + " MiB, " + fds + " fds";
        }
    }

    /** Direct memory (the JDK's direct buffers and Netty's), heap after GC, open fds. */
    private static Footprint settledFootprint() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        // Netty's own direct memory (buffers without a cleaner, which the JDK's pool does not see)
        long direct = Math.max(0, PlatformDependent.usedDirectMemory());
        for (BufferPoolMXBean pool : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (pool.getName().equals("direct")) {
                direct += pool.getMemoryUsed();
            }
        }
        long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        return new Footprint(direct, heap, openFds());
    }

    private static int openFds() {
        String[] fds = new File("/proc/self/fd").list();
        assertNotNull(fds, "/proc/self/fd is not readable (expected Linux /proc)");
        return fds.length;
    }
}
