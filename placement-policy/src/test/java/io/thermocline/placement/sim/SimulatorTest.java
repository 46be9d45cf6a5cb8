package io.thermocline.placement.sim;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Tiny traces whose outcomes are worked out by hand. Sizes are in KiB so Caffeine's KiB weights are exact. */
class SimulatorTest {
    private static final long K = 1024;

    private static Trace trace(String... lines) {
        return TraceParser.parse(String.join("\n", lines));
    }

    private static String r(int t, String key, long kib) {
        return t + "," + key + ",0," + kib * K + ",R";
    }

    private static String w(int t, String key, long kib) {
        return t + "," + key + ",0," + kib * K + ",W";
    }

    // a b c a b c with room for two objects of equal size
    private static final Trace CYCLE = trace(r(1, "a", 1), r(2, "b", 1), r(3, "c", 1), r(4, "a", 1), r(5, "b", 1), r(6, "c", 1));

    @Test
    void lru_missesEveryCyclicReadThatDoesNotFit() {
        SimResult s = Simulator.run(CYCLE, 2 * K, new LruPolicy());
        assertThat(s.fastHitBytes()).isZero();
        assertThat(s.bytesMoved()).isEqualTo(6 * K);
        // a b a: the second a hits
        SimResult hit = Simulator.run(trace(r(1, "a", 1), r(2, "b", 1), r(3, "a", 1)), 2 * K, new LruPolicy());
        assertThat(hit.byteHitRatio()).isEqualTo(1.0 / 3);
    }

    @Test
    void belady_keepsTheObjectReadSoonest() {
        // a b c a b c, room for 2: miss a, b; c's next read (5) is after a's (3) and b's (4): c is not
        // placed; a hits; then b hits; c misses: 2 of 6 reads hit
        SimResult s = Simulator.run(CYCLE, 2 * K, new BeladyPolicy());
        assertThat(s.fastHitBytes()).isEqualTo(2 * K);
        assertThat(s.bytesMoved()).isEqualTo(2 * K);
    }

    @Test
    void belady_variableSizes_evictsFurthestNextRead() {
        // capacity 4: a(2) b(2) then c(2) whose next read comes before b's: evict b (furthest)
        Trace t = trace(r(1, "a", 2), r(2, "b", 2), r(3, "c", 2), r(4, "a", 2), r(5, "c", 2), r(6, "b", 2));
        SimResult s = Simulator.run(t, 4 * K, new BeladyPolicy());
        assertThat(s.fastHitBytes()).isEqualTo(4 * K); // a and c hit; b misses twice
    }

    @Test
    void wTinyLfu_isCaffeineWeighted() {
        // one object bigger than the whole tier never stays; a repeated small one hits
        Trace t = trace(r(1, "big", 8), r(2, "s", 1), r(3, "big", 8), r(4, "s", 1));
        SimResult s = Simulator.run(t, 4 * K, new WTinyLfuPolicy());
        assertThat(s.fastHitBytes()).isEqualTo(K);
        assertThat(s.bytesMoved()).isEqualTo(K); // big never fits and is not offered; s is placed once and then hits
    }

    @Test
    void writes_areNotCounted_butWriteAllocateMayServeLaterReads() {
        Trace t = trace(w(1, "a", 1), r(2, "a", 1));
        assertThat(Simulator.run(t, 4 * K, new LruPolicy()).byteHitRatio()).isEqualTo(1.0);
        assertThat(Simulator.run(t, 4 * K, new BeladyPolicy()).byteHitRatio()).isEqualTo(1.0);
        // thermocline does not place a write of an object without read history
        assertThat(Simulator.run(t, 4 * K, new ThermoclinePolicy()).byteHitRatio()).isEqualTo(0.0);
        // a read-only trace's ratio ignores the write bytes entirely
        SimResult s = Simulator.run(trace(w(1, "x", 100), r(2, "a", 1), r(3, "a", 1)), 4 * K, new LruPolicy());
        assertThat(s.readBytes()).isEqualTo(2 * K);
        assertThat(s.byteHitRatio()).isEqualTo(0.5);
    }

    @Test
    void capacityFraction_includesWriteOnlyObjects() {
        Trace t = trace(w(1, "ckpt", 90), r(2, "a", 10), r(3, "a", 10));
        assertThat(Simulator.capacityOf(t, 0.10)).isEqualTo(10 * K);
        assertThat(Simulator.capacityOf(t, 0.05)).isEqualTo(5 * K);
        // 10% of 100 KiB fits a; 5% does not
        assertThat(Simulator.run(t, Simulator.capacityOf(t, 0.10), new LruPolicy()).byteHitRatio()).isEqualTo(0.5);
        assertThat(Simulator.run(t, Simulator.capacityOf(t, 0.05), new LruPolicy()).byteHitRatio()).isEqualTo(0.0);
    }

