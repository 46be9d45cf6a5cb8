package io.thermocline.placement.sim;

/**
 * A fast-tier placement policy as the simulator drives it: one call per access, in trace order.
 * The unit of placement is the whole object; a read is served from the fast tier when the object
 * is resident there. Implementations count the bytes they copy into the fast tier.
 */
public interface CachePolicy {

    /** The name printed in reports. */
    String name();

    /**
     * Called once before the first access.
     *
     * @param trace         the whole trace (only Belady's reference may look ahead in it)
     * @param capacityBytes the fast tier's capacity
     */
    void start(Trace trace, long capacityBytes);

    /**
     * Processes access {@code i} of the trace.
     *
     * @return for a read, whether it was served from the fast tier (decided before any
     *         placement this access causes); for a write, ignored
     */
    boolean access(int i);

    /** Bytes copied into the fast tier so far (read-miss fills and write-allocations). */
    long bytesMoved();

    /** Bytes resident in the fast tier now; never above the capacity. */
    long residentBytes();
}
