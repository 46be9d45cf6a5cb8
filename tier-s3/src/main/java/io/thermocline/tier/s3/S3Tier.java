package io.thermocline.tier.s3;

import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ListPage;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectNotFoundException;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.Tier;
import io.thermocline.tier.TierClass;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierFullException;
import io.thermocline.tier.TierHealth;
import io.thermocline.tier.TierIoException;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.TierUsage;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.support.ChunkChecksumTracker;
import io.thermocline.tier.support.ObjectInfoCodec;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.core.async.AsyncRequestBody;
import software.amazon.awssdk.core.async.AsyncResponseTransformer;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.http.async.SdkAsyncHttpClient;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.ChecksumMode;
import software.amazon.awssdk.services.s3.model.ChecksumType;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.Part;
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
 * <p><b>Resume.</b> A writer's {@link ObjectWriter#checkpoint} names the parts S3 has
 * acknowledged, {@link ObjectWriter#suspend} leaves the multipart upload in place, and
 * {@link #resume} takes it up again in any process after checking every named part with
 * ListParts (ETag, size, CRC32C); {@link #discard} aborts it. Uploads that nobody resumes or
 * discards are aborted by the next {@link #open} of the prefix once they are older than
 * {@link S3TierConfig#abandonedUploadAge()}, and by a bucket lifecycle rule where there is one.
 *
 * <p><b>Retries</b> follow {@link S3Retries}: transient failures are retried with jittered
 * exponential backoff within a per-request deadline; ranged GETs whose bodies break resume after
 * the bytes already received; refusals (403, 404) fail at once with messages that name the
 * endpoint, bucket and key, never a secret.
 *
 * <p><b>Objects written by other tools</b> (no checksum record) are listed, stat'ed and read like
 * any other. Their {@link ObjectInfo} is made by {@link S3ForeignObjects}: the version the ETag
 * names is read once ({@code If-Match}), its chunk CRC32Cs computed as the bytes arrive and checked
 * against S3's own checksum where the object carries one; the info names that ETag and the check in
 * its user metadata ({@link #sourceETag}, {@link #sourceCheck}). So {@link #stat} of such an object
 * reads all of it (once per ETag); {@link #describe(ObjectKey)} is the cheap question, and
 * {@link #fetch} downloads one without that first read.
 *
 * <p>Keys under {@code .thermocline/} are reserved. Thread-safe.
 */
public final class S3Tier implements Tier {

    static final Logger log = LoggerFactory.getLogger(S3Tier.class);
    static final String SUMS_DIR = ".thermocline/sums/";
    static final String SUMS_METADATA = "thermocline-sums";
    /** Under the prefix: one empty object per multipart upload, {@code <owner>/<upload id in base64url>}, naming its owner. */
    static final String UPLOADS_DIR = ".thermocline/uploads/";
    private static final java.util.regex.Pattern OWNER_ID = java.util.regex.Pattern.compile("[A-Za-z0-9._-]{1,64}");

    private final S3TierConfig config;
    private final io.netty.channel.EventLoopGroup eventLoops;
    private final SdkAsyncHttpClient http;
    private final S3AsyncClient client;
    private final S3AsyncClient rangeClient;
    /** Ranged GETs of downloads on plain Netty, or null where the SDK serves them (see {@link S3RangeGetter}). */
    private final S3RangeGetter rangeGetter;
    private final Executor executor;
    private final ExecutorService ownedExecutor;
    private final Object accounting = new Object();
    private long usedInBytes;
    private long reservedInBytes;
    private long objectCount;
    private final S3ForeignObjects foreign = new S3ForeignObjects(this);
    private volatile boolean closed;
    /** Whose uploads this tier's writers start (see {@link #recordUploadsAs}), or null. */
    private volatile String uploadOwner;
    private final java.util.concurrent.atomic.AtomicLong foreignKeysSkipped = new java.util.concurrent.atomic.AtomicLong();

    private S3Tier(S3TierConfig config, io.netty.channel.EventLoopGroup eventLoops, SdkAsyncHttpClient http,
                   S3AsyncClient client, S3AsyncClient rangeClient, S3RangeGetter rangeGetter) {
        this.config = config;
        this.eventLoops = eventLoops;
        this.http = http;
        this.client = client;
        this.rangeClient = rangeClient;
        this.rangeGetter = rangeGetter;
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
    @SuppressWarnings("deprecation")
    public static S3Tier open(S3TierConfig config) {
        // One connection pool for both clients. The idle timeout is Netty's read and write timeout;
        // waiting for a pooled connection is bounded by the deadline, not by a separate limit.
        // Our own event loops: the SDK shuts down the ones it creates with a 2 s quiet period,
        // which every close() would wait out; ours stop at once after both clients are closed.
        // (NioEventLoopGroup, deprecated by Netty 4.2, because the SDK recognises no other NIO group)
        io.netty.channel.EventLoopGroup eventLoops = new io.netty.channel.nio.NioEventLoopGroup(0,
                new io.netty.util.concurrent.DefaultThreadFactory("s3-" + config.name() + "-netty", true));
        SdkAsyncHttpClient http = NettyNioAsyncHttpClient.builder()
                .eventLoopGroup(software.amazon.awssdk.http.nio.netty.SdkEventLoopGroup.create(eventLoops))
                .maxConcurrency(config.maxConcurrency())
                .readTimeout(config.idleTimeout())
                .writeTimeout(config.idleTimeout())
                .connectionAcquisitionTimeout(config.requestDeadline())
                .build();
        AwsCredentialsProvider credentials = config.credentials().orElseGet(() -> DefaultCredentialsProvider.builder().build());
        S3Tier tier = new S3Tier(config, eventLoops, http,
                client(config, http, credentials, config.maxAttempts(), config.requestDeadline()),
                client(config, http, credentials, 1, null), S3RangeGetter.forConfig(config, eventLoops, credentials));
        try {
            if (config.trackUsage()) {
                tier.countUsage();
            } else {
                tier.client.headBucket(b -> b.bucket(config.bucket())).join();
            }
        } catch (RuntimeException e) {
            tier.close();
            Throwable c = TierException.unwrap(e);
            if (c instanceof S3Exception s && s.statusCode() == 404) {
                // HeadBucket answers a missing bucket with a bare 404 (a HEAD response has no body to name NoSuchBucket)
                throw tier.noSuchBucket("open", s);
            }
            throw tier.translate(e, "open", null);
        }
        tier.abortAbandonedUploads();
        log.info("opened S3 tier {}: {}", config.name(), config);
        return tier;
    }

    /**
     * Aborts the multipart uploads under the prefix started more than
     * {@link S3TierConfig#abandonedUploadAge()} ago: suspended writers nobody resumed or
     * discarded, and writers of processes that died. A failure (a policy that forbids listing
     * uploads, say) is logged, not fatal: the tier works without it and a lifecycle rule can do
     * the same.
     */
    private void abortAbandonedUploads() {
        try {
            int aborted = abortIncompleteUploads(config.abandonedUploadAge()).join();
            if (aborted > 0) {
                log.info("S3 tier {}: aborted {} multipart uploads older than {} under {}", config.name(), aborted,
                        config.abandonedUploadAge(), config.location());
            }
        } catch (RuntimeException e) {
            log.warn("S3 tier {}: could not reclaim multipart uploads older than {} under {}: {}", config.name(),
                    config.abandonedUploadAge(), config.location(), describe(e));
        }
    }

    /**
     * A client on the shared connection pool. Integrity is ours (chunk CRC32Cs), so the SDK adds
     * request checksums only where an operation requires one or where we ask for CRC32C
     * ({@link S3TierConfig#additionalChecksums()}), and validates response checksums only when we
     * ask for them ({@code x-amz-checksum-mode}).
     *
     * @param maxAttempts 1 for the client of resumable ranged GETs, whose retries are ours
     * @param deadline the SDK's apiCallTimeout, or null to give one per request
     */
    private static S3AsyncClient client(S3TierConfig config, SdkAsyncHttpClient http, AwsCredentialsProvider credentials,
                                        int maxAttempts, java.time.Duration deadline) {
        var builder = S3AsyncClient.builder()
                .region(Region.of(config.region()))
                .forcePathStyle(config.pathStyle())
                .credentialsProvider(credentials)
                .httpClient(http)
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .overrideConfiguration(o -> {
                    o.retryStrategy(S3Retries.sdkStrategy(config, maxAttempts));
                    if (deadline != null) {
                        o.apiCallTimeout(deadline);
                    }
                });
        config.endpoint().ifPresent(builder::endpointOverride);
        return builder.build();
    }

    private void countUsage() {
        String token = null;
        do {
            String continuation = token;
            ListObjectsV2Response page = client.listObjectsV2(b -> b.bucket(config.bucket()).prefix(config.prefix())
                    .continuationToken(continuation)).join();
            for (S3Object o : page.contents()) {
                if (!reserved(o.key())) {
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

    /** The client for every request but resumable ranged GETs: the SDK retries, within the deadline. */
    S3AsyncClient client() {
        return client;
    }

    /** The client for ranged GETs that {@link S3Retries#fetchRange} retries and resumes: no SDK retries. */
    S3AsyncClient rangeClient() {
        return rangeClient;
    }

    /** The lean client for the ranged GETs of downloads, or null to use {@link #rangeClient()}. */
    S3RangeGetter rangeGetter() {
        return rangeGetter;
    }

    /** Whether requests should carry S3's CRC32C (see {@link S3TierConfig.AdditionalChecksums}). */
    boolean sendCrc32c() {
        return config.additionalChecksums() == S3TierConfig.AdditionalChecksums.WHEN_SUPPORTED;
    }

    Executor executor() {
        return executor;
    }

    /** The object's info and ETag, or empty; the info is null for an object written by another tool. */
    CompletableFuture<Optional<Stat>> statWithETag(ObjectKey key) {
        return guard("stat", key, () -> client.headObject(b -> {
                    b.bucket(config.bucket()).key(s3Key(key));
                    if (config.additionalChecksums() != S3TierConfig.AdditionalChecksums.OFF) {
                        b.checksumMode(ChecksumMode.ENABLED); // S3's own checksums, for objects without ours
                    }
                })
                .thenCompose(head -> readSums(key, head))
                .exceptionally(t -> {
                    if (isNotFound(t)) {
                        return Optional.empty();
                    }
                    throw new CompletionException(translate(t, "stat", key));
                }));
    }

    /**
     * An object as HEAD saw it: Thermocline's info (null for an object written by another tool),
     * the ETag of the version it describes, and the HEAD response.
     */
    record Stat(ObjectInfo info, String eTag, HeadObjectResponse head) {

        /** S3's full-object CRC32C, if the server keeps one (not a composite of part checksums). */
        OptionalInt s3Crc32c() {
            String value = head.checksumCRC32C();
            if (value == null || value.contains("-") || head.checksumType() == ChecksumType.COMPOSITE) {
                return OptionalInt.empty();
            }
            try {
                byte[] bytes = Base64.getDecoder().decode(value);
                return bytes.length == 4 ? OptionalInt.of(ByteBuffer.wrap(bytes).getInt()) : OptionalInt.empty();
            } catch (IllegalArgumentException e) {
                return OptionalInt.empty();
            }
        }
    }

    /**
     * The info of the object: Thermocline's record, or for another tool's object the one
     * {@link S3ForeignObjects} makes from the version {@code stat} saw (reading it once per ETag).
     */
    CompletableFuture<ObjectInfo> infoOf(Stat stat, ObjectKey key) {
        if (stat.info() != null) {
            return CompletableFuture.completedFuture(stat.info());
        }
        return foreign.infoOf(key, stat.head());
    }

    /**
     * The ETag of the S3 version an info of another tool's object was made from (user metadata
     * {@value S3ForeignObjects#SOURCE_ETAG}); empty for an object Thermocline wrote.
     */
    public static Optional<String> sourceETag(ObjectInfo info) {
        return Optional.ofNullable(info.userMetadata().get(S3ForeignObjects.SOURCE_ETAG));
    }

    /**
     * What the bytes of another tool's object were checked against when its info was made:
     * {@code s3-sha256}, {@code s3-crc32c}, {@code s3-crc32} (S3's full-object checksum),
     * the same with {@code -composite} (S3's checksum of a multipart upload's part checksums,
     * each part checked too), or {@code etag} (none kept: the ETag pinned the bytes, and the
     * chunk CRC32Cs computed from them are the record). Empty for an object Thermocline wrote.
     */
    public static Optional<String> sourceCheck(ObjectInfo info) {
        return Optional.ofNullable(info.userMetadata().get(S3ForeignObjects.SOURCE_CHECK));
    }

    private CompletableFuture<Optional<Stat>> readSums(ObjectKey key, HeadObjectResponse head) {
        String token = head.metadata().get(SUMS_METADATA);
        if (token == null) {
            return CompletableFuture.completedFuture(Optional.of(new Stat(null, head.eTag(), head)));
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
                    return Optional.of(new Stat(info, head.eTag(), head));
                });
    }

    /**
     * The object's info, or empty. For an object written by another tool, the first stat of a
     * version reads all of its bytes (see {@link S3ForeignObjects}); a mismatch with S3's own
     * checksum fails it.
     */
    @Override
    public CompletableFuture<Optional<ObjectInfo>> stat(ObjectKey key) {
        return statWithETag(key).thenCompose(s -> s.isEmpty() ? CompletableFuture.completedFuture(Optional.<ObjectInfo>empty())
                : infoOf(s.get(), key).thenApply(Optional::of));
    }

    /**
     * What is known of the object under {@code key}, whoever wrote it: size, ETag, content type,
     * Thermocline's checksums if it has them, S3's full-object CRC32C if the server keeps one, and
     * so how reads of it can be verified. Empty if there is no such object.
     */
    public CompletableFuture<Optional<S3ObjectDescription>> describe(ObjectKey key) {
        return statWithETag(key).thenApply(s -> s.map(stat -> {
            HeadObjectResponse head = stat.head();
            OptionalInt s3Crc32c = stat.s3Crc32c();
            S3ObjectDescription.Verification verification = stat.info() != null ? S3ObjectDescription.Verification.CHUNK_CRC32C
                    : s3Crc32c.isPresent() ? S3ObjectDescription.Verification.OBJECT_CRC32C : S3ObjectDescription.Verification.NONE;
            return new S3ObjectDescription(key, head.contentLength(), head.eTag(), head.lastModified(),
                    head.contentType() == null ? ObjectInfo.DEFAULT_CONTENT_TYPE : head.contentType(),
                    Optional.ofNullable(stat.info()), s3Crc32c, verification);
        }));
    }

    @Override
    public CompletableFuture<ObjectReader> openReader(ObjectKey key) {
        return statWithETag(key).thenCompose(s -> {
            Stat stat = s.orElseThrow(() -> new ObjectNotFoundException(name(), key));
            return infoOf(stat, key).thenApply(info -> (ObjectReader) new S3ObjectReader(this, info, stat.eTag()));
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
        return fetch(key, target, parallelism, rangeSizeInBytes, progress).thenApply(Downloaded::info);
    }

    /**
     * {@link #download} that also says how the bytes were verified. An object written by another
     * tool is downloaded too: its chunk checksums are computed as the bytes land, and the whole is
     * checked against S3's full-object CRC32C when the server keeps one (a mismatch fails the
     * download and leaves no file); without one the result says {@code NONE}.
     */
    public CompletableFuture<Downloaded> fetch(ObjectKey key, java.nio.file.Path target, int parallelism,
                                               long rangeSizeInBytes, java.util.function.LongConsumer progress) {
        if (parallelism < 1 || parallelism > 1024) {
            return CompletableFuture.failedFuture(InvalidArgumentException.of("parallelism", parallelism, "1..1024"));
        }
        return guard("download", key, () -> S3Download.toFile(this, key, target, parallelism, rangeSizeInBytes, progress));
    }

    /**
     * A finished download: the object's info (for another tool's object, computed from the bytes
     * written) and how the bytes were checked.
     */
    public record Downloaded(ObjectInfo info, S3ObjectDescription.Verification verification) {
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

    /**
     * Takes up the multipart upload named by {@code point} (see {@link S3ResumeToken}). Every
     * part of the token is checked against ListParts: it must still be there with the same ETag
     * and size, and the same CRC32C where the server reports one; where the upload carried
     * CRC32Cs, each part's must also equal the one combined from the caller's chunk checksums
     * (so a caller whose source changed is caught here, not after publication). The writer holds
     * the parts before the first one that fails.
     *
     * <p>Empty when the upload is gone ({@code NoSuchUpload}: aborted, discarded, reclaimed for
     * its age, or completed), and when not even part 1 checks out, in which case the upload is
     * aborted, since a writer starting at byte 0 gains nothing from it. Some servers (S3Proxy
     * 4.1.0) answer ListParts of an aborted upload with no parts instead of {@code NoSuchUpload};
     * that is the second case.
     *
     * @throws InvalidArgumentException (through the future) if the token was not made by an
     *         S3Tier, or was made for another key, size, chunk size or content type than the
     *         request's, or does not match the point's length, or there is not one checksum per
     *         chunk of the point
     * @throws TierFullException (through the future) if the object no longer fits
     */
    @Override
    public CompletableFuture<Optional<ObjectWriter>> resume(WriteRequest request, ResumePoint point, int[] chunkCrc32cs) {
        S3ResumeToken token;
        try {
            checkOpen();
            token = S3ResumeToken.parse(point.token());
            token.checkMatches(this, request, point);
            ChunkChecksumTracker.checkResume(request, point.length(), chunkCrc32cs);
        } catch (TierException e) {
            return CompletableFuture.failedFuture(e);
        }
        return guard("resume", request.key(), () -> listParts(token.s3Key(), token.uploadId(), token.parts().size())
                .thenCompose(listed -> {
                    if (listed.isEmpty()) {
                        log.info("resume of {}: upload {} is gone; the write starts over", where(request.key()), token.uploadId());
                        return CompletableFuture.completedFuture(Optional.<ObjectWriter>empty());
                    }
                    int verified = verifiedParts(token, listed.get(), request, chunkCrc32cs);
                    if (verified == 0) {
                        log.info("resume of {}: no part of upload {} checks out; aborting it, the write starts over",
                                where(request.key()), token.uploadId());
                        return discard(point).thenApply(v -> Optional.<ObjectWriter>empty());
                    }
                    reserve(request.sizeInBytes(), request.key());
                    try {
                        S3ObjectWriter w = S3ObjectWriter.resumed(this, request, token, verified, chunkCrc32cs);
                        log.debug("resumed {} at byte {} ({} of {} parts of upload {})", where(request.key()), w.resumedBytes(),
                                verified, token.parts().size(), token.uploadId());
                        return CompletableFuture.completedFuture(Optional.<ObjectWriter>of(w));
                    } catch (RuntimeException e) {
                        release(request.sizeInBytes());
                        throw e;
                    }
                }));
    }

    /** How many parts from part 1 on are still what the token says (see {@link #resume}). */
    private static int verifiedParts(S3ResumeToken token, Map<Integer, Part> listed, WriteRequest request, int[] chunkCrc32cs) {
        int chunk = request.chunkSizeInBytes();
        long size = request.sizeInBytes();
        int chunksPerPart = (int) (token.partSizeInBytes() / chunk);
        for (int i = 0; i < token.parts().size(); i++) {
            S3ResumeToken.PartRef expected = token.parts().get(i);
            Part part = listed.get(i + 1);
            long start = i * token.partSizeInBytes();
            long length = Math.min(token.partSizeInBytes(), size - start);
            if (part == null || !expected.eTag().equals(part.eTag()) || part.size() == null || part.size() != length
                || (expected.crc32c() != null && part.checksumCRC32C() != null && !expected.crc32c().equals(part.checksumCRC32C()))) {
                log.info("resume of {}: part {} of upload {} is {} (expected ETag {}, {} bytes); resuming before it",
                        request.key(), i + 1, token.uploadId(), part == null ? "missing"
                                : "ETag " + part.eTag() + ", " + part.size() + " bytes", expected.eTag(), length);
                return i;
            }
            if (expected.crc32c() != null) {
                int first = i * chunksPerPart;
                int chunks = (int) ((length + chunk - 1) / chunk); // resume checked there is one per chunk of the point
                int[] ofPart = java.util.Arrays.copyOfRange(chunkCrc32cs, first, first + chunks);
                String fromCaller = S3ObjectWriter.base64(io.thermocline.tier.Crc32c.ofChunks(ofPart, length, chunk));
                if (!fromCaller.equals(expected.crc32c())) {
                    log.info("resume of {}: part {} of upload {} has CRC32C {}, the caller's chunks make {}; resuming before it",
                            request.key(), i + 1, token.uploadId(), expected.crc32c(), fromCaller);
                    return i;
                }
            }
        }
        return token.parts().size();
    }

    /** Parts 1..{@code upTo} of the upload as ListParts reports them; empty if the upload is gone. */
    private CompletableFuture<Optional<Map<Integer, Part>>> listParts(String s3Key, String uploadId, int upTo) {
        Map<Integer, Part> parts = new HashMap<>();
        return listParts(s3Key, uploadId, upTo, null, parts).handle((v, t) -> {
            if (t != null) {
                if (isNoSuchUpload(t)) {
                    return Optional.empty();
                }
                throw new CompletionException(t);
            }
            return Optional.of(parts);
        });
    }

    private CompletableFuture<Void> listParts(String s3Key, String uploadId, int upTo, Integer marker, Map<Integer, Part> into) {
        if (upTo == 0) {
            // still ask once: it tells whether the upload exists
            upTo = 1;
        }
        int last = upTo;
        return client.listParts(b -> b.bucket(config.bucket()).key(s3Key).uploadId(uploadId).partNumberMarker(marker))
                .thenCompose(page -> {
                    for (Part p : page.parts()) {
                        into.put(p.partNumber(), p);
                    }
                    Integer next = page.nextPartNumberMarker();
                    boolean more = Boolean.TRUE.equals(page.isTruncated()) && next != null && next < last
                                   && (marker == null || next > marker);
                    return more ? listParts(s3Key, uploadId, last, next, into) : CompletableFuture.completedFuture(null);
                });
    }

    static boolean isNoSuchUpload(Throwable t) {
        Throwable c = TierException.unwrap(t);
        return c instanceof S3Exception s && s.statusCode() == 404 && s.awsErrorDetails() != null
               && "NoSuchUpload".equals(s.awsErrorDetails().errorCode());
    }

    /**
     * Aborts the multipart upload of {@code point}. Idempotent: an upload already gone is not an
     * error; nor is an empty token (nothing was left behind).
     *
     * @throws InvalidArgumentException (through the future) if the token was not made by an S3Tier
     */
    @Override
    public CompletableFuture<Void> discard(ResumePoint point) {
        if (point.token().isEmpty()) {
            return CompletableFuture.completedFuture(null);
        }
        S3ResumeToken token;
        try {
            token = S3ResumeToken.parse(point.token());
        } catch (TierException e) {
            return CompletableFuture.failedFuture(e);
        }
        return guard("discard", null, () -> client.abortMultipartUpload(b -> b.bucket(config.bucket()).key(token.s3Key())
                        .uploadId(token.uploadId()))
                .handle((r, t) -> {
                    if (t != null && !isNotFound(t)) {
                        throw new CompletionException(t);
                    }
                    return (Void) null;
                }).thenCompose(v -> forgetUpload(token.s3Key(), token.sumsToken())));
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

    /**
     * Aborts every incomplete multipart upload under this tier's prefix: what writers left when
     * their process died between create and commit or abort. Only for a process that knows no
     * other writer is under way (the engine's owner calls it during recovery).
     *
     * @return how many uploads were aborted
     */
    public CompletableFuture<Integer> abortIncompleteUploads() {
        return guard("abort incomplete uploads", null, () -> abortUploads(u -> true, null, null, 0));
    }

    /**
     * As {@link #abortIncompleteUploads()}, but keeps the uploads of the keys {@code keep}
     * accepts: those of writers suspended for a later {@link #resume}, which the caller keeps
     * points of.
     *
     * @return how many uploads were aborted
     */
    public CompletableFuture<Integer> abortIncompleteUploads(java.util.function.Predicate<ObjectKey> keep) {
        String prefix = config.prefix();
        return guard("abort incomplete uploads", null, () -> abortUploads(u -> {
            if (!u.key().startsWith(prefix)) {
                return true;
            }
            try {
                return !keep.test(ObjectKey.of(u.key().substring(prefix.length())));
            } catch (RuntimeException e) {
                return true; // not a key this tier could have written
            }
        }, null, null, 0));
    }

    /**
     * Makes this tier's writers record that their multipart uploads are {@code ownerId}'s: an
     * empty object {@code .thermocline/uploads/<ownerId>/<S3 key in base64url>.<writer token>}
     * under the prefix, written before CreateMultipartUpload (so no crash leaves an upload without
     * it) and deleted when the upload completes or is aborted. ListMultipartUploads returns
     * neither metadata nor tags, so the owner cannot be read from the upload itself; the records
     * let {@link #abortOwnIncompleteUploads} tell this owner's uploads from those of other hosts
     * sharing the prefix. Call it before the first write.
     *
     * @param ownerId a stable name of the writer (the engine passes its data root's id): 1 to 64
     *     letters, digits, '.', '_' or '-'
     */
    public void recordUploadsAs(String ownerId) {
        if (ownerId == null || !OWNER_ID.matcher(ownerId).matches()) {
            throw InvalidArgumentException.of("ownerId", ownerId, "1 to 64 letters, digits, '.', '_' or '-'");
        }
        this.uploadOwner = ownerId;
    }

    /** The owner this tier's uploads are recorded for, if any. */
    public Optional<String> uploadOwner() {
        return Optional.ofNullable(uploadOwner);
    }

    private String uploadRecordsOf(String owner) {
        return config.prefix() + UPLOADS_DIR + owner + "/";
    }

    private static String encodeKey(String s3Key) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(s3Key.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /** Records that the writer {@code token} is about to start an upload of {@code s3Key} for this tier's owner (nothing without one). */
    CompletableFuture<Void> recordUpload(String s3Key, String token) {
        String owner = uploadOwner;
        if (owner == null) {
            return CompletableFuture.completedFuture(null);
        }
        return client.putObject(b -> b.bucket(config.bucket()).key(uploadRecordsOf(owner) + encodeKey(s3Key) + "." + token)
                .checksumCRC32C(sendCrc32c() ? Base64.getEncoder().encodeToString(new byte[4]) : null),
                AsyncRequestBody.empty()).thenApply(r -> null);
    }

    /** Deletes the owner record of the writer {@code token}'s finished upload; never fails (a stale record is reclaimed later). */
    CompletableFuture<Void> forgetUpload(String s3Key, String token) {
        String owner = uploadOwner;
        if (owner == null || token == null) {
            return CompletableFuture.completedFuture(null);
        }
        return client.deleteObject(b -> b.bucket(config.bucket()).key(uploadRecordsOf(owner) + encodeKey(s3Key) + "." + token))
                .handle((r, t) -> null);
    }

    /**
     * Aborts the incomplete multipart uploads under the prefix of the keys that this tier's
     * owner ({@link #recordUploadsAs}) has upload records of, except those of the keys
     * {@code keep} accepts (writers suspended for a later {@link #resume}), and deletes those
     * records. Uploads of other owners sharing the prefix, and uploads nobody recorded, are left
     * alone: they are reclaimed only once older than {@link S3TierConfig#abandonedUploadAge()}
     * (at open). (Two owners uploading the same key at once is the one case where one may abort
     * the other's upload: writes of one key from two data roots conflict anyway.) For the owner
     * of a data root, which knows that no writer of its own is under way.
     *
     * @return how many uploads were aborted
     * @throws IllegalStateException (failed future) if no owner was set
     */
    public CompletableFuture<Integer> abortOwnIncompleteUploads(java.util.function.Predicate<ObjectKey> keep) {
        String owner = uploadOwner;
        if (owner == null) {
            return CompletableFuture.failedFuture(new IllegalStateException(
                    "abortOwnIncompleteUploads on " + config.location() + ": no owner (expected: recordUploadsAs first)"));
        }
        String recordPrefix = uploadRecordsOf(owner);
        String prefix = config.prefix();
        return guard("abort own incomplete uploads", null, () -> listKeys(recordPrefix, null, new java.util.HashSet<>())
                .thenCompose(records -> {
                    Map<String, List<String>> recordsByKey = new HashMap<>();
                    for (String r : records) {
                        String name = r.substring(recordPrefix.length());
                        int dot = name.lastIndexOf('.');
                        try {
                            String s3Key = new String(Base64.getUrlDecoder().decode(dot < 0 ? name : name.substring(0, dot)),
                                    java.nio.charset.StandardCharsets.UTF_8);
                            recordsByKey.computeIfAbsent(s3Key, k -> new ArrayList<>()).add(r);
                        } catch (IllegalArgumentException e) {
                            // not a record of ours; left alone
                        }
                    }
                    java.util.Set<String> kept = java.util.concurrent.ConcurrentHashMap.newKeySet();
                    return abortUploads(u -> {
                        if (!recordsByKey.containsKey(u.key())) {
                            return false; // another host's, or nobody's: only the age limit reclaims it
                        }
                        boolean abort;
                        try {
                            abort = !u.key().startsWith(prefix) || !keep.test(ObjectKey.of(u.key().substring(prefix.length())));
                        } catch (RuntimeException e) {
                            abort = true; // not a key this tier could have written
                        }
                        if (!abort) {
                            kept.add(u.key());
                        }
                        return abort;
                    }, null, null, 0).thenCompose(aborted -> {
                        List<CompletableFuture<?>> deletes = new ArrayList<>();
                        recordsByKey.forEach((s3Key, recs) -> {
                            if (!kept.contains(s3Key)) {
                                recs.forEach(r -> deletes.add(client.deleteObject(b -> b.bucket(config.bucket()).key(r))
                                        .handle((x, t) -> null)));
                            }
                        });
                        return CompletableFuture.allOf(deletes.toArray(CompletableFuture[]::new)).thenApply(v -> aborted);
                    });
                }));
    }

    /** Every S3 key under {@code s3Prefix}, into {@code into}. */
    private CompletableFuture<java.util.Set<String>> listKeys(String s3Prefix, String continuation, java.util.Set<String> into) {
        return client.listObjectsV2(b -> b.bucket(config.bucket()).prefix(s3Prefix).continuationToken(continuation))
                .thenCompose(page -> {
                    page.contents().forEach(o -> into.add(o.key()));
                    return Boolean.TRUE.equals(page.isTruncated()) && page.nextContinuationToken() != null
                            ? listKeys(s3Prefix, page.nextContinuationToken(), into) : CompletableFuture.completedFuture(into);
                });
    }

    /**
     * Aborts the incomplete multipart uploads under this tier's prefix that were started more than
     * {@code olderThan} ago (by the server's clock against ours): unlike
     * {@link #abortIncompleteUploads()}, safe while writers are under way or suspended for a
     * later {@link #resume}, provided none is that old.
     *
     * @return how many uploads were aborted
     */
    public CompletableFuture<Integer> abortIncompleteUploads(Duration olderThan) {
        Instant cutoff = Instant.now().minus(olderThan);
        return guard("abort incomplete uploads older than " + olderThan, null, () -> abortUploads(
                u -> u.initiated() != null && u.initiated().isBefore(cutoff), null, null, 0));
    }

    /** Aborts the uploads under the prefix that {@code abort} accepts, page by page. */
    private CompletableFuture<Integer> abortUploads(java.util.function.Predicate<software.amazon.awssdk.services.s3.model.MultipartUpload> abort,
                                                    String keyMarker, String uploadIdMarker, int abortedSoFar) {
        return client.listMultipartUploads(b -> {
            b.bucket(config.bucket()).prefix(config.prefix());
            if (keyMarker != null) {
                b.keyMarker(keyMarker).uploadIdMarker(uploadIdMarker);
            }
        }).thenCompose(page -> {
            List<CompletableFuture<?>> aborts = new ArrayList<>();
            for (var u : page.uploads()) {
                if (!abort.test(u)) {
                    continue;
                }
                aborts.add(client.abortMultipartUpload(b -> b.bucket(config.bucket()).key(u.key()).uploadId(u.uploadId()))
                        .exceptionally(t -> {
                            if (!isNotFound(t)) {
                                throw new CompletionException(t);
                            }
                            return null; // finished or aborted meanwhile
                        }));
            }
            int aborted = abortedSoFar + aborts.size();
            return CompletableFuture.allOf(aborts.toArray(CompletableFuture[]::new)).thenCompose(v ->
                    Boolean.TRUE.equals(page.isTruncated()) && page.nextKeyMarker() != null
                            ? abortUploads(abort, page.nextKeyMarker(), page.nextUploadIdMarker(), aborted)
                            : CompletableFuture.completedFuture(aborted));
        });
    }

    /** The keys of incomplete multipart uploads under this tier's prefix (at most 1000), for checks and tools. */
    public CompletableFuture<List<String>> incompleteUploads() {
        return guard("list incomplete uploads", null, () -> client.listMultipartUploads(b -> b.bucket(config.bucket()).prefix(config.prefix()))
                .thenApply(page -> page.uploads().stream().map(u -> u.key()).toList()));
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
        return guard("list", null, () -> listPage(config.prefix() + prefix, startAfter == null ? null : s3Key(startAfter), maxKeys));
    }

    /**
     * One page of {@link #list}, from the S3 key {@code startAfter} on. Keys under the prefix that
     * are not valid object keys (the zero-byte "folder" marker equal to the prefix that consoles
     * and tools create, a key with a {@code ..} segment, ...) were not written by a tier and are
     * skipped, counted in {@link #foreignKeysSkipped()}; a page of nothing but such keys goes on
     * to the next one, so the listing always progresses.
     */
    private CompletableFuture<ListPage> listPage(String s3Prefix, String startAfter, int maxKeys) {
        return client.listObjectsV2(b -> {
            b.bucket(config.bucket()).prefix(s3Prefix).maxKeys(maxKeys);
            if (startAfter != null) {
                b.startAfter(startAfter);
            }
        }).thenCompose(page -> {
            List<ObjectKey> keys = new ArrayList<>();
            List<Long> sizes = new ArrayList<>();
            String last = null;
            for (S3Object o : page.contents()) {
                last = o.key();
                if (!reserved(o.key())) {
                    ObjectKey key = foreignOrKey(o.key());
                    if (key != null) {
                        keys.add(key);
                        sizes.add(o.size() == null ? -1L : o.size());
                    }
                }
            }
            boolean more = Boolean.TRUE.equals(page.isTruncated()) && last != null;
            if (more && keys.isEmpty()) {
                return listPage(s3Prefix, last, maxKeys);
            }
            // the last valid key: what follows it on this page is skipped again, and counted again, on the next
            Optional<ObjectKey> next = more ? Optional.of(keys.getLast()) : Optional.empty();
            return CompletableFuture.completedFuture(new ListPage(keys, next, sizes));
        });
    }

    /** Whether {@code s3Key} is one of the tier's own records (checksums, upload owners), not an object. */
    private boolean reserved(String s3Key) {
        return s3Key.startsWith(config.prefix() + SUMS_DIR) || s3Key.startsWith(config.prefix() + UPLOADS_DIR);
    }

    /** The object key of the S3 key {@code s3Key}, or null (counted, logged the first time) if it is none. */
    private ObjectKey foreignOrKey(String s3Key) {
        String relative = s3Key.substring(config.prefix().length());
        String rule = relative.isEmpty() ? "it is the prefix itself (a folder marker)"
                : ObjectKey.invalidBecause(relative).orElse(null);
        if (rule == null) {
            return ObjectKey.of(relative);
        }
        long n = foreignKeysSkipped.incrementAndGet();
        if (n == 1) {
            log.warn("S3 tier {}: skipping key {} under {} in listings: {} (expected: an object key; such keys are "
                    + "not the tier's and are counted, not listed)", config.name(), s3Key, config.location(),
                    rule);
        }
        return null;
    }

    /**
     * How many keys listings skipped because they are not valid object keys (foreign objects
     * under the prefix, such as a folder marker), counting a key again each time it is listed.
     */
    public long foreignKeysSkipped() {
        return foreignKeysSkipped.get();
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
        rangeClient.close();
        if (rangeGetter != null) {
            rangeGetter.close();
        }
        http.close(); // a client given an httpClient leaves closing it to its owner
        eventLoops.shutdownGracefully(0, 5, java.util.concurrent.TimeUnit.SECONDS).awaitUninterruptibly(6000);
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

    TierUnavailableException noSuchBucket(String what, Throwable cause) {
        return new TierUnavailableException(what + " failed: bucket " + config.bucket() + " does not exist"
                + config.endpoint().map(e -> " at " + e).orElse(""), false, cause);
    }

    /** A failure in a few words for a message: the S3 status and error code, or the exception; never a secret. */
    static String describe(Throwable t) {
        Throwable c = TierException.unwrap(t);
        if (c instanceof S3Exception s) {
            return s.statusCode() + " " + (s.awsErrorDetails() == null ? null : s.awsErrorDetails().errorCode());
        }
        if (c instanceof TierException) {
            return c.getMessage();
        }
        Throwable root = c;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String text = c.getClass().getSimpleName() + (c.getMessage() == null ? "" : ": " + c.getMessage());
        return root == c ? text : text + " (" + root.getClass().getSimpleName()
                + (root.getMessage() == null ? "" : ": " + root.getMessage()) + ")";
    }

    /** Maps an SDK failure to the tier's exceptions; messages name endpoint, bucket and key, never a secret. */
    TierException translate(Throwable t, String what, ObjectKey key) {
        Throwable c = TierException.unwrap(t);
        Integer attempts = c instanceof SdkException e ? e.numAttempts() : null;
        return translate(t, what, key, null, attempts == null ? 0 : attempts);
    }

    /**
     * As {@link #translate(Throwable, String, ObjectKey)}, for a failure after {@code attempts}
     * attempts (0 if unknown) of a request on {@code detail} (e.g. a byte range; null for none).
     */
    TierException translate(Throwable t, String what, ObjectKey key, String detail, int attempts) {
        Throwable c = TierException.unwrap(t);
        String on = where(key) + (detail == null ? "" : " " + detail);
        String tries = attempts > 1 ? " after " + attempts + " attempts" : "";
        for (Throwable cause = c; cause != null; cause = cause.getCause()) {
            if (cause instanceof TierException te) {
                return te; // ours, possibly wrapped by the SDK (a failed response transformer)
            }
        }
        if (c instanceof S3Exception s) {
            String code = s.awsErrorDetails() == null ? null : s.awsErrorDetails().errorCode();
            int status = s.statusCode();
            if ("NoSuchBucket".equals(code)) {
                return noSuchBucket(what, s);
            }
            if (status == 404 && key != null && !"NoSuchUpload".equals(code)) {
                return new ObjectNotFoundException(name(), key);
            }
            if (status == 403) {
                // InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied, ...: the server's message is left out on purpose
                return new TierUnavailableException(what + " of " + on + " was refused (403 " + code
                        + "): check the credentials and the bucket policy", false, s);
            }
            if (status == 412) {
                return new TierIoException(on + " changed while it was being read (ETag no longer matches)", false, s);
            }
            return new TierUnavailableException(what + " of " + on + " failed" + tries + ": " + status + " " + code,
                    S3Retries.retryable(s), s);
        }
        if (c instanceof ApiCallTimeoutException) {
            return new TierUnavailableException(what + " of " + on + " did not complete within the request deadline of "
                    + config.requestDeadline() + tries, true, c);
        }
        if (c instanceof SdkClientException || S3Retries.retryable(c)) {
            return new TierUnavailableException(what + " of " + on + " failed" + tries + ": " + describe(c), true, c);
        }
        return new TierIoException(what + " of " + on + " failed: " + describe(c), false, c);
    }

    @Override
    public String toString() {
        return "S3Tier[" + name() + ", " + config.location() + "]";
    }
}
