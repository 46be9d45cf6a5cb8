package io.thermocline.tier.s3;

import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ListPage;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectNotFoundException;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.Tier;
import io.thermocline.tier.TierClass;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierFullException;
import io.thermocline.tier.TierHealth;
import io.thermocline.tier.TierIoException;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.TierUsage;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.support.ObjectInfoCodec;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.core.async.AsyncRequestBody;
import software.amazon.awssdk.core.async.AsyncResponseTransformer;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * The OBJECT tier: objects in an S3 bucket (AWS or any S3-compatible server), each stored as a
 * plain S3 object under {@code prefix + key}, so other tools read them as they are.
 *
 * <p><b>Checksums.</b> S3 user metadata is limited to 2 KB, too little for the chunk checksums of
 * a large object, so an object's {@link ObjectInfo} is stored as an {@link ObjectInfoCodec} record
 * in a companion object, {@code prefix + ".thermocline/sums/" + key + "/" + token}; the data
 * object names its token in the metadata header {@code x-amz-meta-thermocline-sums}. The token is
 * chosen before the upload starts, the record is written once every part is in, and only then is
 * the multipart upload completed, which is the moment the object becomes visible: a reader never
 * sees an object without its checksums. Records left by uploads that never completed are
 * harmless and are removed when the key is next written or deleted.
 *
 * <p><b>Reads</b> are ranged GETs conditional on the ETag seen at open ({@code If-Match}), so a
 * reader of an object that is replaced or deleted fails instead of mixing versions; every chunk
 * is checked against its CRC32C before any byte is returned.
 *
 * <p><b>Writes</b> are multipart uploads whose parts (the part size rounded up to whole chunks)
 * are filled in memory and uploaded as each fills; an abort, a failed commit or a crash leaves an
 * incomplete upload that is aborted or never becomes visible.
 *
 * <p>Keys under {@code .thermocline/} are reserved. Thread-safe.
 */
public final class S3Tier implements Tier {

    private static final Logger log = LoggerFactory.getLogger(S3Tier.class);
    static final String SUMS_DIR = ".thermocline/sums/";
    static final String SUMS_METADATA = "thermocline-sums";

    private final S3TierConfig config;
    private final S3AsyncClient client;
    private final Executor executor;
    private final ExecutorService ownedExecutor;
    private final Object accounting = new Object();
    private long usedInBytes;
    private long reservedInBytes;
    private long objectCount;
    private volatile boolean closed;

