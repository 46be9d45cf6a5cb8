package io.thermocline.nvmeof.block;

/**
 * A run of whole allocation units in the data area: units {@code [startUnit, startUnit + unitCount)}.
 * Device byte offsets follow from the superblock: {@code dataOffset + startUnit x allocationUnit}.
 *
 * @param startUnit the first unit, from 0
 * @param unitCount how many units, at least 1
 */
record Extent(long startUnit, long unitCount) {

    Extent {
        if (startUnit < 0 || unitCount < 1 || startUnit > Long.MAX_VALUE - unitCount) {
            throw new IllegalArgumentException("extent of " + unitCount + " units at unit " + startUnit
                    + " (expected start >= 0 and at least one unit)");
        }
    }

    /** The unit after the last one. */
    long endUnit() {
        return startUnit + unitCount;
    }

    @Override
    public String toString() {
        return "[" + startUnit + ", " + endUnit() + ")";
    }
}
