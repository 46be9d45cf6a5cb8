package io.thermocline.nvmeof.target;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The token bucket arithmetic, on an injected clock. */
class HostRateLimiterTest {
    private static final long MS = 1_000_000L;
    private static final long S = 1_000_000_000L;

    @Test
    void tryAdmit_fullBucket_letsExactlyTheBurstThroughThenPacesAtTheRate() {
        HostRateLimiter l = new HostRateLimiter(new HostRateLimit(100, 0, 5, 1));
        long t = 1_000 * S;
        for (int i = 0; i < 5; i++) {
            assertEquals(0, l.tryAdmit(4096, t), "command " + i + " of the burst");
        }
        long wait = l.tryAdmit(4096, t);
        assertEquals(10 * MS, wait, "the sixth waits one command's worth of rate (1/100 s)");
        assertEquals(1, l.tryAdmit(4096, t + wait - 1), "one nanosecond early is still too early");
        assertEquals(0, l.tryAdmit(4096, t + wait));
        assertEquals(10 * MS, l.tryAdmit(4096, t + wait), "and the next one waits a full interval again");
    }

    @Test
    void tryAdmit_bytes_chargeTheDataLengthAndLetOneLargeCommandThroughAFullBucket() {
        // 1 MiB/s, burst 64 KiB: a 1 MiB read is admitted on a full bucket, then a second waits its whole cost
        HostRateLimiter l = new HostRateLimiter(new HostRateLimit(0, 1 << 20, 1, 64 << 10));
        long t = 5 * S;
        assertEquals(0, l.tryAdmit(1 << 20, t));
        long wait = l.tryAdmit(4096, t);
        // debt is 1 s of rate; the tolerance is 64 KiB = 1/16 s
        assertEquals(S - S / 16, wait);
        assertEquals(0, l.tryAdmit(4096, t + wait));
        assertEquals(0, l.tryAdmit(0, t + wait), "a command that moves no data costs no bytes");
    }

    @Test
    void tryAdmit_anyArrivalPattern_staysWithinBurstPlusRateTimesTime() {
        HostRateLimit limit = new HostRateLimit(1000, 10 << 20, 20, 256 << 10);
        HostRateLimiter l = new HostRateLimiter(limit);
        Random random = new Random(42);
        long start = 77 * S;
        long now = start;
        long commands = 0;
        long bytes = 0;
        long maxCommandBytes = 0;
        for (int i = 0; i < 200_000; i++) {
            now += random.nextInt(200_000);  // up to 0.2 ms between attempts
            long size = 512L << random.nextInt(9);  // 512 B .. 128 KiB
            if (l.tryAdmit(size, now) == 0) {
                commands++;
                bytes += size;
                maxCommandBytes = Math.max(maxCommandBytes, size);
                double seconds = (now - start) / 1e9;
                assertTrue(commands <= limit.burstIos() + limit.iops() * seconds + 1,
                        commands + " commands in " + seconds + " s");
                assertTrue(bytes <= limit.burstBytes() + limit.bytesPerSecond() * seconds + maxCommandBytes,
                        bytes + " bytes in " + seconds + " s");
            }
        }
        HostRateStats stats = l.stats();
        assertEquals(commands, stats.admittedCommands());
        assertEquals(bytes, stats.admittedBytes());
        // and the attempts were dense enough that the limiter, not the arrivals, set the pace
        double seconds = (now - start) / 1e9;
        assertTrue(bytes > 0.9 * limit.bytesPerSecond() * seconds || commands > 0.9 * limit.iops() * seconds,
                "admitted " + commands + " commands, " + bytes + " bytes in " + seconds + " s");
    }

    @Test
    void hostRateLimit_badValues_areRefusedWithTheValue() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new HostRateLimit(-1, 0, 1, 1));
        assertTrue(e.getMessage().contains("iops: -1"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new HostRateLimit(0, 0, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new HostRateLimit(10, 0, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new HostRateLimit(10, 0, 2_000_000_000L, 1));
        assertThrows(IllegalArgumentException.class, () -> new HostRateLimit(0, 10, 1, (1L << 40) + 1));
        // the largest bursts at the smallest rates do not overflow: a full bucket admits at once
        HostRateLimiter slow = new HostRateLimiter(new HostRateLimit(1, 1, 1_000_000_000L, 1L << 40));
        assertEquals(0, slow.tryAdmit(1 << 20, 0));
        HostRateLimit d = HostRateLimit.of(1000, 100 << 20);
        assertEquals(100, d.burstIos());
        assertEquals((100L << 20) / 1000 * 100, d.burstBytes());
    }
}
