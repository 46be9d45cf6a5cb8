package io.thermocline.region;

import java.util.Optional;

/**
 * A process's identity packed into one {@code long} so it can be compare-and-set into the region:
 * {@code startMillis << 22 | pid}. Linux pids are below 2^22 (pid_max ≤ 4 194 304), so the pair is
 * exact. The start time tells a process from a later one that got the same pid. Token 0 means
 * "nobody".
 */
public final class ProcessToken {

    static final int PID_BITS = 22;
    private static final long PID_MASK = (1L << PID_BITS) - 1;

    /** This process's token. */
    public static final long SELF = of(ProcessHandle.current());

    private ProcessToken() {
    }

    /** The token of {@code process}. */
    public static long of(ProcessHandle process) {
        long start = process.info().startInstant().map(i -> i.toEpochMilli()).orElse(0L);
        return of(process.pid(), start);
    }

    static long of(long pid, long startMillis) {
        if (pid <= 0 || pid > PID_MASK) {
            throw new IllegalArgumentException("pid: " + pid + " (expected: 1.." + PID_MASK + ")");
        }
        return (startMillis << PID_BITS) | pid;
    }

    public static long pid(long token) {
        return token & PID_MASK;
    }

    public static long startMillis(long token) {
        return token >>> PID_BITS;
    }

    /**
     * True if the process the token names is running: its pid exists and, when the token
     * records a start time, it started then. One syscall or /proc read: not for hot paths.
     */
    public static boolean isAlive(long token) {
        if (token == 0) {
            return false;
        }
        if (token == SELF) {
            return true;
        }
        Optional<ProcessHandle> p = ProcessHandle.of(pid(token));
        if (p.isEmpty() || !p.get().isAlive()) {
            return false;
        }
        long start = startMillis(token);
        return start == 0 || of(p.get()) == token;
    }

    public static String describe(long token) {
        return token == 0 ? "none" : "pid " + pid(token) + " (started " + java.time.Instant.ofEpochMilli(startMillis(token)) + ")";
    }
}
