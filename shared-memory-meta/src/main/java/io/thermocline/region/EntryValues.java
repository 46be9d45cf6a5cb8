package io.thermocline.region;

import java.util.Objects;

/**
 * What {@link ObjectTable#put} stores for a key.
 *
 * @param state not {@link SlotState#ABSENT} or {@link SlotState#TOMBSTONE}
 * @param tiers bit t set if tier id t (0..7) holds a copy
 * @param preferredTier the tier id readers should use, or -1
 * @param flags free for the engine (pinned, ...), 0..255
 * @param sizeInBytes object size
 * @param crc32c whole-object CRC32C
 * @param epoch location epoch
 * @param locator opaque locator bytes, at most {@value RegionLayout#MAX_LOCATOR_LENGTH}
 */
public record EntryValues(SlotState state, int tiers, int preferredTier, int flags, long sizeInBytes, int crc32c,
                          long epoch, byte[] locator) {

    public EntryValues {
        Objects.requireNonNull(state, "state");
        if (state == SlotState.ABSENT || state == SlotState.TOMBSTONE) {
            throw new IllegalArgumentException("state: " + state + " (expected: STAGING, READY, EVICTING or DIRTY)");
        }
        if (tiers < 0 || tiers > 0xff) {
            throw new IllegalArgumentException("tiers: " + tiers + " (expected: a bit set over tier ids 0..7)");
        }
        if (preferredTier < -1 || preferredTier > 7) {
            throw new IllegalArgumentException("preferredTier: " + preferredTier + " (expected: -1..7)");
        }
        if (flags < 0 || flags > 0xff) {
            throw new IllegalArgumentException("flags: " + flags + " (expected: 0..255)");
        }
        if (sizeInBytes < 0) {
            throw new IllegalArgumentException("sizeInBytes: " + sizeInBytes + " (expected: >= 0)");
        }
        Objects.requireNonNull(locator, "locator");
        if (locator.length > RegionLayout.MAX_LOCATOR_LENGTH) {
            throw new IllegalArgumentException("locator: " + locator.length + " bytes (expected: at most "
                    + RegionLayout.MAX_LOCATOR_LENGTH + ")");
        }
    }
}
