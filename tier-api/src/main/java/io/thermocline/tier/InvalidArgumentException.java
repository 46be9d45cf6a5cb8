package io.thermocline.tier;

/**
 * A caller passed a value the operation does not accept. The message names the parameter, the
 * value and what was expected, e.g. {@code chunkSizeInBytes: 1000 (expected: a multiple of 4096)}.
 * Never retryable.
 */
public final class InvalidArgumentException extends TierException {

    private static final long serialVersionUID = 1L;

    public InvalidArgumentException(String message) {
        super(message);
    }

    /** Formats {@code name: value (expected: expected)}. */
    public static InvalidArgumentException of(String name, Object value, String expected) {
        return new InvalidArgumentException(name + ": " + value + " (expected: " + expected + ")");
    }

    @Override
    public boolean retryable() {
        return false;
    }
}
