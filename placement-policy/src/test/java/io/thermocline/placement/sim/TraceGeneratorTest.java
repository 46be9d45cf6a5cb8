package io.thermocline.placement.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class TraceGeneratorTest {

    @Test
    void sameSeed_sameTrace_otherSeed_otherTrace() {
        for (String kind : TraceGenerator.KINDS) {
            String a = TraceGenerator.toCsv(TraceGenerator.generate(kind, 11, 3000), kind);
            String b = TraceGenerator.toCsv(TraceGenerator.generate(kind, 11, 3000), kind);
            String c = TraceGenerator.toCsv(TraceGenerator.generate(kind, 12, 3000), kind);
            assertThat(a).as(kind).isEqualTo(b).isNotEqualTo(c);
            // the CSV round-trips through the parser
            Trace back = TraceParser.parse(a);
            assertThat(TraceGenerator.toCsv(back, kind)).isEqualTo(a);
        }
    }

    @Test
    void sizesAreRealistic_andCheckpointsAreWrittenLarge() {
        Trace t = TraceGenerator.generate("checkpoint", 1, 6000);
        long maxWrite = 0;
        long maxRead = 0;
        for (int i = 0; i < t.length(); i++) {
            long s = t.sizes()[t.keyIds()[i]];
            if (t.writes()[i]) {
                maxWrite = Math.max(maxWrite, s);
            } else {
                maxRead = Math.max(maxRead, s);
            }
        }
        assertThat(maxWrite).isGreaterThanOrEqualTo(1L << 30);
        assertThat(java.util.Arrays.stream(t.sizes()).boxed().toList()).allSatisfy(s -> assertThat(s).isBetween(1L << 20, 4L << 30));
        Trace m = TraceGenerator.generate("model-load", 1, 3000);
        assertThat(m.keys()).allSatisfy(k -> assertThat(k).startsWith("models/model"));
        assertThatThrownBy(() -> TraceGenerator.generate("bogus", 1, 3000)).hasMessageContaining("kind 'bogus'");
    }
}
