package io.thermocline.placement.sim;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;

/**
 * W-TinyLFU as Caffeine implements it (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient
 * Cache Admission Policy", ACM ToS 2017), used as a byte-weighted cache: every read miss and every
 * write of an object no larger than the tier is offered to the cache and Caffeine decides what stays. Maintenance runs inline
 * ({@code executor(Runnable::run)} and {@code cleanUp()} after each offer). Weights are in KiB
 * (rounded up) because Caffeine's weigher returns an {@code int}.
 *
 * <p>Caffeine's admission has a deliberate random element (a small chance to admit a warm
 * candidate, which defends against hash flooding), so this baseline's figures can differ
 * slightly between runs; the other policies are exactly deterministic.
 */
public final class WTinyLfuPolicy implements CachePolicy {
    private Cache<Integer, Long> cache;
    private Trace trace;
    private long moved;
    private long capacity;

    @Override
    public String name() {
        return "w-tinylfu";
    }

    @Override
    public void start(Trace trace, long capacityBytes) {
        this.trace = trace;
        this.capacity = capacityBytes;
        this.moved = 0;
        this.cache = Caffeine.newBuilder()
                .maximumWeight(capacityBytes / 1024)
                .weigher((Integer k, Long size) -> (int) Math.min(Integer.MAX_VALUE, (size + 1023) / 1024))
                .executor(Runnable::run)
                .build();
    }

    @Override
    public boolean access(int i) {
        int id = trace.keyIds()[i];
        long size = trace.sizes()[id];
        if (!trace.writes()[i] && cache.getIfPresent(id) != null) {
            return true;
        }
        if (size > capacity) {
            return false; // never fits: not offered, as with the other policies
        }
        cache.put(id, size);
        cache.cleanUp();
        moved += size;
        return false;
    }

    @Override
    public long bytesMoved() {
        return moved;
    }

    @Override
    public long residentBytes() {
        cache.cleanUp();
        return cache.policy().eviction().orElseThrow().weightedSize().orElse(0) * 1024;
    }
}
