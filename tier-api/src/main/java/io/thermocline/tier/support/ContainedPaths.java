package io.thermocline.tier.support;

import io.thermocline.tier.InvalidArgumentException;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * Maps a name that came from elsewhere (an object key under a prefix, a shard file name in an
 * index, a file name) onto a path inside a directory, and refuses every name that could land
 * outside it: the single place where such names are checked, so that a copy, a prestage or a
 * tier that lays objects out as files applies one rule.
 *
 * <p>A contained name is a non-empty sequence of {@code /}-separated segments. It does not start
 * with {@code /}, contains no NUL, and no segment is empty ({@code a//b}, a trailing {@code /}),
 * {@code .} or {@code ..}; on a file system whose separator is not {@code /}, no segment contains
 * that separator or is itself an absolute or multi-part name there. The check is on the name
 * alone: a symbolic link already inside the directory is the directory owner's to answer for.
 * Stateless and thread-safe.
 */
public final class ContainedPaths {

    private ContainedPaths() {
    }

    /**
     * Why {@code name} cannot be resolved inside a directory (the rule it breaks), or empty if it
     * can be.
     */
    public static Optional<String> invalidBecause(String name) {
        Objects.requireNonNull(name, "name");
        if (name.isEmpty()) {
            return Optional.of("it is empty (expected: a relative name such as dir/file.bin)");
        }
        int nul = name.indexOf('\0');
        if (nul >= 0) {
            return Optional.of("it contains a NUL character at index " + nul);
        }
        if (name.charAt(0) == '/') {
            return Optional.of("it starts with '/' (expected: a relative name such as dir/file.bin)");
        }
        int start = 0;
        while (start <= name.length()) {
            int end = name.indexOf('/', start);
            if (end < 0) {
                end = name.length();
            }
            String segment = name.substring(start, end);
            if (segment.isEmpty()) {
                return Optional.of(end == name.length()
                        ? "it ends with '/' (expected: a file name after the last '/')"
                        : "it has an empty segment at index " + start + " ('//')");
            }
            if (segment.equals(".") || segment.equals("..")) {
                return Optional.of("segment '" + segment + "' at index " + start + " is not allowed");
            }
            start = end + 1;
        }
        return Optional.empty();
    }

    /**
     * The path of {@code name} inside {@code dir}.
     *
     * @param what what the name is, for the message (e.g. {@code "object key"})
     * @throws InvalidArgumentException naming the name, the directory and the rule it breaks
     */
    public static Path resolve(Path dir, String name, String what) {
        Objects.requireNonNull(dir, "dir");
        Optional<String> rule = invalidBecause(name);
        if (rule.isPresent()) {
            throw refused(dir, name, what, rule.get());
        }
        Path base = dir.normalize();
        Path out = base;
        String separator = base.getFileSystem().getSeparator();
        for (String segment : name.split("/", -1)) {
            if (!separator.equals("/") && segment.contains(separator)) {
                throw refused(dir, name, what, "segment '" + segment + "' contains the file system's separator '" + separator + "'");
            }
            Path part = base.getFileSystem().getPath(segment);
            if (part.isAbsolute() || part.getRoot() != null || part.getNameCount() != 1) {
                throw refused(dir, name, what, "segment '" + segment + "' is not a single file name here");
            }
            out = out.resolve(part);
        }
        Path normal = out.normalize();
        if (!normal.startsWith(base) || normal.equals(base)) {
            throw refused(dir, name, what, "it resolves to " + normal + ", outside the directory");
        }
        return normal;
    }

    private static InvalidArgumentException refused(Path dir, String name, String what, String rule) {
        return new InvalidArgumentException(what + " " + quote(name) + " cannot be placed in " + dir + ": " + rule);
    }

    private static String quote(String value) {
        StringBuilder out = new StringBuilder(Math.min(value.length(), 200) + 2).append('"');
        for (int i = 0; i < value.length() && i < 200; i++) {
            char c = value.charAt(i);
            out.append(c < 0x20 || c == 0x7f ? String.format("\\u%04x", (int) c) : String.valueOf(c));
        }
        if (value.length() > 200) {
            out.append("...(").append(value.length()).append(" chars)");
        }
        return out.append('"').toString();
    }
}
