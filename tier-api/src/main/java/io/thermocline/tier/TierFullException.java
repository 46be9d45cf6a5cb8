package io.thermocline.tier;

/**
 * The tier cannot hold the object. Nothing was left behind. Retryable: space may be freed by
 * eviction or deletion.
 */
public final class TierFullException extends TierException {

    private static final long serialVersionUID = 1L;

    private final String tierName;
    private final long requestedInBytes;
    private final long availableInBytes;

    public TierFullException(String tierName, String what, long requestedInBytes, long availableInBytes) {
        super("tier " + tierName + " is full: " + what + " needs " + requestedInBytes
              + " bytes, " + availableInBytes + " available");
        this.tierName = tierName;
        this.requestedInBytes = requestedInBytes;
        this.availableInBytes = availableInBytes;
    }

    public TierFullException(String tierName, String what, Throwable cause) {
        super("tier " + tierName + " ran out of space while writing " + what + ": " + cause.getMessage(), cause);
        this.tierName = tierName;
        this.requestedInBytes = -1;
        this.availableInBytes = -1;
    }

    public String tierName() {
        return tierName;
    }

    /** Bytes the operation needed, or -1 if the device itself ran out. */
    public long requestedInBytes() {
        return requestedInBytes;
    }

    /** Bytes that were available, or -1 if unknown. */
    public long availableInBytes() {
        return availableInBytes;
    }

    @Override
    public boolean retryable() {
        return true;
    }
}
