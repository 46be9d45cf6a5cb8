package io.thermocline.nvmeof.block;

import java.util.Arrays;
import java.util.List;

/**
 * Where each byte of one object lives on the device. The object's bytes fill its extents in
 * order: object offset 0 is the first byte of the first extent, and an extent's last unit may be
 * only partly used by the object's tail. Immutable.
 */
final class ExtentMap {

    private final List<Extent> extents;
    private final long dataOffset;
    private final int unit;
    /** Object offset at which extent i starts; one more entry holding the total length. */
    private final long[] objectStart;

    ExtentMap(List<Extent> extents, long dataOffset, int allocationUnit) {
        this.extents = List.copyOf(extents);
        this.dataOffset = dataOffset;
        this.unit = allocationUnit;
        this.objectStart = new long[extents.size() + 1];
        for (int i = 0; i < extents.size(); i++) {
            objectStart[i + 1] = objectStart[i] + extents.get(i).unitCount() * allocationUnit;
        }
    }

    List<Extent> extents() {
        return extents;
    }

    /** Bytes the extents hold, at least the object's size. */
    long capacityInBytes() {
        return objectStart[extents.size()];
    }

    long unitCount() {
        return capacityInBytes() / unit;
    }

    /** The extent that holds object offset {@code position}. */
    int extentIndex(long position) {
        if (position < 0 || position >= capacityInBytes()) {
            throw new IllegalArgumentException("object offset " + position + " outside the extents' "
                    + capacityInBytes() + " bytes");
        }
        int i = Arrays.binarySearch(objectStart, 0, extents.size(), position);
        return i >= 0 ? i : -i - 2;
    }

    /** Object offset where extent {@code index} ends. */
    long extentEnd(int index) {
        return objectStart[index + 1];
    }

    /** Device offset of object offset {@code position}. */
    long deviceOffset(long position) {
        int i = extentIndex(position);
        return dataOffset + extents.get(i).startUnit() * unit + (position - objectStart[i]);
    }

    /** Device offset of an extent's first byte. */
    long deviceOffset(Extent e) {
        return dataOffset + e.startUnit() * unit;
    }

    long lengthInBytes(Extent e) {
        return e.unitCount() * unit;
    }
}
