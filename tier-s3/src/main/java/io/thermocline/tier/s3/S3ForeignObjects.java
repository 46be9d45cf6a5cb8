package io.thermocline.tier.s3;

import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.Crc32c;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierIoException;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.CRC32;
import software.amazon.awssdk.core.async.AsyncResponseTransformer;
import software.amazon.awssdk.services.s3.model.ChecksumType;
import software.amazon.awssdk.services.s3.model.GetObjectAttributesResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ObjectAttributes;
import software.amazon.awssdk.services.s3.model.ObjectPart;

/**
 * Objects that another tool uploaded (no {@code .thermocline/sums} record): their
 * {@link ObjectInfo} is made by reading the one version the ETag names, once, with ranged GETs
 * conditional on that ETag ({@code If-Match}, RFC 9110 §13.1.1), so a version replaced meanwhile
 * fails the read with 412 instead of mixing into it. The chunk CRC32Cs are computed as the bytes
 * arrive; that info is what every later read and copy of the object is verified against.
 *
 * <p>While the bytes stream in, they are also checked against the strongest checksum S3 keeps for
 * the object, asked for with {@code x-amz-checksum-mode: ENABLED}:
 * <ul>
 *   <li>a full-object {@code x-amz-checksum-sha256}, {@code -crc32c} or {@code -crc32}: the
 *       digest of all bytes in order;</li>
 *   <li>a composite one ({@code <base64>-<parts>}, the checksum of the parts' checksums that S3
 *       keeps for a multipart upload): the part sizes and checksums come from
 *       GetObjectAttributes ({@code ObjectParts}); each part's digest is checked, then the digest
 *       of their concatenated raw checksums;</li>
 *   <li>none (or a composite one whose parts the server does not tell): the ETag alone pins the
 *       version, and the computed chunk CRC32Cs become the record.</li>
 * </ul>
 * A mismatch fails with {@link ChecksumMismatchException}; nothing is recorded.
 *
 * <p>The info names the version and the evidence in its user metadata
 * ({@link #SOURCE_ETAG}, {@link #SOURCE_CHECK}), so a copy on any tier says which S3 version it
 * came from and a caller can tell when the object was replaced. Infos are kept per key and ETag
 * (at most {@link #CACHED} of them), so that the {@link S3Tier#stat} before a copy and the
 * {@link S3Tier#openReader} of the copy read the object's bytes twice, not three times.
 */
final class S3ForeignObjects {

    /** User metadata: the ETag of the S3 version an info was made from. */
    static final String SOURCE_ETAG = "thermocline-source-etag";
    /** User metadata: what the bytes were checked against (see {@link Check}). */
    static final String SOURCE_CHECK = "thermocline-source-check";
    /** Bytes per ranged GET while fingerprinting (whole chunks). */
    static final int RANGE_BYTES = 8 << 20;
    static final int CACHED = 256;

    /** What a foreign object's bytes were checked against, as named in {@link #SOURCE_CHECK}. */
    enum Check {
        S3_SHA256("s3-sha256"), S3_CRC32C("s3-crc32c"), S3_CRC32("s3-crc32"),
        S3_SHA256_COMPOSITE("s3-sha256-composite"), S3_CRC32C_COMPOSITE("s3-crc32c-composite"),
        S3_CRC32_COMPOSITE("s3-crc32-composite"), ETAG("etag");

        final String label;

        Check(String label) {
            this.label = label;
        }

        static Optional<Check> of(String label) {
            for (Check c : values()) {
                if (c.label.equals(label)) {
                    return Optional.of(c);
                }
            }
            return Optional.empty();
        }
    }

