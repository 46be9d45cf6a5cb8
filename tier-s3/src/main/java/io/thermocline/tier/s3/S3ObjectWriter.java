package io.thermocline.tier.s3;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.support.ChunkChecksumTracker;
import io.thermocline.tier.support.ObjectInfoCodec;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import software.amazon.awssdk.core.async.AsyncRequestBody;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.CompletedPart;

/**
 * A multipart upload into an {@link S3Tier} (see its class comment for the publication order).
 * Parts are whole chunks; each part is filled in memory, in any order across chunks, and
 * uploaded as soon as it is full.
 *
 * <p><b>Resume.</b> What survives the writer is the multipart upload itself: parts S3 has
 * acknowledged stay there until the upload is completed or aborted. {@link #checkpoint(long)}
 * names the longest run of acknowledged parts from part 1 within the prefix (see
 * {@link S3ResumeToken} for what the token holds); {@link #suspend()} stops the writer without
 * aborting the upload; {@link S3Tier#resume} checks the parts with ListParts and seeds a writer
 * that holds the verified ones. The resumed writer keeps the upload id, part size, CRC32C
 * declaration and checksum-record token of the first one, so the object it publishes (data,
 * metadata naming the record, the record itself) is the one an uninterrupted writer would have.
 */
final class S3ObjectWriter implements ObjectWriter {

    private enum State { OPEN, COMMITTING, COMMITTED, ABORTED, SUSPENDED }

    private static final SecureRandom RANDOM = new SecureRandom();

    private final S3Tier tier;
    private final WriteRequest request;
    private final String token;
    private final String uploadId;
    private final ChunkChecksumTracker tracker;
    private final long partSize;
    /** Whether parts carry a CRC32C: fixed by CreateMultipartUpload, so a resumed writer keeps the first one's. */
    private final boolean sendCrc32c;
    private final long resumedBytes;
    private final ConcurrentHashMap<Integer, Part> filling = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<Integer, CompletableFuture<CompletedPart>> uploads = new ConcurrentHashMap<>();
    private final AtomicReference<State> state = new AtomicReference<>(State.OPEN);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final AtomicBoolean reservationHeld = new AtomicBoolean(true);
    /** Part uploads not finished yet: a writer that gets ahead of them waits (bounded memory). */
    private final java.util.Set<CompletableFuture<CompletedPart>> inFlight = ConcurrentHashMap.newKeySet();
    private volatile boolean sumsWritten;

    private record Part(ByteBuffer buffer, AtomicInteger filled) {
    }

    private S3ObjectWriter(S3Tier tier, WriteRequest request, String token, String uploadId) {
        this(tier, request, token, uploadId, partSize(tier, request), tier.sendCrc32c(), 0);
    }

    private S3ObjectWriter(S3Tier tier, WriteRequest request, String token, String uploadId, long partSize,
                           boolean sendCrc32c, long resumedBytes) {
        this.tier = tier;
        this.request = request;
        this.token = token;
        this.uploadId = uploadId;
        this.tracker = new ChunkChecksumTracker(request);
        this.partSize = partSize;
        this.sendCrc32c = sendCrc32c;
        this.resumedBytes = resumedBytes;
    }

    /** The configured part size rounded up to whole chunks. */
    private static long partSize(S3Tier tier, WriteRequest request) {
        int chunk = request.chunkSizeInBytes();
        return (tier.config().partSizeInBytes() + (long) chunk - 1) / chunk * chunk;
    }

    /**
     * A writer that takes up the upload of {@code resumed}, holding its first {@code parts} parts
     * (already checked against ListParts by {@link S3Tier#resume}); the tier has reserved the
     * object's size for it.
     *
     * @param chunkCrc32cs the caller's chunk checksums of (at least) those parts
     * @throws InvalidArgumentException if the checksums are too few
     */
    static S3ObjectWriter resumed(S3Tier tier, WriteRequest request, S3ResumeToken resumed, int parts, int[] chunkCrc32cs) {
        long prefix = Math.min(parts * resumed.partSizeInBytes(), request.sizeInBytes());
        S3ObjectWriter w = new S3ObjectWriter(tier, request, resumed.sumsToken(), resumed.uploadId(),
                resumed.partSizeInBytes(), resumed.crc32c(), prefix);
        w.tracker.adopt(prefix, chunkCrc32cs);
        for (int i = 0; i < parts; i++) {
            S3ResumeToken.PartRef p = resumed.parts().get(i);
            w.uploads.put(i, CompletableFuture.completedFuture(
                    CompletedPart.builder().partNumber(i + 1).eTag(p.eTag()).checksumCRC32C(p.crc32c()).build()));
        }
        return w;
    }

