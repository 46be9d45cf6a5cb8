package io.thermocline.nvmeof.target;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.thermocline.nvmeof.auth.DhGroup;
import io.thermocline.nvmeof.auth.DhchapHostConfig;
import io.thermocline.nvmeof.auth.DhchapHostSession;
import io.thermocline.nvmeof.auth.DhchapSecret;
import io.thermocline.nvmeof.auth.TlsPsk;
import io.thermocline.nvmeof.pdu.Fabrics;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.NvmeStatus;
import io.thermocline.nvmeof.pdu.Pdu;
import io.thermocline.nvmeof.pdu.PduEncoder;
import io.thermocline.nvmeof.pdu.PduSession;
import io.thermocline.nvmeof.pdu.Sqe;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * What one host (or anyone who reaches the port) can do to the others: fill the target's memory,
 * borrow another host's identity, end another host's association, or take every connection and
 * controller. Each test plays the misbehaving peer with raw PDUs and checks that the target holds.
 */
@ScaledTimeout(120)
class NvmeTcpTargetIsolationTest {
    private static final String NQN = "nqn.2024-01.io.thermocline.test:isolation";
    private static final String HOST_B = "nqn.2014-08.org.nvmexpress:uuid:99999999-8888-7777-6666-555555555555";
    private static final SecureRandom RANDOM = new SecureRandom();

    @RegisterExtension
    static final RawTargetFixture fixture = new RawTargetFixture(2);

    @TempDir
    Path dir;

    private static NvmeTcpTarget.Builder targetBuilder() {
        return NvmeTcpTarget.builder().port(0).eventLoopThreads(2);
    }

    private Subsystem subsystem() {
        return Subsystem.builder(NQN).allowHost(RawHost.HOST_NQN)
                .namespace(Namespace.openFile(dir.resolve("ns"), 4 << 20, 4096, false)).build();
    }

    /** An admin queue (enabled) and I/O queue 1 on two connections; returns the I/O queue's host. */
    private RawHost ioQueue() {
        RawHost admin = fixture.host();
        admin.initialize(false, false);
        int cntlid = admin.connectAdminAndEnable(NQN, 0);
        RawHost io = fixture.host();
        io.initialize(false, false);
        io.connect(1, 32, 0, cntlid, NQN, RawHost.HOST_NQN, 0).assertSuccess();
        return io;
    }

    private static void discoveryWorks(RawHost h) {
        h.initialize(false, false);
        h.connectAdminAndEnable(NvmeOpcodes.DISCOVERY_NQN, 0);
        h.logPage(NvmeOpcodes.LOG_DISCOVERY, 0, 1024).assertSuccess();
    }

    // ------------------------------------------------------------------ memory

