package io.thermocline.placement;

/**
 * What the planner knows of one object.
 *
 * @param key            the object's key
 * @param sizeBytes      its size
 * @param tier           the fastest tier holding it
 * @param heatReads      its decayed read heat (see {@link HeatTracker})
 * @param idleMillis     milliseconds since its last access
 * @param dirtySinceMillis when it was written but not yet persisted to the backing tier; -1 if clean
 */
public record ObjectState(String key, long sizeBytes, String tier, double heatReads, long idleMillis, long dirtySinceMillis) {
}
