package io.thermocline.nvmeof.target;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.thermocline.nvmeof.auth.DhchapHostConfig;
import io.thermocline.nvmeof.auth.DhchapSecret;
import io.thermocline.nvmeof.pdu.Cqe;
import io.thermocline.nvmeof.pdu.Fabrics;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.NvmeStatus;
import io.thermocline.nvmeof.pdu.Pdu;
import io.thermocline.nvmeof.pdu.Sqe;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every row of docs/nvmet-checks.md, sent raw: one malformed command at a time, each answered
 * with the status the table gives (and DNR), the queue still serving a good command after each.
 * The row identifiers (C1, A3, ...) are those of the table.
 */
@ScaledTimeout(120)
class NvmeTcpTargetCommandChecksTest {
    private static final String NQN = "nqn.2024-01.io.thermocline.test:checks";
    private static final String AUTH_NQN = "nqn.2024-01.io.thermocline.test:checks-auth";
    private static final String OTHER_HOST = "nqn.2014-08.org.nvmexpress:uuid:99999999-8888-7777-6666-555555555555";
    private static final int BLOCK = 4096;
    private static final long BLOCKS = 256;

    @RegisterExtension
    static final RawTargetFixture fixture = new RawTargetFixture(2);

    @TempDir
    Path dir;

    /** Rows whose answer differed from the table, reported together at the end of each test. */
    private final List<String> mismatches = new ArrayList<>();

    @AfterEach
    void noMismatches() {
        assertEquals(List.of(), mismatches, "rows answered otherwise than docs/nvmet-checks.md says");
    }

    private void startTarget() {
        String secret = DhchapSecret.generate(1, 32, new SecureRandom()).format();
        fixture.start(NvmeTcpTarget.builder().port(0).eventLoopThreads(2)
                .subsystem(Subsystem.builder(NQN).allowHost(RawHost.HOST_NQN)
                        .namespace(Namespace.openFile(dir.resolve("ns"), BLOCKS * BLOCK, BLOCK, false)).build())
                .subsystem(Subsystem.builder(AUTH_NQN).allowHost(RawHost.HOST_NQN, DhchapHostConfig.of(secret))
                        .namespace(Namespace.openFile(dir.resolve("auth"), BLOCKS * BLOCK, BLOCK, false)).build())
                .build());
    }

    private RawHost host() {
        RawHost h = fixture.host();
        h.initialize(false, false);
        return h;
    }

    /** Sends {@code sqe} (with {@code data} in the capsule, owned) and checks the status and DNR; returns the CQE. */
    private Cqe row(String id, RawHost h, Sqe sqe, ByteBuf data, NvmeStatus expected) {
        RawHost.Response r = h.run(sqe, data, null);
        Cqe cqe = r.cqe();
        if (cqe == null || cqe.nvmeStatus() != expected || !cqe.doNotRetry()) {
            mismatches.add(id + ": expected " + expected + " with DNR, got " + cqe);
        }
        return cqe;
    }

    private Cqe row(String id, RawHost h, Sqe sqe, NvmeStatus expected) {
        return row(id, h, sqe, null, expected);
    }

    private static ByteBuf connectData(int cntlid, String subnqn, String hostnqn) {
        return connectData(RawHost.HOST_ID, cntlid, subnqn, hostnqn);
    }

    private static ByteBuf connectData(UUID hostId, int cntlid, String subnqn, String hostnqn) {
        ByteBuf data = Unpooled.buffer(Fabrics.CONNECT_DATA_LENGTH);
        Fabrics.writeConnectData(data, hostId, cntlid, subnqn, hostnqn);
        return data;
    }

    private static Sqe adminConnect() {
        return Fabrics.connect(0, 32, 0, false);
    }

    private static Sqe identify(int cns) {
        return new Sqe().opcode(NvmeOpcodes.ADMIN_IDENTIFY).cdw(10, cns).sglTransport(4096);
    }

    private static Sqe logPage(int lid, int length, int sglLength) {
        int numd = length / 4 - 1;
        return new Sqe().opcode(NvmeOpcodes.ADMIN_GET_LOG_PAGE).nsid(-1).cdw(10, lid | (numd & 0xFFFF) << 16)
                .cdw(11, numd >>> 16).sglTransport(sglLength);
    }

