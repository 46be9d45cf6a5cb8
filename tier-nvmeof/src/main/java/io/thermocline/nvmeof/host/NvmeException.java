package io.thermocline.nvmeof.host;

import io.thermocline.nvmeof.pdu.Cqe;
import io.thermocline.nvmeof.pdu.NvmeStatus;

/**
 * A failure of an NVMe/TCP command, and how much it took down with it: only the command (the
 * controller answered with an error status), the queue's connection, or the whole controller
 * association (the admin queue, or a failure that leaves the controller's state unknown).
 * {@code NvmeTcpBlockDevice} reports these to its callers as the cause of a
 * {@code TierIoException}.
 */
public class NvmeException extends RuntimeException {
    /** How far a failure reaches. */
    public enum Scope {
        /** The command failed; the queue and controller go on. */
        COMMAND,
        /** The queue's connection ended; commands on other queues are unaffected. */
        QUEUE,
        /** The controller association ended: every queue is gone. */
        ASSOCIATION
    }

    private final Scope scope;
    private final Cqe completion;
    private final boolean retryable;

    public NvmeException(String message, Scope scope, boolean retryable, Throwable cause) {
        super(message, cause);
        this.scope = scope;
        this.completion = null;
        this.retryable = retryable;
    }

    /** A command the controller completed with an error status. */
    public NvmeException(String what, Cqe completion) {
        super(what + " failed: " + NvmeStatus.describe(completion.status()));
        this.scope = Scope.COMMAND;
        this.completion = completion;
        this.retryable = !completion.doNotRetry();
    }

    public Scope scope() {
        return scope;
    }

    /** The completion the controller sent, or {@code null} when the failure was the transport's. */
    public Cqe completion() {
        return completion;
    }

    /** The status, or {@link NvmeStatus#UNKNOWN} for transport failures. */
    public NvmeStatus status() {
        return completion == null ? NvmeStatus.UNKNOWN : completion.nvmeStatus();
    }

    /** Whether the same command may succeed if sent again (for a status: the DNR bit is clear). */
    public boolean retryable() {
        return retryable;
    }
}
