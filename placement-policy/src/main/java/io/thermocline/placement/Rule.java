package io.thermocline.placement;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A placement rule for the keys that match a prefix or a glob. Immutable; build with
 * {@link #builder(String)}.
 *
 * @param match                 a key prefix, or a glob when it contains {@code *}, {@code ?} or {@code [}
 *                              ({@code *} stays within one {@code /} segment, {@code **} crosses them)
 * @param preferredTiers        tier names, fastest preferred first; empty = every tier in configuration order
 * @param pinTtl                keep matching objects in the first preferred tier this long after
 *                              their last access; {@link Duration#ZERO} = no pin (default)
 * @param writeMode             how writes reach S3 (default {@link WriteMode#WRITE_THROUGH})
 * @param maxDirtyAge           for write-back, the longest an object may stay unpersisted (default 5 minutes)
 * @param minHeatToPromote      decayed reads an object needs before it is promoted (default 2.0)
 * @param maxIdleBeforeDemotion an object not read for this long is demoted (default 24 hours)
 */
public record Rule(String match, List<String> preferredTiers, Duration pinTtl, WriteMode writeMode,
                   Duration maxDirtyAge, double minHeatToPromote, Duration maxIdleBeforeDemotion) {

    public static final Duration DEFAULT_MAX_DIRTY_AGE = Duration.ofMinutes(5);
    public static final double DEFAULT_MIN_HEAT_TO_PROMOTE = 2.0;
    public static final Duration DEFAULT_MAX_IDLE_BEFORE_DEMOTION = Duration.ofHours(24);

    /** The rule applied to keys no configured rule matches: every default, matching everything. */
    public static final Rule DEFAULT = builder("").build();

    public Rule {
        Objects.requireNonNull(match, "match");
        preferredTiers = List.copyOf(preferredTiers);
        Objects.requireNonNull(writeMode, "writeMode");
        if (pinTtl.isNegative()) {
            throw new ConfigException("pin-ttl", pinTtl, "a duration >= 0");
        }
        if (maxDirtyAge.isNegative() || maxDirtyAge.isZero()) {
            throw new ConfigException("max-dirty-age", maxDirtyAge, "a positive duration");
        }
        if (!(minHeatToPromote >= 0) || Double.isInfinite(minHeatToPromote)) {
            throw new ConfigException("min-heat-to-promote", minHeatToPromote, "a finite number >= 0");
        }
        if (maxIdleBeforeDemotion.isNegative() || maxIdleBeforeDemotion.isZero()) {
            throw new ConfigException("max-idle-before-demotion", maxIdleBeforeDemotion, "a positive duration");
        }
    }

    public static Builder builder(String match) {
        return new Builder(match);
    }

    /** Whether {@code key} falls under this rule. */
    public boolean matches(String key) {
        if (!isGlob(match)) {
            return key.startsWith(match);
        }
        return globPattern(match).matcher(key).matches();
    }

    static boolean isGlob(String m) {
        return m.indexOf('*') >= 0 || m.indexOf('?') >= 0 || m.indexOf('[') >= 0;
    }

    static Pattern globPattern(String glob) {
        StringBuilder re = new StringBuilder();
        for (int i = 0; i < glob.length(); i++) {
            char c = glob.charAt(i);
            switch (c) {
                case '*' -> {
                    if (i + 1 < glob.length() && glob.charAt(i + 1) == '*') {
                        re.append(".*");
                        i++;
                    } else {
                        re.append("[^/]*");
                    }
                }
                case '?' -> re.append("[^/]");
                case '[' -> {
                    int end = glob.indexOf(']', i);
                    if (end < 0) {
                        throw new ConfigException("match", glob, "a glob whose '[' is closed by ']'");
                    }
                    re.append('[').append(glob, i + 1, end).append(']');
                    i = end;
                }
                default -> re.append(Pattern.quote(String.valueOf(c)));
            }
        }
        return Pattern.compile(re.toString());
    }

    /** Builder with the defaults documented on {@link Rule}. */
    public static final class Builder {
        private final String match;
        private List<String> preferred = List.of();
        private Duration pinTtl = Duration.ZERO;
        private WriteMode writeMode = WriteMode.WRITE_THROUGH;
        private Duration maxDirtyAge = DEFAULT_MAX_DIRTY_AGE;
        private double minHeat = DEFAULT_MIN_HEAT_TO_PROMOTE;
        private Duration maxIdle = DEFAULT_MAX_IDLE_BEFORE_DEMOTION;

        private Builder(String match) {
            this.match = match;
        }

        public Builder preferredTiers(List<String> v) { this.preferred = v; return this; }
        public Builder pinTtl(Duration v) { this.pinTtl = v; return this; }
        public Builder writeMode(WriteMode v) { this.writeMode = v; return this; }
        public Builder maxDirtyAge(Duration v) { this.maxDirtyAge = v; return this; }
        public Builder minHeatToPromote(double v) { this.minHeat = v; return this; }
        public Builder maxIdleBeforeDemotion(Duration v) { this.maxIdle = v; return this; }

        public Rule build() {
            return new Rule(match, preferred, pinTtl, writeMode, maxDirtyAge, minHeat, maxIdle);
        }
    }
}
