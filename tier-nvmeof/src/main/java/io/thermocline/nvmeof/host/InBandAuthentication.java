package io.thermocline.nvmeof.host;

import io.netty.buffer.Unpooled;
import io.thermocline.nvmeof.auth.AuthTransport;
import io.thermocline.nvmeof.auth.DhchapException;
import io.thermocline.nvmeof.auth.DhchapHostSession;
import io.thermocline.nvmeof.auth.FabricSecurity;
import io.thermocline.nvmeof.pdu.Cqe;
import io.thermocline.nvmeof.pdu.Fabrics;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The host's in-band authentication of one queue, run right after its Fabrics Connect succeeded
 * (NVMe Base 2.0 §8.13.4; NVMe over Fabrics 1.1 §3.3: the Connect response's DW0 bit 17,
 * AUTHREQ.ATR, says the controller requires an authentication transaction on this queue before it
 * serves anything else; bit 18, AUTHREQ.ASCR, asks for secure channel concatenation, which this
 * host does not do).
 *
 * <p>Each step is one Authentication Send or Receive on the queue, so each is bounded by the
 * queue's command timeout: a controller that stops answering fails the connect, never hangs it.
 * DH and HMAC work runs on virtual threads, off the queue's event loop.
 */
final class InBandAuthentication {
    private static final Logger log = LoggerFactory.getLogger(InBandAuthentication.class);
    /** Connect response DW0 (NVMe over Fabrics 1.1 Figure 21; Linux {@code NVME_CONNECT_AUTHREQ_ATR}). */
    static final int AUTHREQ_ATR = 1 << 17;
    /** Secure channel concatenation required (Linux {@code NVME_CONNECT_AUTHREQ_ASCR}). */
    static final int AUTHREQ_ASCR = 1 << 18;
    /** SPSP0 and SPSP1 of Authentication Send/Receive for DH-HMAC-CHAP (NVMe Base 2.0 §8.13.5.1). */
    private static final int SPSP = 0x01;
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Executor CRYPTO = Executors.newVirtualThreadPerTaskExecutor();
    /** T_ID: different for every transaction this process starts. */
    private static final AtomicInteger TRANSACTIONS = new AtomicInteger(RANDOM.nextInt());

    private InBandAuthentication() {
    }

    /**
     * Authenticates queue {@code q} when its Connect response asks for it; completes with the same
     * response, or fails with an {@link NvmeException} of scope association naming the reason.
     */
    static CompletableFuture<Cqe> afterConnect(QueuePair q, NvmeTcpHostOptions options, FabricSecurity security, Cqe connected) {
        int dw0 = (int) connected.dw0();
        if ((dw0 & (AUTHREQ_ATR | AUTHREQ_ASCR)) == 0) {
            return CompletableFuture.completedFuture(connected);
        }
        String who = options.nqn() + " at " + options.traddr() + ":" + options.trsvcid() + " qid " + q.qid;
        if ((dw0 & AUTHREQ_ASCR) != 0) {
            return CompletableFuture.failedFuture(new NvmeException(who + ": the controller requires secure channel "
                    + "concatenation (Connect AUTHREQ.ASCR), which this host does not support", NvmeException.Scope.ASSOCIATION,
                    false, null));
        }
        if (security.dhchapSecret() == null) {
            return CompletableFuture.failedFuture(new NvmeException(who + ": the controller requires in-band authentication "
                    + "(Connect AUTHREQ.ATR) but no dhchap-secret is configured for host " + options.identity().hostNqn(),
                    NvmeException.Scope.ASSOCIATION, false, null));
        }
        return transaction(q, options, security, who).thenApply(v -> connected);
    }

    /**
     * A new transaction on queue {@code q}, which authenticated before (re-authentication, NVMe
     * Base 2.0 §8.13.4: the host may start one with AUTH_Negotiate at any time; commands on the
     * queue go on meanwhile). Fails like the first authentication; the controller then ends the
     * association.
     */
    static CompletableFuture<Void> reauthenticate(QueuePair q, NvmeTcpHostOptions options, FabricSecurity security) {
        String who = options.nqn() + " at " + options.traddr() + ":" + options.trsvcid() + " qid " + q.qid;
        return transaction(q, options, security, who);
    }

    private static CompletableFuture<Void> transaction(QueuePair q, NvmeTcpHostOptions options, FabricSecurity security,
                                                       String who) {
        DhchapHostSession session = new DhchapHostSession(options.identity().hostNqn(), options.nqn(), security.dhchapSecret(),
                security.dhchapCtrlSecret(), TRANSACTIONS.getAndIncrement(), RANDOM);
        return session.run(transport(q), CRYPTO).handle((v, t) -> {
            if (t == null) {
                log.debug("{}: authenticated with {} and {}{}", who, session.hash().hmacName(), session.group().groupName(),
                        security.dhchapCtrlSecret() != null ? ", controller authenticated" : "");
                return null;
            }
            Throwable cause = NvmeTcpController.unwrap(t);
            if (cause instanceof DhchapException e) {
                throw new NvmeException(who + ": in-band authentication as " + options.identity().hostNqn() + " failed: "
                        + e.getMessage(), NvmeException.Scope.ASSOCIATION, false, e);
            }
            throw new NvmeException(who + ": in-band authentication failed: " + cause.getMessage(),
                    NvmeException.Scope.ASSOCIATION, cause instanceof NvmeException ne && ne.retryable(), cause);
        });
    }

    private static AuthTransport transport(QueuePair q) {
        return new AuthTransport() {
            @Override
            public CompletableFuture<Void> send(byte[] message) {
                return q.submitChecked(new QueuePair.Request(Fabrics.authenticationSend(SPSP, SPSP, message.length),
                        "Authentication Send").write(Unpooled.wrappedBuffer(message))).thenApply(cqe -> null);
            }

            @Override
            public CompletableFuture<byte[]> receive(int allocationLength) {
                ByteBuffer dst = ByteBuffer.allocate(allocationLength);
                return q.submitChecked(new QueuePair.Request(Fabrics.authenticationReceive(SPSP, SPSP, allocationLength),
                        "Authentication Receive").read(dst, allocationLength)).thenApply(cqe -> dst.array());
            }
        };
    }
}
