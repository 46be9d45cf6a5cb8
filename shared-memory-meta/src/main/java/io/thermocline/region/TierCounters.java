package io.thermocline.region;

import static io.thermocline.region.RegionLayout.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/** Per-tier usage counters (bytes used, bytes reserved, objects), updated with atomic adds. */
public final class TierCounters {

    private static final VarHandle LONG_H = ValueLayout.JAVA_LONG.varHandle();

    /**
     * @param usedInBytes bytes held by committed objects
     * @param reservedInBytes bytes promised to writers in progress
     * @param objectCount committed objects
     */
    public record Counts(long usedInBytes, long reservedInBytes, long objectCount) {
    }

    private final MemorySegment seg;
    private final long offset;
    private final int tierCount;

    TierCounters(MemorySegment seg, Geometry g) {
        this.seg = seg;
        this.offset = g.tiersOffset();
        this.tierCount = g.tierCount();
    }

    public int tierCount() {
        return tierCount;
    }

    public void add(int tierId, long usedDelta, long reservedDelta, long objectsDelta) {
        long base = base(tierId);
        if (usedDelta != 0) {
            LONG_H.getAndAdd(seg, base + TIER_USED_OFFSET, usedDelta);
        }
        if (reservedDelta != 0) {
            LONG_H.getAndAdd(seg, base + TIER_RESERVED_OFFSET, reservedDelta);
        }
        if (objectsDelta != 0) {
            LONG_H.getAndAdd(seg, base + TIER_OBJECTS_OFFSET, objectsDelta);
        }
    }

    public Counts get(int tierId) {
        long base = base(tierId);
        return new Counts((long) LONG_H.getVolatile(seg, base + TIER_USED_OFFSET),
                (long) LONG_H.getVolatile(seg, base + TIER_RESERVED_OFFSET),
                (long) LONG_H.getVolatile(seg, base + TIER_OBJECTS_OFFSET));
    }

    private long base(int tierId) {
        if (tierId < 0 || tierId >= tierCount) {
            throw new IllegalArgumentException("tierId: " + tierId + " (expected: 0.." + (tierCount - 1) + ")");
        }
        return offset + (long) tierId * TIER_RECORD_LENGTH;
    }
}
