package io.thermocline.tier.s3;

import io.thermocline.tier.InvalidArgumentException;
import java.net.URI;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executor;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;

/**
 * Settings of an {@link S3Tier}. Immutable; build with {@link #builder(String)}.
 *
 * <table>
 *   <caption>Settings and defaults</caption>
 *   <tr><th>setting</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>bucket</td><td>(required)</td><td>the bucket holding the tier's objects</td></tr>
 *   <tr><td>prefix</td><td>empty</td><td>prepended to every key, e.g. {@code thermocline/}</td></tr>
 *   <tr><td>endpoint</td><td>AWS</td><td>endpoint override for S3-compatible servers</td></tr>
 *   <tr><td>region</td><td>{@code us-east-1}</td><td>signing region</td></tr>
 *   <tr><td>pathStyle</td><td>false (true with an endpoint)</td><td>path-style addressing</td></tr>
 *   <tr><td>credentials</td><td>the SDK's default chain</td><td>environment, profile, container, instance</td></tr>
 *   <tr><td>partSizeInBytes</td><td>8 MiB</td><td>multipart part size (at least 5 MiB), rounded up to whole chunks</td></tr>
 *   <tr><td>maxConcurrency</td><td>32</td><td>HTTP connections to the endpoint</td></tr>
 *   <tr><td>capacityInBytes</td><td>unlimited</td><td>a quota on the bytes the tier will hold</td></tr>
 *   <tr><td>trackUsage</td><td>true</td><td>list the prefix at open to count objects and bytes; turn off for huge buckets</td></tr>
 *   <tr><td>name</td><td>{@code s3}</td><td>tier name in messages and metrics</td></tr>
 *   <tr><td>executor</td><td>a virtual thread per task</td><td>runs verification of reads</td></tr>
 *   <tr><td>maxAttempts</td><td>5</td><td>attempts per request, the first included (1 turns retries off)</td></tr>
 *   <tr><td>retryBaseDelay</td><td>100 ms</td><td>backoff before the first retry; doubles with each further one</td></tr>
 *   <tr><td>retryMaxDelay</td><td>20 s</td><td>cap of one backoff; every backoff is drawn uniformly from 0 to its cap (full jitter)</td></tr>
 *   <tr><td>requestDeadline</td><td>5 min</td><td>the most one request may take, every attempt and backoff included</td></tr>
 *   <tr><td>idleTimeout</td><td>30 s</td><td>an attempt that sends or receives nothing for this long fails (and is retried)</td></tr>
 *   <tr><td>additionalChecksums</td><td>{@link AdditionalChecksums#WHEN_SUPPORTED}</td><td>whether uploads carry S3's
 *       {@code x-amz-checksum-crc32c} and whether S3's own checksums are asked for</td></tr>
 *   <tr><td>abandonedUploadAge</td><td>1 day</td><td>at open, multipart uploads under the prefix started longer ago
 *       are aborted: suspended writers nobody resumed, writers of dead processes</td></tr>
 * </table>
 *
 * <p>Retries, deadlines and their defaults are explained in {@link S3Retries}. The defaults of
 * {@code maxAttempts}, {@code retryBaseDelay} and {@code retryMaxDelay} follow the AWS SDKs'
 * "standard" retry mode (base 100 ms, cap 20 s), with two more attempts than its 3 because a
 * tier's requests are large and a throttled bucket ({@code 503 SlowDown}) asks clients to back
 * off rather than give up.
 */
public final class S3TierConfig {

    public static final int MIN_PART_SIZE_IN_BYTES = 5 << 20;

