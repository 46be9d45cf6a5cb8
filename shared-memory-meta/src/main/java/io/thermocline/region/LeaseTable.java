package io.thermocline.region;

import static io.thermocline.region.RegionLayout.*;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Leases on resources (a key's move, a tier's maintenance): who holds it (a process token), for
 * which epoch, until when. A lease whose holder has died (its pid is gone, or reused by a later
 * process) or whose deadline has passed is free to take, so a killed process never wedges a
 * resource. Acquire and release go through the region's writer lock (rare operations); reading
 * a lease is lock-free.
 */
public final class LeaseTable {

    private static final VarHandle LONG_H = java.lang.foreign.ValueLayout.JAVA_LONG.varHandle();

    /**
     * A held lease.
     *
     * @param index record index in the table
     * @param resource what is leased
     * @param holder the holder's {@link ProcessToken}
     * @param epoch increases with every grant of this record
     * @param deadlineMillis when the lease lapses unless renewed
     */
    public record Lease(int index, long resource, long holder, long epoch, long deadlineMillis) {
        @Override
        public String toString() {
            return "Lease[resource=" + Long.toHexString(resource) + ", holder=" + ProcessToken.describe(holder)
                   + ", epoch=" + epoch + ", deadline=" + java.time.Instant.ofEpochMilli(deadlineMillis) + "]";
        }
    }

    private final MemorySegment seg;
    private final ObjectTable lock;
    private final long offset;
    private final int count;
    private final InstantSource clock;

    LeaseTable(MemorySegment seg, Geometry g, ObjectTable lock, InstantSource clock) {
        this.seg = seg;
        this.lock = lock;
        this.offset = g.leasesOffset();
        this.count = g.leaseCount();
        this.clock = clock;
    }

    /** The resource id of a key's lease. */
    public static long resourceOf(RegionKey key) {
        return key.hash();
    }

    /**
     * Grants this process the lease on {@code resource} for {@code ttl}, unless a live holder has
     * it. Re-acquiring a lease this process holds renews it under a new epoch.
     *
     * @return the lease, or empty if another live process holds it or the table is full
     */
    public Optional<Lease> acquire(long resource, Duration ttl) {
        long now = clock.millis();
        lock.lockWriter();
        try {
            int free = -1;
            for (int i = 0; i < count; i++) {
                long base = base(i);
                long holder = (long) LONG_H.getVolatile(seg, base + LEASE_HOLDER_OFFSET);
                if (holder == 0) {
                    if (free < 0) {
                        free = i;
                    }
                    continue;
                }
                if (seg.get(LONG, base + LEASE_RESOURCE_OFFSET) != resource) {
                    continue;
                }
                if (holder != ProcessToken.SELF && holdable(holder, base, now)) {
                    return Optional.empty();
                }
                return Optional.of(grant(i, resource, now, ttl));
            }
            return free < 0 ? Optional.empty() : Optional.of(grant(free, resource, now, ttl));
        } finally {
            lock.unlockWriter();
        }
    }

    private boolean holdable(long holder, long base, long now) {
        return seg.get(LONG, base + LEASE_DEADLINE_OFFSET) > now && ProcessToken.isAlive(holder);
    }

    private Lease grant(int i, long resource, long now, Duration ttl) {
        long base = base(i);
        long epoch = seg.get(LONG, base + LEASE_EPOCH_OFFSET) + 1;
        long deadline = now + ttl.toMillis();
        seg.set(LONG, base + LEASE_RESOURCE_OFFSET, resource);
        seg.set(LONG, base + LEASE_EPOCH_OFFSET, epoch);
        seg.set(LONG, base + LEASE_DEADLINE_OFFSET, deadline);
        LONG_H.setRelease(seg, base + LEASE_HOLDER_OFFSET, ProcessToken.SELF);
        return new Lease(i, resource, ProcessToken.SELF, epoch, deadline);
    }

    /** Extends a lease this process holds; false if it lapsed and was taken meanwhile. */
    public boolean renew(Lease lease, Duration ttl) {
        lock.lockWriter();
        try {
            if (!stillHeld(lease)) {
                return false;
            }
            seg.set(LONG, base(lease.index()) + LEASE_DEADLINE_OFFSET, clock.millis() + ttl.toMillis());
            return true;
        } finally {
            lock.unlockWriter();
        }
    }

    /** Gives a lease up; false if it had already been taken by someone else. */
    public boolean release(Lease lease) {
        lock.lockWriter();
        try {
            if (!stillHeld(lease)) {
                return false;
            }
            LONG_H.setRelease(seg, base(lease.index()) + LEASE_HOLDER_OFFSET, 0L);
            return true;
        } finally {
            lock.unlockWriter();
        }
    }

    private boolean stillHeld(Lease lease) {
        long base = base(lease.index());
        return (long) LONG_H.getVolatile(seg, base + LEASE_HOLDER_OFFSET) == lease.holder()
               && seg.get(LONG, base + LEASE_EPOCH_OFFSET) == lease.epoch()
               && seg.get(LONG, base + LEASE_RESOURCE_OFFSET) == lease.resource();
    }

    /** The current grant on {@code resource}, live or lapsed, if any record names it. */
    public Optional<Lease> find(long resource) {
        for (int i = 0; i < count; i++) {
            Lease l = read(i);
            if (l != null && l.resource() == resource) {
                return Optional.of(l);
            }
        }
        return Optional.empty();
    }

    /** True if the lease's holder is alive and its deadline has not passed. */
    public boolean isValid(Lease lease) {
        return lease.deadlineMillis() > clock.millis() && ProcessToken.isAlive(lease.holder());
    }

    /** Every record with a holder, valid or not. */
    public List<Lease> all() {
        List<Lease> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Lease l = read(i);
            if (l != null) {
                out.add(l);
            }
        }
        return out;
    }

    private Lease read(int i) {
        long base = base(i);
        long holder = (long) LONG_H.getAcquire(seg, base + LEASE_HOLDER_OFFSET);
        if (holder == 0) {
            return null;
        }
        return new Lease(i, seg.get(LONG, base + LEASE_RESOURCE_OFFSET), holder, seg.get(LONG, base + LEASE_EPOCH_OFFSET),
                seg.get(LONG, base + LEASE_DEADLINE_OFFSET));
    }

    private long base(int i) {
        return offset + (long) i * LEASE_RECORD_LENGTH;
    }
}
