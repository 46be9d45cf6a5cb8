package io.thermocline.engine;

/** Bad engine configuration: the message names the key, the value and what was expected. */
public final class EngineConfigException extends IllegalArgumentException {

    private final String key;

    public EngineConfigException(String key, Object value, String expected) {
        super(key + ": " + (value instanceof String s ? "'" + s + "'" : String.valueOf(value)) + " (expected: " + expected + ")");
        this.key = key;
    }

    /** The full key path, e.g. {@code tiers[1].path}. */
    public String key() {
        return key;
    }
}
