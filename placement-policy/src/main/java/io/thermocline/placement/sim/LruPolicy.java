package io.thermocline.placement.sim;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Least recently used, byte-weighted: every read miss and every write is placed in the fast tier
 * (write-allocate), evicting the least recently used objects until it fits. An object larger
 * than the whole tier is never placed.
 */
public final class LruPolicy implements CachePolicy {
    private final LinkedHashMap<Integer, Long> resident = new LinkedHashMap<>(16, 0.75f, true);
    private Trace trace;
    private long capacity;
    private long used;
    private long moved;

    @Override
    public String name() {
        return "lru";
    }

    @Override
    public void start(Trace trace, long capacityBytes) {
        this.trace = trace;
        this.capacity = capacityBytes;
        this.moved = 0;
        this.used = 0;
        resident.clear();
    }

    @Override
    public boolean access(int i) {
        int id = trace.keyIds()[i];
        long size = trace.sizes()[id];
        boolean hit = resident.get(id) != null;
        if (hit && !trace.writes()[i]) {
            return true;
        }
        if (hit) {
            used -= resident.remove(id);
        }
        if (size > capacity) {
            return false;
        }
        Iterator<Map.Entry<Integer, Long>> it = resident.entrySet().iterator();
        while (used + size > capacity) {
            used -= it.next().getValue();
            it.remove();
        }
        resident.put(id, size);
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
