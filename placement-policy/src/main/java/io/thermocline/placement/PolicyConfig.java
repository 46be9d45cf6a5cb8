package io.thermocline.placement;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The whole placement configuration. Immutable; build with {@link #builder()} or load from YAML
 * with {@link PolicyConfigLoader}.
 *
 * @param halfLife   how long heat takes to halve without accesses (default 1 hour)
 * @param sketchKeys distinct keys the admission sketch is sized for (default 65536)
 * @param tiers      the tiers, fastest first (default: none)
 * @param rules      rules, first match wins; keys no rule matches get {@link Rule#DEFAULT}
 */
public record PolicyConfig(Duration halfLife, int sketchKeys, List<TierSpec> tiers, List<Rule> rules) {

    public static final Duration DEFAULT_HALF_LIFE = Duration.ofHours(1);
    public static final int DEFAULT_SKETCH_KEYS = 65536;

    public PolicyConfig {
        if (halfLife.isNegative() || halfLife.isZero()) {
            throw new ConfigException("heat.half-life", halfLife, "a positive duration");
        }
        if (sketchKeys < 16) {
            throw new ConfigException("admission.sketch-keys", sketchKeys, "an integer >= 16");
        }
        tiers = List.copyOf(tiers);
        rules = List.copyOf(rules);
        Set<String> names = new HashSet<>();
        for (int i = 0; i < tiers.size(); i++) {
            if (!names.add(tiers.get(i).name())) {
                throw new ConfigException("tiers[" + i + "].name", tiers.get(i).name(), "a name no other tier has");
            }
        }
        for (int i = 0; i < rules.size(); i++) {
            List<String> pref = rules.get(i).preferredTiers();
            for (int j = 0; j < pref.size(); j++) {
                if (!names.contains(pref.get(j))) {
                    throw new ConfigException("rules[" + i + "].preferred-tiers[" + j + "]", pref.get(j),
                            "one of the configured tiers " + names.stream().sorted().toList());
                }
            }
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The first rule matching {@code key}, or {@link Rule#DEFAULT}. */
    public Rule ruleFor(String key) {
        for (Rule r : rules) {
            if (r.matches(key)) {
                return r;
            }
        }
        return Rule.DEFAULT;
    }

    /** The tier named {@code name}, or null. */
    public TierSpec tier(String name) {
        for (TierSpec t : tiers) {
            if (t.name().equals(name)) {
                return t;
            }
        }
        return null;
    }

    /** Builder with the defaults documented on {@link PolicyConfig}. */
    public static final class Builder {
        private Duration halfLife = DEFAULT_HALF_LIFE;
        private int sketchKeys = DEFAULT_SKETCH_KEYS;
        private List<TierSpec> tiers = List.of();
        private List<Rule> rules = List.of();

        public Builder halfLife(Duration v) { this.halfLife = v; return this; }
        public Builder sketchKeys(int v) { this.sketchKeys = v; return this; }
        public Builder tiers(List<TierSpec> v) { this.tiers = v; return this; }
        public Builder rules(List<Rule> v) { this.rules = v; return this; }

        public PolicyConfig build() {
            return new PolicyConfig(halfLife, sketchKeys, tiers, rules);
        }
    }
}