    /** Starts the upload: the token is fixed now, before any byte is sent. */
    static CompletableFuture<ObjectWriter> start(S3Tier tier, WriteRequest request) {
        byte[] random = new byte[16];
        RANDOM.nextBytes(random);
        String token = HexFormat.of().formatHex(random);
        if (request.sizeInBytes() == 0) {
            return CompletableFuture.completedFuture(new S3ObjectWriter(tier, request, token, null));
        }
        // the upload names its owner (first, so no crash leaves it unnamed): another host sharing the prefix leaves it alone
        return tier.recordUpload(tier.s3Key(request.key()), token).thenCompose(recorded -> tier.client().createMultipartUpload(b -> {
                    b.bucket(tier.config().bucket()).key(tier.s3Key(request.key()))
                            .contentType(request.contentType()).metadata(Map.of(S3Tier.SUMS_METADATA, token));
                    if (tier.sendCrc32c()) {
                        b.checksumAlgorithm(ChecksumAlgorithm.CRC32_C); // then every part must carry one
                    }
                }))
                .handle((r, t) -> {
                    if (t != null) {
                        tier.forgetUpload(tier.s3Key(request.key()), token);
                        throw new CompletionException(tier.translate(t, "create", request.key()));
                    }
                    return (ObjectWriter) new S3ObjectWriter(tier, request, token, r.uploadId());
                });
    }

    @Override
    public WriteRequest request() {
        return request;
    }

