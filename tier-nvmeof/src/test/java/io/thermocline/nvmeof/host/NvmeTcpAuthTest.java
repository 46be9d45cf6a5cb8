package io.thermocline.nvmeof.host;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.auth.DhGroup;
import io.thermocline.nvmeof.auth.DhchapException;
import io.thermocline.nvmeof.auth.DhchapFailure;
import io.thermocline.nvmeof.auth.DhchapHash;
import io.thermocline.nvmeof.auth.DhchapHostConfig;
import io.thermocline.nvmeof.auth.DhchapSecret;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The user-space host against the Java target with DH-HMAC-CHAP on every queue. */
@ScaledTimeout(120)
class NvmeTcpAuthTest extends SecuredTargetTestBase {
    private static final String NQN = "nqn.2026-11.io.thermocline:auth-test";
    private static final String HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:5d1c0f7e-2222-4c2e-9e8a-0c3ad3a7f0ab";
    private static final UUID HOST_ID = UUID.fromString("5d1c0f7e-2222-4c2e-9e8a-0c3ad3a7f0ab");
    private static final SecureRandom RANDOM = new SecureRandom();


    private static String secret(int transform, int length) {
        return DhchapSecret.generate(transform, length, RANDOM).format();
    }

    private NvmeTcpHostOptions.Builder start(DhchapHostConfig config) {
        return startTarget(NQN, new HostIdentity(HOST_NQN, HOST_ID), 4 << 20, config, t -> t);
    }

    /** Connects, writes and reads back through both I/O queues (each authenticated on its own). */
    private void connectAndUse(NvmeTcpHostOptions options) {
        try (NvmeTcpController c = NvmeTcpController.connectAndWait(loops, options)) {
            assertEquals(2, c.ioQueueCount());
            NvmeTcpBlockDevice dev = c.openNamespace(1);
            for (int i = 0; i < 4; i++) {
                ByteBuffer out = ByteBuffer.allocate(4096);
                for (int j = 0; j < 4096; j++) {
                    out.put(j, (byte) (i * 31 + j));
                }
                dev.write((long) i * 4096, out.duplicate()).join();
                ByteBuffer in = ByteBuffer.allocate(4096);
                dev.read((long) i * 4096, in).join();
                assertArrayEquals(out.array(), in.array());
            }
        }
    }

    private NvmeException refused(NvmeTcpHostOptions options) {
        return assertThrows(NvmeException.class, () -> NvmeTcpController.connectAndWait(loops, options).close());
    }

    @Test
    void hostSecret_nullGroup_connectsAndServesIo() {
        String s = secret(1, 32);
        connectAndUse(start(DhchapHostConfig.of(s)).dhchapSecret(s).build());
    }

    @Test
    void bidirectional_connectsAndServesIo() {
        String host = secret(2, 48);
        String ctrl = secret(3, 64);
        connectAndUse(start(DhchapHostConfig.of(host, ctrl).withHash(DhchapHash.SHA_384))
                .dhchapSecret(host).dhchapCtrlSecret(ctrl).build());
    }

    /** Every RFC 7919 group, each with a different hash; ffdhe8192 is the slowest (three queues, both sides). */
    @ParameterizedTest
    @CsvSource({"FFDHE2048, SHA_256", "FFDHE3072, SHA_384", "FFDHE4096, SHA_512", "FFDHE6144, SHA_256", "FFDHE8192, SHA_512"})
    void dhGroup_connectsAndServesIo(DhGroup group, DhchapHash hash) {
        String host = secret(0, 32);
        String ctrl = secret(1, 32);
        connectAndUse(start(DhchapHostConfig.of(host, ctrl).withHash(hash).withDhGroup(group))
                .dhchapSecret(host).dhchapCtrlSecret(ctrl).build());
    }

    @Test
    void wrongHostSecret_controllerRefusesWithAuthenticationFailed() {
        NvmeTcpHostOptions options = start(DhchapHostConfig.of(secret(1, 32)).withDhGroup(DhGroup.FFDHE2048))
                .dhchapSecret(secret(1, 32)).build();
        NvmeException e = refused(options);
        assertEquals(NvmeException.Scope.ASSOCIATION, e.scope());
        assertFalse(e.retryable());
        DhchapException cause = assertInstanceOf(DhchapException.class, e.getCause());
        assertTrue(cause.byPeer(), e.getMessage());
        assertEquals(DhchapFailure.FAILED, cause.failure());
        assertTrue(e.getMessage().contains("authentication failed (01h)"), e.getMessage());
    }

    @Test
    void missingHostSecret_refusedBeforeAnyOtherCommand() {
        NvmeException e = refused(start(DhchapHostConfig.of(secret(1, 32))).build());
        assertTrue(e.getMessage().contains("no dhchap-secret"), e.getMessage());
        assertFalse(e.retryable());
    }

    @Test
    void wrongControllerSecret_hostRefusesTheController() {
        String host = secret(1, 32);
        NvmeTcpHostOptions options = start(DhchapHostConfig.of(host, secret(1, 32)))
                .dhchapSecret(host).dhchapCtrlSecret(secret(1, 32)).build();
        NvmeException e = refused(options);
        DhchapException cause = assertInstanceOf(DhchapException.class, e.getCause());
        assertFalse(cause.byPeer());
        assertEquals(DhchapFailure.FAILED, cause.failure());
    }

    @Test
    void controllerSecretAskedButNotConfigured_refused() {
        String host = secret(1, 32);
        NvmeException e = refused(start(DhchapHostConfig.of(host)).dhchapSecret(host).dhchapCtrlSecret(secret(1, 32)).build());
        DhchapException cause = assertInstanceOf(DhchapException.class, e.getCause());
        assertTrue(cause.byPeer());
    }

    @Test
    void hostWithSecret_targetWithoutKeys_connectsWithoutAuthentication() {
        target = NvmeTcpTarget.builder().port(0).eventLoopThreads(1)
                .subsystem(Subsystem.builder(NQN).allowHost(HOST_NQN)
                        .namespace(Namespace.openFile(dir.resolve("ns"), 4 << 20, 4096, false)).build())
                .build();
        address = target.start();
        loops = new NvmeEventLoops(1);
        connectAndUse(NvmeTcpHostOptions.builder(address.getHostString(), address.getPort(), NQN)
                .identity(new HostIdentity(HOST_NQN, HOST_ID)).nrIoQueues(2).dhchapSecret(secret(1, 32)).build());
    }
}
