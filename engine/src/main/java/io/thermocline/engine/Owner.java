package io.thermocline.engine;

import io.thermocline.placement.Move;
import io.thermocline.placement.MoveKind;
import io.thermocline.placement.ObjectState;
import io.thermocline.placement.Planner;
import io.thermocline.placement.Rule;
import io.thermocline.placement.WriteMode;
import io.thermocline.region.EntryValues;
import io.thermocline.region.EntryView;
import io.thermocline.region.ObjectTable;
import io.thermocline.region.RegionKey;
import io.thermocline.region.Request;
import io.thermocline.region.RequestResults;
import io.thermocline.region.SharedRegion;
import io.thermocline.region.SlotState;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectNotFoundException;
import io.thermocline.tier.Tier;
import io.thermocline.tier.TierException;
import io.thermocline.tier.s3.S3Tier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.channels.ReadableByteChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongConsumer;

/**
 * What only the owner of a data root runs: the catalog, the move protocol, recovery, the planner
 * loop and the request loop. See {@link TierEngine} for the roles.
 *
 * <p><b>The move protocol</b> (ARCHITECTURE.md, "A move"), for a copy of object K from tier A to B:
 * <ol>
 *   <li>journal {@code COPY|MOVE(K, A, B, epoch + 1)} in the catalog (synced);</li>
 *   <li>create K on B with A's checksums as expected values, copy chunk by chunk (parallel ranges,
 *       each chunk verified as it is read from A), commit — B recomputes and compares every CRC32C
 *       before it publishes;</li>
 *   <li>commit: the catalog record gets B (and, for a move, loses A) under the new epoch, in one
 *       synced batch with the journal entry's removal (a copy) — then the region slot;</li>
 *   <li>for a move: wait until no reader in this process has A's copy open, then
 *       {@link EngineConfig#drainGrace()} for readers in other processes, free A, clear the
 *       journal entry.</li>
 * </ol>
 * Recovery ({@link #recover}) finds what a crash left: an entry whose new epoch the record has is
 * rolled forward (the source freed if it was a move or drop); one whose epoch the record lacks is
 * rolled back (the half-written or unpublished destination deleted). A put is journaled too and,
 * if its record was never committed, deleted from every tier. Incomplete multipart uploads on the
 * backing tier are aborted, and dirty objects are queued for upload again.
 *
 * <p>One move or put per object runs at a time ({@link #running}); moves of different objects run
 * in parallel within each tier's concurrency limit, most urgent first.
 */
