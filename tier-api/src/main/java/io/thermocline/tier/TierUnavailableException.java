package io.thermocline.tier;

/**
 * The tier cannot be reached or refuses service: a server is down, a path is lost, credentials
 * are rejected, the tier is closed. {@link #retryable()} says whether waiting may help (a
 * connection reset) or not (access denied, bucket missing, tier closed).
 */
public final class TierUnavailableException extends TierException {

    private static final long serialVersionUID = 1L;

    private final boolean retryable;

    public TierUnavailableException(String message, boolean retryable) {
        super(message);
        this.retryable = retryable;
    }

    public TierUnavailableException(String message, boolean retryable, Throwable cause) {
        super(message, cause);
        this.retryable = retryable;
    }

    @Override
    public boolean retryable() {
        return retryable;
    }
}
