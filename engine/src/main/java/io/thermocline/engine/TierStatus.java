package io.thermocline.engine;

import io.thermocline.tier.TierClass;
import io.thermocline.tier.TierHealth;

/**
 * One tier as {@link TierEngine#tiers()} reports it.
 *
 * @param id            the tier's id in the shared region (its position, fastest first)
 * @param name          its name
 * @param tierClass     LOCAL, FABRIC or OBJECT
 * @param capacityBytes the capacity the policy fills it to
 * @param usedBytes     bytes used, as the tier accounts them (-1 when this process has not opened it)
 * @param objectCount   objects on it by the catalog (owner) or the region (attached)
 * @param health        whether it can serve now (null when this process has not opened it)
 * @param description   where it lives
 */
public record TierStatus(int id, String name, TierClass tierClass, long capacityBytes, long usedBytes, long objectCount,
                         TierHealth health, String description) {
}