    @Override
    public CompletableFuture<Void> write(long position, ByteBuffer src) {
        try {
            if (state.get() != State.OPEN) {
                throw new TierUnavailableException("writer of " + request.key() + " is " + state.get().name().toLowerCase(), false);
            }
            tracker.checkRange(position, src.remaining());
            ByteBuffer data = src.duplicate();
            long p = position;
            while (data.hasRemaining()) {
                int part = (int) (p / partSize);
                long partStart = part * partSize;
                int partLength = (int) Math.min(partSize, request.sizeInBytes() - partStart);
                int inPart = (int) (p - partStart);
                int n = Math.min(data.remaining(), partLength - inPart);
                Part target = filling.computeIfAbsent(part, k -> new Part(ByteBuffer.allocate(partLength), new AtomicInteger()));
                target.buffer().put(inPart, data, data.position(), n);
                recordChunks(p, data.slice(data.position(), n));
                if (target.filled().addAndGet(n) == partLength) {
                    filling.remove(part);
                    CompletableFuture<CompletedPart> upload = upload(part, target.buffer());
                    uploads.put(part, upload);
                    inFlight.add(upload);
                    upload.whenComplete((r, t) -> inFlight.remove(upload));
                }
                data.position(data.position() + n);
                p += n;
            }
            return backPressure();
        } catch (RuntimeException e) {
            if (!(e instanceof InvalidArgumentException)) {
                failure.compareAndSet(null, e);
            }
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Completes at once while fewer than {@code maxConcurrency / 2} (at least 2) parts are being
     * uploaded; otherwise when one of them finishes. Bounds the part buffers a fast writer can pile up.
     */
    private CompletableFuture<Void> backPressure() {
        int limit = Math.max(2, tier.config().maxConcurrency() / 2);
        List<CompletableFuture<CompletedPart>> pending = List.copyOf(inFlight);
        if (pending.size() < limit) {
            return CompletableFuture.completedFuture(null);
        }
        return CompletableFuture.anyOf(pending.toArray(CompletableFuture[]::new)).handle((r, t) -> null);
    }

    private void recordChunks(long position, ByteBuffer bytes) {
        int chunk = request.chunkSizeInBytes();
        long p = position;
        while (bytes.hasRemaining()) {
            int n = (int) Math.min(bytes.remaining(), chunk - p % chunk);
            tracker.record(p, bytes.slice(bytes.position(), n));
            bytes.position(bytes.position() + n);
            p += n;
        }
    }

    /**
     * Uploads a full part. The buffer is not copied (it is never written again) and the SDK
     * replays it on a retry. With {@link S3TierConfig.AdditionalChecksums#WHEN_SUPPORTED} the part
     * carries its CRC32C, which the server checks against the bytes it received.
     *
     * <p>The CRC32C is computed here and sent as the {@code x-amz-checksum-crc32c} header rather
     * than left to the SDK, which would send it as an aws-chunked trailer: the part is whole in
     * memory anyway, a header needs no aws-chunked encoding, and servers that check the header
     * do not all check trailers (S3Proxy 4.1.0 checks the header and ignores the trailer).
     */
    private CompletableFuture<CompletedPart> upload(int part, ByteBuffer buffer) {
        int partNumber = part + 1; // S3 part numbers start at 1
        String crc32c = sendCrc32c ? base64(Crc32c.of(buffer.duplicate())) : null;
        return tier.client().uploadPart(b -> b.bucket(tier.config().bucket()).key(tier.s3Key(request.key()))
                        .uploadId(uploadId).partNumber(partNumber).contentLength((long) buffer.capacity())
                        .checksumCRC32C(crc32c),
                AsyncRequestBody.fromByteBufferUnsafe(buffer.asReadOnlyBuffer()))
                .thenApply(r -> CompletedPart.builder().partNumber(partNumber).eTag(r.eTag()).checksumCRC32C(crc32c).build());
    }

    /** S3's form of a CRC32C: the four bytes, big-endian, in Base64. */
    static String base64(int crc32c) {
        return Base64.getEncoder().encodeToString(ByteBuffer.allocate(4).putInt(0, crc32c).array());
    }

    @Override
    public CompletableFuture<ObjectInfo> commit() {
        if (!state.compareAndSet(State.OPEN, State.COMMITTING)) {
            return CompletableFuture.failedFuture(new InvalidArgumentException(
                    "cannot commit " + request.key() + ": the writer is " + state.get().name().toLowerCase()));
        }
        ObjectInfo info;
        try {
            Throwable earlier = failure.get();
            if (earlier != null) {
                throw new InvalidArgumentException("cannot commit " + request.key() + ": an earlier write failed: " + earlier.getMessage());
            }
            info = tracker.finish(Instant.now());
        } catch (RuntimeException e) {
            return discard().thenCompose(v -> CompletableFuture.failedFuture(e));
        }
        String bucket = tier.config().bucket();
        String key = tier.s3Key(request.key());
        CompletableFuture<Long> replaced = tier.client().headObject(b -> b.bucket(bucket).key(key))
                .handle((head, t) -> t == null ? head.contentLength() : null);
        List<CompletableFuture<CompletedPart>> parts = new ArrayList<>(uploads.values());
        CompletableFuture<Void> published = CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new))
                .thenCompose(v -> {
                    byte[] record = ObjectInfoCodec.encode(info);
                    return tier.client().putObject(b -> b.bucket(bucket).key(tier.sumsPrefix(request.key()) + token)
                            .checksumCRC32C(tier.sendCrc32c() ? base64(Crc32c.of(record)) : null), AsyncRequestBody.fromBytes(record));
                })
                .thenCompose(r -> {
                    sumsWritten = true;
                    if (uploadId == null) {
                        return tier.client().putObject(b -> b.bucket(bucket).key(key).contentType(request.contentType())
                                .metadata(Map.of(S3Tier.SUMS_METADATA, token))
                                .checksumCRC32C(tier.sendCrc32c() ? base64(0) : null), AsyncRequestBody.empty()).thenApply(x -> null);
                    }
                    List<CompletedPart> done = parts.stream().map(CompletableFuture::join)
                            .sorted(Comparator.comparing(CompletedPart::partNumber)).toList();
                    return tier.client().completeMultipartUpload(b -> b.bucket(bucket).key(key).uploadId(uploadId)
                            .multipartUpload(m -> m.parts(done))).thenApply(x -> (Void) null)
                            .exceptionallyCompose(t -> completedByAnEarlierAttempt(t, bucket, key));
                });
        return published.thenCombine(replaced, (v, previousSize) -> previousSize)
                .thenCompose(previousSize -> {
                    if (reservationHeld.compareAndSet(true, false)) {
                        tier.published(request.sizeInBytes(), previousSize);
                    }
                    state.set(State.COMMITTED);
                    return tier.deleteSums(request.key(), token).handle((v, t) -> info)
                            .thenCompose(i -> tier.forgetUpload(key, token).thenApply(v -> i));
                })
                .exceptionallyCompose(t -> discard().thenCompose(v ->
                        CompletableFuture.failedFuture(tier.translate(t, "commit", request.key()))));
    }