    /**
     * S3's additional checksums (the {@code x-amz-checksum-crc32c} header of PutObject and
     * UploadPart, and {@code x-amz-checksum-mode} on reads). They are not Thermocline's
     * integrity: every object already has its chunk CRC32Cs in its checksum record and every read
     * is verified against them. What they add is a check <em>by the server</em> of the bytes it
     * received (a part corrupted on the way in is refused with {@code BadDigest} and sent again)
     * and a checksum other tools can verify; and for objects written by other tools, S3's own
     * CRC32C is the only thing a download can be verified against.
     */
    public enum AdditionalChecksums {
        /**
         * Uploads carry a CRC32C in the {@code x-amz-checksum-crc32c} header (multipart uploads
         * declare the algorithm and every part has one); stat asks for S3's checksums.
         */
        WHEN_SUPPORTED,
        /** Checksums only where S3 requires one (none on uploads); stat still asks for S3's checksums. */
        WHEN_REQUIRED,
        /** No CRC32C on uploads and S3's checksums are never asked for: other tools' objects are downloaded unverified. */
        OFF
    }

    private final String bucket;
    private final String prefix;
    private final URI endpoint;
    private final String region;
    private final boolean pathStyle;
    private final AwsCredentialsProvider credentials;
    private final int partSizeInBytes;
    private final int maxConcurrency;
    private final long capacityInBytes;
    private final boolean trackUsage;
    private final String name;
    private final Executor executor;
    private final int maxAttempts;
    private final Duration retryBaseDelay;
    private final Duration retryMaxDelay;
    private final Duration requestDeadline;
    private final Duration idleTimeout;
    private final AdditionalChecksums additionalChecksums;
    private final Duration abandonedUploadAge;

    private S3TierConfig(Builder b) {
        this.bucket = Objects.requireNonNull(b.bucket, "bucket");
        if (bucket.isBlank()) {
            throw InvalidArgumentException.of("bucket", "\"\"", "a bucket name");
        }
        this.prefix = Objects.requireNonNull(b.prefix, "prefix");
        if (prefix.startsWith("/")) {
            throw InvalidArgumentException.of("prefix", '"' + prefix + '"', "no leading '/'");
        }
        this.endpoint = b.endpoint;
        this.region = Objects.requireNonNull(b.region, "region");
        this.pathStyle = b.pathStyle != null ? b.pathStyle : endpoint != null;
        this.credentials = b.credentials;
        if (b.partSizeInBytes < MIN_PART_SIZE_IN_BYTES) {
            throw InvalidArgumentException.of("partSizeInBytes", b.partSizeInBytes, "at least " + MIN_PART_SIZE_IN_BYTES + " (S3's minimum part)");
        }
        this.partSizeInBytes = b.partSizeInBytes;
        if (b.maxConcurrency < 1 || b.maxConcurrency > 1024) {
            throw InvalidArgumentException.of("maxConcurrency", b.maxConcurrency, "1..1024");
        }
        this.maxConcurrency = b.maxConcurrency;
        if (b.capacityInBytes <= 0) {
            throw InvalidArgumentException.of("capacityInBytes", b.capacityInBytes, "> 0");
        }
        this.capacityInBytes = b.capacityInBytes;
        this.trackUsage = b.trackUsage;
        this.name = Objects.requireNonNull(b.name, "name");
        this.executor = b.executor;
        if (b.maxAttempts < 1 || b.maxAttempts > 100) {
            throw InvalidArgumentException.of("maxAttempts", b.maxAttempts, "1..100");
        }
        this.maxAttempts = b.maxAttempts;
        this.retryBaseDelay = requirePositive("retryBaseDelay", b.retryBaseDelay);
        this.retryMaxDelay = requirePositive("retryMaxDelay", b.retryMaxDelay);
        if (retryMaxDelay.compareTo(retryBaseDelay) < 0) {
            throw InvalidArgumentException.of("retryMaxDelay", retryMaxDelay, "at least retryBaseDelay (" + retryBaseDelay + ")");
        }
        this.requestDeadline = requirePositive("requestDeadline", b.requestDeadline);
        this.idleTimeout = requirePositive("idleTimeout", b.idleTimeout);
        this.additionalChecksums = Objects.requireNonNull(b.additionalChecksums, "additionalChecksums");
        Objects.requireNonNull(b.abandonedUploadAge, "abandonedUploadAge");
        // at least a minute, so that no writer of a live process (a part takes at most requestDeadline) is taken for abandoned
        if (b.abandonedUploadAge.compareTo(Duration.ofMinutes(1)) < 0 || b.abandonedUploadAge.compareTo(Duration.ofDays(365)) > 0) {
            throw InvalidArgumentException.of("abandonedUploadAge", b.abandonedUploadAge, "1 minute to 365 days");
        }
        this.abandonedUploadAge = b.abandonedUploadAge;
    }

