package io.thermocline.tier;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * An object store at one latency tier: local files, an NVMe namespace, S3.
 *
 * <p><b>Why {@link CompletableFuture}.</b> Two of the four tiers are network protocols driven by
 * event loops (NVMe/TCP on Netty, the S3 async client). Returning futures lets them complete I/O
 * on the loop without parking a thread per request, lets callers keep many ranges in flight
 * (parallel ranged reads, multipart writes) with nothing but {@code thenCompose}, and lets
 * blocking tiers (files) run their work on an injected executor — virtual threads by default — so
 * a caller never blocks on a slow tier by accident. A caller on a virtual thread that prefers
 * blocking style simply {@code join()}s.
 *
 * <p><b>Contract.</b> Every implementation passes {@code TierContractTest} (the tier-api test-jar):
 * <ul>
 *   <li>objects are immutable once committed; writing a key again replaces the object atomically;</li>
 *   <li>every read is verified against the object's CRC32C checksums ({@link ObjectReader});</li>
 *   <li>a writer publishes on commit only and leaves nothing behind on abort or crash ({@link ObjectWriter});</li>
 *   <li>no implementation ever holds a whole object in memory;</li>
 *   <li>space is reserved when a writer is created; a request that does not fit fails with
 *       {@link TierFullException} before any byte is written.</li>
 * </ul>
 * Failures complete the returned future exceptionally with a {@link TierException}; methods never
 * throw for I/O reasons. Implementations are thread-safe.
 */
public interface Tier extends AutoCloseable {

    /** A short name for messages and metrics, e.g. {@code local} or {@code s3}. */
    String name();

    TierClass tierClass();

    /** The object's info, or empty if the tier does not hold it. */
    CompletableFuture<Optional<ObjectInfo>> stat(ObjectKey key);

    /**
     * Opens a reader on the object as it is now.
     *
     * @throws ObjectNotFoundException (through the future) if the tier does not hold it
     */
    CompletableFuture<ObjectReader> openReader(ObjectKey key);

    /**
     * Reserves space for a new object and returns its writer.
     *
     * @throws TierFullException (through the future) if the object does not fit
     */
    CompletableFuture<ObjectWriter> create(WriteRequest request);

    /**
     * Takes up a writer that was cut off after {@link ObjectWriter#checkpoint} named
     * {@code point}. The request must equal the cut-off writer's in key, size and chunk size.
     *
     * <p>{@code chunkCrc32cs} holds the CRC32C of each chunk of the first {@code point.length()}
     * bytes as the caller wrote them, and the caller has checked that its source still has those
     * bytes; the new writer counts them as written with those checksums. The tier must know that
     * the bytes it holds are still the ones written — state nobody else could have touched since
     * the checkpoint, or checked by reading them back — and resumes only as far as it knows that.
     *
     * @return a writer whose {@link ObjectWriter#resumedBytes()} bytes (at most
     *         {@code point.length()}, a multiple of the chunk size) are already written; empty if
     *         this tier does not resume writers, or the state behind the token is gone (reclaimed,
     *         expired, damaged) — the caller then creates a new writer and starts over
     * @throws TierFullException (through the future) if the rest of the object no longer fits
     */
    default CompletableFuture<Optional<ObjectWriter>> resume(WriteRequest request, ResumePoint point, int[] chunkCrc32cs) {
        return CompletableFuture.completedFuture(Optional.empty());
    }

    /**
     * Releases what a suspended writer left behind for {@code point}, when nobody will resume it.
     * Idempotent; a token the tier does not know (already reclaimed) is not an error.
     */
    default CompletableFuture<Void> discard(ResumePoint point) {
        return CompletableFuture.completedFuture(null);
    }

    /** Shorthand for {@code create(WriteRequest.of(key, sizeInBytes))}. */
    default CompletableFuture<ObjectWriter> create(ObjectKey key, long sizeInBytes) {
        return create(WriteRequest.of(key, sizeInBytes));
    }

    /**
     * Deletes the object; readers already open may go on reading it (see {@link ObjectReader}).
     *
     * @return true if the object existed
     */
    CompletableFuture<Boolean> delete(ObjectKey key);

    /**
     * Lists keys that start with {@code prefix}, in ascending order, after {@code startAfter}.
     *
     * @param prefix an empty string lists everything
     * @param startAfter null for the first page
     * @param maxKeys 1..1000
     */
    CompletableFuture<ListPage> list(String prefix, ObjectKey startAfter, int maxKeys);

    /** Current space accounting. Cheap; safe to call often. */
    TierUsage usage();

    /** Whether the tier can serve now. Cheap; does not block on I/O longer than a probe. */
    TierHealth health();

    /** Closes the tier; open readers and writers fail afterwards. Idempotent. */
    @Override
    void close();
}
