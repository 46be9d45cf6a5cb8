package io.thermocline.nvmeof.host;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.auth.DhchapHostConfig;
import io.thermocline.nvmeof.auth.DhchapSecret;
import io.thermocline.nvmeof.auth.TlsPsk;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The user-space host against the Java target over TLS 1.3 with a configured PSK. */
@ScaledTimeout(120)
class NvmeTcpTlsTest extends SecuredTargetTestBase {
    private static final String NQN = "nqn.2026-11.io.thermocline:tls-test";
    private static final String HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:7a1c0f7e-3333-4c2e-9e8a-0c3ad3a7f0ac";
    private static final UUID HOST_ID = UUID.fromString("7a1c0f7e-3333-4c2e-9e8a-0c3ad3a7f0ac");
    private static final SecureRandom RANDOM = new SecureRandom();


    private NvmeTcpHostOptions.Builder start(TlsPsk key, DhchapHostConfig auth) {
        return startTarget(NQN, new HostIdentity(HOST_NQN, HOST_ID), 16 << 20, auth,
                t -> t.connectTimeout(Duration.ofSeconds(5)).tlsKey(HOST_NQN, key))
                .commandTimeout(Duration.ofSeconds(20)).connectTimeout(Duration.ofSeconds(5));
    }

    private void connectAndUse(NvmeTcpHostOptions options) {
        try (NvmeTcpController c = NvmeTcpController.connectAndWait(loops, options)) {
            NvmeTcpBlockDevice dev = c.openNamespace(1);
            Random random = new Random(7);
            // 4 KiB in-capsule and 1 MiB through R2T/H2CData and split C2HData, all inside TLS records
            for (int length : new int[] {4096, 1 << 20}) {
                byte[] data = new byte[length];
                random.nextBytes(data);
                dev.write(8192, ByteBuffer.wrap(data)).join();
                ByteBuffer back = ByteBuffer.allocateDirect(length);
                dev.read(8192, back).join();
                byte[] got = new byte[length];
                back.flip().get(got);
                assertArrayEquals(data, got);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void configuredPsk_connectsAndServesIo(int hash) {
        TlsPsk key = TlsPsk.generate(hash, RANDOM);
        connectAndUse(start(key, null).tlsKey(key.format()).build());
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void versionOneIdentity_nvmeCliCompatDerivation_connects(int hash) {
        TlsPsk key = TlsPsk.generate(hash, RANDOM).withDerivation(TlsPsk.Derivation.NVME_CLI_COMPAT);
        connectAndUse(start(key, null).tlsKey(key.withIdentityVersion(1)).build());
    }

    @Test
    void derivationMismatch_handshakeFails() {
        TlsPsk key = TlsPsk.generate(1, RANDOM);
        NvmeTcpHostOptions options = start(key, null).tlsKey(key.withDerivation(TlsPsk.Derivation.NVME_CLI_COMPAT)).build();
        assertThrows(NvmeException.class, () -> NvmeTcpController.connectAndWait(loops, options).close());
    }

    @Test
    void tlsAndDhchapTogether() {
        TlsPsk key = TlsPsk.generate(1, RANDOM);
        String secret = DhchapSecret.generate(1, 32, RANDOM).format();
        connectAndUse(start(key, DhchapHostConfig.of(secret)).tlsKey(key.format()).dhchapSecret(secret).build());
    }

    @Test
    void wrongPsk_handshakeFailsWithoutHanging() {
        NvmeTcpHostOptions options = start(TlsPsk.generate(1, RANDOM), null).tlsKey(TlsPsk.generate(1, RANDOM).format()).build();
        NvmeException e = assertThrows(NvmeException.class, () -> NvmeTcpController.connectAndWait(loops, options).close());
        assertTrue(e.getMessage().contains("TLS") || e.getMessage().contains("closed"), e.getMessage());
    }

    @Test
    void cleartextHostOnATlsPort_isRefusedWithoutHanging() {
        NvmeTcpHostOptions options = start(TlsPsk.generate(1, RANDOM), null).build();
        assertThrows(NvmeException.class, () -> NvmeTcpController.connectAndWait(loops, options).close());
    }
}
