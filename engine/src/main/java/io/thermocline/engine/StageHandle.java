package io.thermocline.engine;

import io.thermocline.tier.ObjectKey;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A stage request under way: progress to poll, and a future that completes when every object is
 * on the target tier (or has failed). Progress counters only grow. Thread-safe.
 */
public final class StageHandle {

    /**
     * The outcome of a stage request.
     *
     * @param staged  objects copied to the tier by this request
     * @param already objects that were on the tier already
     * @param failed  objects that could not be staged, with the reason
     * @param unavailable of the failed objects, those that failed because a tier could not be
     *                reached ({@link io.thermocline.tier.TierUnavailableException}): staging them
     *                again may work once the tier is back
     * @param bytes   bytes copied
     */
    public record Result(List<ObjectKey> staged, List<ObjectKey> already, Map<ObjectKey, String> failed, java.util.Set<ObjectKey> unavailable,
                         long bytes) {
        public boolean complete() {
            return failed.isEmpty();
        }
    }

    /** A snapshot of progress. */
    public record Progress(long objectsDone, long objectsTotal, long bytesDone, long bytesTotal) {
    }

    private final String tier;
    private final AtomicLong objectsTotal = new AtomicLong();
    private final AtomicLong objectsDone = new AtomicLong();
    private final AtomicLong bytesTotal = new AtomicLong();
    private final AtomicLong bytesDone = new AtomicLong();
    private final List<ObjectKey> staged = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final List<ObjectKey> already = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final Map<ObjectKey, String> failed = new ConcurrentHashMap<>();
    private final java.util.Set<ObjectKey> unavailable = ConcurrentHashMap.newKeySet();
    private final CompletableFuture<Result> future = new CompletableFuture<>();

    StageHandle(String tier) {
        this.tier = tier;
    }

    /** The tier the objects are staged to. */
    public String tier() {
        return tier;
    }

    public Progress progress() {
        return new Progress(objectsDone.get(), objectsTotal.get(), bytesDone.get(), bytesTotal.get());
    }

    /** Completes when every object is staged or failed; never completes exceptionally for one object's failure. */
    public CompletableFuture<Result> future() {
        return future;
    }

    void addObject(long bytes) {
        objectsTotal.incrementAndGet();
        bytesTotal.addAndGet(bytes);
    }

    void addBytes(long bytes) {
        bytesDone.addAndGet(bytes);
    }

    void staged(ObjectKey key) {
        staged.add(key);
        objectsDone.incrementAndGet();
    }

    void already(ObjectKey key, long bytes) {
        already.add(key);
        bytesDone.addAndGet(bytes);
        objectsDone.incrementAndGet();
    }

    void failed(ObjectKey key, String why, boolean tierUnavailable) {
        failed.put(key, why);
        if (tierUnavailable) {
            unavailable.add(key);
        }
        objectsDone.incrementAndGet();
    }

    void finish() {
        future.complete(new Result(List.copyOf(staged), List.copyOf(already), Map.copyOf(failed), java.util.Set.copyOf(unavailable), bytesDone.get()));
    }

    void fail(Throwable t) {
        future.completeExceptionally(t);
    }
}
