package io.thermocline.nvmeof.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.Unpooled;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.NvmeStatus;
import io.thermocline.nvmeof.pdu.Sqe;
import io.thermocline.nvmeof.pdu.VendorIdentify;
import io.thermocline.tier.local.FileBlockDevice;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The service time handshake at the wire: what a host that never opted in gets (standard CQEs,
 * DW1 0), what the opt-in changes, and a target that does not offer it.
 */
class NvmeTcpTargetServiceTimeTest {
    static final String NQN = NvmeTcpTargetTest.NQN_A;
    static final int BS = 4096;

    @RegisterExtension
    static final RawTargetFixture fixture = new RawTargetFixture(2);

    @TempDir
    Path dir;

    /** Namespace 1 is a file read with sendfile, namespace 2 a device read through a buffer. */
    private void start(boolean advertise) {
        FileBlockDevice device = FileBlockDevice.open(dir.resolve("dev.img"),
                FileBlockDevice.options().sizeInBytes(1 << 20).blockSizeInBytes(BS).directIo(false));
        Subsystem s = Subsystem.builder(NQN).allowHost(RawHost.HOST_NQN)
                .namespace(Namespace.openFile(dir.resolve("file.img"), 1 << 20, BS, false))
                .namespace(new Namespace(device, null, true, true))
                .build();
        fixture.start(NvmeTcpTarget.builder().port(0).eventLoopThreads(1).serviceTimeReporting(advertise).subsystem(s).build());
    }

    private static RawHost.Response setServiceTime(RawHost admin, int cdw11) {
        return admin.run(new Sqe().opcode(NvmeOpcodes.ADMIN_SET_FEATURES).cdw(10, VendorIdentify.FEATURE_SERVICE_TIME)
                .cdw(11, cdw11), null, null);
    }

    @Test
    void hostThatDidNotOptIn_seesStandardCompletions_thenTheOptInAddsServiceTimeInDw1() {
        start(true);
        RawHost admin = fixture.host();
        admin.initialize(false, false);
        int cntlid = admin.connectAdminAndEnable(NQN, 0);
        byte[] id = admin.identify(NvmeOpcodes.CNS_CONTROLLER, 0).assertSuccess().data();
        assertTrue(VendorIdentify.offersServiceTime(Unpooled.wrappedBuffer(id)), "Identify Controller advertises it");
        RawHost io = fixture.host();
        io.initialize(false, false);
        io.connect(1, 32, 0, cntlid, NQN, RawHost.HOST_NQN, 0).assertSuccess();
        byte[] data = new byte[BS];
        for (int nsid = 1; nsid <= 2; nsid++) {
            assertEquals(0, io.read(nsid, 0, 1, BS).assertSuccess().result(), "read of namespace " + nsid + " before the opt-in");
            assertEquals(0, io.writeInCapsule(nsid, 0, data, BS).assertSuccess().result(), "write before the opt-in");
        }

        setServiceTime(admin, VendorIdentify.SERVICE_TIME_ENABLE).assertSuccess();
        long current = admin.run(new Sqe().opcode(NvmeOpcodes.ADMIN_GET_FEATURES).cdw(10, VendorIdentify.FEATURE_SERVICE_TIME),
                null, null).assertSuccess().result();
        assertEquals(1, current, "Get Features C0h reads the opt-in back");
        for (int nsid = 1; nsid <= 2; nsid++) {
            for (int i = 0; i < 20; i++) {
                long result = io.read(nsid, i, 1, BS).assertSuccess().result();
                assertEquals(0, (int) result, "DW0 stays 0");
                long nanos = result >>> 32;
                assertTrue(nanos > 0 && nanos < TimeUnit.SECONDS.toNanos(30), "service time " + nanos + " ns of a read of namespace " + nsid);
            }
            long w = io.writeInCapsule(nsid, 1, data, BS).assertSuccess().result();
            assertTrue((w >>> 32) > 0 && (int) w == 0, "a write's completion carries it too: 0x" + Long.toHexString(w));
        }
        // other commands keep standard completions
        assertEquals(0, io.run(new Sqe().opcode(NvmeOpcodes.IO_FLUSH).nsid(1), null, null).assertSuccess().result());

        setServiceTime(admin, 0).assertSuccess();
        assertEquals(0, io.read(1, 0, 1, BS).assertSuccess().result(), "turned off again");
        setServiceTime(admin, 2).assertStatus(NvmeStatus.INVALID_FIELD);
    }

    @Test
    void otherHostsOnTheSameTarget_keepStandardCompletions() {
        start(true);
        RawHost optedAdmin = fixture.host();
        optedAdmin.initialize(false, false);
        optedAdmin.connectAdminAndEnable(NQN, 0);
        setServiceTime(optedAdmin, 1).assertSuccess();
        // a second association of the same host NQN that did not opt in: the opt-in is per controller
        RawHost admin = fixture.host();
        admin.initialize(false, false);
        int cntlid = admin.connectAdminAndEnable(NQN, 0);
        RawHost io = fixture.host();
        io.initialize(false, false);
        io.connect(1, 32, 0, cntlid, NQN, RawHost.HOST_NQN, 0).assertSuccess();
        for (int i = 0; i < 10; i++) {
            assertEquals(0, io.read(1, i, 1, BS).assertSuccess().result());
        }
    }

    @Test
    void targetThatDoesNotOfferIt_advertisesNothingAndRefusesTheOptIn() {
        start(false);
        RawHost admin = fixture.host();
        admin.initialize(false, false);
        admin.connectAdminAndEnable(NQN, 0);
        byte[] id = admin.identify(NvmeOpcodes.CNS_CONTROLLER, 0).assertSuccess().data();
        assertFalse(VendorIdentify.offersServiceTime(Unpooled.wrappedBuffer(id)));
        for (int i = VendorIdentify.VS_OFFSET; i < id.length; i++) {
            assertEquals(0, id[i], "vendor specific byte " + i);
        }
        setServiceTime(admin, 1).assertStatus(NvmeStatus.INVALID_FIELD);
    }
}
