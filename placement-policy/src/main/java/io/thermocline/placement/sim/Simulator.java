package io.thermocline.placement.sim;

import java.util.ArrayList;
import java.util.List;

/**
 * Replays a trace through fast-tier policies. The rules are the same for every policy: the byte
 * hit ratio counts read bytes only (bytes of reads served from the fast tier over all read
 * bytes); a write may place its object in the fast tier as the policy decides and its bytes are
 * not counted; a capacity given as a fraction is a share of {@link Trace#totalBytes()}, which
 * includes objects that are only ever written.
 */
public final class Simulator {
    private Simulator() {
    }

    /** The policies compared by default: thermocline, lru, w-tinylfu, belady. */
    public static List<CachePolicy> standardPolicies() {
        return List.of(new ThermoclinePolicy(), new LruPolicy(), new WTinyLfuPolicy(), new BeladyPolicy());
    }

    /** A fraction of the trace's total object bytes, as a capacity in bytes. */
    public static long capacityOf(Trace trace, double fraction) {
        if (!(fraction > 0 && fraction <= 1)) {
            throw new IllegalArgumentException("fraction " + fraction + " (expected: in (0, 1])");
        }
        return (long) Math.floor(trace.totalBytes() * fraction);
    }

    /** Runs one policy (freshly started) over the whole trace. */
    public static SimResult run(Trace trace, long capacityBytes, CachePolicy policy) {
        policy.start(trace, capacityBytes);
        long read = 0;
        long hit = 0;
        for (int i = 0; i < trace.length(); i++) {
            boolean h = policy.access(i);
            if (!trace.writes()[i]) {
                read += trace.lengths()[i];
                if (h) {
                    hit += trace.lengths()[i];
                }
            }
            if (policy.residentBytes() > capacityBytes) {
                throw new IllegalStateException(policy.name() + " exceeded the capacity at access " + i);
            }
        }
        return new SimResult(policy.name(), capacityBytes, read, hit, policy.bytesMoved());
    }

    /** Runs each of {@code policies} over the trace. */
    public static List<SimResult> runAll(Trace trace, long capacityBytes, List<CachePolicy> policies) {
        List<SimResult> out = new ArrayList<>();
        for (CachePolicy p : policies) {
            out.add(run(trace, capacityBytes, p));
        }
        return out;
    }
}
