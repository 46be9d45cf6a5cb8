package io.thermocline.nvmeof.block;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The free space of the data area as free extents, indexed twice: by start (to merge a freed
 * extent with its neighbours) and by length, then start (to find the best fit).
 *
 * <p><b>Policy.</b> A request for {@code n} units takes the smallest free extent of at least
 * {@code n} units, the lowest such on ties (best fit: large free extents stay whole for large
 * objects). When no free extent is long enough, it takes the longest free extent and asks again
 * for the rest, so an object gets as few extents as the free space allows. A request either gets
 * all its units or changes nothing.
 *
 * <p>Not rebuilt from anything on the device: at open the tier starts from "all free" and
 * {@link #claim claims} every extent the catalog names, so space that only an uncommitted writer
 * held is free again.
 *
 * <p>Not thread-safe; {@link BlockTier} guards it with its space lock.
 */
final class ExtentAllocator {

    private record Free(long length, long start) {
    }

    private static final Comparator<Free> BY_LENGTH =
            Comparator.comparingLong(Free::length).thenComparingLong(Free::start);

    private final long unitCount;
    /** start -> length. */
    private final TreeMap<Long, Long> byStart = new TreeMap<>();
    private final TreeSet<Free> byLength = new TreeSet<>(BY_LENGTH);
    private long freeUnits;

    /** An allocator over {@code unitCount} units, all free. */
    ExtentAllocator(long unitCount) {
        if (unitCount < 1) {
            throw new IllegalArgumentException("unit count " + unitCount + " (expected at least 1)");
        }
        this.unitCount = unitCount;
        add(0, unitCount);
    }

    long unitCount() {
        return unitCount;
    }

    long freeUnits() {
        return freeUnits;
    }

    int freeExtentCount() {
        return byStart.size();
    }

    /** Length of the longest free extent, 0 if none. */
    long longestFreeExtent() {
        return byLength.isEmpty() ? 0 : byLength.last().length();
    }

    /**
     * Takes {@code units} units (see the class comment), in the order the object fills them.
     *
     * @return the extents, empty for 0 units; null if fewer units are free, in which case nothing changed
     */
    List<Extent> allocate(long units) {
        if (units < 0) {
            throw new IllegalArgumentException("units " + units + " (expected >= 0)");
        }
        if (units > freeUnits) {
            return null;
        }
        List<Extent> out = new ArrayList<>();
        long need = units;
        while (need > 0) {
            Free f = byLength.ceiling(new Free(need, Long.MIN_VALUE));
            if (f == null) {
                f = byLength.last();
            }
            long take = Math.min(f.length(), need);
            remove(f.start(), f.length());
            if (f.length() > take) {
                add(f.start() + take, f.length() - take);
            }
            Extent last = out.isEmpty() ? null : out.getLast();
            if (last != null && last.endUnit() == f.start()) {
                out.set(out.size() - 1, new Extent(last.startUnit(), last.unitCount() + take));
            } else {
                out.add(new Extent(f.start(), take));
            }
            need -= take;
        }
        return out;
    }

    /**
     * Marks an extent as used: at open, for every extent the catalog names.
     *
     * @throws IllegalStateException if any unit of it is outside the data area or not free (two
     *         catalog entries claim it, or one claims it twice)
     */
    void claim(Extent e) {
        if (e.endUnit() > unitCount) {
            throw new IllegalStateException("extent " + e + " ends beyond the data area's " + unitCount + " units");
        }
        Map.Entry<Long, Long> holder = byStart.floorEntry(e.startUnit());
        if (holder == null || holder.getKey() + holder.getValue() < e.endUnit()) {
            throw new IllegalStateException("extent " + e + " is not entirely free: some of its units are claimed twice");
        }
        long start = holder.getKey();
        long length = holder.getValue();
        remove(start, length);
        if (start < e.startUnit()) {
            add(start, e.startUnit() - start);
        }
        if (e.endUnit() < start + length) {
            add(e.endUnit(), start + length - e.endUnit());
        }
    }

    /**
     * Takes exactly these extents if every unit of them is free right now: a resumed writer
     * asking back the extents a cut-off writer held, which another writer may have taken since.
     *
     * @return true if they were taken; false if any unit lies outside the data area or is not
     *         free, or two of the extents overlap, in which case nothing changed
     */
    boolean claimIfFree(List<Extent> extents) {
        List<Extent> sorted = new ArrayList<>(extents);
        sorted.sort(Comparator.comparingLong(Extent::startUnit));
        for (int i = 0; i < sorted.size(); i++) {
            Extent e = sorted.get(i);
            if (e.endUnit() > unitCount || (i > 0 && sorted.get(i - 1).endUnit() > e.startUnit())) {
                return false;
            }
            Map.Entry<Long, Long> holder = byStart.floorEntry(e.startUnit());
            if (holder == null || holder.getKey() + holder.getValue() < e.endUnit()) {
                return false;
            }
        }
        for (Extent e : sorted) {
            claim(e);
        }
        return true;
    }

    /**
     * Returns extents to the free space, merging them with free neighbours.
     *
     * @throws IllegalStateException if any unit is already free (a double free); nothing changes then
     */
    void free(List<Extent> extents) {
        List<Extent> sorted = new ArrayList<>(extents);
        sorted.sort(Comparator.comparingLong(Extent::startUnit));
        for (int i = 0; i < sorted.size(); i++) {
            checkUsed(sorted.get(i));
            if (i > 0 && sorted.get(i - 1).endUnit() > sorted.get(i).startUnit()) {
                throw new IllegalStateException("double free: extents " + sorted.get(i - 1) + " and " + sorted.get(i)
                        + " of one release overlap");
            }
        }
        for (Extent e : extents) {
            long start = e.startUnit();
            long length = e.unitCount();
            Map.Entry<Long, Long> before = byStart.lowerEntry(start);
            if (before != null && before.getKey() + before.getValue() == start) {
                remove(before.getKey(), before.getValue());
                start = before.getKey();
                length += before.getValue();
            }
            Long after = byStart.get(e.endUnit());
            if (after != null) {
                remove(e.endUnit(), after);
                length += after;
            }
            add(start, length);
        }
    }

    private void checkUsed(Extent e) {
        if (e.endUnit() > unitCount) {
            throw new IllegalStateException("free of extent " + e + " beyond the data area's " + unitCount + " units");
        }
        Map.Entry<Long, Long> before = byStart.floorEntry(e.startUnit());
        Map.Entry<Long, Long> next = byStart.ceilingEntry(e.startUnit());
        boolean overlapsBefore = before != null && before.getKey() + before.getValue() > e.startUnit();
        boolean overlapsNext = next != null && next.getKey() < e.endUnit();
        if (overlapsBefore || overlapsNext) {
            throw new IllegalStateException("double free: extent " + e + " overlaps free space "
                    + (overlapsBefore ? new Extent(before.getKey(), before.getValue()) : new Extent(next.getKey(), next.getValue())));
        }
    }

    /** The free extents in ascending order of start, for tests and inspection. */
    List<Extent> freeExtents() {
        List<Extent> out = new ArrayList<>(byStart.size());
        byStart.forEach((s, l) -> out.add(new Extent(s, l)));
        return out;
    }

    private void add(long start, long length) {
        byStart.put(start, length);
        byLength.add(new Free(length, start));
        freeUnits += length;
    }

    private void remove(long start, long length) {
        byStart.remove(start);
        byLength.remove(new Free(length, start));
        freeUnits -= length;
    }
}
