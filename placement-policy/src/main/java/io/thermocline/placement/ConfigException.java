package io.thermocline.placement;

/** Bad placement configuration: the message names the key, the value and what was expected. */
public final class ConfigException extends RuntimeException {
    private final String key;
    private final String value;
    private final String expected;

    public ConfigException(String key, Object value, String expected) {
        super(key + ": " + render(value) + " (expected: " + expected + ")");
        this.key = key;
        this.value = render(value);
        this.expected = expected;
    }

    private static String render(Object value) {
        return value instanceof String s ? "'" + s + "'" : String.valueOf(value);
    }

    private ConfigException(String key, String value, String expected, boolean rendered) {
        super(key + ": " + value + " (expected: " + expected + ")");
        this.key = key;
        this.value = value;
        this.expected = expected;
    }

    /** The same error with its key placed under {@code parent}, e.g. {@code tiers[1]}. */
    public ConfigException under(String parent) {
        return new ConfigException(parent + "." + key, value, expected, true);
    }

    /** The full key path, e.g. {@code tiers[1].high-watermark}. */
    public String key() {
        return key;
    }

    /** What was expected. */
    public String expected() {
        return expected;
    }
}
