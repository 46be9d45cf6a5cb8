package io.thermocline.tier.local;

import io.thermocline.tier.ObjectKey;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Which keys can be plain paths. A key maps to {@code files/<key>}, its {@code /}-separated
 * segments becoming directories, unless one of these holds (then it gets an escaped name,
 * {@code escaped/xx/<sha-256 of key>}):
 * <ul>
 *   <li>it has an empty segment ({@code a//b}, a trailing {@code /});</li>
 *   <li>a segment is {@code .} or {@code ..} (object keys refuse these already; checked again here
 *       so that no key can resolve outside the root);</li>
 *   <li>a segment is longer than {@value #MAX_SEGMENT_BYTES} bytes of UTF-8 (NAME_MAX of Linux
 *       file systems);</li>
 *   <li>it contains NUL, another C0 control character (such as a newline) or DEL, which would break
 *       a path printed on a line or passed through a shell;</li>
 *   <li>at publish time, another object already holds a prefix of it as a file ({@code a} when
 *       {@code a/b} is written) or it is the directory of other objects ({@code a/b} exists when
 *       {@code a} is written). The first one written keeps its plain path.</li>
 * </ul>
 * The last rule depends on what is on disk and is decided by {@link LocalTier}; this class decides
 * the rest, from the key alone.
 */
final class KeyPaths {

    static final int MAX_SEGMENT_BYTES = 255;

    private KeyPaths() {
    }

    /** The key as a relative path, or empty if the key itself cannot be a plain path. */
    static Optional<Path> plainRelative(ObjectKey key) {
        String value = key.value();
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                return Optional.empty();
            }
        }
        String[] segments = value.split("/", -1);
        for (String segment : segments) {
            if (segment.isEmpty() || segment.equals(".") || segment.equals("..")
                || segment.getBytes(StandardCharsets.UTF_8).length > MAX_SEGMENT_BYTES) {
                return Optional.empty();
            }
        }
        Path p = Path.of(segments[0], java.util.Arrays.copyOfRange(segments, 1, segments.length));
        if (p.isAbsolute() || p.getNameCount() != segments.length) {
            return Optional.empty();
        }
        return Optional.of(p);
    }
}
