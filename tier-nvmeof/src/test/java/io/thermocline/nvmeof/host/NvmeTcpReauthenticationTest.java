package io.thermocline.nvmeof.host;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.auth.DhGroup;
import io.thermocline.nvmeof.auth.DhchapHash;
import io.thermocline.nvmeof.auth.DhchapHostConfig;
import io.thermocline.nvmeof.auth.DhchapSecret;
import io.thermocline.tier.testkit.TestTimeouts;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Host-initiated re-authentication (DH-HMAC-CHAP, a new transaction on every queue) while I/O goes on. */
@ScaledTimeout(120)
class NvmeTcpReauthenticationTest extends SecuredTargetTestBase {
    private static final String NQN = "nqn.2026-11.io.thermocline:reauth-test";
    private static final String HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:6a2d1f8e-3333-4d3f-8f9b-1d4be4b8a1bc";
    private static final UUID HOST_ID = UUID.fromString("6a2d1f8e-3333-4d3f-8f9b-1d4be4b8a1bc");
    private static final SecureRandom RANDOM = new SecureRandom();


    private NvmeTcpHostOptions.Builder start(DhchapHostConfig config) {
        return startTarget(NQN, new HostIdentity(HOST_NQN, HOST_ID), 16 << 20, config, t -> t);
    }

    @Test
    void reauthenticate_everyQueue_repeatedly_whileWritesAndReadsGoOn() throws Exception {
        String host = DhchapSecret.generate(1, 32, RANDOM).format();
        String ctrl = DhchapSecret.generate(2, 48, RANDOM).format();
        NvmeTcpHostOptions options = start(DhchapHostConfig.of(host, ctrl).withHash(DhchapHash.parse("hmac(sha384)"))
                .withDhGroup(DhGroup.parse("ffdhe2048"))).dhchapSecret(host).dhchapCtrlSecret(ctrl).build();
        try (NvmeTcpController c = NvmeTcpController.connectAndWait(loops, options)) {
            assertEquals(3, target.authentications(), "admin and two I/O queues authenticated at connect");
            NvmeTcpBlockDevice dev = c.openNamespace(1);
            AtomicBoolean running = new AtomicBoolean(true);
            AtomicInteger verified = new AtomicInteger();
            List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
            List<Thread> workers = new ArrayList<>();
            for (int w = 0; w < 4; w++) {
                int worker = w;
                workers.add(Thread.ofVirtual().start(() -> {
                    Random random = new Random(worker);
                    while (running.get()) {
                        try {
                            byte[] data = new byte[8192];
                            random.nextBytes(data);
                            long offset = (worker * 512L + random.nextInt(512)) * 8192;
                            dev.write(offset, ByteBuffer.wrap(data)).join();
                            ByteBuffer back = ByteBuffer.allocate(data.length);
                            dev.read(offset, back).join();
                            assertArrayEquals(data, back.array());
                            verified.incrementAndGet();
                        } catch (Throwable t) {
                            failures.add(t);
                            return;
                        }
                    }
                }));
            }
            for (int round = 0; round < 5; round++) {
                int before = verified.get();
                c.reauthenticate().get(30, java.util.concurrent.TimeUnit.SECONDS);
                assertTrue(c.isConnected(), "still connected after re-authentication " + round);
                long deadline = System.nanoTime() + TestTimeouts.seconds(10).toNanos();
                while (verified.get() == before && failures.isEmpty() && System.nanoTime() < deadline) {
                    Thread.sleep(1);
                }
            }
            running.set(false);
            for (Thread t : workers) {
                t.join();
            }
            assertEquals(List.of(), failures);
            assertTrue(verified.get() >= 5, "I/O went on across the re-authentications: " + verified.get());
            assertEquals(0, c.reconnectAttempts(), "no association was lost");
            assertEquals(3 + 5 * 3, target.authentications(), "every queue re-authenticated in each of 5 rounds");
        }
    }

    @Test
    void reauthenticate_withoutSecret_orAfterClose_fails() {
        NvmeTcpHostOptions options = start(null).build();
        NvmeTcpController c = NvmeTcpController.connectAndWait(loops, options);
        try (c) {
            CompletionException e = assertThrows(CompletionException.class, () -> c.reauthenticate().join());
            assertInstanceOf(IllegalStateException.class, e.getCause());
            assertTrue(e.getCause().getMessage().contains("no dhchap-secret"), e.getCause().getMessage());
        }
        CompletableFuture<Void> afterClose = c.reauthenticate();
        CompletionException e = assertThrows(CompletionException.class, afterClose::join);
        assertInstanceOf(IllegalStateException.class, e.getCause());
    }
}
