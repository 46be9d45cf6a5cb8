package io.thermocline.placement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class HeatTrackerTest {
    private final AtomicLong now = new AtomicLong(1_000_000);
    private final InstantSource clock = () -> Instant.ofEpochMilli(now.get());

    @Test
    void heatHalvesEveryHalfLife_forReadsAndBytes() {
        HeatTracker h = new HeatTracker(clock, Duration.ofSeconds(10));
        h.recordRead("a", 1000);
        h.recordRead("a", 3000);
        assertThat(h.heat("a")).isEqualTo(new HeatTracker.Heat(2, 4000));
        now.addAndGet(10_000);
        assertThat(h.heat("a").reads()).isCloseTo(1.0, within(1e-9));
        assertThat(h.heat("a").bytes()).isCloseTo(2000.0, within(1e-6));
        now.addAndGet(20_000);
        assertThat(h.heat("a").reads()).isCloseTo(0.25, within(1e-9));
        h.recordRead("a", 0);
        assertThat(h.heat("a").reads()).isCloseTo(1.25, within(1e-9));
        assertThat(h.idleMillis("a")).isZero();
        now.addAndGet(5);
        assertThat(h.idleMillis("a")).isEqualTo(5);
    }

    @Test
    void unknownKeysAreCold_andForgetRemoves() {
        HeatTracker h = new HeatTracker(clock, Duration.ofMinutes(1));
        assertThat(h.heat("x")).isEqualTo(HeatTracker.Heat.ZERO);
        assertThat(h.idleMillis("x")).isEqualTo(Long.MAX_VALUE);
        h.recordRead("x", 1);
        h.forget("x");
        assertThat(h.size()).isZero();
        assertThatThrownBy(() -> new HeatTracker(clock, Duration.ZERO)).hasMessageContaining("halfLife");
    }

    @Test
    void sketchCountsAndAges() {
        FrequencySketch s = new FrequencySketch(64);
        long a = FrequencySketch.hash("a");
        long b = FrequencySketch.hash("b");
        for (int i = 0; i < 5; i++) {
            s.increment(a);
        }
        s.increment(b);
        assertThat(s.frequency(a)).isEqualTo(5);
        assertThat(s.frequency(b)).isEqualTo(1);
        for (int i = 0; i < 40; i++) {
            s.increment(a);
        }
        assertThat(s.frequency(a)).isEqualTo(15); // 4-bit counters saturate
        // aging: after sampleSize increments everything is halved
        for (int i = 0; i < s.sampleSize(); i++) {
            s.increment(FrequencySketch.hash("k" + i));
        }
        assertThat(s.frequency(a)).isLessThanOrEqualTo(7);
    }
}
