package io.thermocline.region;

import io.thermocline.tier.ObjectKey;

/**
 * A control request taken off the ring by the owner.
 *
 * @param requestId unique within the region; the requester polls {@link RequestResults} for it
 * @param type what to do
 * @param key the object
 * @param tierId the tier it concerns, or -1
 * @param arg type-specific argument (pin duration, size)
 * @param requester the requester's {@link ProcessToken}
 */
public record Request(long requestId, RequestType type, ObjectKey key, int tierId, long arg, long requester) {
}
