package io.thermocline.nvmeof.target;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.thermocline.nvmeof.pdu.Cqe;
import io.thermocline.nvmeof.pdu.Fabrics;
import io.thermocline.nvmeof.pdu.FatalErrorStatus;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.NvmeStatus;
import io.thermocline.nvmeof.pdu.Pdu;
import io.thermocline.nvmeof.pdu.PduDecoder;
import io.thermocline.nvmeof.pdu.PduType;
import io.thermocline.nvmeof.pdu.Sqe;
import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.local.FileBlockDevice;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.IOException;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class NvmeTcpTargetTest {
    static final String NQN_A = "nqn.2024-01.io.thermocline.test:a";
    static final String NQN_B = "nqn.2024-01.io.thermocline.test:b";
    static final String NQN_C = "nqn.2024-01.io.thermocline.test:c";
    static final String OTHER_HOST = "nqn.2014-08.org.nvmexpress:uuid:99999999-8888-7777-6666-555555555555";
    static final int MIB = 1 << 20;

    @RegisterExtension
    static final RawTargetFixture fixture = new RawTargetFixture(2);

    @TempDir
    Path dir;

    private static NvmeTcpTarget.Builder targetBuilder() {
        return NvmeTcpTarget.builder().port(0).eventLoopThreads(2);
    }

    private Namespace file(String name, long size, int blockSize) {
        return Namespace.openFile(dir.resolve(name), size, blockSize, false);
    }

    private Subsystem subsystem(String nqn, Namespace... namespaces) {
        Subsystem.Builder b = Subsystem.builder(nqn).allowHost(RawHost.HOST_NQN);
        for (Namespace ns : namespaces) {
            b.namespace(ns);
        }
        return b.build();
    }

    /** An admin queue and I/O queue 1 on two connections; returns the I/O queue's host. */
    private RawHost ioQueue(String nqn, boolean hd, boolean dd, int queueSize, int cattr) {
        RawHost admin = fixture.host();
        admin.initialize(hd, dd);
        int cntlid = admin.connectAdminAndEnable(nqn, 0);
        RawHost io = fixture.host();
        io.initialize(hd, dd);
        io.connect(1, queueSize, 0, cntlid, nqn, RawHost.HOST_NQN, cattr).assertSuccess();
        return io;
    }

    private static byte[] random(int length, long seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static String ascii(byte[] b, int at, int length) {
        return new String(b, at, length, StandardCharsets.US_ASCII);
    }

    private static String padded(String s, int length) {
        return s + " ".repeat(length - s.length());
    }

    private static String nulTerminated(byte[] b, int at, int length) {
        int end = at;
        while (end < at + length && b[end] != 0) {
            end++;
        }
        return new String(b, at, end - at, StandardCharsets.UTF_8);
    }

    // ------------------------------------------------------------------ discovery

    @Test
    void discoveryLog_listsOnlyTheSubsystemsThisHostMayReach_atTheAddressItConnectedTo() {
        Subsystem a = subsystem(NQN_A, file("a", MIB, 4096));
        Subsystem b = Subsystem.builder(NQN_B).namespace(file("b", MIB, 4096)).allowHost(OTHER_HOST).build();
        Subsystem c = Subsystem.builder(NQN_C).namespace(file("c", MIB, 4096)).allowAnyHost(true).build();
        fixture.start(targetBuilder().subsystem(a).subsystem(b).subsystem(c).portId(7).build());
        RawHost h = fixture.host();
        h.initialize(false, false);
        h.connectAdminAndEnable(NvmeOpcodes.DISCOVERY_NQN, 0);

        byte[] id = h.identify(NvmeOpcodes.CNS_CONTROLLER, 0).assertSuccess().data();
        assertEquals(4096, id.length);
        assertEquals(2, id[111], "CNTRLTYPE: discovery");
        assertEquals(NvmeOpcodes.DISCOVERY_NQN, nulTerminated(id, 768, 256));
        assertEquals(4, id[261] & 4, "LPA: extended data for Get Log Page");
        assertEquals(0, le(id).getInt(516), "NN");

        byte[] header = h.logPage(NvmeOpcodes.LOG_DISCOVERY, 0, 1024).assertSuccess().data();
        long generation = le(header).getLong(0);
        assertEquals(2, le(header).getLong(8), "NUMREC: a (allowed) and c (any host), not b");
        assertEquals(0, le(header).getShort(16), "RECFMT");

        byte[] all = h.logPage(NvmeOpcodes.LOG_DISCOVERY, 0, 3 * 1024).assertSuccess().data();
        assertEquals(generation, le(all).getLong(0), "GENCTR is stable");
        byte[] second = h.logPage(NvmeOpcodes.LOG_DISCOVERY, 2048, 1024).assertSuccess().data();
        assertArrayEquals(Arrays.copyOfRange(all, 2048, 3072), second, "LPOL/LPOU offset honoured");

        String[] expected = {NQN_A, NQN_C};
        for (int i = 0; i < 2; i++) {
            int e = 1024 + i * 1024;
            ByteBuffer le = le(all);
            assertEquals(3, all[e], "TRTYPE tcp");
            assertEquals(1, all[e + 1], "ADRFAM ipv4");
            assertEquals(2, all[e + 2], "SUBTYPE NVM subsystem");
            assertEquals(0, all[e + 3], "TREQ not specified");
            assertEquals(7, le.getShort(e + 4), "PORTID");
            assertEquals(0xFFFF, le.getShort(e + 6) & 0xFFFF, "CNTLID dynamic");
            assertEquals(32, le.getShort(e + 8), "ASQSZ");
            assertEquals(padded(Integer.toString(fixture.address().getPort()), 32), ascii(all, e + 32, 32), "TRSVCID");
            assertEquals(expected[i], nulTerminated(all, e + 256, 256), "SUBNQN");
            assertEquals(padded("127.0.0.1", 256), ascii(all, e + 512, 256), "TRADDR");
        }
        byte[] tail = h.logPage(NvmeOpcodes.LOG_DISCOVERY, 3072, 1024).assertSuccess().data();
        assertArrayEquals(new byte[1024], tail, "reading at the end of the page returns zeros");
        h.logPage(NvmeOpcodes.LOG_DISCOVERY, 4096, 1024).assertStatus(NvmeStatus.INVALID_FIELD);
        h.logPage(NvmeOpcodes.LOG_SMART, 0, 512).assertStatus(NvmeStatus.INVALID_FIELD);
        h.identify(NvmeOpcodes.CNS_NAMESPACE, 1).assertStatus(NvmeStatus.INVALID_OPCODE);  // as nvmet_parse_discovery_cmd answers

        // the other host sees a and c swapped for b and c
        RawHost other = fixture.host();
        other.initialize(false, false);
        Cqe cqe = other.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NvmeOpcodes.DISCOVERY_NQN, OTHER_HOST, 0).assertSuccess().cqe();
        assertTrue((cqe.dw0() & 0xFFFF) > 0);
        other.enable();
        byte[] otherLog = other.logPage(NvmeOpcodes.LOG_DISCOVERY, 0, 3 * 1024).assertSuccess().data();
        assertEquals(2, le(otherLog).getLong(8));
        assertEquals(NQN_B, nulTerminated(otherLog, 1024 + 256, 256));
        assertEquals(NQN_C, nulTerminated(otherLog, 2048 + 256, 256));
    }

    // ------------------------------------------------------------------ admin queue

    @Test
    void adminQueue_propertiesIdentifyFeaturesAndLogs_for4096And512ByteBlocks() throws Exception {
        Namespace n1 = file("n1", 8 * MIB, 4096);
        Namespace n2 = file("n2", 4 * MIB, 512);
        Subsystem s = Subsystem.builder(NQN_A).serial("SER123").model("Test Model").firmware("1.2")
                .namespace(n1).namespace(n2).allowHost(RawHost.HOST_NQN).build();
        fixture.start(targetBuilder().subsystem(s).inCapsuleDataSize(4096).maxQueueSize(64).maxIoQueues(4).mdts(5).build());
        RawHost h = fixture.host();
        Pdu.IcResp ic = h.initialize(false, false);
        assertEquals(0, ic.cpda());
        assertEquals(128 * 1024, ic.maxH2cData());

        Cqe connected = h.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NQN_A, RawHost.HOST_NQN, 0).assertSuccess().cqe();
        int cntlid = connected.dw0() & 0xFFFF;
        assertTrue(cntlid >= 1 && cntlid <= 0xFFEF, "CNTLID " + cntlid);
        assertEquals(0, connected.sqId());
        assertEquals(1, connected.sqHead(), "the Connect itself was consumed");

        long cap = h.run(Fabrics.propertyGet(NvmeOpcodes.PROPERTY_CAP), null, null).assertSuccess().result();
        assertEquals(63, cap & 0xFFFF, "CAP.MQES");
        assertEquals(1, (cap >>> 16) & 1, "CAP.CQR");
        assertEquals(15, (cap >>> 24) & 0xFF, "CAP.TO");
        assertEquals(1, (cap >>> 37) & 1, "CAP.CSS NVM");
        assertEquals(0, (cap >>> 48) & 0xF, "CAP.MPSMIN");
        assertEquals(0x10300, h.run(Fabrics.propertyGet(NvmeOpcodes.PROPERTY_VS), null, null).assertSuccess().result());
        assertEquals(0, h.run(Fabrics.propertyGet(NvmeOpcodes.PROPERTY_CSTS), null, null).result() & 1, "not ready before CC.EN");
        h.identify(NvmeOpcodes.CNS_CONTROLLER, 0).assertStatus(NvmeStatus.COMMAND_SEQUENCE_ERROR);
        h.run(new Sqe().opcode(NvmeOpcodes.FABRICS).fabricsType(NvmeOpcodes.FCTYPE_PROPERTY_GET).sglTransport(0)
                .u8(Fabrics.PROPERTY_ATTRIB_OFFSET, 1).u32(Fabrics.PROPERTY_OFST_OFFSET, NvmeOpcodes.PROPERTY_VS), null, null)
                .assertStatus(NvmeStatus.INVALID_FIELD);
        h.enable();

        byte[] id = h.identify(NvmeOpcodes.CNS_CONTROLLER, 0).assertSuccess().data();
        ByteBuffer c = le(id);
        assertEquals(cntlid, c.getShort(78) & 0xFFFF, "CNTLID");
        assertEquals(padded("SER123", 20), ascii(id, 4, 20));
        assertEquals(padded("Test Model", 40), ascii(id, 24, 40));
        assertEquals(padded("1.2", 8), ascii(id, 64, 8));
        assertEquals(2, id[76], "CMIC: multiple controllers");
        assertEquals(5, id[77], "MDTS");
        assertEquals(0x10300, c.getInt(80), "VER");
        assertEquals(1, id[111], "CNTRLTYPE I/O");
        assertEquals(3, id[258], "ACL");
        assertEquals(3, id[259], "AERL");
        assertEquals(4, id[261], "LPA");
        assertEquals(1, c.getShort(320), "KAS");
        assertEquals(0x66, id[512], "SQES");
        assertEquals(0x44, id[513], "CQES");
        assertEquals(64, c.getShort(514), "MAXCMD");
        assertEquals(2, c.getInt(516), "NN");
        assertEquals(0x0C, c.getShort(520), "ONCS: DSM and Write Zeroes");
        assertEquals(1, id[525], "VWC");
        assertEquals(1 | 1 << 20, c.getInt(536), "SGLS");
        assertEquals(NQN_A, nulTerminated(id, 768, 256));
        assertEquals((64 + 4096) / 16, c.getInt(1792), "IOCCSZ");
        assertEquals(1, c.getInt(1796), "IORCSZ");
        assertEquals(0, c.getShort(1800), "ICDOFF");
        assertEquals(1, id[1803], "MSDBD");

        byte[] ns1 = h.identify(NvmeOpcodes.CNS_NAMESPACE, 1).assertSuccess().data();
        byte[] ns2 = h.identify(NvmeOpcodes.CNS_NAMESPACE, 2).assertSuccess().data();
        assertEquals(2048, le(ns1).getLong(0), "NSZE of 8 MiB in 4 KiB blocks");
        assertEquals(2048, le(ns1).getLong(8), "NCAP");
        assertEquals(2048, le(ns1).getLong(16), "NUSE");
        assertEquals(12, ns1[130], "LBADS 4096");
        assertEquals(8192, le(ns2).getLong(0), "NSZE of 4 MiB in 512-byte blocks");
        assertEquals(9, ns2[130], "LBADS 512");
        assertEquals(0, ns1[25], "NLBAF");
        assertEquals(0, ns1[26], "FLBAS");
        assertEquals(1, ns1[30], "NMIC shared");
        assertEquals(0x09, ns1[33], "DLFEAT: deallocated blocks read zero");
        byte[] nguid1 = Arrays.copyOfRange(ns1, 104, 120);
        byte[] nguid2 = Arrays.copyOfRange(ns2, 104, 120);
        assertFalse(Arrays.equals(new byte[16], nguid1), "NGUID set");
        assertFalse(Arrays.equals(nguid1, nguid2), "NGUIDs differ per namespace");
        Subsystem again = Subsystem.builder(NQN_A).namespace(n1).allowAnyHost(true).build();
        assertArrayEquals(nguid1, again.nguid(1), "NGUID is stable for the NQN and NSID");
        byte[] eui1 = Arrays.copyOfRange(ns1, 120, 128);

        byte[] list = h.identify(NvmeOpcodes.CNS_ACTIVE_NAMESPACES, 0).assertSuccess().data();
        assertEquals(1, le(list).getInt(0));
        assertEquals(2, le(list).getInt(4));
        assertEquals(0, le(list).getInt(8));
        byte[] after1 = h.identify(NvmeOpcodes.CNS_ACTIVE_NAMESPACES, 1).assertSuccess().data();
        assertEquals(2, le(after1).getInt(0));
        assertEquals(0, le(after1).getInt(4));

        byte[] desc = h.identify(NvmeOpcodes.CNS_NAMESPACE_DESCRIPTORS, 1).assertSuccess().data();
        Map<Integer, byte[]> ids = new HashMap<>();
        for (int at = 0; at < desc.length && desc[at + 1] != 0; ) {
            int type = desc[at];
            int len = desc[at + 1];
            ids.put(type, Arrays.copyOfRange(desc, at + 4, at + 4 + len));
            at += 4 + len;
        }
        assertArrayEquals(eui1, ids.get(1), "EUI-64 descriptor matches Identify Namespace");
        assertArrayEquals(nguid1, ids.get(2), "NGUID descriptor matches Identify Namespace");
        assertEquals(16, ids.get(3).length, "UUID");
        assertArrayEquals(new byte[] {0}, ids.get(4), "CSI: NVM");

        Cqe unknownCns = h.identify(0x10, 0).assertStatus(NvmeStatus.INVALID_FIELD).cqe();
        assertTrue(unknownCns.doNotRetry(), "DNR");
        h.identify(NvmeOpcodes.CNS_NAMESPACE, 3).assertStatus(NvmeStatus.INVALID_NAMESPACE);
        h.identify(NvmeOpcodes.CNS_NAMESPACE, 0).assertStatus(NvmeStatus.INVALID_NAMESPACE);
        assertArrayEquals(new byte[4096], h.identify(0x06, 0).assertSuccess().data(), "NVM Identify Controller: no limits");
        byte[] independent = h.identify(0x08, 2).assertSuccess().data();
        assertEquals(1, independent[1], "NMIC shared");
        assertEquals(1, independent[13], "NSTAT ready");
        h.identify(0x08, 3).assertStatus(NvmeStatus.INVALID_NAMESPACE);

        Sqe queues = new Sqe().opcode(NvmeOpcodes.ADMIN_SET_FEATURES).cdw(10, NvmeOpcodes.FEATURE_NUMBER_OF_QUEUES)
                .cdw(11, 99 | 99 << 16).sglTransport(0);
        assertEquals(3 | 3 << 16, h.run(queues, null, null).assertSuccess().result(), "granted min(100, 4), 0's based");
        Sqe getQueues = new Sqe().opcode(NvmeOpcodes.ADMIN_GET_FEATURES).cdw(10, NvmeOpcodes.FEATURE_NUMBER_OF_QUEUES).sglTransport(0);
        assertEquals(3 | 3 << 16, h.run(getQueues, null, null).assertSuccess().result());
        Sqe kato = new Sqe().opcode(NvmeOpcodes.ADMIN_SET_FEATURES).cdw(10, NvmeOpcodes.FEATURE_KEEP_ALIVE_TIMER)
                .cdw(11, 120_000).sglTransport(0);
        h.run(kato, null, null).assertSuccess();
        Sqe getKato = new Sqe().opcode(NvmeOpcodes.ADMIN_GET_FEATURES).cdw(10, NvmeOpcodes.FEATURE_KEEP_ALIVE_TIMER).sglTransport(0);
        assertEquals(120_000, h.run(getKato, null, null).assertSuccess().result());
        h.run(new Sqe().opcode(NvmeOpcodes.ADMIN_SET_FEATURES).cdw(10, 0x02).cdw(11, 1).sglTransport(0), null, null)
                .assertStatus(NvmeStatus.INVALID_FIELD);
        h.run(new Sqe().opcode(NvmeOpcodes.ADMIN_SET_FEATURES).cdw(10, NvmeOpcodes.FEATURE_ASYNC_EVENT_CONFIG | 1 << 31)
                .sglTransport(0), null, null).assertStatus(NvmeStatus.FEATURE_NOT_SAVEABLE);

        assertEquals(512, h.logPage(NvmeOpcodes.LOG_SMART, 0, 512).assertSuccess().data().length);
        assertEquals(64, h.logPage(NvmeOpcodes.LOG_ERROR, 0, 64).assertSuccess().data().length);
        byte[] fw = h.logPage(NvmeOpcodes.LOG_FIRMWARE_SLOT, 0, 512).assertSuccess().data();
        assertEquals(1, fw[0], "AFI: slot 1 active");
        assertEquals(padded("1.2", 8), ascii(fw, 8, 8), "FRS1");
        h.logPage(NvmeOpcodes.LOG_COMMANDS_EFFECTS, 0, 4096).assertStatus(NvmeStatus.INVALID_FIELD);
        h.logPage(NvmeOpcodes.LOG_DISCOVERY, 0, 1024).assertStatus(NvmeStatus.INVALID_FIELD);

        h.run(new Sqe().opcode(NvmeOpcodes.ADMIN_KEEP_ALIVE).sglTransport(0), null, null).assertSuccess();
        assertEquals(1, h.run(new Sqe().opcode(NvmeOpcodes.ADMIN_ABORT).cdw(10, 1 << 16).sglTransport(0), null, null)
                .assertSuccess().result() & 1, "Abort: not aborted");
        h.run(new Sqe().opcode(0xC1).sglTransport(0), null, null).assertStatus(NvmeStatus.INVALID_OPCODE);

        // four Asynchronous Event Requests are held (AERL 3); the fifth is refused
        for (int i = 0; i < 4; i++) {
            h.send(h.encoder.capsuleCmd(h.channel().alloc(),
                    new Sqe().opcode(NvmeOpcodes.ADMIN_ASYNC_EVENT_REQUEST).commandId(h.nextCid()).sglTransport(0), null));
        }
        h.run(new Sqe().opcode(NvmeOpcodes.ADMIN_ASYNC_EVENT_REQUEST).sglTransport(0), null, null)
                .assertStatus(NvmeStatus.ASYNC_EVENT_LIMIT_EXCEEDED);

        // shutdown notification: namespaces flushed, then CSTS.SHST = complete
        int cc = 1 | 6 << 16 | 4 << 20 | 1 << 14;
        h.run(Fabrics.propertySet(NvmeOpcodes.PROPERTY_CC, cc), null, null).assertSuccess();
        long csts = 0;
        // the flush runs off the event loop: poll for a while (a loaded machine may take long)
        long deadline = System.nanoTime() + TestTimeouts.seconds(10).toNanos();
        while (((csts >>> 2) & 3) != 2 && System.nanoTime() < deadline) {
            csts = h.run(Fabrics.propertyGet(NvmeOpcodes.PROPERTY_CSTS), null, null).assertSuccess().result();
            if (((csts >>> 2) & 3) != 2) {
                Thread.sleep(5);
            }
        }
        assertEquals(2, (csts >>> 2) & 3, "CSTS.SHST: shutdown complete");
    }

    // ------------------------------------------------------------------ I/O

    @ParameterizedTest(name = "{0}-byte blocks, header digest {1}, data digest {2}, zero-copy {3}, HPDA {4}")
    @CsvSource({
        "4096, false, false, true,  0",
        "512,  false, false, true,  0",
        "4096, true,  false, true,  7",
        "4096, true,  true,  true,  0",
        "512,  true,  false, false, 3",
        "4096, false, true,  false, 0"})
    void ioQueue_writesInCapsuleAndThroughR2t_andReadsBackByteForByte(int bs, boolean hd, boolean dd, boolean zeroCopy,
                                                                        int hpda) throws IOException {
        Path path = dir.resolve("ns.img");
        int size = 4 * MIB;
        Namespace ns = zeroCopy ? Namespace.openFile(path, size, bs, false)
                : new Namespace(FileBlockDevice.open(path, FileBlockDevice.options().sizeInBytes(size).blockSizeInBytes(bs)),
                        null, true, true);
        fixture.start(targetBuilder().subsystem(subsystem(NQN_A, ns)).maxH2cData(16 * 1024).inCapsuleDataSize(8192)
                .maxC2hDataPerPdu(16 * 1024).build());
        RawHost admin = fixture.host();
        admin.initialize(hd, dd);
        int cntlid = admin.connectAdminAndEnable(NQN_A, 0);
        RawHost io = fixture.host();
        io.initialize(hd, dd, hpda, 0);  // HPDA: C2HData payloads start at a multiple of (HPDA + 1) dwords
        io.connect(1, 32, 0, cntlid, NQN_A, RawHost.HOST_NQN, 0).assertSuccess();

        byte[] small = random(8192, 1);
        byte[] big = random(25 * 4096, 2);  // > MAXH2CDATA: seven R2Ts of at most 16 KiB
        io.writeInCapsule(1, 0, small, bs).assertSuccess();
        io.writeWithR2t(1, 8192 / bs, big, bs).assertSuccess();
        byte[] both = new byte[small.length + big.length];
        System.arraycopy(small, 0, both, 0, small.length);
        System.arraycopy(big, 0, both, small.length, big.length);
        byte[] read = io.read(1, 0, both.length / bs, bs).assertSuccess().data();
        assertArrayEquals(both, read, "read back what was written");
        List<int[]> c2h = io.receivedHeaders().stream().filter(h -> h[0] == PduType.C2H_DATA.code()).toList();
        assertEquals(both.length / (16 * 1024) + 1, c2h.size(), "reads split at 16 KiB per C2HData");
        int alignment = (hpda + 1) * 4;
        for (int[] h : c2h) {
            assertEquals(0, h[3] % alignment, "C2HData PDO " + h[3] + " is a multiple of " + alignment);
            assertEquals(hd, (h[1] & PduDecoder.FLAG_HDGST) != 0, "HDGSTF");
            assertEquals(dd, (h[1] & PduDecoder.FLAG_DDGST) != 0, "DDGSTF");
        }

        io.run(new Sqe().opcode(NvmeOpcodes.IO_FLUSH).nsid(1).sglTransport(0), null, null).assertSuccess();
        byte[] onDisk = Arrays.copyOf(Files.readAllBytes(path), both.length);
        assertArrayEquals(both, onDisk, "the file holds the data");

        // Write Zeroes over the in-capsule range
        io.run(new Sqe().opcode(NvmeOpcodes.IO_WRITE_ZEROES).nsid(1).cdw10And11(0).cdw(12, 8192 / bs - 1).sglTransport(0),
                null, null).assertSuccess();
        assertArrayEquals(new byte[8192], io.read(1, 0, 8192 / bs, bs).assertSuccess().data());

        // Dataset Management, deallocate the first 16 KiB of the R2T range: reads as zeros after
        ByteBuf ranges = Unpooled.buffer(16).writeIntLE(0).writeIntLE(16384 / bs).writeLongLE(8192 / bs);
        Sqe dsm = new Sqe().opcode(NvmeOpcodes.IO_DATASET_MANAGEMENT).nsid(1).cdw(10, 0).cdw(11, 1 << 2).sglInCapsule(16);
        io.run(dsm, ranges, null).assertSuccess();
        byte[] afterTrim = io.read(1, 8192 / bs, big.length / bs, bs).assertSuccess().data();
        assertArrayEquals(new byte[16384], Arrays.copyOf(afterTrim, 16384), "deallocated blocks read as zeros");
        assertArrayEquals(Arrays.copyOfRange(big, 16384, big.length), Arrays.copyOfRange(afterTrim, 16384, big.length));
    }

    @Test
    void ioQueue_errorStatuses_leaveTheQueueUsable() {
        fixture.start(targetBuilder().subsystem(subsystem(NQN_A, file("a", 4 * MIB, 4096))).build());
        RawHost io = ioQueue(NQN_A, false, false, 32, 0);
        long blocks = 4 * MIB / 4096;

        Cqe range = io.read(1, blocks - 1, 2, 4096).assertStatus(NvmeStatus.LBA_OUT_OF_RANGE).cqe();
        assertTrue(range.doNotRetry());
        io.writeWithR2t(1, blocks, new byte[4096], 4096).assertStatus(NvmeStatus.LBA_OUT_OF_RANGE);
        io.read(1, -1L, 1, 4096).assertStatus(NvmeStatus.LBA_OUT_OF_RANGE);
        io.read(9, 0, 1, 4096).assertStatus(NvmeStatus.INVALID_NAMESPACE);
        io.read(0, 0, 1, 4096).assertStatus(NvmeStatus.INVALID_NAMESPACE);
        io.read(1, 0, 512, 4096).assertStatus(NvmeStatus.INVALID_FIELD);  // 2 MiB > MDTS (1 MiB)
        io.run(new Sqe().opcode(NvmeOpcodes.IO_READ).nsid(1).cdw(12, 1).sglTransport(4096), null, null)
                .assertStatus(NvmeStatus.SGL_INVALID_DATA_LENGTH);
        io.run(new Sqe().opcode(NvmeOpcodes.IO_READ).nsid(1).cdw(12, 0).sglInCapsule(4096), null, null)
                .assertStatus(NvmeStatus.INVALID_FIELD);  // in-capsule data on a read, as nvmet-tcp answers
        io.run(new Sqe().opcode(NvmeOpcodes.IO_WRITE).nsid(1).cdw(12, 0).sgl(0, 4096, 0x00), Unpooled.wrappedBuffer(new byte[4096]), null)
                .assertStatus(NvmeStatus.SGL_DESCRIPTOR_TYPE_INVALID);
        io.run(new Sqe().opcode(NvmeOpcodes.IO_WRITE).nsid(1).cdw(12, 0).sgl(8, 4096, Sqe.SGL_DATA_BLOCK_OFFSET),
                Unpooled.wrappedBuffer(new byte[4096]), null).assertStatus(NvmeStatus.SGL_OFFSET_INVALID);
        io.run(new Sqe().opcode(0x05).nsid(1).sglTransport(0), null, null).assertStatus(NvmeStatus.INVALID_OPCODE);
        io.run(Fabrics.propertyGet(NvmeOpcodes.PROPERTY_CAP), null, null).assertStatus(NvmeStatus.INVALID_OPCODE);
        io.run(new Sqe().opcode(NvmeOpcodes.IO_READ).flags(0).nsid(1).sglTransport(4096), null, null)
                .assertStatus(NvmeStatus.INVALID_FIELD);  // PRPs

        byte[] data = random(4096, 3);
        io.writeInCapsule(1, 5, data, 4096).assertSuccess();
        assertArrayEquals(data, io.read(1, 5, 1, 4096).assertSuccess().data());
    }

    @Test
    void pipelinedWrites_withSeveralR2tsOutstanding_allLand() {
        fixture.start(targetBuilder().subsystem(subsystem(NQN_A, file("a", 4 * MIB, 4096))).maxH2cData(8192).build());
        RawHost admin = fixture.host();
        admin.initialize(false, false);
        int cntlid = admin.connectAdminAndEnable(NQN_A, 0);
        RawHost io = fixture.host();
        io.initialize(false, false, 0, 3);  // MAXR2T 3: up to four R2Ts per command
        io.connect(1, 32, 0, cntlid, NQN_A, RawHost.HOST_NQN, 0).assertSuccess();

        Map<Integer, byte[]> byCid = new HashMap<>();
        List<byte[]> written = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            byte[] data = random(64 * 1024, 100 + i);
            int cid = io.nextCid();
            byCid.put(cid, data);
            written.add(data);
            io.send(io.encoder.capsuleCmd(io.channel().alloc(), RawHost.writeSqe(1, i * 16L, data.length, 4096).commandId(cid), null));
        }
        int done = 0;
        int r2ts = 0;
        while (done < 16) {
            Object msg = io.next();
            switch (msg) {
                case Pdu.R2t r2t -> {
                    r2ts++;
                    assertTrue(r2t.length() <= 8192, "R2T length within MAXH2CDATA");
                    io.answer(r2t, byCid.get(r2t.commandId()));
                }
                case Pdu.CapsuleResp resp -> {
                    assertTrue(resp.cqe().isSuccess(), resp.cqe().toString());
                    assertTrue(byCid.containsKey(resp.cqe().commandId()), "echoed command id");
                    done++;
                }
                default -> throw new AssertionError("unexpected " + msg);
            }
        }
        assertEquals(16 * 8, r2ts, "one R2T per 8 KiB");
        for (int i = 0; i < 16; i++) {
            byte[] back = io.read(1, i * 16L, 16, 4096).assertSuccess().data();
            assertArrayEquals(written.get(i), back, "write " + i);
        }
    }

    @Test
    void moreCommandsInFlightThanTheQueueHas_endsTheConnection() {
        fixture.start(targetBuilder().subsystem(subsystem(NQN_A, file("a", MIB, 4096))).build());
        RawHost io = ioQueue(NQN_A, false, false, 4, 0);
        for (int i = 0; i < 4; i++) {
            io.send(io.encoder.capsuleCmd(io.channel().alloc(), RawHost.writeSqe(1, i, 4096, 4096).commandId(io.nextCid()), null));
            assertInstanceOf(Pdu.R2t.class, io.next());
        }
        io.send(io.encoder.capsuleCmd(io.channel().alloc(), RawHost.writeSqe(1, 9, 4096, 4096).commandId(io.nextCid()), null));
        List<Object> seen = io.awaitClosed(RawHost.TIMEOUT_MS);
        Pdu.TermReq term = (Pdu.TermReq) seen.getLast();
        assertEquals(PduType.C2H_TERM_REQ, term.type());
        assertEquals(FatalErrorStatus.PDU_SEQUENCE_ERROR, term.fes());
    }

    @Test
    void h2cDataWithATransferTagNeverIssued_endsWithATermReq() {
        fixture.start(targetBuilder().subsystem(subsystem(NQN_A, file("a", MIB, 4096))).build());
        RawHost io = ioQueue(NQN_A, false, false, 32, 0);
        io.send(io.encoder.capsuleCmd(io.channel().alloc(), RawHost.writeSqe(1, 0, 4096, 4096).commandId(io.nextCid()), null));
        Pdu.R2t r2t = (Pdu.R2t) io.next();
        io.forcedTransferTag = r2t.transferTag() ^ 0x5A5A;
        io.answer(r2t, new byte[4096]);
        List<Object> seen = io.awaitClosed(RawHost.TIMEOUT_MS);
        assertEquals(1, seen.size(), "only the TermReq: " + seen);
        Pdu.TermReq term = (Pdu.TermReq) seen.get(0);
        assertEquals(PduType.C2H_TERM_REQ, term.type());
        assertEquals(FatalErrorStatus.INVALID_HEADER_FIELD, term.fes());
        assertEquals(10, term.fei(), "FEI: offset of TTAG");
    }

    @Test
    void dataDigestErrors_failTheCommandWithATransientTransportError_andWriteNothing() {
        fixture.start(targetBuilder().subsystem(subsystem(NQN_A, file("a", MIB, 4096))).build());
        RawHost io = ioQueue(NQN_A, false, true, 32, 0);
        byte[] original = random(4096, 7);
        io.writeInCapsule(1, 0, original, 4096).assertSuccess();

        // in-capsule data with a bad digest
        int cid = io.nextCid();
        Sqe sqe = new Sqe().opcode(NvmeOpcodes.IO_WRITE).nsid(1).cdw(12, 0).sglInCapsule(4096).commandId(cid);
        ByteBuf pdu = io.encoder.capsuleCmd(io.channel().alloc(), sqe, Unpooled.wrappedBuffer(random(4096, 8)));
        pdu.setByte(pdu.writerIndex() - 1, pdu.getByte(pdu.writerIndex() - 1) ^ 0xFF);
        io.send(pdu);
        Cqe cqe = io.await(cid, null).assertStatus(NvmeStatus.TRANSIENT_TRANSPORT_ERROR).cqe();
        assertFalse(cqe.doNotRetry(), "the host may retry");

        // H2CData with a bad digest
        int cid2 = io.nextCid();
        io.send(io.encoder.capsuleCmd(io.channel().alloc(), RawHost.writeSqe(1, 0, 4096, 4096).commandId(cid2), null));
        Pdu.R2t r2t = (Pdu.R2t) io.next();
        ByteBuf data = io.encoder.h2cData(io.channel().alloc(), cid2, r2t.transferTag(), 0, true,
                Unpooled.wrappedBuffer(random(4096, 9)));
        data.setByte(data.writerIndex() - 1, data.getByte(data.writerIndex() - 1) ^ 0xFF);
        io.send(data);
        io.await(cid2, null).assertStatus(NvmeStatus.TRANSIENT_TRANSPORT_ERROR);

        assertArrayEquals(original, io.read(1, 0, 1, 4096).assertSuccess().data(), "nothing was written");
    }

    @Test
    void sqFlowControl_headReported_orDisabledWithSuccessInC2hData() {
        fixture.start(targetBuilder().subsystem(subsystem(NQN_A, file("a", MIB, 4096))).c2hSuccessOptimization(true).build());
        RawHost admin = fixture.host();
        admin.initialize(false, false);
        int cntlid = admin.connectAdminAndEnable(NQN_A, 0);

        RawHost flow = fixture.host();
        flow.initialize(false, false);
        assertEquals(1, flow.connect(1, 4, 0, cntlid, NQN_A, RawHost.HOST_NQN, 0).assertSuccess().cqe().sqHead());
        byte[] data = random(4096, 11);
        assertEquals(2, flow.writeInCapsule(1, 0, data, 4096).assertSuccess().cqe().sqHead());
        RawHost.Response read = flow.read(1, 0, 1, 4096).assertSuccess();
        assertFalse(read.successFlag(), "flow-controlled queue: a CapsuleResp follows the data");
        assertEquals(3, read.cqe().sqHead());
        assertEquals(0, flow.writeInCapsule(1, 1, data, 4096).assertSuccess().cqe().sqHead(), "wraps at the queue size");

        RawHost free = fixture.host();
        free.initialize(false, false);
        Cqe connected = free.connect(2, 4, 0, cntlid, NQN_A, RawHost.HOST_NQN, Fabrics.CATTR_DISABLE_SQ_FLOW_CONTROL)
                .assertSuccess().cqe();
        assertEquals(0, connected.sqHead());
        assertEquals(0, free.writeInCapsule(1, 2, data, 4096).assertSuccess().cqe().sqHead());
        RawHost.Response fast = free.read(1, 0, 1, 4096);
        assertTrue(fast.successFlag(), "SUCCESS in the last C2HData");
        assertNull(fast.cqe());
        assertArrayEquals(data, fast.data());
        assertNull(free.poll(200), "no CapsuleResp after SUCCESS");
    }

    // ------------------------------------------------------------------ connecting

    @Test
    void connect_refusesHostsNotAllowed_unknownSubsystems_andBadIoQueues() {
        Subsystem a = Subsystem.builder(NQN_A).namespace(file("a", MIB, 4096)).allowHost(OTHER_HOST).build();
        Subsystem c = Subsystem.builder(NQN_C).namespace(file("c", MIB, 4096)).allowAnyHost(true).build();
        fixture.start(targetBuilder().subsystem(a).subsystem(c).maxQueueSize(16).maxIoQueues(2).build());
        RawHost h = fixture.host();
        h.initialize(false, false);
        Cqe refused = h.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NQN_A, RawHost.HOST_NQN, 0)
                .assertStatus(NvmeStatus.CONNECT_INVALID_HOST).cqe();
        assertEquals(1, refused.statusCodeType());
        assertEquals(0x84, refused.statusCode());
        assertTrue(refused.doNotRetry());
        Cqe unknown = h.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, "nqn.2024-01.io.thermocline.test:none", RawHost.HOST_NQN, 0)
                .assertStatus(NvmeStatus.CONNECT_INVALID_PARAMETERS).cqe();
        assertEquals(1 << 16 | Fabrics.CONNECT_DATA_SUBNQN_OFFSET, unknown.dw0(), "IATTR data, IPO SUBNQN");
        h.connect(0, 33, 0, Fabrics.CNTLID_DYNAMIC, NQN_C, RawHost.HOST_NQN, 0).assertStatus(NvmeStatus.CONNECT_INVALID_PARAMETERS);
        int cntlid = h.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NQN_C, RawHost.HOST_NQN, 0).assertSuccess().cqe().dw0();
        assertEquals(1, fixture.target().controllerCount());

        RawHost io = fixture.host();
        io.initialize(false, false);
        io.connect(1, 16, 0, cntlid, NQN_C, RawHost.HOST_NQN, 0).assertStatus(NvmeStatus.COMMAND_SEQUENCE_ERROR);  // not enabled
        h.enable();
        Cqe wrongId = io.connect(1, 16, 0, cntlid + 1, NQN_C, RawHost.HOST_NQN, 0)
                .assertStatus(NvmeStatus.CONNECT_INVALID_PARAMETERS).cqe();
        assertEquals(1 << 16 | Fabrics.CONNECT_DATA_CNTLID_OFFSET, wrongId.dw0(), "IATTR data, IPO CNTLID");
        io.connect(1, 16, 0, cntlid, NQN_C, OTHER_HOST, 0).assertStatus(NvmeStatus.CONNECT_INVALID_PARAMETERS);
        assertEquals(Fabrics.CONNECT_SQSIZE_OFFSET,
                io.connect(1, 17, 0, cntlid, NQN_C, RawHost.HOST_NQN, 0).assertStatus(NvmeStatus.CONNECT_INVALID_PARAMETERS).cqe().dw0());
        assertEquals(Fabrics.CONNECT_QID_OFFSET,
                io.connect(3, 16, 0, cntlid, NQN_C, RawHost.HOST_NQN, 0).assertStatus(NvmeStatus.CONNECT_INVALID_PARAMETERS).cqe().dw0());
        io.connect(2, 16, 0, cntlid, NQN_C, RawHost.HOST_NQN, 0).assertSuccess();
        io.connect(1, 16, 0, cntlid, NQN_C, RawHost.HOST_NQN, 0).assertStatus(NvmeStatus.INVALID_OPCODE);  // connected already

        RawHost dup = fixture.host();
        dup.initialize(false, false);
        dup.connect(2, 16, 0, cntlid, NQN_C, RawHost.HOST_NQN, 0).assertStatus(NvmeStatus.COMMAND_SEQUENCE_ERROR);

        // losing the admin queue ends the association: its I/O queues close too
        h.close();
        io.awaitClosed(RawHost.TIMEOUT_MS);
        assertEquals(0, fixture.target().controllerCount());
    }

    @Test
    void firstCapsuleThatIsNotConnect_isRefused_andTheConnectionClosed() {
        fixture.start(targetBuilder().subsystem(subsystem(NQN_A, file("a", MIB, 4096))).build());
        RawHost h = fixture.host();
        h.initialize(true, false);
        h.send(h.encoder.capsuleCmd(h.channel().alloc(),
                new Sqe().opcode(NvmeOpcodes.ADMIN_IDENTIFY).cdw(10, 1).commandId(0x1234).sglTransport(4096), null));
        List<Object> seen = h.awaitClosed(RawHost.TIMEOUT_MS);
        assertEquals(1, seen.size(), seen.toString());
        Cqe cqe = ((Pdu.CapsuleResp) seen.get(0)).cqe();
        assertEquals(0x1234, cqe.commandId());
        assertEquals(NvmeStatus.INVALID_OPCODE, cqe.nvmeStatus());
        assertTrue(cqe.doNotRetry());
    }

    @Test
    void connectionsWithoutASuccessfulConnect_areClosedAfterTheConnectTimeout() {
        fixture.start(targetBuilder().subsystem(subsystem(NQN_A, file("a", MIB, 4096)))
                .connectTimeout(java.time.Duration.ofMillis(200)).build());
        RawHost silent = fixture.host();
        RawHost refused = fixture.host();
        refused.initialize(false, false);
        refused.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NQN_A, OTHER_HOST, 0).assertStatus(NvmeStatus.CONNECT_INVALID_HOST);
        RawHost connected = fixture.host();
        connected.initialize(false, false);
        connected.connectAdminAndEnable(NQN_A, 0);
        silent.awaitClosed(RawHost.TIMEOUT_MS);
        refused.awaitClosed(RawHost.TIMEOUT_MS);
        assertNull(connected.poll(400), "a connected queue stays open");
        connected.run(new Sqe().opcode(NvmeOpcodes.ADMIN_KEEP_ALIVE).sglTransport(0), null, null).assertSuccess();
    }

    @Test
    void disconnect_completesAndClosesTheIoQueue_only() {
        fixture.start(targetBuilder().subsystem(subsystem(NQN_A, file("a", MIB, 4096))).build());
        RawHost admin = fixture.host();
        admin.initialize(false, false);
        int cntlid = admin.connectAdminAndEnable(NQN_A, 0);
        RawHost io = fixture.host();
        io.initialize(false, false);
        io.connect(1, 8, 0, cntlid, NQN_A, RawHost.HOST_NQN, 0).assertSuccess();
        admin.run(Fabrics.disconnect(), null, null).assertStatus(NvmeStatus.INVALID_FIELD);
        io.run(Fabrics.disconnect(), null, null).assertSuccess();
        io.awaitClosed(RawHost.TIMEOUT_MS);
        admin.run(new Sqe().opcode(NvmeOpcodes.ADMIN_KEEP_ALIVE).sglTransport(0), null, null).assertSuccess();
        RawHost again = fixture.host();
        again.initialize(false, false);
        again.connect(1, 8, 0, cntlid, NQN_A, RawHost.HOST_NQN, 0).assertSuccess();  // the QID is free again
    }

    @Test
    void keepAlive_commandsKeepTheAssociation_silenceEndsIt() throws InterruptedException {
        fixture.start(targetBuilder().subsystem(subsystem(NQN_A, file("a", MIB, 4096))).build());
        RawHost h = fixture.host();
        h.initialize(false, false);
        int cntlid = h.connectAdminAndEnable(NQN_A, 400);
        RawHost io = fixture.host();
        io.initialize(false, false);
        io.connect(1, 8, 0, cntlid, NQN_A, RawHost.HOST_NQN, 0).assertSuccess();
        for (int i = 0; i < 8; i++) {
            Thread.sleep(100);
            h.run(new Sqe().opcode(NvmeOpcodes.ADMIN_KEEP_ALIVE).sglTransport(0), null, null).assertSuccess();
        }
        long silentSince = System.nanoTime();
        h.awaitClosed(3000);
        long silentMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - silentSince);
        assertTrue(silentMs >= 300, "closed after " + silentMs + " ms of silence (KATO 400 ms)");
        io.awaitClosed(RawHost.TIMEOUT_MS);
        assertEquals(0, fixture.target().controllerCount());
    }

    // ------------------------------------------------------------------ closing

    /** Completes writes late, to keep them in flight while the target closes. */
    private record SlowDevice(BlockDevice inner, long delayMs, java.util.concurrent.atomic.AtomicInteger writesStarted)
            implements BlockDevice {
        SlowDevice(BlockDevice inner, long delayMs) {
            this(inner, delayMs, new java.util.concurrent.atomic.AtomicInteger());
        }

        @Override
        public String name() {
            return inner.name();
        }

        @Override
        public long sizeInBytes() {
            return inner.sizeInBytes();
        }

        @Override
        public int blockSizeInBytes() {
            return inner.blockSizeInBytes();
        }

        @Override
        public CompletableFuture<Void> read(long offset, ByteBuffer dst) {
            return inner.read(offset, dst);
        }

        @Override
        public CompletableFuture<Void> write(long offset, ByteBuffer src) {
            writesStarted.incrementAndGet();
            return CompletableFuture.runAsync(() -> { }, CompletableFuture.delayedExecutor(delayMs, TimeUnit.MILLISECONDS))
                    .thenCompose(v -> inner.write(offset, src));
        }

        @Override
        public CompletableFuture<Void> flush() {
            return inner.flush();
        }

        @Override
        public CompletableFuture<Void> trim(long offset, long lengthInBytes) {
            return inner.trim(offset, lengthInBytes);
        }

        @Override
        public CompletableFuture<Void> writeZeroes(long offset, long lengthInBytes) {
            return inner.writeZeroes(offset, lengthInBytes);
        }

        @Override
        public void close() {
            inner.close();
        }
    }

    @Test
    void close_finishesCommandsInFlight_closesConnections_andOnlyTheNamespacesItOwns() throws Exception {
        FileBlockDevice kept = FileBlockDevice.open(dir.resolve("kept"), FileBlockDevice.options().sizeInBytes(MIB));
        Namespace owned = file("owned", MIB, 4096);
        try {
            SlowDevice slowDevice = new SlowDevice(kept, 300);
            Namespace slow = Namespace.of(slowDevice);
            fixture.start(targetBuilder().subsystem(subsystem(NQN_A, slow, owned)).shutdownTimeout(java.time.Duration.ofSeconds(5)).build());
            RawHost io = ioQueue(NQN_A, false, false, 8, 0);
            byte[] data = random(4096, 21);
            int cid = io.nextCid();
            io.send(io.encoder.capsuleCmd(io.channel().alloc(), new Sqe().opcode(NvmeOpcodes.IO_WRITE).nsid(1).cdw(12, 0)
                    .sglInCapsule(4096).commandId(cid), Unpooled.wrappedBuffer(data)));
            TestTimeouts.await("the write reaching the slow device", java.time.Duration.ofSeconds(10),
                    () -> slowDevice.writesStarted().get() > 0);
            Thread closer = Thread.ofPlatform().start(fixture.target()::close);
            io.await(cid, null).assertSuccess();
            io.awaitClosed(RawHost.TIMEOUT_MS);
            closer.join(TestTimeouts.millis(10));
            assertFalse(closer.isAlive());

            ByteBuffer back = ByteBuffer.allocate(4096);
            kept.read(0, back).join();
            assertArrayEquals(data, back.array(), "the write in flight finished");
            CompletionException closed = assertThrows(CompletionException.class,
                    () -> owned.device().read(0, ByteBuffer.allocate(4096)).join());
            assertInstanceOf(TierUnavailableException.class, closed.getCause(), "the owned namespace is closed");
            assertThrows(IOException.class, () -> new Socket(fixture.address().getAddress(), fixture.address().getPort()).close(),
                    "no longer listening");
        } finally {
            kept.close();
        }
    }

    @Test
    void builders_nameWhatIsWrong() {
        IllegalArgumentException nqn = assertThrows(IllegalArgumentException.class, () -> Subsystem.builder("iqn.bad"));
        assertTrue(nqn.getMessage().contains("'iqn.bad'"), nqn.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Subsystem.builder(NvmeOpcodes.DISCOVERY_NQN));
        assertThrows(IllegalStateException.class, () -> Subsystem.builder(NQN_A).build());
        IllegalArgumentException serial = assertThrows(IllegalArgumentException.class,
                () -> Subsystem.builder(NQN_A).serial("x".repeat(21)));
        assertTrue(serial.getMessage().contains("expected 1..20"), serial.getMessage());
        IllegalArgumentException h2c = assertThrows(IllegalArgumentException.class,
                () -> NvmeTcpTarget.builder().maxH2cData(4098));
        assertTrue(h2c.getMessage().contains("multiple of 4"), h2c.getMessage());
        assertThrows(IllegalArgumentException.class, () -> NvmeTcpTarget.builder().inCapsuleDataSize(100));
        assertThrows(IllegalArgumentException.class, () -> NvmeTcpTarget.builder().port(70000));
        Subsystem s = subsystem(NQN_A, file("x", MIB, 4096));
        assertThrows(IllegalArgumentException.class, () -> NvmeTcpTarget.builder().subsystem(s).subsystem(s));
        s.namespaces().getFirst().device().close();
    }
}
