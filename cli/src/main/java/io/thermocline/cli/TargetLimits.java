package io.thermocline.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;

/**
 * The target's limits on what one peer may take (see docs/target-limits.md), from the
 * {@code limits:} section of {@code thermocline target serve --config FILE} or from options; a
 * {@code null} value leaves the target's default.
 *
 * <pre>
 * limits:
 *   max-connections: 4096               # connections open at once
 *   max-connections-per-address: 512    # from one source IP address
 *   max-unconnected: 256                # connections that have not completed a Connect
 *   max-controllers-per-host: 128       # controllers one host NQN holds, discovery ones included
 *   max-unsent-bytes: 4MiB              # queued responses above which a connection stops reading
 *   max-r2t-bytes-per-controller: 64MiB # Write buffers waiting for R2T data, per controller
 *   h2c-data-timeout: 30s               # an unanswered R2T ends the connection after this
 * </pre>
 */
record TargetLimits(Integer maxConnections, Integer maxConnectionsPerAddress, Integer maxUnconnected,
                    Integer maxControllersPerHost, Long maxUnsentBytes, Long maxR2tBytesPerController,
                    Duration h2cDataTimeout) {
    static final List<String> KEYS = List.of("max-connections", "max-connections-per-address", "max-unconnected",
            "max-controllers-per-host", "max-unsent-bytes", "max-r2t-bytes-per-controller", "h2c-data-timeout");
    static final TargetLimits NONE = new TargetLimits(null, null, null, null, null, null, null);

    /** The {@code limits} mapping at {@code where}. */
    static TargetLimits parse(String where, JsonNode n) {
        if (n == null || n.isNull()) {
            return NONE;
        }
        if (!n.isObject()) {
            throw new IllegalArgumentException(where + ": expected a mapping of " + String.join(", ", KEYS));
        }
        for (Iterator<String> names = n.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!KEYS.contains(name)) {
                throw new IllegalArgumentException(where + ": unknown key '" + name + "' (expected: " + String.join(", ", KEYS) + ")");
            }
        }
        return new TargetLimits(count(where, n, "max-connections"), count(where, n, "max-connections-per-address"),
                count(where, n, "max-unconnected"), count(where, n, "max-controllers-per-host"),
                bytes(where, n, "max-unsent-bytes"), bytes(where, n, "max-r2t-bytes-per-controller"),
                duration(where, n, "h2c-data-timeout"));
    }

    /** These values, each replaced by {@code over}'s where that has one. */
    TargetLimits overriddenBy(TargetLimits over) {
        return new TargetLimits(pick(over.maxConnections, maxConnections), pick(over.maxConnectionsPerAddress, maxConnectionsPerAddress),
                pick(over.maxUnconnected, maxUnconnected), pick(over.maxControllersPerHost, maxControllersPerHost),
                pick(over.maxUnsentBytes, maxUnsentBytes), pick(over.maxR2tBytesPerController, maxR2tBytesPerController),
                pick(over.h2cDataTimeout, h2cDataTimeout));
    }

    /**
     * Sets the limits given on {@code target}.
     *
     * @throws IllegalArgumentException naming the key and the range expected
     */
    void apply(NvmeTcpTarget.Builder target) {
        set("max-connections", () -> target.maxConnections(maxConnections), maxConnections);
        set("max-connections-per-address", () -> target.maxConnectionsPerAddress(maxConnectionsPerAddress), maxConnectionsPerAddress);
        set("max-unconnected", () -> target.maxUnconnected(maxUnconnected), maxUnconnected);
        set("max-controllers-per-host", () -> target.maxControllersPerHost(maxControllersPerHost), maxControllersPerHost);
        set("max-unsent-bytes", () -> target.maxUnsentBytes((int) Math.min(maxUnsentBytes, Integer.MAX_VALUE)), maxUnsentBytes);
        set("max-r2t-bytes-per-controller", () -> target.maxR2tBytesPerController(maxR2tBytesPerController), maxR2tBytesPerController);
        set("h2c-data-timeout", () -> target.h2cDataTimeout(h2cDataTimeout), h2cDataTimeout);
    }

    private static void set(String key, Runnable apply, Object value) {
        if (value == null) {
            return;
        }
        try {
            apply.run();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(key + ": " + e.getMessage(), e);
        }
    }

    private static <T> T pick(T first, T second) {
        return first != null ? first : second;
    }

    private static Integer count(String where, JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.canConvertToInt() || !v.isIntegralNumber()) {
            throw new IllegalArgumentException(where + ": '" + key + "' is '" + v.asText() + "' (expected: a whole number)");
        }
        return v.intValue();
    }

    private static Long bytes(String where, JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            return null;
        }
        try {
            return v.isIntegralNumber() ? v.longValue() : ByteSizeConverter.parse(v.asText());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(where + ": '" + key + "' is '" + v.asText() + "' (expected: a size such as 4MiB)");
        }
    }

    private static Duration duration(String where, JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            return null;
        }
        try {
            return DurationConverter.parse(v.asText());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(where + ": '" + key + "' is '" + v.asText() + "' (expected: a duration such as 30s)");
        }
    }
}