final class Owner implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Owner.class);
    private static final Duration OWNER_TTL = Duration.ofSeconds(10);
    private static final Duration READER_DRAIN_TIMEOUT = Duration.ofSeconds(30);
    private static final int PINNED_FLAG = 1;

    private final TierEngine engine;
    private final EngineConfig config;
    private final SharedRegion region;
    private final List<EngineTier> tiers;
    private final Catalog catalog;
    private final ConcurrentHashMap<ObjectKey, ObjectRecord> records = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<ObjectKey, CompletableFuture<Void>> running = new ConcurrentHashMap<>();
    private final ReentrantLock[] locks = new ReentrantLock[256];
    private final Copier copier;
    private final PutResume putResume;
    private final Planner planner;
    private final ExecutorService movers = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("thermocline-move-", 0).factory());
    private final Map<ObjectKey, long[]> lastSeen = new ConcurrentHashMap<>();
    private final AtomicLong queued = new AtomicLong();
    private final Thread plannerThread;
    private final Thread requestThread;
    private volatile boolean closed;

    /** How long state kept for resuming cut-off copies and puts lives unused. */
    private static final java.time.Duration RESUME_MAX_AGE = java.time.Duration.ofDays(1);

    private Owner(TierEngine engine, Catalog catalog) {
        this.engine = engine;
        this.config = engine.config();
        this.region = engine.region();
        this.tiers = engine.engineTiers();
        this.catalog = catalog;
        for (int i = 0; i < locks.length; i++) {
            locks[i] = new ReentrantLock();
        }
        this.copier = new Copier(config.parallelChunks(), engine.metrics(),
                new CopyResume(config.dataRoot().resolve("resume"), RESUME_MAX_AGE));
        this.putResume = new PutResume(config.dataRoot().resolve("resume"));
        this.planner = new Planner(config.policy(), true); // a hot object may displace colder ones from a full tier, as in the simulator
        this.plannerThread = Thread.ofVirtual().name("thermocline-planner").unstarted(this::planLoop);
        this.requestThread = Thread.ofVirtual().name("thermocline-requests").unstarted(this::requestLoop);
    }

    static Owner start(TierEngine engine) {
        Catalog catalog = Catalog.open(engine.config().dataRoot().resolve("catalog"));
        Owner o = new Owner(engine, catalog);
        try {
            o.region.tryAcquireOwnership(OWNER_TTL);
            o.recover();
            o.plannerThread.start();
            o.requestThread.start();
            return o;
        } catch (RuntimeException e) {
            catalog.close();
            throw e;
        }
    }

    void renew() {
        if (!region.renewOwnership(OWNER_TTL)) {
            region.tryAcquireOwnership(OWNER_TTL);
        }
    }

    // ------------------------------------------------------------------ recovery

    private void recover() {
        long t0 = System.nanoTime();
        catalog.forEach("", records::put);
        List<JournalEntry> journal = catalog.journalEntries();
        for (JournalEntry e : journal) {
            replay(e);
        }
        Map<String, Tier> byName = new java.util.LinkedHashMap<>();
        tiers.forEach(t -> byName.put(t.name(), t.tier));
        putResume.expire(RESUME_MAX_AGE, byName);
        int aborted = abortIncompleteUploads();
        republish();
        recount();
        int dirty = 0;
        for (Map.Entry<ObjectKey, ObjectRecord> e : records.entrySet()) {
            if (e.getValue().dirty()) {
                dirty++;
                persist(e.getKey());
            }
        }
        log.info("owner of {}: {} objects, {} journal entries replayed, {} incomplete uploads aborted, {} dirty objects queued"
                        + " for upload, in {} ms", config.dataRoot(), records.size(), journal.size(), aborted, dirty,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
    }

    private void replay(JournalEntry e) {
        ObjectRecord rec = records.get(e.key());
        boolean committed = rec != null && rec.epoch() >= e.newEpoch();
        switch (e.kind()) {
            case COPY, MOVE -> {
                if (committed) {
                    if (e.kind() == JournalEntry.Kind.MOVE && !rec.on(e.fromTier())) {
                        deleteQuietly(e.fromTier(), e.key(), "finishing a move");
                    }
                } else if (rec == null || !rec.on(e.toTier())) {
                    deleteQuietly(e.toTier(), e.key(), "rolling back an unfinished copy");
                }
            }
            case DROP -> {
                if (committed && !rec.on(e.fromTier())) {
                    deleteQuietly(e.fromTier(), e.key(), "finishing an eviction");
                }
            }
            case PUT -> {
                if (!committed) {
                    for (EngineTier t : tiers) {
                        if (rec == null || !rec.on(t.id)) {
                            deleteQuietly(t.id, e.key(), "rolling back an unfinished put");
                        }
                    }
                }
            }
        }
        catalog.clearJournal(e.id());
        log.info("journal {}: {} {} from {} to {} (epoch {}): {}", e.id(), e.kind(), e.key(), name(e.fromTier()), name(e.toTier()),
                e.newEpoch(), committed ? "rolled forward" : "rolled back");
    }

    private String name(int tierId) {
        return tierId >= 0 && tierId < tiers.size() ? tiers.get(tierId).name() : "-";
    }

    private void deleteQuietly(int tierId, ObjectKey key, String why) {
        if (tierId < 0 || tierId >= tiers.size()) {
            return;
        }
        try {
            tiers.get(tierId).tier.delete(key).join();
        } catch (RuntimeException ex) {
            log.warn("{}: cannot delete {} from tier {}: {}", why, key, tiers.get(tierId).name(), TierException.unwrap(ex).toString());
        }
    }

    private int abortIncompleteUploads() {
        int n = 0;
        for (EngineTier t : tiers) {
            if (t.tier instanceof S3Tier s3) {
                try {
                    // uploads of puts cut off after a checkpoint stay for the next put of their file, and the
                    // uploads of other data roots sharing the prefix are theirs (reclaimed only by age)
                    n += (s3.uploadOwner().isPresent() ? s3.abortOwnIncompleteUploads(putResume::has)
                            : s3.abortIncompleteUploads(putResume::has)).join();
                } catch (RuntimeException e) {
                    log.warn("cannot list incomplete uploads on tier {}: {}", t.name(), TierException.unwrap(e).toString());
                }
            }
        }
        return n;
    }

    /** Makes the region say exactly what the catalog says. */
    private void republish() {
        ObjectTable table = region.table();
        List<RegionKey> stale = new ArrayList<>();
        table.forEach((rk, v) -> {
            if (!records.containsKey(rk.key())) {
                stale.add(rk);
            }
        });
        for (RegionKey rk : stale) {
            table.delete(rk, -1);
        }
        records.forEach(this::publish);
    }

    private void publish(ObjectKey key, ObjectRecord rec) {
        long now = config.clock().millis();
        int flags = rec.pinUntilMillis() > now ? PINNED_FLAG : 0;
        EntryValues v = new EntryValues(rec.dirty() ? SlotState.DIRTY : SlotState.READY, rec.tiers(), rec.fastestTier(), flags,
                rec.info().sizeInBytes(), rec.info().crc32c(), rec.epoch(), new byte[0]);
        ObjectTable.PutResult r = region.table().put(RegionKey.of(key), v, -1);
        if (r == ObjectTable.PutResult.TABLE_FULL || r == ObjectTable.PutResult.ARENA_FULL) {
            log.warn("shared region {} is full ({}): {} is served by this process but other processes will not find it;"
                    + " raise region.max-objects", region.path(), r, key);
        }
    }

    private void unpublish(ObjectKey key) {
        region.table().delete(RegionKey.of(key), -1);
    }

    // ------------------------------------------------------------------ records

    private ReentrantLock lockOf(ObjectKey key) {
        return locks[key.hashCode() & (locks.length - 1)];
    }

    int tiersOf(ObjectKey key) {
        ObjectRecord r = records.get(key);
        return r == null ? 0 : r.tiers();
    }

    private void commit(ObjectKey key, ObjectRecord rec, long journalId) {
        catalog.commit(key, rec, journalId);
        ObjectRecord old;
        if (rec == null) {
            old = records.remove(key);
            unpublish(key);
        } else {
            old = records.put(key, rec);
            publish(key, rec);
        }
        account(old, -1);
        account(rec, 1);
    }

    /** Adds ({@code sign} 1) or removes (-1) a record's bytes and count from the region's per-tier counters. */
    private void account(ObjectRecord rec, int sign) {
        if (rec == null) {
            return;
        }
        for (EngineTier t : tiers) {
            if (rec.on(t.id)) {
                region.tiers().add(t.id, sign * rec.info().sizeInBytes(), 0, sign);
            }
        }
    }

    /** Sets the region's per-tier counters to what the catalog says (they may be stale from an earlier owner). */
    private void recount() {
        long[] bytes = new long[tiers.size()];
        long[] count = new long[tiers.size()];
        for (ObjectRecord r : records.values()) {
            for (EngineTier t : tiers) {
                if (r.on(t.id)) {
                    bytes[t.id] += r.info().sizeInBytes();
                    count[t.id]++;
                }
            }
        }
        for (EngineTier t : tiers) {
            var now = region.tiers().get(t.id);
            region.tiers().add(t.id, bytes[t.id] - now.usedInBytes(), -now.reservedInBytes(), count[t.id] - now.objectCount());
        }
    }

    /** Records an object found on the backing tier (written by another process or tool); false if it is not there. */
    CompletableFuture<Boolean> importFromBacking(ObjectKey key) {
        EngineTier b = engine.backing();
        return b.tier.stat(key).thenApply(info -> {
            if (info.isEmpty()) {
                return false;
            }
            ReentrantLock l = lockOf(key);
            l.lock();
            try {
                ObjectRecord cur = records.get(key);
                if (cur == null) {
                    Rule r = config.policy().ruleFor(key.toString());
                    commit(key, new ObjectRecord(info.get(), 1 << b.id, 1, r.writeMode(), -1, 0), -1);
                } else if (!cur.on(b.id) && cur.info().sameContentAs(info.get())) {
                    commit(key, cur.withTiers(cur.tiers() | 1 << b.id, cur.epoch() + 1), -1);
                }
                return true;
            } finally {
                l.unlock();
            }
        });
    }

    /**
     * For a record made from another tool's S3 object (its info names the S3 version's ETag, see
     * {@link S3Tier#sourceETag}): asks the backing tier for the object's ETag now (one HEAD), and if
     * the object was replaced or deleted, makes the record stale: its copies on the other tiers
     * are dropped (readers drained first) and the record is forgotten, so that nothing serves the
     * old bytes as current and the next stage or read imports the new version. The S3 object
     * itself is left alone. Completes with whether the record was stale. When S3 cannot be asked,
     * the record stays (completes false) and the failure is logged: a staged copy that was
     * verified stays readable while the backing tier is away.
     */
    CompletableFuture<Boolean> refreshForeign(ObjectKey key) {
        ObjectRecord rec = records.get(key);
        EngineTier b = engine.backing();
        if (rec == null || !(b.tier instanceof S3Tier s3)) {
            return CompletableFuture.completedFuture(false);
        }
        Optional<String> recorded = S3Tier.sourceETag(rec.info());
        if (recorded.isEmpty()) {
            return CompletableFuture.completedFuture(false);
        }
        return s3.describe(key).handle((d, t) -> {
            if (t != null) {
                log.warn("cannot ask {} whether {} changed (its copies stay as recorded): {}", b.name(), key,
                        TierException.unwrap(t).toString());
                return Optional.<String>of(recorded.get());
            }
            return d.map(io.thermocline.tier.s3.S3ObjectDescription::eTag);
        }).thenCompose(now -> {
            if (now.isPresent() && now.get().equals(recorded.get())) {
                return CompletableFuture.completedFuture(false);
            }
            boolean[] stale = new boolean[1];
            return exclusive(key, () -> {
                ObjectRecord cur = records.get(key);
                if (cur == null || !S3Tier.sourceETag(cur.info()).equals(recorded)) {
                    return; // made stale (or imported anew) meanwhile
                }
                log.info("{} on {} was replaced by another tool (ETag {} -> {}): its staged copies are stale; dropping them",
                        key, b.name(), recorded.get(), now.orElse("(deleted)"));
                for (EngineTier t : tiers) {
                    ObjectRecord r = records.get(key);
                    if (t != b && r != null && r.on(t.id)) {
                        if (Integer.bitCount(r.tiers()) == 1) {
                            // the only copy left: forget it from the catalog, then take it off the tier
                            commit(key, null, -1);
                            deleteQuietly(t.id, key, "dropping a stale copy");
                        } else {
                            drop(key, t, true);
                        }
                    }
                }
                if (records.get(key) != null) {
                    commit(key, null, -1);
                }
                stale[0] = true;
            }).thenApply(v -> stale[0]);
        });
    }

    // ------------------------------------------------------------------ moves

    /**
     * Makes sure the object has a verified copy on {@code tierId}, copying it from the fastest
     * tier holding it with {@code kind}'s priority. Completes at once if it is there already.
     */
    CompletableFuture<Void> ensureOn(ObjectKey key, int tierId, MoveKind kind, long pinMillis, LongConsumer progress) {
        return exclusive(key, () -> {
            ObjectRecord rec = records.get(key);
            if (rec == null) {
                throw new ObjectNotFoundException("any tier", key);
            }
            if (!rec.on(tierId)) {
                copy(key, rec, tierId, false, kind.priority(), progress);
            }
            if (pinMillis > 0) {
                setPin(key, config.clock().millis() + pinMillis);
            }
        });
    }

    private interface Work {
        void run() throws Exception;
    }

    /**
     * Runs {@code work} on a mover thread once no other move or put of {@code key} runs; the
     * returned future completes with it.
     */
    private CompletableFuture<Void> exclusive(ObjectKey key, Work work) {
        if (closed) {
            return CompletableFuture.failedFuture(new EngineException("engine on " + config.dataRoot() + " is closing"));
        }
        CompletableFuture<Void> mine = new CompletableFuture<>();
        queued.incrementAndGet();
        try {
            movers.execute(() -> {
                try {
                    while (true) {
                        CompletableFuture<Void> other = running.putIfAbsent(key, mine);
                        if (other == null) {
                            break;
                        }
                        try {
                            other.join();
                        } catch (RuntimeException ignored) {
                            // its failure is its caller's; ours runs next
                        }
                    }
                    Throwable failure = null;
                    try {
                        work.run();
                    } catch (Throwable t) {
                        failure = TierException.unwrap(t);
                    }
                    // leave before completing, so that whoever the completion wakes sees the object idle
                    running.remove(key, mine);
                    if (failure == null) {
                        mine.complete(null);
                    } else {
                        mine.completeExceptionally(failure);
                    }
                } finally {
                    queued.decrementAndGet();
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            queued.decrementAndGet();
            mine.completeExceptionally(new EngineException("engine on " + config.dataRoot() + " is closing"));
        }
        return mine;
    }

    /** Steps 1-5 of the move protocol; call with the key exclusive. */
    private void copy(ObjectKey key, ObjectRecord rec, int toId, boolean freeSource, int priority, LongConsumer progress) throws Exception {
        EngineTier to = tiers.get(toId);
        EngineTier from = null;
        for (EngineTier t : tiers) {
            if (rec.on(t.id) && t.id != toId) {
                from = t;
                break;
            }
        }
        if (from == null) {
            throw new EngineException("object " + key + " has no copy to read from (tiers " + engine.tierNames(rec.tiers()) + ")");
        }
        long newEpoch = rec.epoch() + 1;
        JournalEntry j = catalog.journal(freeSource ? JournalEntry.Kind.MOVE : JournalEntry.Kind.COPY, key, from.id, toId, newEpoch,
                config.clock().millis());
        String kind = kindName(priority, freeSource, toId);
        long t0 = System.nanoTime();
        boolean ok = false;
        EngineTier first = from.id < to.id ? from : to;
        EngineTier second = first == from ? to : from;
        try {
            first.moves.acquire(priority);
            try {
                second.moves.acquire(priority);
                try {
                    copier.copy(rec.info(), from, to, priority, progress, engine.readTap(key));
                } finally {
                    second.moves.release();
                }
            } finally {
                first.moves.release();
            }
            ObjectRecord next;
            ReentrantLock l = lockOf(key);
            l.lock();
            try {
                ObjectRecord cur = records.get(key);
                if (cur == null || cur.epoch() != rec.epoch()) {
                    throw new EngineException("object " + key + " changed while it was being copied to " + to.name());
                }
                int mask = cur.tiers() | 1 << toId;
                if (freeSource) {
                    mask &= ~(1 << from.id);
                }
                next = cur.withTiers(mask, newEpoch);
                if (toId == engine.backing().id && cur.dirty()) {
                    next = next.withDirtySince(-1);
                }
                commit(key, next, freeSource ? -1 : j.id());
            } finally {
                l.unlock();
            }
            ok = true;
            copier.committed(rec.info(), from, to);
        } finally {
            if (!ok) {
                // nothing was published: take back whatever the destination may hold, then the journal entry
                deleteQuietly(toId, key, "abandoning a copy");
                catalog.clearJournal(j.id());
            }
            engine.metrics().move(kind, from.name(), to.name(), ok, System.nanoTime() - t0);
        }
        if (freeSource) {
            free(key, from, j.id());
        }
    }

    private String kindName(int priority, boolean freeSource, int toId) {
        if (freeSource) {
            return "demotion";
        }
        if (toId == engine.backing().id) {
            return "persist";
        }
        return switch (priority) {
            case 1 -> "read-through";
            case 2 -> "prestage";
            default -> "promotion";
        };
    }

    /** Step 4: drain readers of the old copy, free it, clear the journal entry. */
    private void free(ObjectKey key, EngineTier from, long journalId) throws InterruptedException {
        if (!engine.readers().awaitNone(key, from.id, READER_DRAIN_TIMEOUT)) {
            log.warn("readers of {} on tier {} still open after {}; freeing the copy anyway (they continue on another tier)",
                    key, from.name(), READER_DRAIN_TIMEOUT);
        }
        if (!config.drainGrace().isZero()) {
            Thread.sleep(config.drainGrace());
        }
        from.tier.delete(key).join();
        catalog.clearJournal(journalId);
    }

    /** Drops the copy on {@code tier}; call with the key exclusive. */
    private boolean drop(ObjectKey key, EngineTier tier, boolean force) throws InterruptedException {
        JournalEntry j;
        ReentrantLock l = lockOf(key);
        l.lock();
        try {
            ObjectRecord rec = records.get(key);
            if (rec == null || !rec.on(tier.id)) {
                return false;
            }
            String refusal = evictionRefusal(key, rec, tier, force);
            if (refusal != null) {
                throw new EngineException(refusal);
            }
            long newEpoch = rec.epoch() + 1;
            j = catalog.journal(JournalEntry.Kind.DROP, key, tier.id, -1, newEpoch, config.clock().millis());
            commit(key, rec.withTiers(rec.tiers() & ~(1 << tier.id), newEpoch), -1);
        } finally {
            l.unlock();
        }
        long t0 = System.nanoTime();
        free(key, tier, j.id());
        engine.metrics().move("eviction", tier.name(), "-", true, System.nanoTime() - t0);
        return true;
    }

    /** Why {@code rec} may not leave {@code tier}, or null when it may. */
    private String evictionRefusal(ObjectKey key, ObjectRecord rec, EngineTier tier, boolean force) {
        if (Integer.bitCount(rec.tiers()) == 1) {
            return "evict " + key + " from " + tier.name() + ": it is the object's only copy";
        }
        if (rec.dirty()) {
            return "evict " + key + " from " + tier.name() + ": it is dirty (written back and not yet"
                    + " persisted to " + engine.backing().name() + "); dirty objects are never evicted";
        }
        if (!force && rec.pinUntilMillis() > config.clock().millis()) {
            return "evict " + key + " from " + tier.name() + ": it is pinned; unpin it first";
        }
        return null;
    }

    CompletableFuture<Boolean> evict(ObjectKey key, EngineTier tier) {
        // refuse at once what would be refused anyway, rather than queue behind the object's
        // upload (which may wait a long time for a move slot)
        ObjectRecord now = records.get(key);
        if (now != null && now.on(tier.id)) {
            String refusal = evictionRefusal(key, now, tier, false);
            if (refusal != null) {
                return CompletableFuture.failedFuture(new EngineException(refusal));
            }
        }
        CompletableFuture<Boolean> out = new CompletableFuture<>();
        boolean[] dropped = new boolean[1];
        exclusive(key, () -> dropped[0] = drop(key, tier, false)).whenComplete((v, t) -> {
            if (t != null) {
                out.completeExceptionally(t);
            } else {
                out.complete(dropped[0]);
            }
        });
        return out;
    }

    private void persist(ObjectKey key) {
        ObjectRecord rec = records.get(key);
        if (rec == null || !rec.dirty()) {
            return;
        }
        Rule r = config.policy().ruleFor(key.toString());
        long age = config.clock().millis() - rec.dirtySinceMillis();
        // urgent once half the rule's maximum dirty age is gone
        MoveKind kind = age > r.maxDirtyAge().toMillis() / 2 ? MoveKind.PRESTAGE : MoveKind.WRITE_BACK_PERSIST;
        exclusive(key, () -> {
            ObjectRecord cur = records.get(key);
            if (cur != null && cur.dirty() && !cur.on(engine.backing().id)) {
                copy(key, cur, engine.backing().id, false, kind.priority(), b -> { });
            }
        }).exceptionally(t -> {
            log.warn("upload of dirty object {} to {} failed; will retry: {}", key, engine.backing().name(), t.toString());
            return null;
        });
    }

    long queued() {
        return queued.get();
    }

    long dirtyBytes() {
        long n = 0;
        for (ObjectRecord r : records.values()) {
            if (r.dirty()) {
                n += r.info().sizeInBytes();
            }
        }
        return n;
    }

    // ------------------------------------------------------------------ put

    CompletableFuture<ObjectInfo> put(ObjectKey key, ReadableByteChannel source, long size, PutOptions options) {
        Rule rule = config.policy().ruleFor(key.toString());
        WriteMode mode = options.mode().orElse(rule.writeMode());
        EngineTier fast = options.tier() != null ? engine.tier(options.tier()) : engine.preferredTier(key);
        EngineTier backing = engine.backing();
        List<EngineTier> targets = new ArrayList<>();
        switch (mode) {
            case WRITE_THROUGH -> {
                if (fast != backing) {
                    targets.add(fast);
                }
                targets.add(backing);
            }
            case WRITE_BACK, LOCAL_ONLY -> {
                if (fast == backing) {
                    return CompletableFuture.failedFuture(InvalidArgumentException.of("tier", "'" + fast.name() + "'",
                            "a tier faster than the backing tier for a " + mode.yaml() + " put"));
                }
                targets.add(fast);
            }
        }
        CompletableFuture<ObjectInfo> out = new CompletableFuture<>();
        ObjectInfo[] committedInfo = new ObjectInfo[1];
        long t0 = System.nanoTime();
        exclusive(key, () -> {
            ObjectRecord old;
            JournalEntry j;
            int mask = 0;
            for (EngineTier t : targets) {
                mask |= 1 << t.id;
            }
            ReentrantLock l = lockOf(key);
            l.lock();
            try {
                old = records.get(key);
                if (old != null && !options.replace()) {
                    throw new EngineException("put " + key + ": the object exists (on " + engine.tierNames(old.tiers())
                            + "); objects are immutable — delete it or put with replace");
                }
                long newEpoch = old == null ? 1 : old.epoch() + 1;
                j = catalog.journal(JournalEntry.Kind.PUT, key, -1, mask, newEpoch, config.clock().millis());
                if (old != null) {
                    commit(key, null, -1); // readers of the old version drain below, before its copies go
                }
            } finally {
                l.unlock();
            }
            boolean ok = false;
            try {
                if (old != null) {
                    for (EngineTier t : tiers) {
                        if (old.on(t.id) && !targets.contains(t)) {
                            free(key, t, -1);
                        }
                    }
                }
                List<Tier> ts = targets.stream().map(t -> t.tier).toList();
                ObjectInfo info = Streams.write(ts, key, source, size, options, putResume, engine.metrics());
                long now = config.clock().millis();
                ObjectRecord rec = new ObjectRecord(info, mask, j.newEpoch(), mode, mode == WriteMode.WRITE_BACK ? now : -1, 0);
                l.lock();
                try {
                    commit(key, rec, j.id());
                } finally {
                    l.unlock();
                }
                ok = true;
                engine.metrics().put(mode.yaml(), System.nanoTime() - t0);
                committedInfo[0] = info;
            } finally {
                if (!ok) {
                    catalog.clearJournal(j.id()); // Streams.write took back what it wrote
                }
            }
        }).whenComplete((v, t) -> {
            if (t != null) {
                out.completeExceptionally(t);
                return;
            }
            if (mode == WriteMode.WRITE_BACK) {
                persist(key);
            }
            out.complete(committedInfo[0]);
        });
        return out;
    }

    // ------------------------------------------------------------------ stage, pin, status

    StageHandle stage(List<ObjectKey> keys, EngineTier to, Duration pinTtl) {
        StageHandle h = new StageHandle(to.name());
        Thread.ofVirtual().name("thermocline-stage").start(() -> {
            try {
                List<ObjectKey> todo = new ArrayList<>();
                for (ObjectKey k : keys) {
                    refreshForeign(k).join();
                    ObjectRecord rec = records.get(k);
                    if (rec == null && importFromBacking(k).join()) {
                        rec = records.get(k);
                    }
                    if (rec == null) {
                        h.failed(k, "not found on any tier", false);
                        continue;
                    }
                    h.addObject(rec.info().sizeInBytes());
                    todo.add(k);
                }
                List<CompletableFuture<Void>> all = new ArrayList<>();
                for (ObjectKey k : todo) {
                    ObjectRecord rec = records.get(k);
                    boolean there = rec != null && rec.on(to.id);
                    long size = rec != null ? rec.info().sizeInBytes() : 0;
                    CompletableFuture<Void> f = ensureOn(k, to.id, MoveKind.PRESTAGE, pinTtl.toMillis(), h::addBytes)
                            .whenComplete((v, t) -> {
                                if (t != null) {
                                    Throwable c = TierException.unwrap(t);
                                    h.failed(k, c.getMessage(), c instanceof io.thermocline.tier.TierUnavailableException);
                                } else if (there) {
                                    h.already(k, size);
                                } else {
                                    h.staged(k);
                                }
                            });
                    all.add(f.exceptionally(t -> null));
                }
                CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).join();
                h.finish();
            } catch (Throwable t) {
                h.fail(TierException.unwrap(t));
            }
        });
        return h;
    }

    CompletableFuture<Void> pin(ObjectKey key, long millis) {
        ReentrantLock l = lockOf(key);
        l.lock();
        try {
            if (!records.containsKey(key)) {
                return CompletableFuture.failedFuture(new ObjectNotFoundException("any tier", key));
            }
            setPin(key, millis == 0 ? 0 : config.clock().millis() + millis);
            return CompletableFuture.completedFuture(null);
        } finally {
            l.unlock();
        }
    }

    private void setPin(ObjectKey key, long untilMillis) {
        ReentrantLock l = lockOf(key);
        l.lock();
        try {
            ObjectRecord cur = records.get(key);
            if (cur != null) {
                commit(key, cur.withPinUntil(untilMillis), -1);
            }
        } finally {
            l.unlock();
        }
    }

    Optional<ObjectStatus> status(ObjectKey key) {
        ObjectRecord rec = records.get(key);
        if (rec == null) {
            return Optional.empty();
        }
        EntryView v = new EntryView();
        long reads = 0;
        double heat = 0;
        if (region.table().lookup(RegionKey.of(key), v)) {
            ObjectTable.Heat h = region.table().heat(v.slot());
            reads = h.reads();
            heat = h.decayedReads();
        }
        SlotState state = running.containsKey(key) ? SlotState.STAGING : rec.dirty() ? SlotState.DIRTY : SlotState.READY;
        return Optional.of(new ObjectStatus(key, rec.info().sizeInBytes(), rec.info().crc32c(), state, engine.tierNames(rec.tiers()),
                rec.epoch(), reads, heat, rec.pinUntilMillis()));
    }

    List<ObjectStatus> list(String prefix) {
        List<ObjectStatus> out = new ArrayList<>();
        List<ObjectKey> keys = new ArrayList<>();
        for (ObjectKey k : records.keySet()) {
            if (k.toString().startsWith(prefix)) {
                keys.add(k);
            }
        }
        keys.sort(null);
        for (ObjectKey k : keys) {
            status(k).ifPresent(out::add);
        }
        return out;
    }

    void countPerTier(long[] counts) {
        for (ObjectRecord r : records.values()) {
            for (int t = 0; t < counts.length; t++) {
                if (r.on(t)) {
                    counts[t]++;
                }
            }
        }
    }

    // ------------------------------------------------------------------ planner loop

    private void planLoop() {
        while (!closed) {
            try {
                Thread.sleep(config.plannerInterval());
                planOnce();
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                if (!closed) {
                    log.warn("planning failed; will retry: {}", e.toString(), e);
                }
            }
        }
    }

    /** One round of the planner over every object not being moved; package-private for tests. */
    void planOnce() {
        long now = config.clock().millis();
        List<ObjectState> states = new ArrayList<>();
        Map<String, Long> used = new HashMap<>();
        EntryView v = new EntryView();
        for (Map.Entry<ObjectKey, ObjectRecord> e : records.entrySet()) {
            ObjectKey key = e.getKey();
            ObjectRecord rec = e.getValue();
            for (EngineTier t : tiers) {
                if (rec.on(t.id)) {
                    used.merge(t.name(), rec.info().sizeInBytes(), Long::sum);
                }
            }
            if (running.containsKey(key) || rec.tiers() == 0) {
                continue;
            }
            double heat = 0;
            long reads = 0;
            if (region.table().lookup(RegionKey.of(key), v)) {
                ObjectTable.Heat h = region.table().heat(v.slot());
                heat = h.decayedReads();
                reads = h.reads();
            }
            long[] seen = lastSeen.computeIfAbsent(key, k -> new long[] {-1, now});
            if (seen[0] != reads) {
                seen[0] = reads;
                seen[1] = now;
            }
            states.add(new ObjectState(key.toString(), rec.info().sizeInBytes(), tiers.get(rec.fastestTier()).name(), heat,
                    now - seen[1], rec.dirtySinceMillis()));
        }
        lastSeen.keySet().retainAll(records.keySet());
        List<Move> plan = planner.plan(states, used, List.of(), List.of());
        for (Move m : plan) {
            ObjectKey key = ObjectKey.of(m.key());
            ObjectRecord rec = records.get(key);
            if (rec == null || running.containsKey(key)) {
                continue;
            }
            EngineTier to = engine.tier(m.toTier());
            switch (m.kind()) {
                case FOREGROUND_READ, PRESTAGE, PROMOTION -> ensureOn(key, to.id, m.kind(), 0, b -> { })
                        .exceptionally(t -> logFailed(m, t));
                case DEMOTION -> {
                    if (rec.dirty() || rec.pinUntilMillis() > now) {
                        continue; // never evict dirty objects; pins hold
                    }
                    EngineTier from = engine.tier(m.fromTier());
                    exclusive(key, () -> {
                        ObjectRecord cur = records.get(key);
                        if (cur == null || !cur.on(from.id) || cur.dirty()) {
                            return;
                        }
                        if (cur.on(to.id)) {
                            drop(key, from, false);
                        } else {
                            copy(key, cur, to.id, true, MoveKind.DEMOTION.priority(), b -> { });
                        }
                    }).exceptionally(t -> logFailed(m, t));
                }
                case WRITE_BACK_PERSIST -> persist(key);
            }
        }
    }

    private Void logFailed(Move m, Throwable t) {
        if (!closed) {
            log.warn("{} of {} from {} to {} failed: {}", m.kind(), m.key(), m.fromTier(), m.toTier(), TierException.unwrap(t).toString());
        }
        return null;
    }

    // ------------------------------------------------------------------ requests from attached processes

    private void requestLoop() {
        int idle = 0;
        while (!closed) {
            int n;
            try {
                n = region.ring().poll(this::handle, 64);
            } catch (RuntimeException e) {
                if (closed) {
                    return;
                }
                log.warn("request ring: {}", e.toString());
                n = 0;
            }
            try {
                if (n == 0) {
                    Thread.sleep(Math.min(20, 1 + idle++ / 16));
                } else {
                    idle = 0;
                }
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void handle(Request r) {
        RequestResults results = region.results();
        long id = r.requestId();
        results.publish(id, RequestResults.Status.ACCEPTED, 0, 0);
        CompletableFuture<?> f;
        try {
            f = switch (r.type()) {
                case STAGE -> {
                    CompletableFuture<Boolean> known = refreshForeign(r.key()).thenCompose(stale -> records.get(r.key()) != null
                            ? CompletableFuture.completedFuture(true) : importFromBacking(r.key()));
                    yield known.thenCompose(found -> {
                        ObjectRecord cur = records.get(r.key());
                        if (!found || cur == null) {
                            throw new ObjectNotFoundException("any tier", r.key());
                        }
                        long total = cur.info().sizeInBytes();
                        AtomicLong done = new AtomicLong(cur.on(r.tierId()) ? total : 0);
                        results.publish(id, RequestResults.Status.RUNNING, done.get(), total);
                        return ensureOn(r.key(), checkTier(r.tierId()), MoveKind.PRESTAGE, r.arg(),
                                b -> results.publish(id, RequestResults.Status.RUNNING, done.addAndGet(b), total))
                                .thenRun(() -> results.publish(id, RequestResults.Status.DONE, total, total));
                    });
                }
                case PIN -> pin(r.key(), r.arg());
                case UNPIN -> pin(r.key(), 0);
                case EVICT -> evict(r.key(), tiers.get(checkTier(r.tierId())));
                case PUT -> importFrom(r.key(), checkTier(r.tierId()));
            };
        } catch (RuntimeException e) {
            f = CompletableFuture.failedFuture(e);
        }
        f.whenComplete((v, t) -> {
            if (t != null) {
                // a request cut off by this owner closing is no news
                log.atLevel(closed ? org.slf4j.event.Level.DEBUG : org.slf4j.event.Level.WARN).log("request {} {} {} from {} failed: {}",
                        id, r.type(), r.key(), io.thermocline.region.ProcessToken.describe(r.requester()), TierException.unwrap(t).toString());
                results.publish(id, TierException.unwrap(t) instanceof io.thermocline.tier.TierUnavailableException
                        ? RequestResults.Status.UNAVAILABLE : RequestResults.Status.FAILED, 0, 0);
            } else if (r.type() != io.thermocline.region.RequestType.STAGE) {
                results.publish(id, RequestResults.Status.DONE, 1, 1);
            }
        });
    }

    private int checkTier(int tierId) {
        if (tierId < 0 || tierId >= tiers.size()) {
            throw InvalidArgumentException.of("tier id", tierId, "0.." + (tiers.size() - 1));
        }
        return tierId;
    }

    /** An attached process wrote the object to {@code tierId} itself: record it. */
    private CompletableFuture<Void> importFrom(ObjectKey key, int tierId) {
        EngineTier t = tiers.get(tierId);
        return t.tier.stat(key).thenAccept(info -> {
            if (info.isEmpty()) {
                throw new ObjectNotFoundException(t.name(), key);
            }
            ReentrantLock l = lockOf(key);
            l.lock();
            try {
                ObjectRecord cur = records.get(key);
                Rule r = config.policy().ruleFor(key.toString());
                if (cur == null || !cur.info().sameContentAs(info.get())) {
                    commit(key, new ObjectRecord(info.get(), 1 << tierId, cur == null ? 1 : cur.epoch() + 1, r.writeMode(), -1, 0), -1);
                } else if (!cur.on(tierId)) {
                    commit(key, cur.withTiers(cur.tiers() | 1 << tierId, cur.epoch() + 1), -1);
                }
            } finally {
                l.unlock();
            }
        });
    }

    // ------------------------------------------------------------------ close

    @Override
    public void close() {
        closed = true;
        plannerThread.interrupt();
        requestThread.interrupt();
        movers.shutdownNow(); // moves under way stop; their journal entries roll them back at the next open
        try {
            if (!movers.awaitTermination(30, TimeUnit.SECONDS)) {
                log.warn("moves did not stop within 30 s; closing the catalog anyway");
            }
            plannerThread.join(Duration.ofSeconds(5));
            requestThread.join(Duration.ofSeconds(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        region.releaseOwnership();
        catalog.close();
    }
}