    /**
     * A retried CompleteMultipartUpload whose first attempt did complete (only its answer was
     * lost) is answered {@code 404 NoSuchUpload}: the upload is gone because it became the object.
     * The object's token, chosen by this writer alone, tells whether it is ours.
     *
     * <p>The retry can also arrive while the first attempt is still being carried out: S3 (and
     * S3Proxy) answer CompleteMultipartUpload with {@code 200} at once and keep the connection
     * alive with whitespace while they assemble the object, so an answer cut after its head
     * leaves the completion running on the server, and on a slow server the retry's
     * {@code NoSuchUpload} and a first HEAD both come before the object is there. So the writer
     * does not decide on one look: while ListParts still shows the upload's parts, the completion
     * is under way (a server removes the parts only after the object is in place) and it looks
     * again, backing off as for a retry, until the object carries its token (ours: published) or
     * the upload is gone without it (someone else aborted or replaced it: the commit fails), or
     * the request deadline runs out (the commit fails, retryably).
     */
    private CompletableFuture<Void> completedByAnEarlierAttempt(Throwable t, String bucket, String key) {
        if (!S3Tier.isNoSuchUpload(t)) {
            return CompletableFuture.failedFuture(t);
        }
        long deadline = System.nanoTime() + tier.config().requestDeadline().toNanos();
        return lookForOurObject(t, bucket, key, deadline, 1);
    }

    private CompletableFuture<Void> lookForOurObject(Throwable noSuchUpload, String bucket, String key, long deadline, int look) {
        return isOurs(bucket, key).thenCompose(ours -> {
            if (ours) {
                return CompletableFuture.completedFuture(null);
            }
            return uploadStillHoldsParts(bucket, key).thenCompose(pending -> {
                if (!pending) {
                    // gone: it may have become our object between the HEAD and the ListParts
                    return isOurs(bucket, key).thenCompose(oursNow -> oursNow
                            ? CompletableFuture.completedFuture((Void) null)
                            : CompletableFuture.failedFuture(noSuchUpload));
                }
                long delay = S3Retries.backoff(tier.config()).computeDelay(Math.min(look, 30)).toNanos();
                if (System.nanoTime() + delay - deadline >= 0) {
                    return CompletableFuture.failedFuture(new TierUnavailableException("completion of " + tier.where(request.key())
                            + " was answered 404 NoSuchUpload while the upload still held its parts, and the object did not appear"
                            + " within the request deadline of " + tier.config().requestDeadline(), true, TierException.unwrap(noSuchUpload)));
                }
                S3Tier.log.debug("completion of {}: NoSuchUpload while its parts are still listed; looking again in {} ms (look {})",
                        tier.where(request.key()), delay / 1_000_000, look);
                Executor later = CompletableFuture.delayedExecutor(delay, TimeUnit.NANOSECONDS, tier.executor());
                return CompletableFuture.supplyAsync(() -> null, later)
                        .thenCompose(x -> lookForOurObject(noSuchUpload, bucket, key, deadline, look + 1));
            });
        });
    }

    /** Whether the object at {@code key} is there and carries this writer's token. */
    private CompletableFuture<Boolean> isOurs(String bucket, String key) {
        return tier.client().headObject(b -> b.bucket(bucket).key(key)).handle((head, h) -> {
            if (h == null) {
                return token.equals(head.metadata().get(S3Tier.SUMS_METADATA));
            }
            if (S3Tier.isNotFound(h)) {
                return false;
            }
            throw new CompletionException(h);
        });
    }

    /**
     * Whether ListParts still shows parts of this writer's upload. {@code NoSuchUpload} and an
     * empty list (S3Proxy 4.1.0's answer for an upload that is gone) both say it is not.
     */
    private CompletableFuture<Boolean> uploadStillHoldsParts(String bucket, String key) {
        return tier.client().listParts(b -> b.bucket(bucket).key(key).uploadId(uploadId).maxParts(1)).handle((page, l) -> {
            if (l == null) {
                return !page.parts().isEmpty();
            }
            if (S3Tier.isNoSuchUpload(l) || S3Tier.isNotFound(l)) {
                return false;
            }
            throw new CompletionException(l);
        });
    }