    private static Sqe read(int nsid, long slba, int blocks, int sglLength) {
        return new Sqe().opcode(NvmeOpcodes.IO_READ).nsid(nsid).cdw10And11(slba).cdw(12, blocks - 1).sglTransport(sglLength);
    }

    private static Sqe withFlags(Sqe sqe, int flags) {
        return sqe.flags(flags);
    }

    @Test
    void beforeConnect_fuseAndPsdtAndConnectData_areChecked() {
        startTarget();
        RawHost h = host();
        row("C1", h, withFlags(adminConnect(), Sqe.FLAGS_SGL | 0x01), connectData(0xFFFF, NQN, RawHost.HOST_NQN),
                NvmeStatus.INVALID_FIELD);
        row("C2", h, withFlags(adminConnect(), 0x00), connectData(0xFFFF, NQN, RawHost.HOST_NQN), NvmeStatus.INVALID_FIELD);
        row("C3", h, withFlags(adminConnect(), 0x80), connectData(0xFFFF, NQN, RawHost.HOST_NQN), NvmeStatus.INVALID_FIELD);
        row("C4", h, adminConnect().sglTransport(0), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("C5", h, adminConnect().sglInCapsule(512), connectData(0xFFFF, NQN, RawHost.HOST_NQN),
                NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("C6", h, adminConnect().sglTransport(2048), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("C7", h, adminConnect().u16(Fabrics.CONNECT_RECFMT_OFFSET, 1), connectData(0xFFFF, NQN, RawHost.HOST_NQN),
                NvmeStatus.CONNECT_INCOMPATIBLE_FORMAT);
        Cqe c8 = row("C8", h, adminConnect(), connectData(1, NQN, RawHost.HOST_NQN), NvmeStatus.CONNECT_INVALID_PARAMETERS);
        assertEquals(1 << 16 | Fabrics.CONNECT_DATA_CNTLID_OFFSET, c8.dw0(), "C8 IATTR/IPO");
        Cqe c9 = row("C9", h, adminConnect(), connectData(0xFFFF, NQN + "-none", RawHost.HOST_NQN),
                NvmeStatus.CONNECT_INVALID_PARAMETERS);
        assertEquals(1 << 16 | Fabrics.CONNECT_DATA_SUBNQN_OFFSET, c9.dw0(), "C9 IATTR/IPO");
        Cqe c10 = row("C10", h, adminConnect(), connectData(0xFFFF, NQN, OTHER_HOST), NvmeStatus.CONNECT_INVALID_HOST);
        assertEquals(1 << 16 | Fabrics.CONNECT_DATA_HOSTNQN_OFFSET, c10.dw0(), "C10 IATTR/IPO");
        Cqe c11 = row("C11", h, Fabrics.connect(0, 1, 0, false), connectData(0xFFFF, NQN, RawHost.HOST_NQN),
                NvmeStatus.CONNECT_INVALID_PARAMETERS);
        assertEquals(Fabrics.CONNECT_SQSIZE_OFFSET, c11.dw0(), "C11 IPO SQSIZE");
        row("C12", h, adminConnect(), connectData(0xFFFF, NQN, ""), NvmeStatus.CONNECT_INVALID_PARAMETERS);
        // after every refusal the queue still takes a good Connect
        h.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NQN, RawHost.HOST_NQN, 0).assertSuccess();

        // C13: a first command that is not a Connect: Invalid Opcode, DNR, and the connection ends
        RawHost first = host();
        first.send(first.encoder.capsuleCmd(first.channel().alloc(), identify(1).commandId(0x77), null));
        List<Object> seen = first.awaitClosed(RawHost.TIMEOUT_MS);
        Cqe c13 = ((Pdu.CapsuleResp) seen.get(0)).cqe();
        if (c13.nvmeStatus() != NvmeStatus.INVALID_OPCODE || !c13.doNotRetry()) {
            mismatches.add("C13: expected INVALID_OPCODE with DNR, got " + c13);
        }
    }

    @Test
    void adminQueue_fabricsAndAdminCommands_areChecked() {
        startTarget();
        RawHost h = host();
        h.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NQN, RawHost.HOST_NQN, 0).assertSuccess();
        row("A1", h, identify(1), NvmeStatus.COMMAND_SEQUENCE_ERROR);  // not enabled yet
        row("A2", h, withFlags(Fabrics.propertyGet(NvmeOpcodes.PROPERTY_CAP).u8(Fabrics.PROPERTY_ATTRIB_OFFSET, 1),
                Sqe.FLAGS_SGL | 0x02), NvmeStatus.INVALID_FIELD);
        row("A3", h, withFlags(Fabrics.propertySet(NvmeOpcodes.PROPERTY_CC, 0), 0x00), NvmeStatus.INVALID_FIELD);
        row("A4", h, Fabrics.propertyGet(NvmeOpcodes.PROPERTY_VS).sglTransport(8), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("A5", h, Fabrics.propertySet(NvmeOpcodes.PROPERTY_CC, 0).sglTransport(4), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("A6", h, Fabrics.propertyGet(NvmeOpcodes.PROPERTY_VS).u8(Fabrics.PROPERTY_ATTRIB_OFFSET, 1), NvmeStatus.INVALID_FIELD);
        row("A7", h, Fabrics.propertySet(NvmeOpcodes.PROPERTY_CC, 0).u8(Fabrics.PROPERTY_ATTRIB_OFFSET, 1),
                NvmeStatus.INVALID_FIELD);
        row("A8", h, Fabrics.propertySet(NvmeOpcodes.PROPERTY_CAP, 0), NvmeStatus.INVALID_FIELD);
        row("A9", h, adminConnect(), connectData(0xFFFF, NQN, RawHost.HOST_NQN), NvmeStatus.INVALID_OPCODE);
        row("A10", h, new Sqe().opcode(NvmeOpcodes.FABRICS).fabricsType(0x7E).sglTransport(0), NvmeStatus.INVALID_OPCODE);
        row("A11", h, withFlags(Fabrics.authenticationReceive(1, 1, 64), Sqe.FLAGS_SGL | 0x01), NvmeStatus.INVALID_FIELD);
        row("A12", h, Fabrics.authenticationReceive(1, 1, 64), NvmeStatus.INVALID_OPCODE);  // no key for this host
        h.enable();
        row("A13", h, identify(1).sglTransport(0), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("A14", h, identify(1).sglTransport(4095), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("A15", h, identify(1).sglTransport(8192), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("A16", h, identify(1).sglInCapsule(4096), Unpooled.wrappedBuffer(new byte[4096]), NvmeStatus.INVALID_FIELD);
        row("A17", h, identify(1).sgl(0, 4096, 0x00), NvmeStatus.SGL_DESCRIPTOR_TYPE_INVALID);
        row("A18", h, withFlags(identify(1), Sqe.FLAGS_SGL | 0x03), NvmeStatus.INVALID_FIELD);
        row("A19", h, identify(0x1F), NvmeStatus.INVALID_FIELD);
        row("A20", h, logPage(NvmeOpcodes.LOG_SMART, 512, 0), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("A21", h, logPage(NvmeOpcodes.LOG_SMART, 512, 4096), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("A22", h, logPage(0x55, 512, 512), NvmeStatus.INVALID_FIELD);
        row("A23", h, logPage(NvmeOpcodes.LOG_SMART, 512, 512).cdw(12, 2), NvmeStatus.INVALID_FIELD);
        row("A24", h, new Sqe().opcode(NvmeOpcodes.ADMIN_GET_FEATURES).cdw(10, NvmeOpcodes.FEATURE_KEEP_ALIVE_TIMER)
                .sglTransport(4), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("A25", h, new Sqe().opcode(NvmeOpcodes.ADMIN_GET_FEATURES).cdw(10, 0x7D).sglTransport(0), NvmeStatus.INVALID_FIELD);
        row("A26", h, new Sqe().opcode(NvmeOpcodes.ADMIN_KEEP_ALIVE).sglTransport(4096), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("A27", h, new Sqe().opcode(NvmeOpcodes.ADMIN_ASYNC_EVENT_REQUEST).sglTransport(16), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("A28", h, new Sqe().opcode(NvmeOpcodes.ADMIN_ABORT).sglTransport(8), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("A29", h, new Sqe().opcode(0x05).sglTransport(0), NvmeStatus.INVALID_OPCODE);
        row("A30", h, Fabrics.disconnect(), NvmeStatus.INVALID_FIELD);
        // the queue is still good
        h.identify(1, 0).assertSuccess();
        h.logPage(NvmeOpcodes.LOG_SMART, 0, 512).assertSuccess();
    }

    @Test
    void ioQueue_dataLengthsAndOpcodes_areChecked() {
        startTarget();
        RawHost admin = host();
        int cntlid = admin.connectAdminAndEnable(NQN, 0);
        RawHost io = host();
        io.connect(1, 16, 0, cntlid, NQN, RawHost.HOST_NQN, 0).assertSuccess();

        row("I1", io, read(1, 0, 1, 0), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("I2", io, read(1, 0, 1, 2 * BLOCK), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("I3", io, read(1, 0, 2, BLOCK), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("I4", io, new Sqe().opcode(NvmeOpcodes.IO_WRITE).nsid(1).cdw(12, 1).sglInCapsule(BLOCK),
                Unpooled.wrappedBuffer(new byte[BLOCK]), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("I5", io, RawHost.writeSqe(1, 0, BLOCK, BLOCK).sglTransport(2 * BLOCK), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("I6", io, read(1, 0, 1, BLOCK).sglInCapsule(BLOCK), Unpooled.wrappedBuffer(new byte[BLOCK]), NvmeStatus.INVALID_FIELD);
        row("I7", io, new Sqe().opcode(NvmeOpcodes.IO_FLUSH).nsid(1).sglTransport(512), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("I8", io, new Sqe().opcode(NvmeOpcodes.IO_WRITE_ZEROES).nsid(1).sglTransport(BLOCK), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("I9", io, new Sqe().opcode(NvmeOpcodes.IO_DATASET_MANAGEMENT).nsid(1).cdw(10, 1).cdw(11, 4).sglInCapsule(16),
                Unpooled.wrappedBuffer(new byte[16]), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("I10", io, new Sqe().opcode(0x05).nsid(1).sglTransport(0), NvmeStatus.INVALID_OPCODE);
        row("I11", io, Fabrics.propertyGet(NvmeOpcodes.PROPERTY_CAP), NvmeStatus.INVALID_OPCODE);
        row("I12", io, withFlags(read(1, 0, 1, BLOCK), Sqe.FLAGS_SGL | 0x02), NvmeStatus.INVALID_FIELD);
        row("I13", io, withFlags(read(1, 0, 1, BLOCK), 0x00), NvmeStatus.INVALID_FIELD);
        row("I14", io, read(9, 0, 1, BLOCK), NvmeStatus.INVALID_NAMESPACE);
        row("I15", io, read(1, BLOCKS, 1, BLOCK), NvmeStatus.LBA_OUT_OF_RANGE);
        row("I16", io, withFlags(Fabrics.disconnect(), Sqe.FLAGS_SGL | 0x01), NvmeStatus.INVALID_FIELD);
        row("I17", io, Fabrics.disconnect().sglTransport(8), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("I18", io, Fabrics.connect(1, 16, 0, false), connectData(cntlid, NQN, RawHost.HOST_NQN), NvmeStatus.INVALID_OPCODE);
        io.read(1, 0, 1, BLOCK).assertSuccess();

        RawHost dup = host();
        row("I19", dup, Fabrics.connect(1, 16, 0, false), connectData(cntlid, NQN, RawHost.HOST_NQN),
                NvmeStatus.COMMAND_SEQUENCE_ERROR);
        Cqe i20 = row("I20", dup, Fabrics.connect(1, 16, 0, false), connectData(cntlid + 1, NQN, RawHost.HOST_NQN),
                NvmeStatus.CONNECT_INVALID_PARAMETERS);
        assertEquals(1 << 16 | Fabrics.CONNECT_DATA_CNTLID_OFFSET, i20.dw0(), "I20 IATTR/IPO");
        Cqe i21 = row("I21", dup, Fabrics.connect(1000, 16, 0, false), connectData(cntlid, NQN, RawHost.HOST_NQN),
                NvmeStatus.CONNECT_INVALID_PARAMETERS);
        assertEquals(Fabrics.CONNECT_QID_OFFSET, i21.dw0(), "I21 IPO QID");
        Cqe i22 = row("I22", dup, Fabrics.connect(2, 4096, 0, false), connectData(cntlid, NQN, RawHost.HOST_NQN),
                NvmeStatus.CONNECT_INVALID_PARAMETERS);
        assertEquals(Fabrics.CONNECT_SQSIZE_OFFSET, i22.dw0(), "I22 IPO SQSIZE");
        Cqe i23 = row("I23", dup, Fabrics.connect(2, 16, 0, false),
                connectData(UUID.fromString("00000000-0000-0000-0000-00000000000f"), cntlid, NQN, RawHost.HOST_NQN),
                NvmeStatus.CONNECT_INVALID_PARAMETERS);
        assertEquals(1 << 16 | Fabrics.CONNECT_DATA_HOSTID_OFFSET, i23.dw0(), "I23 IATTR/IPO");
        dup.connect(2, 16, 0, cntlid, NQN, RawHost.HOST_NQN, 0).assertSuccess();
    }

    @Test
    void discoveryController_isChecked() {
        startTarget();
        RawHost h = host();
        h.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NvmeOpcodes.DISCOVERY_NQN, RawHost.HOST_NQN, 0).assertSuccess();
        row("D1", h, identify(1), NvmeStatus.INVALID_OPCODE);  // not ready
        h.enable();
        row("D2", h, identify(0), NvmeStatus.INVALID_OPCODE);
        row("D3", h, logPage(NvmeOpcodes.LOG_SMART, 512, 512), NvmeStatus.INVALID_FIELD);
        row("D4", h, logPage(NvmeOpcodes.LOG_DISCOVERY, 1024, 4096), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("D5", h, identify(1).sglTransport(1024), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("D6", h, new Sqe().opcode(NvmeOpcodes.ADMIN_ABORT).sglTransport(0), NvmeStatus.INVALID_OPCODE);
        h.identify(1, 0).assertSuccess();
        RawHost io = host();
        Cqe d7 = row("D7", io, Fabrics.connect(1, 16, 0, false), connectData(1, NvmeOpcodes.DISCOVERY_NQN, RawHost.HOST_NQN),
                NvmeStatus.CONNECT_INVALID_PARAMETERS);
        assertEquals(Fabrics.CONNECT_QID_OFFSET, d7.dw0(), "D7 IPO QID");
    }

    @Test
    void authenticationCommands_areChecked() {
        startTarget();
        RawHost h = host();
        Cqe connected = h.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, AUTH_NQN, RawHost.HOST_NQN, 0).assertSuccess().cqe();
        assertTrue((connected.dw0() & 1 << 17) != 0, "AUTHREQ.ATR in " + connected);
        byte[] junk = new byte[72];
        row("U1", h, withFlags(Fabrics.authenticationSend(1, 1, junk.length), Sqe.FLAGS_SGL | 0x01),
                Unpooled.wrappedBuffer(junk), NvmeStatus.INVALID_FIELD);
        row("U2", h, withFlags(Fabrics.authenticationSend(1, 1, junk.length), 0x00), Unpooled.wrappedBuffer(junk),
                NvmeStatus.INVALID_FIELD);
        row("U3", h, Fabrics.authenticationSend(1, 1, junk.length).u8(Fabrics.AUTH_SECP_OFFSET, 0xEA),
                Unpooled.wrappedBuffer(junk), NvmeStatus.INVALID_FIELD);
        row("U4", h, Fabrics.authenticationSend(2, 1, junk.length), Unpooled.wrappedBuffer(junk), NvmeStatus.INVALID_FIELD);
        row("U5", h, Fabrics.authenticationSend(1, 3, junk.length), Unpooled.wrappedBuffer(junk), NvmeStatus.INVALID_FIELD);
        row("U6", h, Fabrics.authenticationSend(1, 1, junk.length).u32(Fabrics.AUTH_LENGTH_OFFSET, 0),
                Unpooled.wrappedBuffer(junk), NvmeStatus.INVALID_FIELD);
        row("U7", h, Fabrics.authenticationSend(1, 1, junk.length).u32(Fabrics.AUTH_LENGTH_OFFSET, 80),
                Unpooled.wrappedBuffer(junk), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("U8", h, Fabrics.authenticationReceive(1, 1, 16).sglTransport(4096), NvmeStatus.SGL_INVALID_DATA_LENGTH);
        row("U9", h, Fabrics.authenticationReceive(1, 1, 0).sglTransport(0), NvmeStatus.INVALID_FIELD);
        row("U10", h, withFlags(Fabrics.authenticationReceive(1, 1, 16), 0x80), NvmeStatus.INVALID_FIELD);
        row("U11", h, Fabrics.propertyGet(NvmeOpcodes.PROPERTY_CAP), NvmeStatus.AUTH_REQUIRED);
        row("U12", h, Fabrics.authenticationSend(1, 1, 16384).sglTransport(16384), NvmeStatus.INVALID_FIELD);
    }
}