    /**
     * A peer that never reads its socket pipelines Get Log Page commands of 256 KiB on a discovery
     * controller (no allow list, no authentication). The target must stop taking its commands —
     * reading no more, or ending the connection when the queue's slots, held until each response
     * has gone out, are all taken — so its direct memory stays within a few queues' worth; and a
     * well-behaved host is still served.
     */
    @Test
    void peerThatNeverReads_pipeliningLogPages_holdsBoundedMemory_andOthersAreStillServed() throws IOException {
        InetSocketAddress at = fixture.start(targetBuilder().maxUnsentBytes(1 << 20).build());
        NvmeTcpTarget target = fixture.target();
        // what the target's connections allocate from (ctx.alloc()): Netty's default allocator
        io.netty.buffer.ByteBufAllocatorMetric pool = ((io.netty.buffer.ByteBufAllocatorMetricProvider) ByteBufAllocator.DEFAULT).metric();
        long baseline = pool.usedDirectMemory();
        int commands = 600;
        int pageBytes = 256 << 10;
        long bound = 48L << 20;  // 600 pages would be 150 MiB; a queue of 32 is 8 MiB
        AtomicLong peak = new AtomicLong();
        try (Socket peer = new Socket()) {
            peer.setReceiveBufferSize(4096);
            peer.connect(at);
            OutputStream out = peer.getOutputStream();
            PduSession session = new PduSession(PduSession.Role.HOST, 0, 16 << 20);
            PduEncoder encoder = new PduEncoder(session);
            ByteBufAllocator alloc = io.netty.buffer.UnpooledByteBufAllocator.DEFAULT;
            List<ByteBuf> pdus = new ArrayList<>();
            pdus.add(encoder.icReq(alloc, new Pdu.IcReq(0, 0, false, false, 0)));
            ByteBuf connectData = Unpooled.buffer(Fabrics.CONNECT_DATA_LENGTH);
            Fabrics.writeConnectData(connectData, RawHost.HOST_ID, Fabrics.CNTLID_DYNAMIC, NvmeOpcodes.DISCOVERY_NQN, RawHost.HOST_NQN);
            pdus.add(encoder.capsuleCmd(alloc, Fabrics.connect(0, 32, 0, false).commandId(1), connectData));
            pdus.add(encoder.capsuleCmd(alloc, Fabrics.propertySet(NvmeOpcodes.PROPERTY_CC, 1 | (6 << 16) | (4 << 20)).commandId(2), null));
            int numd = pageBytes / 4 - 1;
            for (int i = 0; i < commands; i++) {
                Sqe logPage = new Sqe().opcode(NvmeOpcodes.ADMIN_GET_LOG_PAGE).nsid(-1)
                        .cdw(10, NvmeOpcodes.LOG_DISCOVERY | (numd & 0xFFFF) << 16).cdw(11, numd >>> 16)
                        .sglTransport(pageBytes).commandId(100 + i);
                pdus.add(encoder.capsuleCmd(alloc, logPage, null));
            }
            for (ByteBuf pdu : pdus) {
                byte[] bytes = new byte[pdu.readableBytes()];
                pdu.readBytes(bytes);
                pdu.release();
                out.write(bytes);
            }
            out.flush();
            TestTimeouts.await("the target to stop taking commands from a peer that does not read (it reads no more, "
                    + "or ends the connection)", Duration.ofSeconds(30), () -> {
                        peak.accumulateAndGet(pool.usedDirectMemory() - baseline, Math::max);
                        List<Channel> open = target.openChannels();
                        return open.isEmpty() || open.stream().allMatch(c -> !c.config().isAutoRead());
                    }, () -> "direct memory grew by " + (peak.get() >> 20) + " MiB");
            peak.accumulateAndGet(pool.usedDirectMemory() - baseline, Math::max);
            assertTrue(peak.get() < bound, "the target's direct memory grew by " + (peak.get() >> 20)
                    + " MiB for a peer that does not read (expected under " + (bound >> 20) + " MiB)");
            System.out.println("direct memory growth for a peer that does not read: " + (peak.get() >> 10) + " KiB (bound "
                    + (bound >> 20) + " MiB)");
            discoveryWorks(fixture.host());
        }
    }

    /** A Write whose R2T went out and whose data never comes ends its connection after the H2C data timeout. */
    @Test
    void writeWhoseDataNeverComes_endsTheConnectionAfterTheH2cDataTimeout_andOthersAreStillServed() {
        fixture.start(targetBuilder().subsystem(subsystem()).h2cDataTimeout(TestTimeouts.scaled(Duration.ofMillis(500))).build());
        RawHost io = ioQueue();
        io.send(io.encoder.capsuleCmd(io.channel().alloc(), RawHost.writeSqe(1, 0, 64 << 10, 4096).commandId(7), null));
        Object r2t = io.next();
        assertTrue(r2t instanceof Pdu.R2t, "expected an R2T, got " + r2t);
        RawHost.release(r2t);
        io.awaitClosed(TestTimeouts.millis(20));
        discoveryWorks(fixture.host());
    }

