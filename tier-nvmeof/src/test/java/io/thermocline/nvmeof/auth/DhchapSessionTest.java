package io.thermocline.nvmeof.auth;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** The host and controller sessions against each other through an in-memory transport. */
@ScaledTimeout(60)
class DhchapSessionTest {
    private static final String HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555";
    private static final String SUB_NQN = "nqn.2026-11.io.thermocline:auth";
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final DhchapSecret HOST = DhchapSecret.generate(1, 32, RANDOM);
    private static final DhchapSecret CTRL = DhchapSecret.generate(2, 48, RANDOM);

    /** Delivers each message straight to the controller session; records what went by. */
    private static final class Wire implements AuthTransport {
        final DhchapControllerSession controller;
        final List<Integer> sentIds = new ArrayList<>();

        Wire(DhchapControllerSession controller) {
            this.controller = controller;
        }

        @Override
        public CompletableFuture<Void> send(byte[] message) {
            sentIds.add(message[1] & 0xFF);
            controller.onSend(message, message.length);
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public CompletableFuture<byte[]> receive(int allocationLength) {
            return CompletableFuture.completedFuture(controller.onReceive(allocationLength));
        }
    }

    private static Throwable run(DhchapSecret hostSecret, DhchapSecret hostCtrlSecret, DhchapHostConfig config, Wire[] out) {
        DhchapControllerSession c = new DhchapControllerSession(HOST_NQN, SUB_NQN, config, RANDOM);
        Wire w = new Wire(c);
        out[0] = w;
        DhchapHostSession h = new DhchapHostSession(HOST_NQN, SUB_NQN, hostSecret, hostCtrlSecret, 5, RANDOM);
        try {
            h.run(w, Runnable::run).join();
            return null;
        } catch (CompletionException e) {
            return e.getCause();
        }
    }

    @Test
    void unidirectional_everyHash_authenticates() {
        for (DhchapHash hash : DhchapHash.values()) {
            Wire[] w = new Wire[1];
            assertEquals(null, run(HOST, null, new DhchapHostConfig(HOST, null, hash, DhGroup.NULL), w));
            assertTrue(w[0].controller.authenticated(), hash.name());
            assertEquals(hash, w[0].controller.hash());
            assertEquals(List.of(0x00, 0x02), w[0].sentIds);  // Negotiate, Reply: no Success2
        }
    }

    @Test
    void bidirectionalWithDh_authenticatesBothWays() {
        Wire[] w = new Wire[1];
        assertEquals(null, run(HOST, CTRL, new DhchapHostConfig(HOST, CTRL, DhchapHash.SHA_512, DhGroup.FFDHE2048), w));
        assertTrue(w[0].controller.authenticated());
        assertEquals(List.of(0x00, 0x02, 0x04), w[0].sentIds);  // ... and Success2
    }

    @Test
    void wrongHostSecret_controllerRefusesWithFailed() {
        Wire[] w = new Wire[1];
        Throwable t = run(DhchapSecret.generate(1, 32, RANDOM), null, new DhchapHostConfig(HOST, null, DhchapHash.SHA_256,
                DhGroup.FFDHE2048), w);
        DhchapException e = assertInstanceOf(DhchapException.class, t);
        assertTrue(e.byPeer());
        assertEquals(DhchapFailure.FAILED, e.failure());
        assertTrue(w[0].controller.failed());
        assertFalse(w[0].controller.authenticated());
    }

    @Test
    void wrongControllerSecret_hostRefusesAndSendsFailure2() {
        Wire[] w = new Wire[1];
        Throwable t = run(HOST, DhchapSecret.generate(2, 48, RANDOM), new DhchapHostConfig(HOST, CTRL, DhchapHash.SHA_256,
                DhGroup.NULL), w);
        DhchapException e = assertInstanceOf(DhchapException.class, t);
        assertFalse(e.byPeer());
        assertEquals(DhchapFailure.FAILED, e.failure());
        assertEquals(0xF0, (int) w[0].sentIds.get(w[0].sentIds.size() - 1));
        assertTrue(w[0].controller.failed());
    }

    @Test
    void hostAsksForControllerAuthentication_noControllerSecret_refused() {
        Wire[] w = new Wire[1];
        Throwable t = run(HOST, CTRL, new DhchapHostConfig(HOST, null, DhchapHash.SHA_256, DhGroup.NULL), w);
        DhchapException e = assertInstanceOf(DhchapException.class, t);
        assertTrue(e.byPeer());
        assertTrue(w[0].controller.failed());
    }

    @Test
    void messageOutOfSequence_controllerAnswersFailure1IncorrectMessage() {
        DhchapControllerSession c = new DhchapControllerSession(HOST_NQN, SUB_NQN, DhchapHostConfig.of(HOST.format()), RANDOM);
        byte[] success2 = new AuthMessage.Success2(1).encode();
        c.onSend(success2, success2.length);
        byte[] answer = c.onReceive(4096);
        AuthMessage.Failure f = (AuthMessage.Failure) AuthMessage.decode(answer, answer.length);
        assertTrue(f.fromController());
        assertEquals(DhchapFailure.INCORRECT_PROTOCOL_MESSAGE.code(), f.explanation());
        assertTrue(c.failed());
    }

    @Test
    void receiveTooSmallForTheChallenge_isAnInvalidField() {
        DhchapControllerSession c = new DhchapControllerSession(HOST_NQN, SUB_NQN,
                DhchapHostConfig.of(HOST.format()).withDhGroup(DhGroup.FFDHE4096), RANDOM);
        byte[] n = new DhchapHostSession(HOST_NQN, SUB_NQN, HOST, null, 1, RANDOM).negotiate();
        c.onSend(n, n.length);
        assertThrows(IllegalArgumentException.class, () -> c.onReceive(64));
        assertEquals(16 + 32 + 512, c.onReceive(1024).length - (1024 - 16 - 32 - 512));
    }
}
