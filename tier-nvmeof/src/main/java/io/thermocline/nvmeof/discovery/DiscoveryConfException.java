package io.thermocline.nvmeof.discovery;

/**
 * A discovery.conf line that is not a valid discovery controller: says which file, line, flag
 * and value, and what was expected.
 */
public final class DiscoveryConfException extends IllegalArgumentException {
    private final String source;
    private final int line;
    private final String flag;
    private final String value;

    /**
     * @param flag the flag as written ({@code -s}, {@code --traddr}), or {@code null} when the problem is a stray word
     * @param value the value given, or {@code null} when it is missing
     * @param expected what would have been accepted
     */
    public DiscoveryConfException(String source, int line, String flag, String value, String expected) {
        this(source + " line " + line + ": " + (flag == null ? "'" + value + "'" : flag + (value == null ? " without a value"
                : " '" + value + "'")) + " (expected " + expected + ")", source, line, flag, value);
    }

    private DiscoveryConfException(String message, String source, int line, String flag, String value) {
        super(message);
        this.source = source;
        this.line = line;
        this.flag = flag;
        this.value = value;
    }

    /** A flag that is not one of those accepted; {@code value} is what was attached to it ({@code -xVALUE}, {@code --x=VALUE}), or null. */
    static DiscoveryConfException unknownFlag(String source, int line, String flag, String value, String known) {
        return new DiscoveryConfException(source + " line " + line + ": unknown flag " + flag + (value == null ? "" : " (with '" + value + "')")
                + " (expected one of " + known + ")", source, line, flag, value);
    }

    public String source() {
        return source;
    }

    /** The line number, from 1. */
    public int line() {
        return line;
    }

    /** The flag as written, or {@code null}. */
    public String flag() {
        return flag;
    }

    /** The value as written, or {@code null}. */
    public String value() {
        return value;
    }
}
