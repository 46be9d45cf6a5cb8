package io.thermocline.nvmeof.pdu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ResourceLeakDetector;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class PduCodecTest {
    private EmbeddedChannel controller;
    private EmbeddedChannel host;
    private PduSession controllerSession;
    private PduSession hostSession;
    private PduEncoder hostEncoder;
    private PduEncoder controllerEncoder;

    @BeforeAll
    static void paranoid() {
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
    }

    private void open(boolean hdgst, boolean ddgst, int hpda, int cpda) {
        controllerSession = new PduSession(PduSession.Role.CONTROLLER, 8192, 65536);
        hostSession = new PduSession(PduSession.Role.HOST, 0, 1 << 20);
        controllerEncoder = new PduEncoder(controllerSession);
        hostEncoder = new PduEncoder(hostSession);
        controller = new EmbeddedChannel(new PduDecoder(controllerSession, controllerEncoder));
        host = new EmbeddedChannel(new PduDecoder(hostSession, hostEncoder));
        // IC exchange over the codec itself
        assertTrue(controller.writeInbound(hostEncoder.icReq(host.alloc(), new Pdu.IcReq(0, hpda, hdgst, ddgst, 0))));
        Pdu.IcReq req = controller.readInbound();
        assertEquals(hpda, req.hpda());
        assertEquals(hdgst, req.headerDigest());
        assertTrue(host.writeInbound(controllerEncoder.icResp(controller.alloc(), new Pdu.IcResp(0, cpda, hdgst, ddgst, 65536))));
        Pdu.IcResp resp = host.readInbound();
        assertEquals(65536, resp.maxH2cData());
        controllerSession.initialize(hdgst, ddgst, cpda, hpda);
        hostSession.initialize(hdgst, ddgst, hpda, cpda);
    }

    @AfterEach
    void finish() {
        if (controller != null) {
            controller.finishAndReleaseAll();
            host.finishAndReleaseAll();
        }
    }

    @ParameterizedTest(name = "hdgst={0} ddgst={1} hpda={2} cpda={3}")
    @CsvSource({"false,false,0,0", "true,false,0,0", "false,true,0,0", "true,true,0,0", "true,true,3,7"})
    void everyPdu_roundTrips(boolean hdgst, boolean ddgst, int hpda, int cpda) {
        open(hdgst, ddgst, hpda, cpda);
        byte[] payload = new byte[5000];
        new Random(7).nextBytes(payload);

        Sqe sqe = new Sqe().opcode(NvmeOpcodes.IO_WRITE).commandId(0xA123).nsid(1).sglInCapsule(payload.length)
                .cdw10And11(77).cdw(12, 9);
        assertTrue(controller.writeInbound(hostEncoder.capsuleCmd(host.alloc(), sqe, Unpooled.wrappedBuffer(payload))));
        Pdu.CapsuleCmd cmd = controller.readInbound();
        assertEquals(0xA123, cmd.sqe().commandId());
        assertEquals(77, cmd.sqe().cdw10And11());
        assertEquals(Sqe.SGL_DATA_BLOCK_OFFSET, cmd.sqe().sglIdentifier());
        assertArrayEquals(payload, ByteBufUtil.getBytes(cmd.data()));
        cmd.release();

        assertTrue(controller.writeInbound(hostEncoder.capsuleCmd(host.alloc(), new Sqe().opcode(NvmeOpcodes.IO_FLUSH).commandId(3), null)));
        Pdu.CapsuleCmd flush = controller.readInbound();
        assertEquals(0, flush.data().readableBytes());

        assertTrue(controller.writeInbound(hostEncoder.h2cData(host.alloc(), 5, 0x8001, 4096, true, Unpooled.wrappedBuffer(payload))));
        Pdu.H2cData h2c = controller.readInbound();
        assertEquals(5, h2c.commandId());
        assertEquals(0x8001, h2c.transferTag());
        assertEquals(4096, h2c.offset());
        assertTrue(h2c.last());
        assertArrayEquals(payload, ByteBufUtil.getBytes(h2c.data()));
        h2c.release();

        assertTrue(host.writeInbound(controllerEncoder.capsuleResp(controller.alloc(), Cqe.of(0xA123, NvmeStatus.LBA_OUT_OF_RANGE, 42))));
        Pdu.CapsuleResp resp = host.readInbound();
        assertEquals(NvmeStatus.LBA_OUT_OF_RANGE, resp.cqe().nvmeStatus());
        assertEquals(42, resp.cqe().result());
        assertTrue(resp.cqe().doNotRetry());

        assertTrue(host.writeInbound(controllerEncoder.r2t(controller.alloc(), 9, 0x33, 8192, 65536)));
        assertEquals(new Pdu.R2t(9, 0x33, 8192, 65536), host.readInbound());

        assertTrue(host.writeInbound(controllerEncoder.c2hData(controller.alloc(), 9, 100, true, true, Unpooled.wrappedBuffer(payload))));
        Pdu.C2hData c2h = host.readInbound();
        assertTrue(c2h.success());
        assertArrayEquals(payload, ByteBufUtil.getBytes(c2h.data()));
        c2h.release();
        assertNull(controller.readOutbound());
    }

    @Test
    void pdusSplitAcrossReads_areReassembled() {
        open(true, true, 0, 0);
        byte[] payload = new byte[3000];
        new Random(1).nextBytes(payload);
        ByteBuf wire = Unpooled.buffer();
        for (int i = 0; i < 3; i++) {
            ByteBuf pdu = controllerEncoder.c2hData(controller.alloc(), i, i * 3000, i == 2, false, Unpooled.wrappedBuffer(payload));
            wire.writeBytes(pdu);
            pdu.release();
        }
        while (wire.isReadable()) {
            host.writeInbound(wire.readRetainedSlice(Math.min(7, wire.readableBytes())));
        }
        wire.release();
        for (int i = 0; i < 3; i++) {
            Pdu.C2hData d = host.readInbound();
            assertEquals(i, d.commandId());
            assertArrayEquals(payload, ByteBufUtil.getBytes(d.data()));
            d.release();
        }
    }

    @Test
    void connectData_roundTrips() {
        UUID id = UUID.randomUUID();
        ByteBuf b = Unpooled.buffer();
        Fabrics.writeConnectData(b, id, 0xFFFF, "nqn.2026-11.io.thermocline:sub", "nqn.2014-08.org.nvmexpress:uuid:" + id);
        assertEquals(1024, b.readableBytes());
        Fabrics.ConnectData d = Fabrics.readConnectData(b);
        assertEquals(id, d.hostId());
        assertEquals(0xFFFF, d.controllerId());
        assertEquals("nqn.2026-11.io.thermocline:sub", d.subsystemNqn());
        b.release();
        Sqe c = Fabrics.connect(0, 32, 5000, true);
        assertEquals(31, c.u16(Fabrics.CONNECT_SQSIZE_OFFSET));
        assertEquals(0x40, c.flags());
    }

    // --- malformed input: TermReq and close ---

    private Pdu.TermReq expectTermination(EmbeddedChannel ch, int fes) {
        ByteBuf out = ch.readOutbound();
        EmbeddedChannel peer = new EmbeddedChannel(new PduDecoder(
                new PduSession(ch == controller ? PduSession.Role.HOST : PduSession.Role.CONTROLLER, 8192, 65536), null));
        assertTrue(peer.writeInbound(out));
        Pdu.TermReq t = peer.readInbound();
        assertEquals(fes, t.fes(), t.toString());
        t.release();
        peer.finishAndReleaseAll();
        assertFalse(ch.isOpen(), "the connection is closed after a TermReq");
        return t;
    }

    private static ByteBuf header(int type, int flags, int hlen, int pdo, long plen, int total) {
        ByteBuf b = Unpooled.buffer(total);
        b.writeByte(type).writeByte(flags).writeByte(hlen).writeByte(pdo).writeIntLE((int) plen);
        b.writeZero(total - 8);
        return b;
    }

    @Test
    void unknownType_getsTermReq() {
        open(false, false, 0, 0);
        controller.writeInbound(header(0x0E, 0, 24, 0, 24, 24));
        Pdu.TermReq t = expectTermination(controller, FatalErrorStatus.INVALID_HEADER_FIELD);
        assertEquals(PduType.C2H_TERM_REQ, t.type());
        assertEquals(0, t.fei());
    }

    @Test
    void wrongDirection_getsTermReq() {
        open(false, false, 0, 0);
        controller.writeInbound(header(PduType.C2H_DATA.code(), 0, 24, 24, 30, 30));
        expectTermination(controller, FatalErrorStatus.INVALID_HEADER_FIELD);
    }

    @Test
    void commandBeforeIcReq_isASequenceError() {
        controllerSession = new PduSession(PduSession.Role.CONTROLLER, 8192, 65536);
        controller = new EmbeddedChannel(new PduDecoder(controllerSession, new PduEncoder(controllerSession)));
        host = new EmbeddedChannel();
        controller.writeInbound(header(PduType.CAPSULE_CMD.code(), 0, 72, 0, 72, 72));
        expectTermination(controller, FatalErrorStatus.PDU_SEQUENCE_ERROR);
    }

    @Test
    void secondIcReq_isASequenceError() {
        open(false, false, 0, 0);
        controller.writeInbound(header(PduType.IC_REQ.code(), 0, 128, 0, 128, 128));
        expectTermination(controller, FatalErrorStatus.PDU_SEQUENCE_ERROR);
    }

    @Test
    void badHlen_isNamedByOffset() {
        open(false, false, 0, 0);
        controller.writeInbound(header(PduType.CAPSULE_CMD.code(), 0, 70, 0, 72, 72));
        Pdu.TermReq t = expectTermination(controller, FatalErrorStatus.INVALID_HEADER_FIELD);
        assertEquals(2, t.fei());
    }

    @Test
    void hugePlen_isRejectedBeforeAnythingIsBuffered() {
        open(false, false, 0, 0);
        // claims 4 GiB - 1 of in-capsule data: must be refused from the 8-byte header alone
        controller.writeInbound(header(PduType.CAPSULE_CMD.code(), 0, 72, 72, 0xFFFF_FFFFL, 8));
        expectTermination(controller, FatalErrorStatus.DATA_TRANSFER_LIMIT_EXCEEDED);
    }

    @Test
    void pdoInsideHeader_isRejected() {
        open(false, false, 0, 0);
        controller.writeInbound(header(PduType.H2C_DATA.code(), 0, 24, 16, 40, 40));
        Pdu.TermReq t = expectTermination(controller, FatalErrorStatus.INVALID_HEADER_FIELD);
        assertEquals(3, t.fei());
    }

    @Test
    void dataLengthField_mustMatchPlen() {
        open(false, false, 0, 0);
        ByteBuf b = header(PduType.H2C_DATA.code(), PduDecoder.FLAG_LAST_PDU, 24, 24, 40, 40);
        b.setIntLE(16, 99);
        controller.writeInbound(b);
        Pdu.TermReq t = expectTermination(controller, FatalErrorStatus.INVALID_HEADER_FIELD);
        assertEquals(16, t.fei());
    }

    @Test
    void headerDigestMismatch_getsTermReq() {
        open(true, false, 0, 0);
        ByteBuf pdu = hostEncoder.capsuleCmd(host.alloc(), new Sqe().opcode(NvmeOpcodes.IO_FLUSH), null);
        pdu.setByte(72, pdu.getByte(72) ^ 1);
        controller.writeInbound(pdu);
        expectTermination(controller, FatalErrorStatus.HEADER_DIGEST_ERROR);
    }

    @Test
    void missingHeaderDigestFlag_getsTermReq() {
        open(true, false, 0, 0);
        controller.writeInbound(header(PduType.CAPSULE_CMD.code(), 0, 72, 0, 76, 76));
        Pdu.TermReq t = expectTermination(controller, FatalErrorStatus.INVALID_HEADER_FIELD);
        assertEquals(1, t.fei());
    }

    @Test
    void dataDigestMismatch_failsThatCommandOnly() {
        open(false, true, 0, 0);
        ByteBuf pdu = hostEncoder.h2cData(host.alloc(), 11, 2, 0, true, Unpooled.wrappedBuffer(new byte[512]));
        ByteBuf copy = Unpooled.buffer().writeBytes(pdu);
        pdu.release();
        copy.setByte(30, 1);
        controller.writeInbound(copy);
        PduDecoder.DataDigestError e = controller.readInbound();
        assertEquals(11, e.commandId());
        assertTrue(controller.isOpen());
        assertNull(controller.readOutbound());
        // the connection goes on
        controller.writeInbound(hostEncoder.capsuleCmd(host.alloc(), new Sqe().opcode(NvmeOpcodes.IO_FLUSH).commandId(12), null));
        assertInstanceOf(Pdu.CapsuleCmd.class, controller.readInbound());
    }

    @Test
    void c2hSuccessWithoutLast_isRejected() {
        open(false, false, 0, 0);
        host.writeInbound(header(PduType.C2H_DATA.code(), PduDecoder.FLAG_SUCCESS, 24, 24, 28, 28).setIntLE(16, 4));
        expectTermination(host, FatalErrorStatus.INVALID_HEADER_FIELD);
    }

    @Test
    void randomGarbage_neverThrowsAndAlwaysEndsInTermReqOrWaiting() {
        Random r = new Random(42);
        for (int i = 0; i < 2000; i++) {
            open(r.nextBoolean(), r.nextBoolean(), 0, 0);
            byte[] junk = new byte[8 + r.nextInt(200)];
            r.nextBytes(junk);
            junk[0] = (byte) r.nextInt(12);
            controller.writeInbound(Unpooled.wrappedBuffer(junk));
            Object out;
            while ((out = controller.readInbound()) != null) {
                if (out instanceof Pdu p) {
                    p.release();
                }
            }
            controller.checkException();
            ByteBuf term;
            while ((term = controller.readOutbound()) != null) {
                term.release();
            }
            finish();
        }
    }
}
