package io.thermocline.nvmeof.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The free-extent structure: best fit, spill-over into several extents, merging, misuse. */
class ExtentAllocatorTest {

    @Test
    void bestFit_takesTheSmallestFreeExtentThatFits_lowestOnTies() {
        ExtentAllocator a = new ExtentAllocator(100);
        for (Extent e : List.of(new Extent(0, 10), new Extent(15, 5), new Extent(30, 3), new Extent(40, 3), new Extent(50, 50))) {
            a.claim(e);
        }
        // free: [10,15) [20,30) [33,40) [43,50)
        assertEquals(List.of(new Extent(10, 5), new Extent(20, 10), new Extent(33, 7), new Extent(43, 7)), a.freeExtents());
        assertEquals(List.of(new Extent(33, 6)), a.allocate(6), "7-unit extents fit best; the lower one wins");
        assertEquals(List.of(new Extent(43, 7)), a.allocate(7));
        assertEquals(List.of(new Extent(10, 5)), a.allocate(5));
        assertEquals(List.of(new Extent(20, 10)), a.allocate(10));
        assertEquals(1, a.freeUnits());
    }

    @Test
    void aRequestLargerThanEveryFreeExtent_takesTheLongestFirst_thenTheBestFitForTheRest() {
        ExtentAllocator a = new ExtentAllocator(40);
        a.claim(new Extent(4, 2));
        a.claim(new Extent(14, 2));
        a.claim(new Extent(20, 20));
        // free: [0,4) [6,14) [16,20)
        List<Extent> got = a.allocate(11);
        assertEquals(List.of(new Extent(6, 8), new Extent(0, 3)), got,
                "8 from the longest, then 3 from the smallest extent that holds them (4 units at 0, tied with 16, lower wins)");
        assertEquals(List.of(new Extent(3, 1), new Extent(16, 4)), a.freeExtents());
    }

    @Test
    void aRequestThatDoesNotFit_changesNothing_andZeroUnitsGetNoExtents() {
        ExtentAllocator a = new ExtentAllocator(10);
        a.claim(new Extent(3, 2));
        List<Extent> before = a.freeExtents();
        assertNull(a.allocate(9));
        assertEquals(before, a.freeExtents());
        assertEquals(8, a.freeUnits());
        assertEquals(List.of(), a.allocate(0));
        assertThrows(IllegalArgumentException.class, () -> a.allocate(-1));
    }

    @Test
    void free_mergesWithBothNeighbours() {
        ExtentAllocator a = new ExtentAllocator(30);
        List<Extent> x = a.allocate(10);
        List<Extent> y = a.allocate(10);
        List<Extent> z = a.allocate(10);
        assertEquals(0, a.freeUnits());
        a.free(x);
        a.free(z);
        assertEquals(2, a.freeExtentCount());
        a.free(y);
        assertEquals(List.of(new Extent(0, 30)), a.freeExtents());
        assertEquals(30, a.longestFreeExtent());
    }

    @Test
    void doubleFrees_andDoubleClaims_areRefusedWithoutChangingAnything() {
        ExtentAllocator a = new ExtentAllocator(20);
        List<Extent> x = a.allocate(5);
        a.free(x);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> a.free(x));
        assertThat(e.getMessage()).contains("double free");
        assertThrows(IllegalStateException.class, () -> a.free(List.of(new Extent(18, 3))));
        a.claim(new Extent(2, 4));
        IllegalStateException twice = assertThrows(IllegalStateException.class, () -> a.claim(new Extent(5, 2)));
        assertThat(twice.getMessage()).contains("[5, 7)");
        assertThrows(IllegalStateException.class, () -> a.claim(new Extent(19, 2)));
        List<Extent> y = a.allocate(2);
        assertThrows(IllegalStateException.class, () -> a.free(List.of(y.getFirst(), y.getFirst())));
        assertEquals(14, a.freeUnits(), "the refused calls changed nothing");
    }

    /** Random allocations and frees against a unit-by-unit model. */
    @Test
    void randomWorkload_matchesAUnitBitmap() {
        Random random = new Random(42);
        int units = 500;
        ExtentAllocator a = new ExtentAllocator(units);
        boolean[] used = new boolean[units];
        List<List<Extent>> live = new ArrayList<>();
        for (int step = 0; step < 20_000; step++) {
            if (live.isEmpty() || random.nextInt(3) > 0) {
                int want = 1 + random.nextInt(40);
                int freeBefore = count(used, false);
                List<Extent> got = a.allocate(want);
                if (want > freeBefore) {
                    assertNull(got, "step " + step);
                    continue;
                }
                assertEquals(want, got.stream().mapToLong(Extent::unitCount).sum());
                for (Extent e : got) {
                    for (long u = e.startUnit(); u < e.endUnit(); u++) {
                        assertTrue(!used[(int) u], "step " + step + ": unit " + u + " handed out twice");
                        used[(int) u] = true;
                    }
                }
                live.add(got);
            } else {
                List<Extent> gone = live.remove(random.nextInt(live.size()));
                a.free(gone);
                for (Extent e : gone) {
                    for (long u = e.startUnit(); u < e.endUnit(); u++) {
                        used[(int) u] = false;
                    }
                }
            }
            assertEquals(count(used, false), a.freeUnits(), "step " + step);
            List<Extent> free = a.freeExtents();
            for (int i = 0; i < free.size(); i++) {
                Extent f = free.get(i);
                for (long u = f.startUnit(); u < f.endUnit(); u++) {
                    assertTrue(!used[(int) u], "step " + step + ": unit " + u + " is free and used");
                }
                if (i > 0) {
                    assertTrue(free.get(i - 1).endUnit() < f.startUnit(), "step " + step + ": free extents "
                            + free.get(i - 1) + " and " + f + " touch but were not merged");
                }
            }
        }
    }

    private static int count(boolean[] bits, boolean value) {
        int n = 0;
        for (boolean b : bits) {
            if (b == value) {
                n++;
            }
        }
        return n;
    }

    @Test
    void claimIfFree_takesEveryExtentOrNothing() {
        ExtentAllocator a = new ExtentAllocator(20);
        a.claim(new Extent(5, 2));
        // free: [0,5) [7,20)
        assertFalse(a.claimIfFree(List.of(new Extent(0, 2), new Extent(4, 2))), "unit 5 is in use");
        assertFalse(a.claimIfFree(List.of(new Extent(18, 3))), "beyond the data area");
        assertFalse(a.claimIfFree(List.of(new Extent(8, 4), new Extent(10, 1))), "two extents overlap");
        assertEquals(List.of(new Extent(0, 5), new Extent(7, 13)), a.freeExtents(), "a refused claim changes nothing");
        assertTrue(a.claimIfFree(List.of(new Extent(12, 3), new Extent(1, 2))));
        assertEquals(List.of(new Extent(0, 1), new Extent(3, 2), new Extent(7, 5), new Extent(15, 5)), a.freeExtents());
        assertEquals(13, a.freeUnits());
        assertTrue(a.claimIfFree(List.of()), "nothing to take");
    }
}
