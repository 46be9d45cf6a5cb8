package io.thermocline.placement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class PolicyConfigLoaderTest {

    private static final String TIERS = """
            tiers:
              - name: local
                capacity: 2TiB
                high-watermark: 0.85
                low-watermark: 0.7
                max-concurrent-moves: 8
                bandwidth: 500MiB
              - name: s3
                capacity: 1000TB
            """;

    @Test
    void fullConfig_parsesEveryKey() {
        PolicyConfig c = PolicyConfigLoader.parse("""
                heat:
                  half-life: 30m
                admission:
                  sketch-keys: 4096
                """ + TIERS + """
                rules:
                  - match: "models/**/*.safetensors"
                    preferred-tiers: [local, s3]
                    pin-ttl: 6h
                    write-mode: write-back
                    max-dirty-age: 2m
                    min-heat-to-promote: 3.5
                    max-idle-before-demotion: 2d
                  - match: scratch/
                    write-mode: local-only
                """);
        assertThat(c.halfLife()).isEqualTo(Duration.ofMinutes(30));
        assertThat(c.sketchKeys()).isEqualTo(4096);
        TierSpec local = c.tiers().getFirst();
        assertThat(local).isEqualTo(new TierSpec("local", 2L << 40, 0.85, 0.7, 8, 500L << 20));
        assertThat(c.tier("s3").capacityBytes()).isEqualTo(1000_000_000_000_000L);
        assertThat(c.tier("s3").highWatermark()).isEqualTo(TierSpec.DEFAULT_HIGH_WATERMARK);
        Rule r = c.ruleFor("models/llama/70b/model-00001.safetensors");
        assertThat(r.preferredTiers()).containsExactly("local", "s3");
        assertThat(r.pinTtl()).isEqualTo(Duration.ofHours(6));
        assertThat(r.writeMode()).isEqualTo(WriteMode.WRITE_BACK);
        assertThat(r.maxDirtyAge()).isEqualTo(Duration.ofMinutes(2));
        assertThat(r.minHeatToPromote()).isEqualTo(3.5);
        assertThat(r.maxIdleBeforeDemotion()).isEqualTo(Duration.ofDays(2));
        assertThat(c.ruleFor("models/llama/70b/config.json")).isSameAs(Rule.DEFAULT);
        assertThat(c.ruleFor("scratch/x").writeMode()).isEqualTo(WriteMode.LOCAL_ONLY);
        assertThat(c.ruleFor("scratch/x").maxDirtyAge()).isEqualTo(Rule.DEFAULT_MAX_DIRTY_AGE);
    }

    @Test
    void emptyDocument_givesDefaults() {
        PolicyConfig c = PolicyConfigLoader.parse("");
        assertThat(c.halfLife()).isEqualTo(PolicyConfig.DEFAULT_HALF_LIFE);
        assertThat(c.sketchKeys()).isEqualTo(PolicyConfig.DEFAULT_SKETCH_KEYS);
        assertThat(c.tiers()).isEmpty();
        assertThat(Rule.DEFAULT.writeMode()).isEqualTo(WriteMode.WRITE_THROUGH);
        assertThat(Rule.DEFAULT.minHeatToPromote()).isEqualTo(2.0);
    }

    @Test
    void globs_starStaysInASegment_doubleStarCrosses() {
        assertThat(Rule.builder("a/*.bin").build().matches("a/x.bin")).isTrue();
        assertThat(Rule.builder("a/*.bin").build().matches("a/b/x.bin")).isFalse();
        assertThat(Rule.builder("a/**.bin").build().matches("a/b/x.bin")).isTrue();
        assertThat(Rule.builder("a/shard-?[0-3]").build().matches("a/shard-12")).isTrue();
        assertThat(Rule.builder("a/shard-?[0-3]").build().matches("a/shard-14")).isFalse();
        assertThat(Rule.builder("ckpt/").build().matches("ckpt/step1")).isTrue();
    }

    @Test
    void badValues_nameKeyValueAndExpectation() {
        assertError(TIERS.replace("0.85", "1.5"), "tiers[0].high-watermark: '1.5' (expected: a fraction between 0 and 1");
        assertError(TIERS.replace("low-watermark: 0.7", "low-watermark: 0.9"),
                "tiers[0].low-watermark: 0.9 (expected: a fraction in [0, high-watermark 0.85)");
        assertError(TIERS.replace("2TiB", "lots"), "tiers[0].capacity: 'lots' (expected: a size such as");
        assertError(TIERS.replace("max-concurrent-moves: 8", "max-concurrent-moves: 0"),
                "tiers[0].max-concurrent-moves: '0' (expected: an integer in 1..65536)");
        assertError(TIERS + "rules:\n  - match: a/\n    write-mode: sometimes\n",
                "rules[0].write-mode: 'sometimes' (expected: one of write-through, write-back, local-only)");
        assertError(TIERS + "rules:\n  - match: a/\n    pin-ttl: forever\n", "rules[0].pin-ttl: 'forever' (expected: a duration");
        assertError(TIERS + "rules:\n  - match: a/\n    preferred-tiers: [nvme]\n",
                "rules[0].preferred-tiers[0]: 'nvme' (expected: one of the configured tiers [local, s3])");
        assertError(TIERS + "rules:\n  - match: a/\n    min-heat-to-promote: -1\n", "rules[0].min-heat-to-promote: '-1' (expected: a number >= 0)");
        assertError(TIERS + "rules:\n  - preferred-tiers: [s3]\n", "rules[0].match: '(missing)' (expected: a value; this key is required)");
        assertError(TIERS + "rules:\n  - match: 'a/[x'\n", "rules[0].match: 'a/[x' (expected: a glob whose '[' is closed by ']')");
        assertError("heat:\n  half-lfe: 1h\n", "heat.half-lfe: 'half-lfe' (expected: a known key: one of [half-life])");
        assertError("heat:\n  half-life: 0\n", "heat.half-life: PT0S (expected: a positive duration)");
        assertError("tiers: local\n", "tiers: '\"local\"' (expected: a list)");
        assertError(TIERS + "  - name: local\n    capacity: 1\n", "tiers[2].name: 'local' (expected: a name no other tier has)");
    }

    private static void assertError(String yaml, String message) {
        assertThatThrownBy(() -> PolicyConfigLoader.parse(yaml)).isInstanceOf(ConfigException.class).hasMessageStartingWith(message);
    }

    @Test
    void builders_applyDefaults() {
        TierSpec t = TierSpec.builder("x", 100).build();
        assertThat(t.highBytes()).isEqualTo(90);
        assertThat(t.lowBytes()).isEqualTo(80);
        assertThat(t.maxConcurrentMoves()).isEqualTo(4);
        assertThat(t.bandwidthBytesPerSecond()).isZero();
        assertThat(PolicyConfig.builder().tiers(List.of(t)).build().tier("x")).isSameAs(t);
    }
}
