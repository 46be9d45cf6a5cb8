package io.thermocline.nvmeof.target;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.Unpooled;
import io.thermocline.nvmeof.auth.DhchapHostConfig;
import io.thermocline.nvmeof.auth.DhchapSecret;
import io.thermocline.nvmeof.pdu.Cqe;
import io.thermocline.nvmeof.pdu.Fabrics;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.NvmeStatus;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The target's side of in-band authentication, seen by a host that speaks raw PDUs. */
@ScaledTimeout(60)
class NvmeTcpTargetAuthTest {
    private static final String NQN = "nqn.2024-01.io.thermocline.test:auth";
    @RegisterExtension
    static final RawTargetFixture fixture = new RawTargetFixture(1);

    @TempDir
    Path dir;

    private RawHost start(Duration connectTimeout) {
        String secret = DhchapSecret.generate(1, 32, new SecureRandom()).format();
        fixture.start(NvmeTcpTarget.builder().port(0).eventLoopThreads(1).connectTimeout(connectTimeout)
                .subsystem(Subsystem.builder(NQN).allowHost(RawHost.HOST_NQN, DhchapHostConfig.of(secret))
                        .namespace(Namespace.openFile(dir.resolve("ns"), 1 << 20, 512, false)).build())
                .build());
        RawHost h = fixture.host();
        h.initialize(false, false);
        return h;
    }

    @Test
    void connect_hostWithKey_responseSetsAtrAndOtherCommandsNeedAuthentication() {
        RawHost h = start(Duration.ofSeconds(30));
        Cqe connected = h.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NQN, RawHost.HOST_NQN, 0).assertSuccess().cqe();
        assertEquals(1 << 17, connected.dw0() & (1 << 17), "AUTHREQ.ATR in " + connected);
        Cqe refused = h.run(Fabrics.propertyGet(NvmeOpcodes.PROPERTY_CAP), null, null).assertStatus(NvmeStatus.AUTH_REQUIRED).cqe();
        assertTrue(refused.doNotRetry(), "DNR on " + refused);
        h.identify(NvmeOpcodes.CNS_CONTROLLER, 0).assertStatus(NvmeStatus.AUTH_REQUIRED);
    }

    @Test
    void authenticationSend_wrongSecurityProtocol_isInvalidField() {
        RawHost h = start(Duration.ofSeconds(30));
        h.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NQN, RawHost.HOST_NQN, 0).assertSuccess();
        byte[] junk = new byte[72];
        h.run(Fabrics.authenticationSend(1, 1, junk.length).u8(Fabrics.AUTH_SECP_OFFSET, 0xEA),
                Unpooled.wrappedBuffer(junk), null).assertStatus(NvmeStatus.INVALID_FIELD);
    }

    @Test
    void hostThatNeverAuthenticates_isDisconnectedAfterTheConnectTimeout() {
        RawHost h = start(Duration.ofMillis(500));
        h.connect(0, 32, 0, Fabrics.CNTLID_DYNAMIC, NQN, RawHost.HOST_NQN, 0).assertSuccess();
        h.awaitClosed(RawHost.TIMEOUT_MS);
    }
}
