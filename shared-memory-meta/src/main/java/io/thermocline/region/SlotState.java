package io.thermocline.region;

/** The state of an object-table slot, as stored in its STATE byte. */
public enum SlotState {
    /** Never used, or cleared: ends a probe chain. */
    ABSENT,
    /** A copy is being made; the object is not yet readable from the new tier. */
    STAGING,
    /** Readable from every tier in the slot's tier set. */
    READY,
    /** Being removed from a tier; readers should prefer another copy. */
    EVICTING,
    /** Written back to a fast tier and not yet persisted to the object tier: never evicted. */
    DIRTY,
    /** Deleted: keeps probe chains intact until reused or cleared. */
    TOMBSTONE;

    private static final SlotState[] VALUES = values();

    static SlotState of(int code) {
        return code >= 0 && code < VALUES.length ? VALUES[code] : null;
    }
}
