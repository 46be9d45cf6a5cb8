package io.thermocline.tier.s3;

import io.thermocline.tier.InvalidArgumentException;
import java.net.URI;
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
 * </table>
 */
public final class S3TierConfig {

    public static final int MIN_PART_SIZE_IN_BYTES = 5 << 20;

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
    }

    public static Builder builder(String bucket) {
        return new Builder(bucket);
    }

    public Builder toBuilder() {
        Builder b = new Builder(bucket).prefix(prefix).endpoint(endpoint).region(region).pathStyle(pathStyle)
                .credentials(credentials).partSizeInBytes(partSizeInBytes).maxConcurrency(maxConcurrency)
                .capacityInBytes(capacityInBytes).trackUsage(trackUsage).name(name);
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

    /** Where the tier lives, for messages: {@code s3://bucket/prefix at endpoint}. Never a secret. */
    public String location() {
        return "s3://" + bucket + "/" + prefix + (endpoint != null ? " at " + endpoint : "");
    }

    @Override
    public String toString() {
        return "S3TierConfig[" + location() + ", region=" + region + ", pathStyle=" + pathStyle + ", partSize="
               + partSizeInBytes + ", maxConcurrency=" + maxConcurrency + ", capacity=" + capacityInBytes
               + ", trackUsage=" + trackUsage + ", name=" + name + "]";
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

        public S3TierConfig build() {
            return new S3TierConfig(this);
        }
    }
}
