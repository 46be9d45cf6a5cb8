package io.thermocline.placement;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a {@link PolicyConfig} from YAML text. Unknown keys, wrong types and out-of-range values
 * are refused with a {@link ConfigException} naming the key path, the value and what was expected.
 * Takes a string, not a file: reading it is the caller's business.
 */
public final class PolicyConfigLoader {

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([kmgt]i?b?|b)?", Pattern.CASE_INSENSITIVE);
    private static final Pattern DURATION = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)", Pattern.CASE_INSENSITIVE);
    private static final String SIZE_EXPECTED = "a size such as 4096, 512MiB, 2TiB or 10GB";
    private static final String DURATION_EXPECTED = "a duration such as 500ms, 30s, 5m, 6h, 2d or PT1H";

    private PolicyConfigLoader() {
    }

    /** Parses and validates {@code yaml}. */
    public static PolicyConfig parse(String yaml) {
        JsonNode root;
        try {
            root = YAML.readTree(yaml);
        } catch (JacksonException e) {
            throw new ConfigException("(document)", e.getOriginalMessage(), "valid YAML");
        }
        PolicyConfig.Builder b = PolicyConfig.builder();
        if (root == null || root.isMissingNode() || root.isNull()) {
            return b.build();
        }
        object(root, "(document)", Set.of("heat", "admission", "tiers", "rules"));
        JsonNode heat = root.get("heat");
        if (heat != null) {
            object(heat, "heat", Set.of("half-life"));
            if (heat.has("half-life")) {
                b.halfLife(duration(heat.get("half-life"), "heat.half-life"));
            }
        }
        JsonNode adm = root.get("admission");
        if (adm != null) {
            object(adm, "admission", Set.of("sketch-keys"));
            if (adm.has("sketch-keys")) {
                b.sketchKeys((int) integer(adm.get("sketch-keys"), "admission.sketch-keys", 16, Integer.MAX_VALUE));
            }
        }
        List<TierSpec> tiers = new ArrayList<>();
        JsonNode tn = root.get("tiers");
        if (tn != null) {
            array(tn, "tiers");
            for (int i = 0; i < tn.size(); i++) {
                tiers.add(tier(tn.get(i), "tiers[" + i + "]"));
            }
        }
        List<Rule> rules = new ArrayList<>();
        JsonNode rn = root.get("rules");
        if (rn != null) {
            array(rn, "rules");
            for (int i = 0; i < rn.size(); i++) {
                rules.add(rule(rn.get(i), "rules[" + i + "]"));
            }
        }
        return b.tiers(tiers).rules(rules).build();
    }

    private static TierSpec tier(JsonNode n, String at) {
        object(n, at, Set.of("name", "capacity", "high-watermark", "low-watermark", "max-concurrent-moves", "bandwidth"));
        String name = text(required(n, "name", at), at + ".name");
        long capacity = size(required(n, "capacity", at), at + ".capacity");
        TierSpec.Builder b = TierSpec.builder(name, capacity);
        if (n.has("high-watermark")) {
            b.highWatermark(fraction(n.get("high-watermark"), at + ".high-watermark"));
        }
        if (n.has("low-watermark")) {
            b.lowWatermark(fraction(n.get("low-watermark"), at + ".low-watermark"));
        }
        if (n.has("max-concurrent-moves")) {
            b.maxConcurrentMoves((int) integer(n.get("max-concurrent-moves"), at + ".max-concurrent-moves", 1, 1 << 16));
        }
        if (n.has("bandwidth")) {
            b.bandwidthBytesPerSecond(size(n.get("bandwidth"), at + ".bandwidth"));
        }
        try {
            return b.build();
        } catch (ConfigException e) {
            throw e.under(at);
        }
    }

    private static Rule rule(JsonNode n, String at) {
        object(n, at, Set.of("match", "preferred-tiers", "pin-ttl", "write-mode", "max-dirty-age",
                "min-heat-to-promote", "max-idle-before-demotion"));
        String match = text(required(n, "match", at), at + ".match");
        Rule.Builder b = Rule.builder(match);
        if (n.has("preferred-tiers")) {
            JsonNode p = n.get("preferred-tiers");
            array(p, at + ".preferred-tiers");
            List<String> names = new ArrayList<>();
            for (int i = 0; i < p.size(); i++) {
                names.add(text(p.get(i), at + ".preferred-tiers[" + i + "]"));
            }
            b.preferredTiers(names);
        }
        if (n.has("pin-ttl")) {
            b.pinTtl(duration(n.get("pin-ttl"), at + ".pin-ttl"));
        }
        if (n.has("write-mode")) {
            String s = text(n.get("write-mode"), at + ".write-mode");
            WriteMode m = WriteMode.fromYaml(s);
            if (m == null) {
                throw new ConfigException(at + ".write-mode", s, "one of write-through, write-back, local-only");
            }
            b.writeMode(m);
        }
        if (n.has("max-dirty-age")) {
            b.maxDirtyAge(duration(n.get("max-dirty-age"), at + ".max-dirty-age"));
        }
        if (n.has("min-heat-to-promote")) {
            JsonNode v = n.get("min-heat-to-promote");
            if (!v.isNumber() || v.asDouble() < 0) {
                throw new ConfigException(at + ".min-heat-to-promote", v.asText(), "a number >= 0");
            }
            b.minHeatToPromote(v.asDouble());
        }
        if (n.has("max-idle-before-demotion")) {
            b.maxIdleBeforeDemotion(duration(n.get("max-idle-before-demotion"), at + ".max-idle-before-demotion"));
        }
        try {
            if (Rule.isGlob(match)) {
                Rule.globPattern(match);
            }
            return b.build();
        } catch (ConfigException e) {
            throw e.under(at);
        }
    }

    private static void object(JsonNode n, String at, Set<String> allowed) {
        if (!n.isObject()) {
            throw new ConfigException(at, n.toString(), "a mapping with keys " + allowed.stream().sorted().toList());
        }
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!allowed.contains(k)) {
                String key = at.equals("(document)") ? k : at + "." + k;
                throw new ConfigException(key, k, "a known key: one of " + allowed.stream().sorted().toList());
            }
        }
    }

    private static void array(JsonNode n, String at) {
        if (!n.isArray()) {
            throw new ConfigException(at, n.toString(), "a list");
        }
    }

    private static JsonNode required(JsonNode n, String field, String at) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            throw new ConfigException(at + "." + field, "(missing)", "a value; this key is required");
        }
        return v;
    }

    private static String text(JsonNode n, String at) {
        if (!n.isTextual() || n.asText().isEmpty()) {
            throw new ConfigException(at, n.toString(), "a non-empty string");
        }
        return n.asText();
    }

    private static long integer(JsonNode n, String at, long min, long max) {
        if (!n.isIntegralNumber() || n.asLong() < min || n.asLong() > max) {
            throw new ConfigException(at, n.asText(), "an integer in " + min + ".." + max);
        }
        return n.asLong();
    }

    private static double fraction(JsonNode n, String at) {
        if (!n.isNumber() || n.asDouble() < 0 || n.asDouble() > 1) {
            throw new ConfigException(at, n.asText(), "a fraction between 0 and 1, e.g. 0.9");
        }
        return n.asDouble();
    }

    /** Parses a size such as {@code 512MiB} (powers of 1024 for KiB..TiB and bare K/M/G/T, 1000 for KB..TB). */
    public static long parseSize(String s) {
        Matcher m = SIZE.matcher(s.trim());
        if (!m.matches()) {
            return -1;
        }
        String unit = m.group(2) == null ? "b" : m.group(2).toLowerCase(Locale.ROOT);
        boolean binary = unit.contains("i") || unit.length() == 1 && !unit.equals("b");
        long base = binary ? 1024 : 1000;
        int power = switch (unit.charAt(0)) {
            case 'k' -> 1;
            case 'm' -> 2;
            case 'g' -> 3;
            case 't' -> 4;
            default -> 0;
        };
        double bytes = Double.parseDouble(m.group(1)) * Math.pow(base, power);
        return bytes >= Long.MAX_VALUE ? -1 : (long) bytes;
    }

    private static long size(JsonNode n, String at) {
        if (n.isIntegralNumber() && n.asLong() >= 0) {
            return n.asLong();
        }
        long v = n.isTextual() ? parseSize(n.asText()) : -1;
        if (v < 0) {
            throw new ConfigException(at, n.isTextual() ? n.asText() : n.toString(), SIZE_EXPECTED);
        }
        return v;
    }

    /** Parses {@code 500ms}, {@code 30s}, {@code 5m}, {@code 6h}, {@code 2d}, {@code 0} or ISO-8601 ({@code PT1H}); null if neither. */
    public static Duration parseDuration(String s) {
        String t = s.trim();
        if (t.equals("0")) {
            return Duration.ZERO;
        }
        Matcher m = DURATION.matcher(t);
        if (m.matches()) {
            double v = Double.parseDouble(m.group(1));
            long unitMillis = switch (m.group(2).toLowerCase(Locale.ROOT)) {
                case "ms" -> 1;
                case "s" -> 1000;
                case "m" -> 60_000;
                case "h" -> 3_600_000;
                default -> 86_400_000;
            };
            return Duration.ofMillis((long) (v * unitMillis));
        }
        try {
            return Duration.parse(t);
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    private static Duration duration(JsonNode n, String at) {
        Duration d = n.isTextual() ? parseDuration(n.asText()) : n.isIntegralNumber() && n.asLong() == 0 ? Duration.ZERO : null;
        if (d == null || d.isNegative()) {
            throw new ConfigException(at, n.isTextual() ? n.asText() : n.toString(), DURATION_EXPECTED);
        }
        return d;
    }
}
