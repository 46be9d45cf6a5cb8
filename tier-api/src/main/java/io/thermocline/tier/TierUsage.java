package io.thermocline.tier;

/**
 * A snapshot of a tier's space accounting.
 *
 * @param capacityInBytes the most the tier will hold
 * @param usedInBytes bytes held by committed objects, including per-object overhead
 * @param reservedInBytes bytes promised to writers that have not committed or aborted yet
 * @param objectCount committed objects
 */
public record TierUsage(long capacityInBytes, long usedInBytes, long reservedInBytes, long objectCount) {

    public TierUsage {
        if (capacityInBytes < 0 || usedInBytes < 0 || reservedInBytes < 0 || objectCount < 0) {
            throw new InvalidArgumentException("tier usage figures must be >= 0: capacity=" + capacityInBytes
                    + " used=" + usedInBytes + " reserved=" + reservedInBytes + " objects=" + objectCount);
        }
    }

    /** Bytes a new writer could still reserve. */
    public long availableInBytes() {
        return Math.max(0, capacityInBytes - usedInBytes - reservedInBytes);
    }
}
