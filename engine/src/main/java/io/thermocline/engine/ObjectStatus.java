package io.thermocline.engine;

import io.thermocline.region.SlotState;
import io.thermocline.tier.ObjectKey;

import java.util.List;

/**
 * What {@link TierEngine#stat} and {@link TierEngine#list} tell of one object.
 *
 * @param key           the object
 * @param sizeInBytes   its size
 * @param crc32c        its whole-object CRC32C
 * @param state         READY, DIRTY (written back, not yet in the backing tier), STAGING or EVICTING
 * @param tiers         names of the tiers holding a verified copy, fastest first
 * @param epoch         its location epoch
 * @param reads         reads counted in the shared region since it was published
 * @param decayedReads  its read heat (exponentially decayed read count)
 * @param pinUntilMillis pinned until then (epoch milliseconds); 0 when not pinned (owner only; -1 when unknown)
 */
public record ObjectStatus(ObjectKey key, long sizeInBytes, int crc32c, SlotState state, List<String> tiers, long epoch,
                           long reads, double decayedReads, long pinUntilMillis) {
}