    /**
     * With a budget of 64 KiB of R2T buffers per controller, a second Write of 64 KiB gets its R2T
     * only once the first's data has arrived: a Flush sent after both completes before any R2T
     * for the second, and then both Writes complete.
     */
    @Test
    void r2tBuffersPerController_areBounded_theNextWriteWaitsForTheFirstsData() {
        fixture.start(targetBuilder().subsystem(subsystem()).maxR2tBytesPerController(64 << 10).build());
        RawHost io = ioQueue();
        byte[] first = new byte[64 << 10];
        byte[] second = new byte[64 << 10];
        RANDOM.nextBytes(first);
        RANDOM.nextBytes(second);
        io.send(io.encoder.capsuleCmd(io.channel().alloc(), RawHost.writeSqe(1, 0, first.length, 4096).commandId(1), null));
        io.send(io.encoder.capsuleCmd(io.channel().alloc(), RawHost.writeSqe(1, 16, second.length, 4096).commandId(2), null));
        Object r2t = io.next();
        assertTrue(r2t instanceof Pdu.R2t r && r.commandId() == 1, "expected the first Write's R2T, got " + r2t);
        Pdu.R2t firstR2t = (Pdu.R2t) r2t;
        io.send(io.encoder.capsuleCmd(io.channel().alloc(), new Sqe().opcode(NvmeOpcodes.IO_FLUSH).nsid(1).commandId(3), null));
        while (true) {
            Object msg = io.next();
            try {
                assertFalse(msg instanceof Pdu.R2t, "an R2T for the second Write while the first's 64 KiB are awaited: " + msg);
                if (msg instanceof Pdu.CapsuleResp resp && resp.cqe().commandId() == 3) {
                    assertTrue(resp.cqe().isSuccess(), "Flush: " + resp.cqe());
                    break;
                }
            } finally {
                RawHost.release(msg);
            }
        }
        io.answer(firstR2t, first);
        RawHost.release(firstR2t);
        boolean firstDone = false;
        boolean secondDone = false;
        while (!firstDone || !secondDone) {
            Object msg = io.next();
            if (msg instanceof Pdu.R2t r && r.commandId() == 2) {
                io.answer(r, second);
            } else if (msg instanceof Pdu.CapsuleResp resp) {
                assertTrue(resp.cqe().isSuccess(), "Write: " + resp.cqe());
                firstDone |= resp.cqe().commandId() == 1;
                secondDone |= resp.cqe().commandId() == 2;
            } else {
                RawHost.release(msg);
                throw new AssertionError("unexpected " + msg);
            }
            RawHost.release(msg);
        }
        assertEquals(0, heldR2tBytes(), "R2T buffer bytes held once both Writes completed");
    }

    private static long heldR2tBytes() {
        long held = 0;
        for (int id = 1; id <= 16; id++) {
            Controller c = fixture.target().controller(id);
            if (c != null) {
                held += c.r2tBytesHeld();
            }
        }
        return held;
    }

    // ------------------------------------------------------------------ identities

    /** A host holding host A's TLS PSK may connect as A, not as B, and only to the subsystem its identity names. */
    @Test
    void tlsPskIdentity_isBoundToTheConnect_anotherHostNqnOrSubsystemIsInvalidHost() {
        TlsPsk keyA = TlsPsk.generate(1, RANDOM);
        TlsPsk keyB = TlsPsk.generate(1, RANDOM);
        Subsystem s = Subsystem.builder(NQN).allowHost(RawHost.HOST_NQN).allowHost(HOST_B)
                .namespace(Namespace.openFile(dir.resolve("ns"), 1 << 20, 4096, false)).build();
        fixture.start(targetBuilder().subsystem(s).tlsKey(RawHost.HOST_NQN, keyA).tlsKey(HOST_B, keyB).build());

        RawHost asB = fixture.tlsHost(keyA, RawHost.HOST_NQN, NQN);
        asB.initialize(false, false);
        asB.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NQN, HOST_B, 0).assertStatus(NvmeStatus.CONNECT_INVALID_HOST);