    private static Duration requirePositive(String name, Duration value) {
        Objects.requireNonNull(value, name);
        if (value.isNegative() || value.isZero() || value.compareTo(Duration.ofDays(1)) > 0) {
            throw InvalidArgumentException.of(name, value, "more than 0 and at most a day");
        }
        return value;
    }

    public static Builder builder(String bucket) {
        return new Builder(bucket);
    }

    public Builder toBuilder() {
        Builder b = new Builder(bucket).prefix(prefix).endpoint(endpoint).region(region).pathStyle(pathStyle)
                .credentials(credentials).partSizeInBytes(partSizeInBytes).maxConcurrency(maxConcurrency)
                .capacityInBytes(capacityInBytes).trackUsage(trackUsage).name(name)
                .maxAttempts(maxAttempts).retryBaseDelay(retryBaseDelay).retryMaxDelay(retryMaxDelay)
                .requestDeadline(requestDeadline).idleTimeout(idleTimeout).additionalChecksums(additionalChecksums)
                .abandonedUploadAge(abandonedUploadAge);
        return b.executor(executor);
    }

    public String bucket() {
        return bucket;
    }

    public String prefix() {
        return prefix;
    }

    public Optional<URI> endpoint() {
        return Optional.ofNullable(endpoint);
    }

    public String region() {
        return region;
    }

    public boolean pathStyle() {
        return pathStyle;
    }

    public Optional<AwsCredentialsProvider> credentials() {
        return Optional.ofNullable(credentials);
    }

    public int partSizeInBytes() {
        return partSizeInBytes;
    }

    public int maxConcurrency() {
        return maxConcurrency;
    }

    public long capacityInBytes() {
        return capacityInBytes;
    }

    public boolean trackUsage() {
        return trackUsage;
    }

    public String name() {
        return name;
    }

    public Optional<Executor> executor() {
        return Optional.ofNullable(executor);
    }

    public int maxAttempts() {
        return maxAttempts;
    }

    public Duration retryBaseDelay() {
        return retryBaseDelay;
    }

    public Duration retryMaxDelay() {
        return retryMaxDelay;
    }

    public Duration requestDeadline() {
        return requestDeadline;
    }

    public Duration idleTimeout() {
        return idleTimeout;
    }

    public AdditionalChecksums additionalChecksums() {
        return additionalChecksums;
    }

    /**
     * Age after which {@link S3Tier#open} aborts a multipart upload under the prefix: a writer
     * suspended for a resume that never came, or one whose process died. A resume of such an
     * upload finds it gone and starts over.
     */
    public Duration abandonedUploadAge() {
        return abandonedUploadAge;
    }

    /** Where the tier lives, for messages: {@code s3://bucket/prefix at endpoint}. Never a secret. */
    public String location() {
        return "s3://" + bucket + "/" + prefix + (endpoint != null ? " at " + endpoint : "");
    }

    @Override
    public String toString() {
        return "S3TierConfig[" + location() + ", region=" + region + ", pathStyle=" + pathStyle + ", partSize="
               + partSizeInBytes + ", maxConcurrency=" + maxConcurrency + ", capacity=" + capacityInBytes
               + ", trackUsage=" + trackUsage + ", name=" + name + ", maxAttempts=" + maxAttempts + ", retryDelay="
               + retryBaseDelay + ".." + retryMaxDelay + ", requestDeadline=" + requestDeadline + ", idleTimeout="
               + idleTimeout + ", additionalChecksums=" + additionalChecksums + ", abandonedUploadAge=" + abandonedUploadAge + "]";
    }

