package io.thermocline.nvmeof.target;

/**
 * How fast one host may issue I/O to one subsystem: commands per second and data bytes per
 * second, each a token bucket that holds up to a burst. Either rate may be 0, which leaves that
 * dimension unlimited. Immutable; see {@link Subsystem.Builder#hostRateLimit}.
 *
 * <p>Every I/O command (Read, Write, Flush, Write Zeroes, Dataset Management) costs one command;
 * Read and Write also cost their data length (NLB × block size) in bytes. Write Zeroes and
 * Dataset Management move no data over the fabric and cost no bytes. Admin and Fabrics commands
 * are never limited: a throttled host still answers keep-alive and reconnects promptly.
 *
 * <p>A command over budget is not failed: the target holds it on its queue until the buckets
 * have refilled enough (see {@link NvmeTcpTarget}), so a host sees longer latency, never errors.
 *
 * @param iops commands per second, 0 for no limit
 * @param bytesPerSecond data bytes per second, 0 for no limit
 * @param burstIos commands that may go back to back after an idle spell (at least 1)
 * @param burstBytes data bytes that may go back to back after an idle spell (at least 1). A
 *        single command larger than the burst is still admitted once the bucket is full, and
 *        the following ones wait until its debt is paid
 */
public record HostRateLimit(long iops, long bytesPerSecond, long burstIos, long burstBytes) {

    /** Default burst: what the rate refills in this many milliseconds. */
    public static final int DEFAULT_BURST_MILLIS = 100;

    public HostRateLimit {
        if (iops < 0 || iops > 1_000_000_000L) {
            throw new IllegalArgumentException("iops: " + iops + " (expected 0 for no limit, or 1..1000000000)");
        }
        if (bytesPerSecond < 0 || bytesPerSecond > (1L << 40)) {
            throw new IllegalArgumentException("bytesPerSecond: " + bytesPerSecond + " (expected 0 for no limit, or 1.." + (1L << 40) + ")");
        }
        if (iops == 0 && bytesPerSecond == 0) {
            throw new IllegalArgumentException("a rate limit with neither iops nor bytesPerSecond (expected at least one above 0)");
        }
        if (burstIos < 1 || burstIos > 1_000_000_000L || burstBytes < 1 || burstBytes > (1L << 40)) {
            throw new IllegalArgumentException("burstIos " + burstIos + ", burstBytes " + burstBytes
                    + " (expected 1..1000000000 commands and 1.." + (1L << 40) + " bytes)");
        }
    }

    /**
     * A limit with the default bursts: what each rate refills in {@value #DEFAULT_BURST_MILLIS}
     * ms, at least 1 command and 128 KiB.
     */
    public static HostRateLimit of(long iops, long bytesPerSecond) {
        return new HostRateLimit(iops, bytesPerSecond, Math.max(1, iops * DEFAULT_BURST_MILLIS / 1000),
                Math.max(128 * 1024, bytesPerSecond / 1000 * DEFAULT_BURST_MILLIS));
    }

    /** This limit with other bursts. */
    public HostRateLimit withBurst(long burstIos, long burstBytes) {
        return new HostRateLimit(iops, bytesPerSecond, burstIos, burstBytes);
    }

    @Override
    public String toString() {
        return (iops == 0 ? "unlimited IOPS" : iops + " IOPS (burst " + burstIos + ")") + ", "
                + (bytesPerSecond == 0 ? "unlimited bytes/s" : bytesPerSecond + " bytes/s (burst " + burstBytes + ")");
    }
}
