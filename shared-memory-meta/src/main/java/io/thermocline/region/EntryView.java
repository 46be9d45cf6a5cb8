package io.thermocline.region;

import java.util.Arrays;

/**
 * A caller-owned, reusable snapshot of one object-table entry, filled by
 * {@link ObjectTable#lookup}. Reusing one view per thread keeps lookups free of allocation. Not
 * thread-safe.
 */
public final class EntryView {

    final boolean withLocator;
    long slot = -1;
    SlotState state;
    int tiers;
    int preferredTier;
    int flags;
    long sizeInBytes;
    int crc32c;
    long epoch;
    byte[] locator = new byte[64];
    int locatorLength;

    /** A view that also receives the locator bytes. */
    public EntryView() {
        this(true);
    }

    /**
     * @param withLocator whether lookups copy (and check) the locator; a caller that needs only
     *        the state, tiers, size, checksum and epoch saves the arena read of the locator
     */
    public EntryView(boolean withLocator) {
        this.withLocator = withLocator;
    }

    /** The slot index: a handle for {@link ObjectTable#addHeat(long, long)}. */
    public long slot() {
        return slot;
    }

    public SlotState state() {
        return state;
    }

    /** Bit {@code t} is set if tier id {@code t} holds a copy. */
    public int tiers() {
        return tiers;
    }

    public boolean onTier(int tierId) {
        return (tiers & (1 << tierId)) != 0;
    }

    /** The tier id readers should use, or -1. */
    public int preferredTier() {
        return preferredTier;
    }

    public int flags() {
        return flags;
    }

    public long sizeInBytes() {
        return sizeInBytes;
    }

    public int crc32c() {
        return crc32c;
    }

    /** Location epoch: changes whenever the object's location changes. */
    public long epoch() {
        return epoch;
    }

    /**
     * A copy of the locator bytes (file name, extent list, S3 key, as the tiers encode them);
     * empty for a view created without locators.
     */
    public byte[] locator() {
        return Arrays.copyOf(locator, locatorLength);
    }

    public int locatorLength() {
        return locatorLength;
    }

    /** The values, for a {@link ObjectTable#put}. */
    public EntryValues toValues() {
        return new EntryValues(state, tiers, preferredTier, flags, sizeInBytes, crc32c, epoch, locator());
    }

    @Override
    public String toString() {
        return "EntryView[slot=" + slot + ", state=" + state + ", tiers=0b" + Integer.toBinaryString(tiers)
               + ", preferred=" + preferredTier + ", size=" + sizeInBytes + ", crc32c=" + String.format("0x%08x", crc32c)
               + ", epoch=" + epoch + ", locator=" + locatorLength + " bytes]";
    }
}