    /** Builds an {@link S3TierConfig}; not thread-safe. */
    public static final class Builder {
        private final String bucket;
        private String prefix = "";
        private URI endpoint;
        private String region = "us-east-1";
        private Boolean pathStyle;
        private AwsCredentialsProvider credentials;
        private int partSizeInBytes = 8 << 20;
        private int maxConcurrency = 32;
        private long capacityInBytes = Long.MAX_VALUE;
        private boolean trackUsage = true;
        private String name = "s3";
        private Executor executor;
        private int maxAttempts = 5;
        private Duration retryBaseDelay = Duration.ofMillis(100);
        private Duration retryMaxDelay = Duration.ofSeconds(20);
        private Duration requestDeadline = Duration.ofMinutes(5);
        private Duration idleTimeout = Duration.ofSeconds(30);
        private AdditionalChecksums additionalChecksums = AdditionalChecksums.WHEN_SUPPORTED;
        private Duration abandonedUploadAge = Duration.ofDays(1);

        private Builder(String bucket) {
            this.bucket = bucket;
        }

        public Builder prefix(String prefix) {
            this.prefix = prefix;
            return this;
        }

        public Builder endpoint(URI endpoint) {
            this.endpoint = endpoint;
            return this;
        }

        public Builder region(String region) {
            this.region = region;
            return this;
        }

        public Builder pathStyle(boolean pathStyle) {
            this.pathStyle = pathStyle;
            return this;
        }

        public Builder credentials(AwsCredentialsProvider credentials) {
            this.credentials = credentials;
            return this;
        }

        public Builder partSizeInBytes(int partSizeInBytes) {
            this.partSizeInBytes = partSizeInBytes;
            return this;
        }

        public Builder maxConcurrency(int maxConcurrency) {
            this.maxConcurrency = maxConcurrency;
            return this;
        }

        public Builder capacityInBytes(long capacityInBytes) {
            this.capacityInBytes = capacityInBytes;
            return this;
        }

        public Builder trackUsage(boolean trackUsage) {
            this.trackUsage = trackUsage;
            return this;
        }

        public Builder name(String name) {
            this.name = name;
            return this;
        }

        public Builder executor(Executor executor) {
            this.executor = executor;
            return this;
        }

        /** Attempts per request, the first included: 1..100; 1 turns retries off. */
        public Builder maxAttempts(int maxAttempts) {
            this.maxAttempts = maxAttempts;
            return this;
        }

        /** Backoff cap before the first retry; each further retry doubles it up to {@link #retryMaxDelay}. */
        public Builder retryBaseDelay(Duration retryBaseDelay) {
            this.retryBaseDelay = retryBaseDelay;
            return this;
        }

        public Builder retryMaxDelay(Duration retryMaxDelay) {
            this.retryMaxDelay = retryMaxDelay;
            return this;
        }

        /** The most one request may take, all attempts and backoffs included; raise it for large ranges on slow links. */
        public Builder requestDeadline(Duration requestDeadline) {
            this.requestDeadline = requestDeadline;
            return this;
        }

        /** How long an attempt may go without sending or receiving a byte. */
        public Builder idleTimeout(Duration idleTimeout) {
            this.idleTimeout = idleTimeout;
            return this;
        }

        public Builder additionalChecksums(AdditionalChecksums additionalChecksums) {
            this.additionalChecksums = additionalChecksums;
            return this;
        }

        /** Age (1 minute to 365 days) after which open aborts a multipart upload under the prefix. */
        public Builder abandonedUploadAge(Duration abandonedUploadAge) {
            this.abandonedUploadAge = abandonedUploadAge;
            return this;
        }

        public S3TierConfig build() {
            return new S3TierConfig(this);
        }
    }
}
