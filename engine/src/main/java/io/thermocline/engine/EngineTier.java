package io.thermocline.engine;

import io.thermocline.tier.Tier;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One configured tier inside an engine: its id (position, fastest first), definition, the opened
 * {@link Tier} (null in an attached process for a tier that is not shared-readable), and the
 * gates moves pass: a priority-ordered limit on concurrent moves, a bandwidth limit, and a count
 * of foreground reads that background moves yield to.
 */
final class EngineTier {

    final int id;
    final TierDefinition definition;
    final Tier tier;
    final MoveGate moves;
    final Bandwidth bandwidth;
    final AtomicInteger foreground = new AtomicInteger();

    EngineTier(int id, TierDefinition definition, Tier tier) {
        this.id = id;
        this.definition = definition;
        this.tier = tier;
        this.moves = new MoveGate(definition.spec().maxConcurrentMoves());
        this.bandwidth = new Bandwidth(definition.spec().bandwidthBytesPerSecond());
    }

    String name() {
        return definition.name();
    }

    boolean open() {
        return tier != null;
    }

    @Override
    public String toString() {
        return name();
    }

    /**
     * A counting semaphore that admits waiters by priority (1 = most urgent), then arrival: a move
     * never takes a permit while a more urgent move waits for one.
     */
    static final class MoveGate {
        private final ReentrantLock lock = new ReentrantLock();
        private final Condition changed = lock.newCondition();
        private final int[] waiting = new int[8];
        private int permits;

        MoveGate(int permits) {
            this.permits = permits;
        }

        void acquire(int priority) throws InterruptedException {
            lock.lock();
            try {
                waiting[priority]++;
                try {
                    while (permits == 0 || moreUrgentWaiting(priority)) {
                        changed.await();
                    }
                } finally {
                    waiting[priority]--;
                }
                permits--;
            } finally {
                lock.unlock();
            }
        }

        private boolean moreUrgentWaiting(int priority) {
            for (int p = 0; p < priority; p++) {
                if (waiting[p] > 0) {
                    return true;
                }
            }
            return false;
        }

        void release() {
            lock.lock();
            try {
                permits++;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    /** A token bucket of {@code bytesPerSecond} with one second of burst; 0 = unlimited. */
    static final class Bandwidth {
        private final long bytesPerSecond;
        private double tokens;
        private long lastNanos = System.nanoTime();

        Bandwidth(long bytesPerSecond) {
            this.bytesPerSecond = bytesPerSecond;
            this.tokens = bytesPerSecond;
        }

        /** Blocks until {@code bytes} may pass. */
        void acquire(long bytes) throws InterruptedException {
            if (bytesPerSecond <= 0) {
                return;
            }
            long waitNanos;
            synchronized (this) {
                long now = System.nanoTime();
                tokens = Math.min(bytesPerSecond, tokens + (now - lastNanos) * bytesPerSecond / 1e9);
                lastNanos = now;
                tokens -= bytes; // may go negative: the debt is what the caller waits out
                waitNanos = tokens >= 0 ? 0 : (long) (-tokens * 1e9 / bytesPerSecond);
            }
            if (waitNanos > 0) {
                java.util.concurrent.TimeUnit.NANOSECONDS.sleep(waitNanos);
            }
        }
    }
}