    @Test
    void thermocline_aScanDoesNotFlushTheHotSet() {
        // h read 3 times fills the tier; a scan of 5 objects read once each cannot displace it
        StringBuilder b = new StringBuilder();
        int t = 1;
        for (int i = 0; i < 3; i++) {
            b.append(r(t++, "h", 4)).append('\n');
        }
        for (int i = 0; i < 5; i++) {
            b.append(r(t++, "scan" + i, 4)).append('\n');
        }
        b.append(r(t, "h", 4)).append('\n');
        Trace tr = TraceParser.parse(b.toString());
        assertThat(Simulator.run(tr, 4 * K, new ThermoclinePolicy()).fastHitBytes()).isEqualTo(3 * 4 * K);
        assertThat(Simulator.run(tr, 4 * K, new LruPolicy()).fastHitBytes()).isEqualTo(2 * 4 * K);
    }

    @Test
    void thermocline_shortTermReuseIsAdmitted_aOneOffReadIsNot() {
        // f is read four times (frequency 4) and fills the tier; x is read twice in a row: its
        // frequency (2) is below f's, but the second read comes right after the first, so x is
        // placed and its third read hits. y, read once after that, does not displace x.
        Trace t = trace(r(1, "f", 4), r(2, "f", 4), r(3, "f", 4), r(4, "f", 4),
                r(5, "x", 4), r(6, "x", 4), r(7, "x", 4), r(8, "y", 4), r(9, "x", 4));
        SimResult s = Simulator.run(t, 4 * K, new ThermoclinePolicy());
        assertThat(s.fastHitBytes()).isEqualTo((3 + 2) * 4 * K);
        assertThat(s.bytesMoved()).isEqualTo(2 * 4 * K);
    }

    @Test
    void thermocline_aBurstsFrequencyFadesOnceItIsLongIdle() {
        // b is read 6 times in a burst and fills the tier (room for one object). Then 60 objects
        // are read once each, and y is read every 30 accesses, too far apart to count as
        // short-term reuse. Long after the burst, y (frequency 2, then 3) is worth more than b,
        // whose count is discounted by its idleness, and takes its place; its later reads hit.
        StringBuilder b = new StringBuilder();
        int t = 1;
        for (int i = 0; i < 6; i++) {
            b.append(r(t++, "b", 4)).append('\n');
        }
        for (int i = 0; i < 600; i++) {
            b.append(r(t++, i % 30 == 29 ? "y" : "one-off-" + i, 4)).append('\n');
        }
        Trace tr = TraceParser.parse(b.toString());
        SimResult s = Simulator.run(tr, 4 * K, new ThermoclinePolicy());
        // b's 5 repeat reads hit. At y's fourth read b has been idle 120 accesses against a window
        // of 7 x 8 = 56, so its count of 6 is worth 2.8 < 4: y takes its place and 16 of its 20
        // reads hit. Undiscounted, b's 6 would hold the tier until y's sixth read.
        assertThat(s.fastHitBytes()).isEqualTo((5 + 16) * 4 * K);
        assertThat(s.bytesMoved()).isEqualTo(2 * 4 * K);
        assertThat(Simulator.run(tr, 4 * K, new ThermoclinePolicy())).isEqualTo(s);
    }

    @Test
    void thermocline_modelLoadAtTenPercent_deterministicAboveLruAndNearBelady() {
        for (long seed : new long[] {1, 2, 42}) {
            Trace t = TraceGenerator.generate("model-load", seed, 40_000);
            long cap = Simulator.capacityOf(t, 0.1);
            SimResult ours = Simulator.run(t, cap, new ThermoclinePolicy());
            assertThat(Simulator.run(t, cap, new ThermoclinePolicy())).isEqualTo(ours);
            assertThat(ours.byteHitRatio()).as("seed %d", seed).isGreaterThan(Simulator.run(t, cap, new LruPolicy()).byteHitRatio());
            assertThat(ours.byteHitRatio()).as("seed %d", seed)
                    .isGreaterThanOrEqualTo(0.8 * Simulator.run(t, cap, new BeladyPolicy()).byteHitRatio());
        }
    }

    @Test
    void everyPolicy_isDeterministicAndWithinCapacity() {
        Trace t = TraceGenerator.generate("mix", 3, 4000);
        long cap = Simulator.capacityOf(t, 0.1);
        for (CachePolicy p : List.of(new ThermoclinePolicy(), new LruPolicy(), new BeladyPolicy())) {
            SimResult a = Simulator.run(t, cap, p);
            SimResult b = Simulator.run(t, cap, p);
            assertThat(a).isEqualTo(b);
            assertThat(a.byteHitRatio()).isBetween(0.0, 1.0);
            assertThat(a.byteHitRatio() + a.backingByteHitRatio()).isCloseTo(1.0, org.assertj.core.api.Assertions.within(1e-12));
        }
    }
}
