package io.thermocline.tier;

/**
 * The root of every failure a tier reports. Each subclass names what went wrong and with which
 * resource; {@link #retryable()} says whether the same call may succeed later unchanged.
 *
 * <p>Unchecked, because tier operations complete {@link java.util.concurrent.CompletableFuture}s
 * and an exception there is unwrapped by the caller anyway; use {@link #unwrap(Throwable)} to get
 * the tier exception out of a {@link java.util.concurrent.CompletionException}.
 */
public abstract sealed class TierException extends RuntimeException
        permits ObjectNotFoundException, ChecksumMismatchException, TierFullException,
                TierUnavailableException, InvalidArgumentException, TierIoException {

    private static final long serialVersionUID = 1L;

    protected TierException(String message) {
        super(message);
    }

    protected TierException(String message, Throwable cause) {
        super(message, cause);
    }

    /** True if repeating the same operation later, unchanged, may succeed. */
    public abstract boolean retryable();

    /**
     * Strips {@link java.util.concurrent.CompletionException} and
     * {@link java.util.concurrent.ExecutionException} wrappers.
     */
    public static Throwable unwrap(Throwable t) {
        Throwable cur = t;
        while ((cur instanceof java.util.concurrent.CompletionException
                || cur instanceof java.util.concurrent.ExecutionException) && cur.getCause() != null) {
            cur = cur.getCause();
        }
        return cur;
    }
}
