package io.thermocline.tier.s3;

import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.WriteRequest;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The token of a {@link ResumePoint} made by an {@link S3ObjectWriter}: everything another
 * process needs to take the multipart upload up again.
 *
 * <p>One line of {@code name=value} fields separated by {@code ;}, after the version tag
 * {@code s3mpu1}; every value is URL-encoded (so {@code ; = , :} inside an upload id or ETag
 * cannot break the line, and no control character appears):
 *
 * <pre>
 * s3mpu1;key=K;size=N;chunk=C;type=T;upload=U;sums=S;part=P;crc=0|1;parts=ETAG1:CRC1,ETAG2:CRC2,...
 * </pre>
 *
 * <ul>
 *   <li>{@code key, size, chunk, type}: the S3 key, size, chunk size and content type the upload
 *       was started with. The content type is fixed by CreateMultipartUpload, and ListParts of
 *       some servers (S3Proxy 4.1.0) does not check the key, so a resume compares them with its
 *       request itself;</li>
 *   <li>{@code upload}: the multipart upload id;</li>
 *   <li>{@code sums}: the writer's checksum-record token, already named by the upload's
 *       {@code x-amz-meta-thermocline-sums}, so the resumed writer must write its record there;</li>
 *   <li>{@code part}: the part size in bytes the upload was cut into (a later configuration may
 *       differ: the resumed writer keeps this one);</li>
 *   <li>{@code crc}: whether the upload declared CRC32C (CreateMultipartUpload's
 *       {@code x-amz-checksum-algorithm}), after which every part must carry one;</li>
 *   <li>{@code parts}: parts 1, 2, … in order (the durable prefix has no gaps), each as its
 *       ETag and the Base64 CRC32C sent with it, or {@code -} when none was sent.</li>
 * </ul>
 *
 * <p>A token of 10,000 parts (S3's maximum) is about 600 KB; a typical one is a few KB.
 */
record S3ResumeToken(String s3Key, long sizeInBytes, int chunkSizeInBytes, String contentType, String uploadId,
                     String sumsToken, long partSizeInBytes, boolean crc32c, List<PartRef> parts) {

    static final String VERSION = "s3mpu1";

    /** A completed part: its ETag as UploadPart returned it, and its Base64 CRC32C or null. */
    record PartRef(String eTag, String crc32c) {
        PartRef {
            Objects.requireNonNull(eTag, "eTag");
        }
    }

    S3ResumeToken {
        parts = List.copyOf(parts);
    }

    /** Bytes from the start of the object that the parts hold. */
    long prefixLength() {
        return Math.min(parts.size() * partSizeInBytes, sizeInBytes);
    }

    ResumePoint point() {
        return new ResumePoint(prefixLength(), encode());
    }

    String encode() {
        StringBuilder b = new StringBuilder(VERSION);
        field(b, "key", s3Key);
        field(b, "size", Long.toString(sizeInBytes));
        field(b, "chunk", Integer.toString(chunkSizeInBytes));
        field(b, "type", contentType);
        field(b, "upload", uploadId);
        field(b, "sums", sumsToken);
        field(b, "part", Long.toString(partSizeInBytes));
        field(b, "crc", crc32c ? "1" : "0");
        b.append(";parts=");
        for (int i = 0; i < parts.size(); i++) {
            PartRef p = parts.get(i);
            b.append(i == 0 ? "" : ",").append(enc(p.eTag())).append(':').append(p.crc32c() == null ? "-" : enc(p.crc32c()));
        }
        return b.toString();
    }

    private static void field(StringBuilder b, String name, String value) {
        b.append(';').append(name).append('=').append(enc(value));
    }

    private static String enc(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }

    /**
     * Reads a token made by {@link #encode()}.
     *
     * @throws InvalidArgumentException if it is not one: a token this tier never made is the
     *         caller's mistake (a wrong file, another tier's point), not a reclaimed upload
     */
    static S3ResumeToken parse(String token) {
        String[] fields = token.split(";", -1);
        if (fields.length == 0 || !fields[0].equals(VERSION)) {
            throw malformed(token, "it does not start with " + VERSION);
        }
        Map<String, String> values = new LinkedHashMap<>();
        for (int i = 1; i < fields.length; i++) {
            int eq = fields[i].indexOf('=');
            if (eq < 0 || values.put(fields[i].substring(0, eq), fields[i].substring(eq + 1)) != null) {
                throw malformed(token, "field " + i + " '" + fields[i] + "' is not name=value or repeats a name");
            }
        }
        try {
            String s3Key = dec(required(values, "key", token));
            long size = Long.parseLong(required(values, "size", token));
            int chunk = Integer.parseInt(required(values, "chunk", token));
            String type = dec(required(values, "type", token));
            String upload = dec(required(values, "upload", token));
            String sums = dec(required(values, "sums", token));
            long part = Long.parseLong(required(values, "part", token));
            String crc = required(values, "crc", token);
            String partList = required(values, "parts", token);
            if (size <= 0 || chunk <= 0 || part <= 0 || part % chunk != 0 || upload.isEmpty() || sums.isEmpty()
                || !(crc.equals("0") || crc.equals("1"))) {
                throw malformed(token, "size " + size + ", chunk " + chunk + ", part " + part + ", crc " + crc
                        + " or an empty upload id or sums token is out of range");
            }
            List<PartRef> parts = new ArrayList<>();
            if (!partList.isEmpty()) {
                for (String p : partList.split(",", -1)) {
                    int colon = p.indexOf(':');
                    if (colon <= 0) {
                        throw malformed(token, "part " + (parts.size() + 1) + " '" + p + "' is not ETAG:CRC");
                    }
                    String c = p.substring(colon + 1);
                    parts.add(new PartRef(dec(p.substring(0, colon)), c.equals("-") ? null : dec(c)));
                }
            }
            if ((parts.size() - 1) * part >= size && !parts.isEmpty()) {
                throw malformed(token, parts.size() + " parts of " + part + " bytes overrun the object's " + size);
            }
            return new S3ResumeToken(s3Key, size, chunk, type, upload, sums, part, crc.equals("1"), parts);
        } catch (IllegalArgumentException e) { // NumberFormatException, or a bad %-escape
            throw malformed(token, e.getMessage());
        }
    }

    private static String required(Map<String, String> values, String name, String token) {
        String v = values.get(name);
        if (v == null) {
            throw malformed(token, "field '" + name + "' is missing");
        }
        return v;
    }

    private static String dec(String value) {
        return URLDecoder.decode(value, StandardCharsets.UTF_8);
    }

    private static InvalidArgumentException malformed(String token, String why) {
        String shown = token.length() > 200 ? token.substring(0, 200) + "..." : token;
        return InvalidArgumentException.of("S3 resume token", "'" + shown + "'", "a token made by S3Tier (" + why + ")");
    }

    /**
     * Checks that {@code request} and {@code point} are the ones this token was made for.
     *
     * @throws InvalidArgumentException naming the first field that differs
     */
    void checkMatches(S3Tier tier, WriteRequest request, ResumePoint point) {
        String key = tier.s3Key(request.key());
        if (!key.equals(s3Key)) {
            throw InvalidArgumentException.of("key of the resumed write", key, "'" + s3Key + "', the key of the resume point");
        }
        if (request.sizeInBytes() != sizeInBytes) {
            throw InvalidArgumentException.of("size of the resumed write of " + request.key(), request.sizeInBytes(), sizeInBytes + ", the resume point's");
        }
        if (request.chunkSizeInBytes() != chunkSizeInBytes) {
            throw InvalidArgumentException.of("chunk size of the resumed write of " + request.key(), request.chunkSizeInBytes(),
                    chunkSizeInBytes + ", the resume point's");
        }
        if (!request.contentType().equals(contentType)) {
            throw InvalidArgumentException.of("content type of the resumed write of " + request.key(), request.contentType(),
                    "'" + contentType + "', which the upload was started with");
        }
        if (point.length() != prefixLength()) {
            throw InvalidArgumentException.of("length of the resume point of " + request.key(), point.length(),
                    prefixLength() + ", what its token's " + parts.size() + " parts hold");
        }
    }
}