    private final S3Tier tier;
    private final Map<String, ObjectInfo> cache = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, ObjectInfo> eldest) {
            return size() > CACHED;
        }
    };
    private final ConcurrentHashMap<String, CompletableFuture<ObjectInfo>> inFlight = new ConcurrentHashMap<>();

    S3ForeignObjects(S3Tier tier) {
        this.tier = tier;
    }

    /** The info of another tool's object at the version {@code head} saw; reads it once per key and ETag. */
    CompletableFuture<ObjectInfo> infoOf(ObjectKey key, HeadObjectResponse head) {
        String id = key.value() + "\n" + head.eTag();
        synchronized (cache) {
            ObjectInfo known = cache.get(id);
            if (known != null) {
                return CompletableFuture.completedFuture(known);
            }
        }
        CompletableFuture<ObjectInfo> mine = new CompletableFuture<>();
        CompletableFuture<ObjectInfo> other = inFlight.putIfAbsent(id, mine);
        if (other != null) {
            return other;
        }
        tier.executor().execute(() -> {
            try {
                ObjectInfo info = fingerprint(key, head);
                synchronized (cache) {
                    cache.put(id, info);
                }
                mine.complete(info);
            } catch (Throwable t) {
                mine.completeExceptionally(TierException.unwrap(t));
            } finally {
                inFlight.remove(id, mine);
            }
        });
        return mine;
    }

    /** The expected checksum S3 keeps: algorithm, base64 value and whether it is composite; null if none. */
    record Expected(String algorithm, String value, boolean composite) {

        static Expected of(HeadObjectResponse head) {
            boolean composite = head.checksumType() == ChecksumType.COMPOSITE;
            // strongest first: a cryptographic digest, then the 32-bit CRCs
            String[][] kept = {{"SHA-256", head.checksumSHA256()}, {"CRC32C", head.checksumCRC32C()}, {"CRC32", head.checksumCRC32()}};
            for (String[] k : kept) {
                if (k[1] != null && !k[1].isEmpty()) {
                    return new Expected(k[0], k[1], composite || k[1].matches(".*-\\d+$"));
                }
            }
            return null;
        }

        Check check() {
            return switch (algorithm) {
                case "SHA-256" -> composite ? Check.S3_SHA256_COMPOSITE : Check.S3_SHA256;
                case "CRC32C" -> composite ? Check.S3_CRC32C_COMPOSITE : Check.S3_CRC32C;
                default -> composite ? Check.S3_CRC32_COMPOSITE : Check.S3_CRC32;
            };
        }

        /** The base64 value without a composite's {@code -N} suffix. */
        String digest() {
            int dash = value.lastIndexOf('-');
            return composite && dash > 0 ? value.substring(0, dash) : value;
        }

        int parts() {
            int dash = value.lastIndexOf('-');
            try {
                return composite && dash > 0 ? Integer.parseInt(value.substring(dash + 1)) : 1;
            } catch (NumberFormatException e) {
                return -1;
            }
        }
    }

    /** One running digest: SHA-256, CRC32C or CRC32. */
    private static final class Digest {
        private final String algorithm;
        private final MessageDigest sha;
        private final CRC32 crc32;
        private int crc32c;

        Digest(String algorithm) {
            this.algorithm = algorithm;
            MessageDigest d = null;
            if (algorithm.equals("SHA-256")) {
                try {
                    d = MessageDigest.getInstance("SHA-256");
                } catch (NoSuchAlgorithmException e) {
                    throw new IllegalStateException("the JDK has no SHA-256", e);
                }
            }
            this.sha = d;
            this.crc32 = algorithm.equals("CRC32") ? new CRC32() : null;
        }

        void update(byte[] b, int off, int len) {
            switch (algorithm) {
                case "SHA-256" -> sha.update(b, off, len);
                case "CRC32" -> crc32.update(b, off, len);
                default -> crc32c = Crc32c.combine(crc32c, Crc32c.of(b, off, len), len);
            }
        }

        byte[] finish() {
            return switch (algorithm) {
                case "SHA-256" -> sha.digest();
                case "CRC32" -> ByteBuffer.allocate(4).putInt((int) crc32.getValue()).array();
                default -> ByteBuffer.allocate(4).putInt(crc32c).array();
            };
        }
    }

    /** Reads the version {@code head} saw, computing chunk CRC32Cs and checking S3's checksum. Blocking. */
    private ObjectInfo fingerprint(ObjectKey key, HeadObjectResponse head) {
        long size = head.contentLength();
        String eTag = head.eTag();
        int chunk = ObjectInfo.DEFAULT_CHUNK_SIZE_IN_BYTES;
        int[] chunks = new int[ObjectInfo.chunkCount(size, chunk)];
        Expected expected = Expected.of(head);
        List<ObjectPart> parts = expected != null && expected.composite() ? partsOf(key, eTag, expected) : null;
        if (expected != null && expected.composite() && parts == null) {
            S3Tier.log.info("{}: S3 keeps a composite {} ({} parts) but does not tell the parts' sizes (GetObjectAttributes); "
                    + "its bytes are pinned by ETag {} only", tier.where(key), expected.algorithm(), expected.parts(), eTag);
            expected = null;
        }
        Digest whole = expected != null && !expected.composite() ? new Digest(expected.algorithm()) : null;
        Digest part = parts != null ? new Digest(expected.algorithm()) : null;
        ByteBuffer partDigests = parts != null ? ByteBuffer.allocate(parts.size() * (expected.algorithm().equals("SHA-256") ? 32 : 4)) : null;
        int partIndex = 0;
        long partLeft = parts != null && !parts.isEmpty() ? parts.get(0).size() : 0;

        long range = Math.max(chunk, RANGE_BYTES / chunk * chunk);
        for (long from = 0; from < size; from += range) {
            long end = Math.min(size, from + range);
            byte[] bytes = get(key, eTag, from, end);
            for (int off = 0; off < bytes.length; off += chunk) {
                int len = Math.min(chunk, bytes.length - off);
                chunks[(int) ((from + off) / chunk)] = Crc32c.of(bytes, off, len);
            }
            if (whole != null) {
                whole.update(bytes, 0, bytes.length);
            }
            int off = 0;
            while (part != null && off < bytes.length) {
                int n = (int) Math.min(partLeft, bytes.length - off);
                part.update(bytes, off, n);
                off += n;
                partLeft -= n;
                if (partLeft == 0) {
                    checkPart(key, expected, parts.get(partIndex), part.finish(), partDigests);
                    partIndex++;
                    part = partIndex < parts.size() ? new Digest(expected.algorithm()) : null;
                    partLeft = part != null ? parts.get(partIndex).size() : 0;
                }
            }
        }
        Check check = Check.ETAG;
        if (expected != null) {
            byte[] actual;
            if (expected.composite()) {
                Digest ofParts = new Digest(expected.algorithm());
                ofParts.update(partDigests.array(), 0, partDigests.position());
                actual = ofParts.finish();
            } else {
                actual = whole.finish();
            }
            String got = Base64.getEncoder().encodeToString(actual);
            if (!got.equals(expected.digest())) {
                throw mismatch(key, expected, expected.composite() ? "its parts' checksums" : "its bytes", got, 0, size);
            }
            check = expected.check();
        }
        ObjectInfo.Builder b = ObjectInfo.builder(key, size).chunkCrc32c(chunks);
        if (head.lastModified() != null) {
            b.createdAt(head.lastModified());
        }
        if (head.contentType() != null && head.contentType().matches("[\\x21-\\x7e][\\x20-\\x7e]{0,254}")) {
            b.contentType(head.contentType());
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(SOURCE_ETAG, eTag);
        meta.put(SOURCE_CHECK, check.label);
        ObjectInfo info = b.userMetadata(meta).build();
        S3Tier.log.debug("{}: another tool's object, {} bytes, ETag {}: checked against {}", tier.where(key), size, eTag, check.label);
        return info;
    }

    private void checkPart(ObjectKey key, Expected expected, ObjectPart p, byte[] actual, ByteBuffer partDigests) {
        String kept = switch (expected.algorithm()) {
            case "SHA-256" -> p.checksumSHA256();
            case "CRC32C" -> p.checksumCRC32C();
            default -> p.checksumCRC32();
        };
        String got = Base64.getEncoder().encodeToString(actual);
        if (kept != null && !kept.equals(got)) {
            throw mismatch(key, expected, "part " + p.partNumber(), got, -1, p.size());
        }
        partDigests.put(actual);
    }

    private TierIoException mismatch(ObjectKey key, Expected expected, String what, String got, long offset, long length) {
        return new TierIoException(tier.where(key) + ": S3's " + (expected.composite() ? "composite " : "full-object ")
                + expected.algorithm() + " " + expected.value() + " does not match " + what + " as read (" + got + ", "
                + length + " bytes); not recorded", false, new ChecksumMismatchException(tier.where(key), Math.max(0, offset),
                length, 0, 0));
    }

    /**
     * The parts of a multipart upload with their sizes and checksums, from GetObjectAttributes
     * (pinned to the ETag); null when the server does not answer it or the parts do not add up.
     */
    private List<ObjectPart> partsOf(ObjectKey key, String eTag, Expected expected) {
        List<ObjectPart> parts = new ArrayList<>();
        Integer marker = null;
        try {
            while (true) {
                Integer m = marker;
                GetObjectAttributesResponse r = tier.client().getObjectAttributes(b -> b.bucket(tier.config().bucket())
                        .key(tier.s3Key(key)).objectAttributes(ObjectAttributes.OBJECT_PARTS, ObjectAttributes.E_TAG)
                        .maxParts(1000).partNumberMarker(m)).join();
                if (r.eTag() != null && !sameETag(r.eTag(), eTag)) {
                    throw new TierIoException(tier.where(key) + " changed while it was being read (ETag " + eTag + " became "
                            + r.eTag() + ")", false);
                }
                if (r.objectParts() == null || r.objectParts().parts() == null || r.objectParts().parts().isEmpty()) {
                    return null;
                }
                parts.addAll(r.objectParts().parts());
                if (!Boolean.TRUE.equals(r.objectParts().isTruncated()) || r.objectParts().nextPartNumberMarker() == null) {
                    break;
                }
                marker = r.objectParts().nextPartNumberMarker();
            }
        } catch (CompletionException e) {
            if (TierException.unwrap(e) instanceof TierIoException t) {
                throw t;
            }
            S3Tier.log.debug("{}: GetObjectAttributes failed: {}", tier.where(key), S3Tier.describe(e));
            return null;
        }
        if (expected.parts() > 0 && parts.size() != expected.parts()) {
            return null;
        }
        return parts;
    }

    private static boolean sameETag(String a, String b) {
        return a.replace("\"", "").equals(b.replace("\"", ""));
    }

    /** Bytes [from, end) of the version {@code eTag}; a replaced object fails with 412 (translated). */
    private byte[] get(ObjectKey key, String eTag, long from, long end) {
        int attempts = 0;
        while (true) {
            try {
                byte[] bytes = tier.client().getObject(b -> b.bucket(tier.config().bucket()).key(tier.s3Key(key))
                        .range("bytes=" + from + "-" + (end - 1)).ifMatch(eTag), AsyncResponseTransformer.toBytes())
                        .join().asByteArrayUnsafe();
                if (bytes.length != end - from) {
                    throw new TierIoException(tier.where(key) + " bytes " + from + "-" + (end - 1) + ": " + bytes.length
                            + " bytes came (expected: " + (end - from) + ")", true);
                }
                return bytes;
            } catch (CompletionException | TierIoException e) {
                TierException t = e instanceof TierIoException te ? te : tier.translate(e, "read", key, "bytes " + from + "-" + (end - 1), 0);
                if (!t.retryable() || ++attempts >= tier.config().maxAttempts()) {
                    throw t;
                }
                // as the SDK's own retries do: back off before the next attempt (a virtual thread may sleep)
                try {
                    Thread.sleep(S3Retries.backoff(tier.config()).computeDelay(attempts));
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw t;
                }
            }
        }
    }
}
