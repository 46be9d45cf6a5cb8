package io.thermocline.tier;

import java.util.Objects;

/**
 * Where a writer that was cut off (its process killed, its copy abandoned) can be taken up again:
 * the first {@code length} bytes of the object, which the tier holds durably, and a token of the
 * tier's own that finds them (a temp file's name, a multipart upload's id and parts, a list of
 * extents). Made by {@link ObjectWriter#checkpoint(long)}, kept by the caller (in a file of its
 * own), given back to {@link Tier#resume(WriteRequest, ResumePoint, int[])} or
 * {@link Tier#discard(ResumePoint)}.
 *
 * @param length bytes from the start of the object held durably, a multiple of the chunk size or
 *               the object's whole size
 * @param token  the tier's text, one line with no control characters; opaque to callers
 */
public record ResumePoint(long length, String token) {

    public ResumePoint {
        if (length < 0) {
            throw InvalidArgumentException.of("length", length, ">= 0");
        }
        Objects.requireNonNull(token, "token");
        for (int i = 0; i < token.length(); i++) {
            if (token.charAt(i) < 0x20 || token.charAt(i) == 0x7f) {
                throw InvalidArgumentException.of("token", "'" + token + "'", "one line with no control characters");
            }
        }
    }
}
