package io.thermocline.nvmeof.auth;

import java.util.concurrent.CompletableFuture;

/**
 * How a host's authentication transaction reaches the controller on one queue: Authentication
 * Send and Authentication Receive (NVMe over Fabrics 1.1 §3.5 and §3.6, SECP E9h, SPSP0 and SPSP1
 * 01h). Implementations bound every command by a timeout, so no step waits forever.
 */
public interface AuthTransport {
    /** Sends one message; the future fails unless the command completes with success. */
    CompletableFuture<Void> send(byte[] message);

    /** Receives into {@code allocationLength} bytes; the future fails unless the command completes with success. */
    CompletableFuture<byte[]> receive(int allocationLength);
}
