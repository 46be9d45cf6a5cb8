package io.thermocline.tier;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * The name of an object, the same in every tier.
 *
 * <p>A key is a non-empty string whose UTF-8 encoding is at most {@value #MAX_LENGTH_IN_BYTES}
 * bytes. It contains no NUL character, does not start with {@code /}, and none of its
 * {@code /}-separated segments is {@code .} or {@code ..}; this keeps keys safe to map onto
 * file names and S3 keys alike. Empty segments ({@code a//b}) and a trailing {@code /} are
 * allowed, as S3 allows them. Instances are immutable and thread-safe; they order by their
 * string value.
 *
 * @param value the key's text
 */
public record ObjectKey(String value) implements Comparable<ObjectKey> {

    /** Longest key, in UTF-8 bytes; S3's own limit. */
    public static final int MAX_LENGTH_IN_BYTES = 1024;

    /**
     * @throws InvalidArgumentException naming the key and the rule it broke
     */
    public ObjectKey {
        Objects.requireNonNull(value, "value");
        String rule = brokenRule(value);
        if (rule != null) {
            throw new InvalidArgumentException("object key " + quote(value) + " is invalid: " + rule);
        }
    }

    /** Same as {@code new ObjectKey(value)}. */
    public static ObjectKey of(String value) {
        return new ObjectKey(value);
    }

    /** The UTF-8 encoding of the key (a new array each call). */
    public byte[] toUtf8() {
        return value.getBytes(StandardCharsets.UTF_8);
    }

    /** True if this key starts with {@code prefix} (an empty prefix matches every key). */
    public boolean hasPrefix(String prefix) {
        return value.startsWith(prefix);
    }

    @Override
    public int compareTo(ObjectKey other) {
        return value.compareTo(other.value);
    }

    @Override
    public String toString() {
        return value;
    }

    /**
     * Why {@code value} is not a valid key (the rule it breaks), or empty if it is one: for code
     * that meets names it did not make, such as a listing of foreign objects.
     */
    public static java.util.Optional<String> invalidBecause(String value) {
        return java.util.Optional.ofNullable(brokenRule(Objects.requireNonNull(value, "value")));
    }

    /** Returns the rule {@code value} breaks, or null if it is a valid key. */
    static String brokenRule(String value) {
        if (value.isEmpty()) {
            return "it is empty (expected: 1.." + MAX_LENGTH_IN_BYTES + " bytes of UTF-8)";
        }
        if (value.indexOf('\0') >= 0) {
            return "it contains a NUL character at index " + value.indexOf('\0');
        }
        if (value.charAt(0) == '/') {
            return "it starts with '/' (expected: a relative name such as models/llama/shard-1)";
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < value.length()
                    && Character.isLowSurrogate(value.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                return "it contains an unpaired surrogate at index " + i + " (not encodable as UTF-8)";
            }
        }
        int bytes = value.getBytes(StandardCharsets.UTF_8).length;
        if (bytes > MAX_LENGTH_IN_BYTES) {
            return "it is " + bytes + " bytes of UTF-8 (expected: at most " + MAX_LENGTH_IN_BYTES + ")";
        }
        int start = 0;
        while (start <= value.length()) {
            int end = value.indexOf('/', start);
            if (end < 0) {
                end = value.length();
            }
            String segment = value.substring(start, end);
            if (segment.equals(".") || segment.equals("..")) {
                return "segment '" + segment + "' at index " + start + " is not allowed";
            }
            start = end + 1;
        }
        return null;
    }

    private static String quote(String value) {
        StringBuilder out = new StringBuilder(Math.min(value.length(), 200) + 2).append('"');
        for (int i = 0; i < value.length() && i < 200; i++) {
            char c = value.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        if (value.length() > 200) {
            out.append("...(").append(value.length()).append(" chars)");
        }
        return out.append('"').toString();
    }
}
