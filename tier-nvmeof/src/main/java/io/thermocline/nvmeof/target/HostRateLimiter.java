package io.thermocline.nvmeof.target;

/**
 * The two token buckets of one {@link HostRateLimit}, shared by every queue of every controller
 * one host has on one subsystem of a target (its queues run on different event loops).
 *
 * <p><b>Design.</b> Each bucket is kept as a theoretical arrival time (the generic cell rate
 * algorithm, ITU-T I.371): {@code tat} is when the bucket would be full again if nothing more
 * were admitted; a command costing {@code c} nanoseconds of rate is admitted at {@code now} when
 * {@code tat - tolerance <= now}, and then {@code tat = max(tat, now) + c}. For commands the
 * tolerance is the burst less one command's cost, so exactly {@code burstIos} commands pass back
 * to back from a full bucket; for bytes it is the whole burst, so a full bucket lets
 * {@code burstBytes} through plus the command that crosses it. It follows that over any interval
 * of {@code T} seconds at most {@code burstIos + iops × T + 1} commands and
 * {@code burstBytes + bytesPerSecond × T + one command's bytes} are admitted — the bounds the
 * tests check. One long per bucket: no refill timer, nothing allocated.
 *
 * <p>Thread-safe: the methods are synchronized; the lock is held for a few arithmetic operations.
 * Time comes from the caller (an injected clock in tests, {@link System#nanoTime()} otherwise).
 */
final class HostRateLimiter {
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    private final HostRateLimit limit;
    /** Nanoseconds of rate one command costs; 0 when commands are not limited. */
    private final long nanosPerIo;
    private final long ioTolerance;
    private final long bytesPerSecond;
    private final long byteTolerance;
    private long ioTat;
    private long byteTat;
    private boolean started;
    private long admittedCommands;
    private long admittedBytes;
    private long deferredCommands;

    HostRateLimiter(HostRateLimit limit) {
        this.limit = limit;
        this.nanosPerIo = limit.iops() == 0 ? 0 : Math.max(1, NANOS_PER_SECOND / limit.iops());
        this.ioTolerance = nanosPerIo * (limit.burstIos() - 1);
        this.bytesPerSecond = limit.bytesPerSecond();
        // up to 2^40 bytes at 1 byte/s: the product would overflow a long, so in double (exact enough for a tolerance)
        this.byteTolerance = bytesPerSecond == 0 ? 0 : (long) Math.min(Long.MAX_VALUE / 4.0,
                (double) limit.burstBytes() * NANOS_PER_SECOND / bytesPerSecond);
    }

    HostRateLimit limit() {
        return limit;
    }

    private long byteCost(long bytes) {
        // one command moves at most 65536 blocks (NLB is 16 bits) under MDTS, far below 2^33 bytes: bytes × 10^9 fits in a long
        return bytesPerSecond == 0 ? 0 : Math.multiplyExact(bytes, NANOS_PER_SECOND) / bytesPerSecond;
    }

    /**
     * Admits a command of {@code bytes} data bytes at {@code nowNanos}, or says how long to wait.
     *
     * @return 0 when admitted (its cost is taken from both buckets); otherwise the nanoseconds
     *         (at least 1) after which asking again may succeed, and nothing is taken
     */
    synchronized long tryAdmit(long bytes, long nowNanos) {
        if (!started) {
            ioTat = nowNanos;
            byteTat = nowNanos;
            started = true;
        }
        long wait = 0;
        if (nanosPerIo != 0) {
            wait = Math.max(wait, ioTat - ioTolerance - nowNanos);
        }
        long cost = byteCost(bytes);
        if (cost != 0) {
            wait = Math.max(wait, byteTat - byteTolerance - nowNanos);
        }
        if (wait > 0) {
            return wait;
        }
        if (nanosPerIo != 0) {
            ioTat = Math.max(ioTat, nowNanos) + nanosPerIo;
        }
        if (cost != 0) {
            byteTat = Math.max(byteTat, nowNanos) + cost;
        }
        admittedCommands++;
        admittedBytes += bytes;
        return 0;
    }

    /** Counts a command that had to wait (once per command, however often it is retried). */
    synchronized void deferred() {
        deferredCommands++;
    }

    synchronized HostRateStats stats() {
        return new HostRateStats(limit, admittedCommands, admittedBytes, deferredCommands);
    }
}
