package io.thermocline.placement.sim;

import java.util.Arrays;
import java.util.Comparator;
import java.util.TreeSet;

/**
 * Belady's clairvoyant reference (L. A. Belady, "A study of replacement algorithms for a
 * virtual-storage computer", IBM Systems Journal 5(2), 1966), extended to objects of different
 * sizes: on a read miss or a write, the object is placed only if its next read comes sooner than
 * the next reads of the objects it would displace, which are taken furthest-next-read first; an
 * object never read again is never placed. With equal sizes this is Belady's optimum; with
 * variable sizes exact optimisation is NP-hard, and this is the standard heuristic used as an
 * upper reference, not a proven bound.
 */
public final class BeladyPolicy implements CachePolicy {
    private Trace trace;
    private long capacity;
    private long used;
    private long moved;
    private int[] nextRead;
    private int[] residentNext;
    private TreeSet<Integer> byNext;

    @Override
    public String name() {
        return "belady";
    }

    @Override
    public void start(Trace trace, long capacityBytes) {
        this.trace = trace;
        this.capacity = capacityBytes;
        this.moved = 0;
        this.used = 0;
        int n = trace.length();
        nextRead = new int[n];
        int[] upcoming = new int[trace.keys().size()];
        Arrays.fill(upcoming, Integer.MAX_VALUE);
        for (int i = n - 1; i >= 0; i--) {
            int id = trace.keyIds()[i];
            nextRead[i] = upcoming[id];
            if (!trace.writes()[i]) {
                upcoming[id] = i;
            }
        }
        residentNext = new int[trace.keys().size()];
        Arrays.fill(residentNext, -1);
        // furthest next read first; ties by id
        byNext = new TreeSet<>(Comparator.comparingInt((Integer id) -> residentNext[id]).reversed().thenComparing(id -> id));
    }

    @Override
    public boolean access(int i) {
        int id = trace.keyIds()[i];
        long size = trace.sizes()[id];
        boolean resident = residentNext[id] >= 0;
        if (resident) {
            byNext.remove(id);
            if (!trace.writes()[i]) {
                residentNext[id] = nextRead[i];
                byNext.add(id);
                return true;
            }
            residentNext[id] = -1;
            used -= size;
        }
        int next = nextRead[i];
        if (next == Integer.MAX_VALUE || size > capacity) {
            return false;
        }
        long free = capacity - used;
        if (free < size) {
            long reclaim = 0;
            for (int v : byNext) {
                if (residentNext[v] <= next) {
                    break;
                }
                reclaim += trace.sizes()[v];
                if (free + reclaim >= size) {
                    break;
                }
            }
            if (free + reclaim < size) {
                return false;
            }
            while (capacity - used < size) {
                int v = byNext.pollFirst();
                used -= trace.sizes()[v];
                residentNext[v] = -1;
            }
        }
        residentNext[id] = next;
        byNext.add(id);
        used += size;
        moved += size;
        return false;
    }

    @Override
    public long bytesMoved() {
        return moved;
    }

    @Override
    public long residentBytes() {
        return used;
    }
}
