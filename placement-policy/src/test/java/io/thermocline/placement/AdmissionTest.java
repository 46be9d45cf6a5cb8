package io.thermocline.placement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class AdmissionTest {

    @Test
    void residentValue_keepsFullFrequencyWithinTheWindow_thenFallsWithIdleness() {
        assertThat(Admission.residentValue(6, 0, 100)).isEqualTo(6);
        assertThat(Admission.residentValue(6, 100, 100)).isEqualTo(6);
        assertThat(Admission.residentValue(6, 300, 100)).isEqualTo(2);
        assertThat(Admission.residentValue(6, 600, 100)).isEqualTo(1);
        assertThat(Admission.residentValue(0, 5, 100)).isZero();
    }

    @Test
    void residentValue_rejectsANonPositiveWindow() {
        assertThatThrownBy(() -> Admission.residentValue(1, 1, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("window: 0.0 (expected: > 0)");
    }

    @Test
    void admits_weighsBytesServed_notObjects() {
        // one object of 100 bytes read 3 times serves 300 bytes; two of 100 read once each, 200
        assertThat(Admission.admits(3, 100, 2 * 100)).isTrue();
        // a small frequent object does not displace a large one read almost as often
        assertThat(Admission.admits(4, 10, 3 * 100)).isFalse();
        // a large object read twice displaces many small objects read once, if it serves more bytes
        assertThat(Admission.admits(2, 1000, 10 * 150)).isTrue();
        assertThat(Admission.admits(2, 1000, 10 * 250)).isFalse();
    }

    @Test
    void admits_onATie_onlyACandidateReadAtLeastTwice() {
        assertThat(Admission.admits(1, 100, 100)).isFalse();
        assertThat(Admission.admits(2, 100, 200)).isTrue();
    }
}