    /**
     * Names the parts from part 1 on that lie within {@code writtenPrefix} and that S3 has
     * acknowledged by now, without waiting for those still being uploaded: behind a backlog of
     * parts in flight (up to the tier's concurrency), waiting would hold the point back for as
     * long as the backlog takes to drain, while the caller, asking again as it goes, gets each
     * part as soon as it is in. A part that failed ends the point there (the writer itself fails
     * at commit).
     *
     * <p>The point's length is a multiple of the part size (or the object's size once the last
     * part is in), possibly 0 when no whole part is in yet: such a point still names the upload,
     * so {@link S3Tier#discard} can reclaim it, but {@link S3Tier#resume} of it answers empty. A
     * zero-size object has no upload and gets no point.
     */
    @Override
    public CompletableFuture<Optional<ResumePoint>> checkpoint(long writtenPrefix) {
        long size = request.sizeInBytes();
        int chunk = request.chunkSizeInBytes();
        try {
            tracker.checkPrefix("checkpoint", writtenPrefix);
        } catch (InvalidArgumentException e) {
            return CompletableFuture.failedFuture(e);
        }
        if (state.get() != State.OPEN) {
            return CompletableFuture.failedFuture(new TierUnavailableException(
                    "cannot checkpoint " + request.key() + ": the writer is " + state.get().name().toLowerCase(), false));
        }
        if (uploadId == null) {
            return CompletableFuture.completedFuture(Optional.empty());
        }
        long wholeParts = writtenPrefix == size ? (size + partSize - 1) / partSize : writtenPrefix / partSize;
        List<CompletableFuture<CompletedPart>> prefix = new ArrayList<>();
        for (int i = 0; i < wholeParts; i++) {
            CompletableFuture<CompletedPart> upload = uploads.get(i);
            if (upload == null) {
                break; // not full: the caller has not written all of it after all
            }
            prefix.add(upload);
        }
        List<S3ResumeToken.PartRef> done = new ArrayList<>();
        for (CompletableFuture<CompletedPart> f : prefix) {
            if (!f.isDone() || f.isCompletedExceptionally()) {
                break;
            }
            CompletedPart p = f.join();
            done.add(new S3ResumeToken.PartRef(p.eTag(), p.checksumCRC32C()));
        }
        return CompletableFuture.completedFuture(Optional.of(new S3ResumeToken(tier.s3Key(request.key()), size, chunk,
                request.contentType(), uploadId, token, partSize, sendCrc32c, done).point()));
    }

    /**
     * Stops the writer and gives the reservation back, but leaves the multipart upload for
     * {@link S3Tier#resume} or {@link S3Tier#discard}. Parts being uploaded are let finish (the
     * future completes when they have), so none of them lands after a writer resumed in this
     * process has uploaded the same part again. Does nothing unless the writer is open.
     */
    @Override
    public CompletableFuture<Void> suspend() {
        if (!state.compareAndSet(State.OPEN, State.SUSPENDED)) {
            return CompletableFuture.completedFuture(null);
        }
        filling.clear();
        if (reservationHeld.compareAndSet(true, false)) {
            tier.release(request.sizeInBytes());
        }
        return CompletableFuture.allOf(List.copyOf(inFlight).stream().map(f -> f.handle((r, t) -> null))
                .toArray(CompletableFuture[]::new));
    }

    @Override
    public long resumedBytes() {
        return resumedBytes;
    }

    @Override
    public CompletableFuture<Void> abort() {
        State s = state.get();
        if (s != State.OPEN || !state.compareAndSet(State.OPEN, State.ABORTED)) {
            return CompletableFuture.completedFuture(null);
        }
        return discard();
    }

    /** Aborts the upload, deletes a written checksum record and gives the reservation back; never fails. */
    private CompletableFuture<Void> discard() {
        state.set(State.ABORTED);
        filling.clear();
        if (reservationHeld.compareAndSet(true, false)) {
            tier.release(request.sizeInBytes());
        }
        String bucket = tier.config().bucket();
        List<CompletableFuture<?>> cleanups = new ArrayList<>();
        if (uploadId != null) {
            cleanups.add(tier.client().abortMultipartUpload(b -> b.bucket(bucket).key(tier.s3Key(request.key())).uploadId(uploadId))
                    .thenCompose(r -> tier.forgetUpload(tier.s3Key(request.key()), token)));
        }
        if (sumsWritten) {
            cleanups.add(tier.client().deleteObject(b -> b.bucket(bucket).key(tier.sumsPrefix(request.key()) + token)));
        }
        return CompletableFuture.allOf(cleanups.toArray(CompletableFuture[]::new)).handle((v, t) -> null);
    }

    @Override
    public void close() {
        abort().join();
    }
}
