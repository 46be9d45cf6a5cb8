package io.thermocline.tier;

/**
 * An I/O operation failed on a tier that is otherwise reachable: a read error, a truncated
 * or unreadable object file, a malformed stored record. The message names the resource.
 */
public final class TierIoException extends TierException {

    private static final long serialVersionUID = 1L;

    private final boolean retryable;

    public TierIoException(String message, boolean retryable, Throwable cause) {
        super(message, cause);
        this.retryable = retryable;
    }

    public TierIoException(String message, boolean retryable) {
        super(message);
        this.retryable = retryable;
    }

    @Override
    public boolean retryable() {
        return retryable;
    }
}