    private S3Tier(S3TierConfig config, S3AsyncClient client) {
        this.config = config;
        this.client = client;
        if (config.executor().isPresent()) {
            this.executor = config.executor().get();
            this.ownedExecutor = null;
        } else {
            this.ownedExecutor = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("tier-" + config.name() + "-", 0).factory());
            this.executor = ownedExecutor;
        }
    }

    /**
     * Connects to the bucket and, with {@link S3TierConfig#trackUsage()}, counts what is there.
     * Blocking.
     *
     * @throws TierUnavailableException if the bucket cannot be reached or read
     */
    public static S3Tier open(S3TierConfig config) {
        var builder = S3AsyncClient.builder()
                .region(Region.of(config.region()))
                .forcePathStyle(config.pathStyle())
                .credentialsProvider(config.credentials().orElseGet(() -> DefaultCredentialsProvider.builder().build()))
                .httpClientBuilder(NettyNioAsyncHttpClient.builder().maxConcurrency(config.maxConcurrency()))
                // S3-compatible servers differ in their support of trailing checksums; integrity is ours.
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED);
        config.endpoint().ifPresent(builder::endpointOverride);
        S3Tier tier = new S3Tier(config, builder.build());
        try {
            if (config.trackUsage()) {
                tier.countUsage();
            } else {
                tier.client.headBucket(b -> b.bucket(config.bucket())).join();
            }
        } catch (RuntimeException e) {
            tier.close();
            throw tier.translate(e, "open", null);
        }
        log.info("opened S3 tier {}: {}", config.name(), config);
        return tier;
    }

    private void countUsage() {
        String token = null;
        do {
            String continuation = token;
            ListObjectsV2Response page = client.listObjectsV2(b -> b.bucket(config.bucket()).prefix(config.prefix())
                    .continuationToken(continuation)).join();
            for (S3Object o : page.contents()) {
                if (!o.key().startsWith(config.prefix() + SUMS_DIR)) {
                    usedInBytes += o.size();
                    objectCount++;
                }
            }
            token = Boolean.TRUE.equals(page.isTruncated()) ? page.nextContinuationToken() : null;
        } while (token != null);
    }

    public S3TierConfig config() {
        return config;
    }

    @Override
    public String name() {
        return config.name();
    }

    @Override
    public TierClass tierClass() {
        return TierClass.OBJECT;
    }

    String s3Key(ObjectKey key) {
        return config.prefix() + key.value();
    }

    String sumsPrefix(ObjectKey key) {
        return config.prefix() + SUMS_DIR + key.value() + "/";
    }

    S3AsyncClient client() {
        return client;
    }

    Executor executor() {
        return executor;
    }

    /** The object's info and ETag, or empty. */
    CompletableFuture<Optional<Stat>> statWithETag(ObjectKey key) {
        return guard("stat", key, () -> client.headObject(b -> b.bucket(config.bucket()).key(s3Key(key)))
                .thenCompose(head -> readSums(key, head))
                .exceptionally(t -> {
                    if (isNotFound(t)) {
                        return Optional.empty();
                    }
                    throw new CompletionException(translate(t, "stat", key));
                }));
    }

    /** An object's info and the ETag of the version it describes. */
    record Stat(ObjectInfo info, String eTag) {
    }

    private CompletableFuture<Optional<Stat>> readSums(ObjectKey key, HeadObjectResponse head) {
        String token = head.metadata().get(SUMS_METADATA);
        if (token == null) {
            throw new CompletionException(new TierIoException(where(key) + " has no Thermocline checksums "
                    + "(it was written by another tool)", false));
        }
        return client.getObject(b -> b.bucket(config.bucket()).key(sumsPrefix(key) + token), AsyncResponseTransformer.toBytes())
                .thenApply(bytes -> {
                    ObjectInfo info;
                    try {
                        info = ObjectInfoCodec.decode(bytes.asByteBuffer());
                    } catch (ObjectInfoCodec.MalformedRecordException e) {
                        throw new CompletionException(new TierIoException("checksum record of " + where(key)
                                + " is corrupt at offset " + e.offset() + ": " + e.getMessage(), false));
                    }
                    if (!info.key().equals(key) || info.sizeInBytes() != head.contentLength()) {
                        throw new CompletionException(new TierIoException("checksum record of " + where(key) + " describes "
                                + info.key() + " of " + info.sizeInBytes() + " bytes, the object has " + head.contentLength(), false));
                    }
                    return Optional.of(new Stat(info, head.eTag()));
                });
    }

    @Override
    public CompletableFuture<Optional<ObjectInfo>> stat(ObjectKey key) {
        return statWithETag(key).thenApply(s -> s.map(Stat::info));
    }

    @Override
    public CompletableFuture<ObjectReader> openReader(ObjectKey key) {
        return statWithETag(key).thenApply(s -> {
            Stat stat = s.orElseThrow(() -> new ObjectNotFoundException(name(), key));
            return (ObjectReader) new S3ObjectReader(this, stat.info(), stat.eTag());
        });
    }

    /**
     * Downloads {@code key} into {@code target} with {@code parallelism} ranged GETs of
     * {@code rangeSizeInBytes} in flight, verified chunk by chunk as the bytes stream in; the file
     * appears only complete and verified. Memory use is the HTTP buffers in flight, not the object.
     *
     * @param progress receives the bytes written as they land
     */
    public CompletableFuture<ObjectInfo> download(ObjectKey key, java.nio.file.Path target, int parallelism,
                                                  long rangeSizeInBytes, java.util.function.LongConsumer progress) {
        if (parallelism < 1 || parallelism > 1024) {
            return CompletableFuture.failedFuture(InvalidArgumentException.of("parallelism", parallelism, "1..1024"));
        }
        return guard("download", key, () -> S3Download.toFile(this, key, target, parallelism, rangeSizeInBytes, progress));
    }

    @Override
    public CompletableFuture<ObjectWriter> create(WriteRequest request) {
        if (request.key().value().startsWith(SUMS_DIR) || request.key().value().equals(".thermocline")) {
            return CompletableFuture.failedFuture(InvalidArgumentException.of("key", request.key(),
                    "a key outside .thermocline/, which the S3 tier reserves"));
        }
        try {
            checkOpen();
            reserve(request.sizeInBytes(), request.key());
        } catch (TierException e) {
            return CompletableFuture.failedFuture(e);
        }
        return S3ObjectWriter.start(this, request).whenComplete((w, t) -> {
            if (t != null) {
                release(request.sizeInBytes());
            }
        });
    }

    @Override
    public CompletableFuture<Boolean> delete(ObjectKey key) {
        return guard("delete", key, () -> client.headObject(b -> b.bucket(config.bucket()).key(s3Key(key)))
                .handle((head, t) -> {
                    if (t != null && !isNotFound(t)) {
                        throw new CompletionException(translate(t, "delete", key));
                    }
                    return head;
                })
                .thenCompose(head -> {
                    if (head == null) {
                        return deleteSums(key, null).thenApply(v -> false);
                    }
                    return client.deleteObject(b -> b.bucket(config.bucket()).key(s3Key(key)))
                            .thenCompose(r -> deleteSums(key, null))
                            .thenApply(v -> {
                                synchronized (accounting) {
                                    usedInBytes -= head.contentLength();
                                    objectCount--;
                                }
                                return true;
                            });
                }));
    }

    /** Deletes the key's checksum records except {@code keepToken}'s. */
    CompletableFuture<Void> deleteSums(ObjectKey key, String keepToken) {
        return client.listObjectsV2(b -> b.bucket(config.bucket()).prefix(sumsPrefix(key)).maxKeys(1000))
                .thenCompose(page -> {
                    List<CompletableFuture<?>> deletes = new ArrayList<>();
                    for (S3Object o : page.contents()) {
                        if (keepToken == null || !o.key().endsWith("/" + keepToken)) {
                            deletes.add(client.deleteObject(b -> b.bucket(config.bucket()).key(o.key())));
                        }
                    }
                    return CompletableFuture.allOf(deletes.toArray(CompletableFuture[]::new));
                });
    }

    @Override
    public CompletableFuture<ListPage> list(String prefix, ObjectKey startAfter, int maxKeys) {
        if (maxKeys < 1 || maxKeys > 1000) {
            return CompletableFuture.failedFuture(InvalidArgumentException.of("maxKeys", maxKeys, "1..1000"));
        }
        return guard("list", null, () -> client.listObjectsV2(b -> {
            b.bucket(config.bucket()).prefix(config.prefix() + prefix).maxKeys(maxKeys);
            if (startAfter != null) {
                b.startAfter(s3Key(startAfter));
            }
        }).thenApply(page -> {
            List<ObjectKey> keys = new ArrayList<>();
            String last = null;
            for (S3Object o : page.contents()) {
                last = o.key();
                if (!o.key().startsWith(config.prefix() + SUMS_DIR)) {
                    keys.add(ObjectKey.of(o.key().substring(config.prefix().length())));
                }
            }
            Optional<ObjectKey> next = Boolean.TRUE.equals(page.isTruncated()) && last != null
                    ? Optional.of(ObjectKey.of(last.substring(config.prefix().length()))) : Optional.empty();
            return new ListPage(keys, next);
        }));
    }

    @Override
    public TierUsage usage() {
        synchronized (accounting) {
            return new TierUsage(config.capacityInBytes(), Math.max(0, usedInBytes), reservedInBytes, Math.max(0, objectCount));
        }
    }

    @Override
    public TierHealth health() {
        return closed ? TierHealth.down("tier " + name() + " is closed") : TierHealth.up(config.location());
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        client.close();
        if (ownedExecutor != null) {
            ownedExecutor.close();
        }
    }

    // ---- accounting, shared with the writer

    private void reserve(long bytes, ObjectKey key) {
        synchronized (accounting) {
            long available = config.capacityInBytes() - usedInBytes - reservedInBytes;
            if (bytes > available) {
                throw new TierFullException(name(), "object " + key, bytes, Math.max(0, available));
            }
            reservedInBytes += bytes;
        }
    }

    void release(long bytes) {
        synchronized (accounting) {
            reservedInBytes -= bytes;
        }
    }

    void published(long bytes, Long replacedBytes) {
        synchronized (accounting) {
            reservedInBytes -= bytes;
            usedInBytes += bytes - (replacedBytes == null ? 0 : replacedBytes);
            if (replacedBytes == null) {
                objectCount++;
            }
        }
    }

    // ---- errors

    private void checkOpen() {
        if (closed) {
            throw new TierUnavailableException("tier " + name() + " is closed", false);
        }
    }

    private <T> CompletableFuture<T> guard(String what, ObjectKey key, java.util.function.Supplier<CompletableFuture<T>> call) {
        if (closed) {
            return CompletableFuture.failedFuture(new TierUnavailableException("tier " + name() + " is closed", false));
        }
        try {
            return call.get().exceptionallyCompose(t -> CompletableFuture.failedFuture(translate(t, what, key)));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(translate(e, what, key));
        }
    }

    static boolean isNotFound(Throwable t) {
        Throwable c = TierException.unwrap(t);
        return c instanceof S3Exception s && s.statusCode() == 404
               && !"NoSuchBucket".equals(s.awsErrorDetails() == null ? null : s.awsErrorDetails().errorCode());
    }

    String where(ObjectKey key) {
        return "s3://" + config.bucket() + "/" + (key == null ? config.prefix() : s3Key(key))
               + config.endpoint().map(e -> " at " + e).orElse("");
    }

    /** Maps an SDK failure to the tier's exceptions; messages name endpoint, bucket and key, never a secret. */
    TierException translate(Throwable t, String what, ObjectKey key) {
        Throwable c = TierException.unwrap(t);
        for (Throwable cause = c; cause != null; cause = cause.getCause()) {
            if (cause instanceof TierException te) {
                return te; // ours, possibly wrapped by the SDK (a failed response transformer)
            }
        }
        if (c instanceof S3Exception s) {
            String code = s.awsErrorDetails() == null ? null : s.awsErrorDetails().errorCode();
            int status = s.statusCode();
            if ("NoSuchBucket".equals(code)) {
                return new TierUnavailableException(what + " failed: bucket " + config.bucket() + " does not exist"
                        + config.endpoint().map(e -> " at " + e).orElse(""), false, s);
            }
            if (status == 404 && key != null) {
                return new ObjectNotFoundException(name(), key);
            }
            if (status == 403) {
                return new TierUnavailableException(what + " of " + where(key) + " was refused (403 " + code
                        + "): check the credentials and the bucket policy", false, s);
            }
            if (status == 412) {
                return new TierIoException(where(key) + " changed while it was being read (ETag no longer matches)", false, s);
            }
            boolean retryable = status >= 500 || status == 429;
            return new TierUnavailableException(what + " of " + where(key) + " failed: " + status + " " + code, retryable, s);
        }
        if (c instanceof SdkClientException) {
            return new TierUnavailableException(what + " of " + where(key) + " failed: " + c.getMessage(), true, c);
        }
        return new TierIoException(what + " of " + where(key) + " failed: " + c, false, c);
    }

    @Override
    public String toString() {
        return "S3Tier[" + name() + ", " + config.location() + "]";
    }
}