        RawHost toDiscovery = fixture.tlsHost(keyA, RawHost.HOST_NQN, NQN);
        toDiscovery.initialize(false, false);
        toDiscovery.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NvmeOpcodes.DISCOVERY_NQN, RawHost.HOST_NQN, 0)
                .assertStatus(NvmeStatus.CONNECT_INVALID_HOST);

        RawHost asA = fixture.tlsHost(keyA, RawHost.HOST_NQN, NQN);
        asA.initialize(false, false);
        asA.connectAdminAndEnable(NQN, 0);
        asA.identify(NvmeOpcodes.CNS_CONTROLLER, 0).assertSuccess();
    }

    /**
     * Someone who knows host A's CNTLID, HOSTNQN and HOSTID connects an I/O queue to A's controller
     * and never authenticates. The queue takes no QID (A connects that QID meanwhile), its
     * authentication timeout ends only its own connection, and A's association goes on.
     */
    @Test
    void unauthenticatedIoQueue_takesNoQid_andItsTimeoutEndsOnlyItself() {
        String secret = DhchapSecret.generate(1, 32, RANDOM).format();
        fixture.start(targetBuilder().connectTimeout(TestTimeouts.seconds(2))
                .subsystem(Subsystem.builder(NQN).allowHost(RawHost.HOST_NQN, DhchapHostConfig.of(secret))
                        .namespace(Namespace.openFile(dir.resolve("ns"), 1 << 20, 4096, false)).build())
                .build());
        DhchapSecret key = DhchapSecret.parse(secret);
        RawHost admin = fixture.host();
        admin.initialize(false, false);
        int cntlid = admin.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NQN, RawHost.HOST_NQN, 0).assertSuccess().cqe().dw0() & 0xFFFF;
        admin.authenticate(RawHost.HOST_NQN, NQN, key, 1);
        admin.enable();

        RawHost intruder = fixture.host();
        intruder.initialize(false, false);
        intruder.connect(2, 32, 0, cntlid, NQN, RawHost.HOST_NQN, 0).assertSuccess();

        RawHost io = fixture.host();
        io.initialize(false, false);
        io.connect(2, 32, 0, cntlid, NQN, RawHost.HOST_NQN, 0).assertSuccess();
        io.authenticate(RawHost.HOST_NQN, NQN, key, 2);

        intruder.awaitClosed(TestTimeouts.millis(20));
        io.writeInCapsule(1, 0, new byte[4096], 4096).assertSuccess();
        io.read(1, 0, 1, 4096).assertSuccess();
        admin.identify(NvmeOpcodes.CNS_CONTROLLER, 0).assertSuccess();
    }

    /**
     * Authentication commands pipelined on one queue (DH-HMAC-CHAP_Reply sent, Success1 asked for
     * before the Reply's completion) run one after the other: the Receive sees the Reply's outcome.
     */
    @Test
    void pipelinedAuthenticationCommands_runInOrder() {
        String secret = DhchapSecret.generate(1, 32, RANDOM).format();
        fixture.start(targetBuilder()
                .subsystem(Subsystem.builder(NQN)
                        .allowHost(RawHost.HOST_NQN, DhchapHostConfig.of(secret).withDhGroup(DhGroup.FFDHE4096))
                        .namespace(Namespace.openFile(dir.resolve("ns"), 1 << 20, 4096, false)).build())
                .build());
        for (int round = 0; round < 3; round++) {
            RawHost h = fixture.host();
            h.initialize(false, false);
            h.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NQN, RawHost.HOST_NQN, 0).assertSuccess();
            DhchapHostSession auth = new DhchapHostSession(RawHost.HOST_NQN, NQN, DhchapSecret.parse(secret), null, 1, RANDOM);
            byte[] negotiate = auth.negotiate();
            h.run(Fabrics.authenticationSend(1, 1, negotiate.length), Unpooled.wrappedBuffer(negotiate), null).assertSuccess();
            byte[] challenge = h.run(Fabrics.authenticationReceive(1, 1, DhchapHostSession.RECEIVE_LENGTH), null, null)
                    .assertSuccess().data();
            byte[] reply = auth.reply(challenge, challenge.length);
            int replyCid = h.nextCid();
            int receiveCid = h.nextCid();
            h.send(h.encoder.capsuleCmd(h.channel().alloc(), Fabrics.authenticationSend(1, 1, reply.length).commandId(replyCid),
                    Unpooled.wrappedBuffer(reply)));
            h.send(h.encoder.capsuleCmd(h.channel().alloc(),
                    Fabrics.authenticationReceive(1, 1, DhchapHostSession.RECEIVE_LENGTH).commandId(receiveCid), null));
            h.await(replyCid, null).assertSuccess();
            byte[] success1 = h.await(receiveCid, null).assertSuccess().data();
            assertFalse(auth.success1(success1, success1.length), "round " + round + ": Success1 asks for no Success2");
            h.identify(NvmeOpcodes.CNS_CONTROLLER, 0).assertStatus(NvmeStatus.COMMAND_SEQUENCE_ERROR);  // authenticated, not yet enabled
            h.close();
        }
    }

    // ------------------------------------------------------------------ limits

    @Test
    void connectionsPerAddress_areLimited() {
        fixture.start(targetBuilder().maxConnectionsPerAddress(2).build());
        RawHost a = fixture.host();
        RawHost b = fixture.host();
        a.initialize(false, false);
        b.initialize(false, false);
        RawHost third = fixture.host();
        third.awaitClosed(TestTimeouts.millis(10));
        assertTrue(fixture.target().refusedConnections() >= 1, "refused connections");
        a.close();
        TestTimeouts.await("the closed connection to be forgotten", Duration.ofSeconds(10),
                () -> fixture.target().openChannels().size() == 1);
        discoveryWorks(fixture.host());
    }

    @Test
    void connectionsInTotal_areLimited() throws IOException {
        fixture.start(targetBuilder().maxConnections(2).build());
        RawHost a = fixture.host();
        a.initialize(false, false);
        // from another source address, so that only the total can refuse it
        try (Socket other = new Socket()) {
            other.bind(new InetSocketAddress("127.0.0.2", 0));
            other.connect(fixture.address());
            TestTimeouts.await("the second connection to be open", Duration.ofSeconds(10),
                    () -> fixture.target().openChannels().size() == 2);
            RawHost third = fixture.host();
            third.awaitClosed(TestTimeouts.millis(10));
        }
        TestTimeouts.await("the closed connection to be forgotten", Duration.ofSeconds(10),
                () -> fixture.target().openChannels().size() == 1);
        discoveryWorks(fixture.host());
    }

    @Test
    void connectionsNotYetConnected_areLimited_aConnectFreesTheirPlace() {
        fixture.start(targetBuilder().maxUnconnected(1).build());
        RawHost waiting = fixture.host();
        waiting.initialize(false, false);
        RawHost refused = fixture.host();
        refused.awaitClosed(TestTimeouts.millis(10));
        waiting.connectAdminAndEnable(NvmeOpcodes.DISCOVERY_NQN, 0);
        discoveryWorks(fixture.host());
    }

    @Test
    void controllersPerHostNqn_areLimited_withControllerBusy() {
        fixture.start(targetBuilder().maxControllersPerHost(2).build());
        RawHost a = fixture.host();
        discoveryWorks(a);
        discoveryWorks(fixture.host());
        RawHost third = fixture.host();
        third.initialize(false, false);
        third.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NvmeOpcodes.DISCOVERY_NQN, RawHost.HOST_NQN, 0)
                .assertStatus(NvmeStatus.CONNECT_CONTROLLER_BUSY);
        RawHost other = fixture.host();
        other.initialize(false, false);
        other.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NvmeOpcodes.DISCOVERY_NQN, HOST_B, 0).assertSuccess();
        a.close();
        TestTimeouts.await("the closed association to give back its controller", Duration.ofSeconds(10),
                () -> fixture.target().controllerCount() == 2);
        discoveryWorks(fixture.host());
    }

    @Test
    void discoveryControllerAskingForNoKeepAlive_getsOneOf120Seconds_andConnectionsKeepTcpAlive() {
        fixture.start(targetBuilder().subsystem(subsystem()).build());
        RawHost d = fixture.host();
        d.initialize(false, false);
        int cntlid = d.connectAdminAndEnable(NvmeOpcodes.DISCOVERY_NQN, 0);
        assertEquals(120_000, fixture.target().controller(cntlid).katoMillis(), "KATO of a discovery controller asked for 0");
        RawHost s = fixture.host();
        s.initialize(false, false);
        int other = s.connectAdminAndEnable(NQN, 0);
        assertEquals(0, fixture.target().controller(other).katoMillis(), "KATO of an NVM controller asked for 0");
        List<Channel> open = fixture.target().openChannels();
        assertEquals(2, open.size(), "open connections");
        for (Channel c : open) {
            assertEquals(Boolean.TRUE, c.config().getOption(ChannelOption.SO_KEEPALIVE), "SO_KEEPALIVE of " + c);
        }
    }
}
