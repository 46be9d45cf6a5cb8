package io.thermocline.engine;

import io.micrometer.core.instrument.MeterRegistry;
import io.thermocline.placement.MoveKind;
import io.thermocline.placement.Rule;
import io.thermocline.placement.WriteMode;
import io.thermocline.region.EntryView;
import io.thermocline.region.ObjectTable;
import io.thermocline.region.RegionConfig;
import io.thermocline.region.RegionKey;
import io.thermocline.region.RequestResults;
import io.thermocline.region.RequestRing;
import io.thermocline.region.RequestType;
import io.thermocline.region.SharedRegion;
import io.thermocline.region.SlotState;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ListPage;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectNotFoundException;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.Tier;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.WriteRequest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.channels.ReadableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The engine a serving process embeds: one data root, its tiers (fastest first, the last one
 * durable), the host's shared region, and — in exactly one process per data root, the
 * <em>owner</em> — the catalog and the stager that moves verified copies between tiers.
 *
 * <p><b>Owner or attached.</b> {@link #open} takes the data root's lock file
 * ({@code <data root>/owner.lock}) if it can and becomes the owner: it opens the RocksDB catalog,
 * replays the move journal (rolling each unfinished move forward or back and freeing what was
 * half written), republishes every object in the shared region, resumes write-back uploads, and
 * starts the stager, the planner and the request loop. Otherwise it <em>attaches</em>: it finds
 * objects through the shared region, reads them directly from the tiers it can open, adds heat
 * there, and sends control requests (stage, pin, evict, put) to the owner through the region's
 * request ring, following their progress in the region. An attached engine keeps trying the lock;
 * when the owner dies the OS releases it and the attached engine takes over — the same recovery
 * runs, so nothing the dead owner acknowledged is lost.
 *
 * <p><b>Reads</b> ({@link #read}) return an {@link EngineReader}: positional reads into caller
 * buffers that follow the object across moves and add heat on every call. An object found only on
 * a slower tier than its rule prefers is read from there at once while a promotion (the
 * planner's "foreground read" priority) copies it up.
 *
 * <p><b>Writes</b> ({@link #put}) follow the matching rule's write mode: write-through puts land on
 * the fast tier and the backing tier and return once both are committed; write-back puts return
 * once the fast copy is committed and are persisted to the backing tier in the background, never
 * evicted before that; local-only puts never leave the fast tiers.
 *
 * <p>Thread-safe. Methods that do I/O return futures; failures are {@link TierException}s (bad
 * arguments, missing objects, tier failures) or {@link EngineException}s (refusals).
 */
public final class TierEngine implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(TierEngine.class);

    private final EngineConfig config;
    private final SharedRegion region;
    private final List<EngineTier> tiers;
    private final EngineMetrics metrics;
    private final FileChannel lockChannel;
    private final ReaderRegistry readers = new ReaderRegistry();
    private final Thread ownershipWatcher;
    private volatile FileLock lock;
    private volatile Owner owner;
    private volatile boolean closed;
    private final java.util.concurrent.ConcurrentHashMap<ObjectKey, ReadTap> readTaps = new java.util.concurrent.ConcurrentHashMap<>();
    /** The chunk copies read taps hold, reused from one read-through to the next. */
    private final io.thermocline.tier.support.AlignedBufferPool tapBuffers =
            new io.thermocline.tier.support.AlignedBufferPool(ReadTap.MAX_OFFERED);

    private TierEngine(EngineConfig config, SharedRegion region, List<EngineTier> tiers, FileChannel lockChannel) {
        this.config = config;
        this.region = region;
        this.tiers = tiers;
        this.metrics = new EngineMetrics(config.meters());
        this.lockChannel = lockChannel;
        this.ownershipWatcher = Thread.ofVirtual().name("thermocline-ownership").unstarted(this::watchOwnership);
        metrics.gauges(() -> {
            Owner o = owner;
            return o == null ? 0 : o.queued();
        }, () -> {
            Owner o = owner;
            return o == null ? 0 : o.dirtyBytes();
        });
    }

    /**
     * Opens the engine on {@code config.dataRoot()}: as the owner when no live process owns it,
     * attached otherwise. Blocking (opens tiers, may run recovery).
     */
    public static TierEngine open(EngineConfig config) {
        Path root = config.dataRoot();
        try {
            Files.createDirectories(root);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the data root " + root + ": " + e.getMessage(), e);
        }
        String rootId = dataRootId(root);
        FileChannel lockChannel;
        try {
            lockChannel = FileChannel.open(root.resolve("owner.lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open " + root.resolve("owner.lock") + ": " + e.getMessage(), e);
        }
        FileLock lock = tryLock(lockChannel);
        RegionConfig rc = RegionConfig.builder(config.regionPath()).maxObjects(config.regionMaxObjects())
                .tierCount(config.tiers().size()).heatHalfLife(config.policy().halfLife()).clock(config.clock())
                .group(config.regionGroup()).build();
        SharedRegion region = null;
        List<EngineTier> tiers = new ArrayList<>();
        try {
            // the owner may rebuild a region that does not validate; an attached process must not
            region = lock != null ? SharedRegion.openOrCreate(rc) : attachOrWait(rc, config);
            for (int i = 0; i < config.tiers().size(); i++) {
                TierDefinition d = config.tiers().get(i);
                Tier t = null;
                if (lock != null || d.sharedReadable()) {
                    try {
                        t = d.opener().open();
                        if (t instanceof io.thermocline.tier.s3.S3Tier s3) {
                            s3.recordUploadsAs(rootId); // other data roots on the prefix leave this one's uploads alone
                        }
                    } catch (Exception e) {
                        throw new TierUnavailableException("cannot open tier " + d.name() + " (" + d.description() + "): "
                                + (e.getMessage() != null ? e.getMessage() : e.toString()), false, e);
                    }
                }
                tiers.add(new EngineTier(i, d, t));
            }
            TierEngine engine = new TierEngine(config, region, List.copyOf(tiers), lockChannel);
            if (lock != null) {
                engine.becomeOwner(lock);
            }
            engine.ownershipWatcher.start();
            return engine;
        } catch (RuntimeException e) {
            for (EngineTier t : tiers) {
                if (t.tier != null) {
                    t.tier.close();
                }
            }
            if (region != null) {
                region.close();
            }
            try {
                if (lock != null) {
                    lock.release();
                }
                lockChannel.close();
            } catch (IOException ignored) {
                // already failing
            }
            throw e;
        }
    }

    /**
     * The data root's stable id: 32 random hex digits in {@code <root>/id}, made by the first
     * process that opens the root (published with link(2), which never replaces, so that all agree).
     * It names the data root's multipart uploads on S3 tiers that several data roots share.
     */
    static String dataRootId(Path root) {
        Path file = root.resolve("id");
        try {
            if (!Files.exists(file)) {
                Path tmp = root.resolve("id.new-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
                byte[] random = new byte[16];
                new java.security.SecureRandom().nextBytes(random);
                Files.writeString(tmp, java.util.HexFormat.of().formatHex(random) + "\n", StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE, StandardOpenOption.DSYNC);
                try {
                    Files.createLink(file, tmp);
                } catch (java.nio.file.FileAlreadyExistsException e) {
                    // another process was first: its id it is
                } finally {
                    Files.deleteIfExists(tmp);
                }
            }
            String id = Files.readString(file).strip();
            if (!id.matches("[0-9a-f]{32}")) {
                throw new EngineException(file + ": '" + id + "' (expected: the data root's id, 32 hex digits); remove the file "
                        + "to make a new one, after aborting the root's incomplete uploads", null);
            }
            return id;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read or make the data root's id " + file + ": " + e.getMessage(), e);
        }
    }

    private static SharedRegion attachOrWait(RegionConfig rc, EngineConfig config) {
        long deadline = System.nanoTime() + config.requestTimeout().toNanos();
        while (true) {
            try {
                return SharedRegion.attach(rc);
            } catch (io.thermocline.region.RegionAccessException e) {
                throw e; // a file nobody should map: waiting does not make it trustworthy
            } catch (RuntimeException e) {
                if (System.nanoTime() > deadline) {
                    throw new EngineException("another process owns " + config.dataRoot() + " but its shared region "
                            + rc.path() + " cannot be attached: " + e.getMessage(), e);
                }
                try {
                    Thread.sleep(50); // the owner is creating or rebuilding it
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new EngineException("interrupted while waiting for the shared region " + rc.path(), ie);
                }
            }
        }
    }

    private static FileLock tryLock(FileChannel channel) {
        try {
            return channel.tryLock();
        } catch (OverlappingFileLockException e) {
            return null; // another engine in this JVM owns the root
        } catch (IOException e) {
            throw new UncheckedIOException("cannot lock the data root's owner.lock: " + e.getMessage(), e);
        }
    }

    private void becomeOwner(FileLock acquired) {
        this.lock = acquired;
        this.owner = Owner.start(this);
    }

    private void watchOwnership() {
        while (!closed) {
            try {
                Thread.sleep(config.ownershipInterval());
            } catch (InterruptedException e) {
                return;
            }
            if (closed) {
                return;
            }
            Owner o = owner;
            if (o != null) {
                o.renew();
                continue;
            }
            FileLock l = tryLock(lockChannel);
            if (l != null) {
                synchronized (this) {
                    if (closed) {
                        try {
                            l.release();
                        } catch (IOException ignored) {
                            // closing anyway
                        }
                        return;
                    }
                    log.info("the owner of {} is gone; this process takes over", config.dataRoot());
                    try {
                        openMissingTiers();
                        becomeOwner(l);
                    } catch (RuntimeException e) {
                        log.error("taking over {} failed; will retry: {}", config.dataRoot(), e.toString(), e);
                        owner = null;
                        try {
                            l.release();
                        } catch (IOException ignored) {
                            // retry later
                        }
                    }
                }
            }
        }
    }

    /** An attached engine that becomes the owner must open the tiers it could not share. */
    private void openMissingTiers() {
        for (EngineTier t : tiers) {
            if (t.tier == null) {
                throw new EngineException("tier " + t.name() + " is not shared-readable, so this attached process did not open it;"
                        + " restart the owner instead (" + t.definition.description() + ")");
            }
        }
    }

    // ------------------------------------------------------------------ parts for Owner

    EngineConfig config() {
        return config;
    }

    SharedRegion region() {
        return region;
    }

    List<EngineTier> engineTiers() {
        return tiers;
    }

    EngineTier backing() {
        return tiers.getLast();
    }

    EngineMetrics metrics() {
        return metrics;
    }

    ReaderRegistry readers() {
        return readers;
    }

    EngineTier tier(String name) {
        for (EngineTier t : tiers) {
            if (t.name().equals(name)) {
                return t;
            }
        }
        throw InvalidArgumentException.of("tier", "'" + name + "'", "one of " + tiers.stream().map(EngineTier::name).toList());
    }

    /** The tier a rule places new and promoted objects on. */
    EngineTier preferredTier(ObjectKey key) {
        Rule r = config.policy().ruleFor(key.toString());
        return r.preferredTiers().isEmpty() ? tiers.getFirst() : tier(r.preferredTiers().getFirst());
    }

    // ------------------------------------------------------------------ public API

    /** The owner's part, or null in an attached process; for tests. */
    Owner owner() {
        return owner;
    }

    /** Whether this process owns the data root (runs the catalog and the stager). */
    public boolean isOwner() {
        return owner != null;
    }

    /** The data root. */
    public Path dataRoot() {
        return config.dataRoot();
    }

    /** The registry the engine's meters are in. */
    public MeterRegistry meters() {
        return config.meters();
    }

    /**
     * Opens a reader on the object, on the fastest tier this process can read that holds it. If
     * that is slower than the object's preferred tier, a promotion starts as well (read-through).
     *
     * @throws ObjectNotFoundException (through the future) if no tier holds it
     */
    public CompletableFuture<EngineReader> read(ObjectKey key) {
        checkOpen();
        RegionKey rk = RegionKey.of(key);
        // an object staged from another tool's upload is checked against S3's ETag first: a
        // replaced one is not served from its stale copies (see Owner.refreshForeign)
        Owner o = owner;
        CompletableFuture<Boolean> fresh = o != null ? o.refreshForeign(key) : CompletableFuture.completedFuture(false);
        return fresh.thenCompose(stale -> open(rk, -1)).thenApply(opened -> {
            EngineTier preferred = preferredTier(key);
            boolean hit = opened.tier().id <= preferred.id;
            metrics.open(opened.tier().name(), hit);
            // read-through: an object in no fast tier is copied up while it is read — but only into
            // free room, so that a scan over cold objects never pushes hot ones out; promotions that
            // need room are the planner's, by heat
            if (!hit && opened.tier() == backing() && fitsWithoutEviction(preferred, opened.reader().info().sizeInBytes())) {
                promoteForRead(key, preferred, opened.reader().info());
            }
            return new EngineReader(this, rk, opened);
        });
    }

    private boolean fitsWithoutEviction(EngineTier t, long size) {
        return region.tiers().get(t.id).usedInBytes() + size <= t.definition.spec().highBytes();
    }

    /** The tap of a read-through of {@code key} under way in this process, or null. */
    ReadTap readTap(ObjectKey key) {
        return readTaps.get(key);
    }

    private void promoteForRead(ObjectKey key, EngineTier preferred, ObjectInfo info) {
        Owner o = owner;
        if (o != null) {
            // the reader and the promotion share the chunks the reader fetches (see ReadTap)
            ReadTap tap = info.chunkCount() > 1 ? new ReadTap(info, tapBuffers) : null;
            if (tap != null && readTaps.putIfAbsent(key, tap) != null) {
                tap = null; // a read-through of it is already under way
            }
            ReadTap mine = tap;
            o.ensureOn(key, preferred.id, MoveKind.FOREGROUND_READ, 0, b -> { })
                    .whenComplete((v, t) -> {
                        if (mine != null) {
                            readTaps.remove(key, mine);
                            mine.close();
                        }
                    })
                    .exceptionally(t -> {
                        log.debug("read-through promotion of {} to {} did not run: {}", key, preferred.name(), TierException.unwrap(t).toString());
                        return null;
                    });
        } else {
            long id = region.ring().offer(RequestType.STAGE, key, preferred.id, 0);
            if (id == RequestRing.FULL) {
                log.debug("request ring full; no read-through promotion of {}", key);
            }
        }
    }

    /** An open reader on one tier, registered so that a move waits for it before freeing that copy. */
    record Opened(EngineTier tier, ObjectReader reader, Runnable unregister) {
        void close() {
            try {
                reader.close();
            } finally {
                unregister.run();
            }
        }
    }

    /**
     * Whether a tier faster than {@code tierId} that this process can read now holds the object:
     * a reader on the backing tier then moves over (a read-through promotion has committed), so
     * the rest of the object is not read from the backing tier as well as copied from it.
     */
    boolean fasterCopy(RegionKey key, int tierId) {
        int mask = tiersHolding(key);
        for (EngineTier t : tiers) {
            if (t.id >= tierId) {
                return false;
            }
            if ((mask & (1 << t.id)) != 0 && t.open()) {
                return true;
            }
        }
        return false;
    }

    /** The tiers holding the object: from the catalog in the owner, from the shared region elsewhere. */
    private int tiersHolding(RegionKey key) {
        Owner o = owner;
        if (o != null) {
            return o.tiersOf(key.key());
        }
        EntryView v = new EntryView();
        return region.table().lookup(key, v) ? v.tiers() : 0;
    }

    /** Finds the object and opens a reader on the fastest readable tier holding it, other than {@code exclude}. */
    CompletableFuture<Opened> open(RegionKey key, int exclude) {
        return open(key, exclude, 0);
    }

    /**
     * A copy can be freed between the lookup and the open (a move committed in between, or, in
     * an attached process, freed by the owner who cannot see this process's readers): the lookup
     * is then stale, and is made again, a few times, before the object counts as missing.
     */
    private CompletableFuture<Opened> open(RegionKey key, int exclude, int attempt) {
        int mask = tiersHolding(key);
        Owner o = owner;
        for (EngineTier t : tiers) {
            if ((mask & (1 << t.id)) != 0 && t.id != exclude && t.open()) {
                return openOn(t, key).exceptionallyCompose(err -> {
                    if (attempt < 4 && TierException.unwrap(err) instanceof ObjectNotFoundException && !closed) {
                        return open(key, exclude, attempt + 1);
                    }
                    return CompletableFuture.failedFuture(err);
                });
            }
        }
        // unknown to the catalog and the region: it may be in the backing tier, written by another tool or process
        EngineTier b = backing();
        if (b.open() && b.id != exclude) {
            if (o != null) {
                return o.importFromBacking(key.key()).thenCompose(found -> found ? open(key, exclude)
                        : CompletableFuture.failedFuture(new ObjectNotFoundException("any tier", key.key())));
            }
            return openOn(b, key);
        }
        return CompletableFuture.failedFuture(new ObjectNotFoundException("any tier", key.key()));
    }

    private CompletableFuture<Opened> openOn(EngineTier t, RegionKey key) {
        Runnable unregister = readers.register(key.key(), t.id);
        return t.tier.openReader(key.key()).handle((r, err) -> {
            if (err != null) {
                unregister.run();
                throw err instanceof java.util.concurrent.CompletionException ce ? ce : new java.util.concurrent.CompletionException(err);
            }
            return new Opened(t, r, unregister);
        });
    }

    void recordRead(RegionKey key, EngineTier tier, long nanos, int bytes) {
        if (bytes > 0) {
            region.table().addHeat(key, bytes);
        }
        metrics.read(tier.name(), nanos, bytes);
    }

    /**
     * Writes a new object of {@code sizeInBytes} bytes read from {@code source} (which is not
     * closed), following its rule's write mode unless {@code options} override it.
     *
     * @return the committed object's info
     */
    public CompletableFuture<ObjectInfo> put(ObjectKey key, ReadableByteChannel source, long sizeInBytes, PutOptions options) {
        checkOpen();
        if (sizeInBytes < 0) {
            return CompletableFuture.failedFuture(InvalidArgumentException.of("sizeInBytes", sizeInBytes, ">= 0"));
        }
        Owner o = owner;
        if (o != null) {
            return o.put(key, source, sizeInBytes, options);
        }
        return attachedPut(key, source, sizeInBytes, options);
    }

    private CompletableFuture<ObjectInfo> attachedPut(ObjectKey key, ReadableByteChannel source, long size, PutOptions options) {
        WriteMode mode = options.mode().orElse(config.policy().ruleFor(key.toString()).writeMode());
        EngineTier b = backing();
        if (mode != WriteMode.WRITE_THROUGH || !b.open()) {
            return CompletableFuture.failedFuture(new EngineException("put " + key + ": this process is attached to "
                    + config.dataRoot() + " and can only put write-through objects (straight to tier " + b.name()
                    + "); " + mode.yaml() + " puts must run in the owning process"));
        }
        return CompletableFuture.supplyAsync(() -> {
            // resumable like the owner's puts: the records live in the same directory, one per key
            ObjectInfo info = Streams.write(List.of(b.tier), key, source, size, options,
                    new PutResume(config.dataRoot().resolve("resume")), metrics);
            await(request(RequestType.PUT, key, b.id, size));
            return info;
        }, command -> Thread.ofVirtual().name("thermocline-put").start(command));
    }

    /**
     * Copies the objects to {@code tierName} (from the fastest tier holding each), optionally
     * pinning them there for {@code pinTtl}.
     */
    public StageHandle stage(Collection<ObjectKey> keys, String tierName, Duration pinTtl) {
        checkOpen();
        EngineTier to = tier(tierName);
        Owner o = owner;
        if (o != null) {
            return o.stage(List.copyOf(keys), to, pinTtl);
        }
        return attachedStage(List.copyOf(keys), to, pinTtl);
    }

    /** Stages every object whose key starts with {@code prefix} (known to the engine or in the backing tier). */
    public StageHandle stage(String prefix, String tierName, Duration pinTtl) {
        checkOpen();
        tier(tierName);
        return stage(listKeys(prefix), tierName, pinTtl);
    }

    private List<ObjectKey> listKeys(String prefix) {
        TreeMap<String, ObjectKey> keys = new TreeMap<>();
        for (ObjectStatus s : list(prefix)) {
            keys.put(s.key().toString(), s.key());
        }
        if (backing().open()) {
            for (BackingObject o : listBacking(prefix)) {
                keys.putIfAbsent(o.key().toString(), o.key());
            }
        }
        return List.copyOf(keys.values());
    }

    /**
     * Every object whose key starts with {@code prefix} that the backing tier lists, page by page
     * (1,000 keys a request), in key order: also those the engine has never seen, such as objects
     * that another tool uploaded. Reading one of those imports it ({@link #read}). This is a
     * request to the backing tier (for S3, one ListObjectsV2 per 1,000 keys), not a catalog
     * lookup: callers that poll should do so rarely.
     *
     * @throws TierUnavailableException (unchecked, from the tier) if the backing tier cannot be listed now
     */
    public List<BackingObject> listBacking(String prefix) {
        checkOpen();
        EngineTier b = backing();
        if (!b.open()) {
            throw new TierUnavailableException("backing tier " + b.name() + " is not open in this process", false);
        }
        List<BackingObject> out = new ArrayList<>();
        ObjectKey after = null;
        while (true) {
            ListPage page = b.tier.list(prefix, after, 1000).join();
            for (int i = 0; i < page.keys().size(); i++) {
                out.add(new BackingObject(page.keys().get(i), page.sizeInBytes(i)));
            }
            if (page.isLast()) {
                return out;
            }
            after = page.nextStartAfter().get();
        }
    }

    private StageHandle attachedStage(List<ObjectKey> keys, EngineTier to, Duration pinTtl) {
        StageHandle h = new StageHandle(to.name());
        Thread.ofVirtual().name("thermocline-stage-request").start(() -> {
            try {
                List<long[]> pending = new ArrayList<>();
                List<ObjectKey> pendingKeys = new ArrayList<>();
                for (ObjectKey k : keys) {
                    long id = sendOrWait(RequestType.STAGE, k, to.id, pinTtl.toMillis());
                    pending.add(new long[] {id, 0, -1});
                    pendingKeys.add(k);
                }
                boolean counted = false;
                while (true) {
                    boolean all = true;
                    for (int i = 0; i < pending.size(); i++) {
                        long[] p = pending.get(i);
                        if (p[2] >= 0) {
                            continue;
                        }
                        Optional<RequestResults.Result> r = region.results().get(p[0]);
                        if (r.isEmpty()) {
                            all = false;
                            continue;
                        }
                        RequestResults.Result res = r.get();
                        if (p[1] == 0 && res.total() > 0) {
                            h.addObject(res.total());
                            p[1] = res.total();
                        }
                        if (res.finished()) {
                            p[2] = 1;
                            if (res.status() == RequestResults.Status.DONE) {
                                h.addBytes(res.total());
                                h.staged(pendingKeys.get(i));
                            } else {
                                h.failed(pendingKeys.get(i), "the owner reported " + res.status() + " (see the owner's log for the reason)",
                                        res.status() == RequestResults.Status.UNAVAILABLE);
                            }
                        } else {
                            all = false;
                        }
                    }
                    if (all) {
                        break;
                    }
                    Thread.sleep(5);
                }
                h.finish();
            } catch (Throwable t) {
                h.fail(t);
            }
        });
        return h;
    }

    /** Pins the object on its fastest tier until {@code ttl} from now: the planner will not demote it. */
    public CompletableFuture<Void> pin(ObjectKey key, Duration ttl) {
        checkOpen();
        if (ttl.isNegative() || ttl.isZero()) {
            return CompletableFuture.failedFuture(InvalidArgumentException.of("ttl", ttl, "a positive duration"));
        }
        Owner o = owner;
        return o != null ? o.pin(key, ttl.toMillis()) : request(RequestType.PIN, key, -1, ttl.toMillis()).thenApply(r -> null);
    }

    public CompletableFuture<Void> unpin(ObjectKey key) {
        checkOpen();
        Owner o = owner;
        return o != null ? o.pin(key, 0) : request(RequestType.UNPIN, key, -1, 0).thenApply(r -> null);
    }

    /**
     * Frees the object's copy on {@code tierName}. Refused when that is its only copy, when it is
     * dirty (not yet persisted), or when it is pinned.
     *
     * @return true if the tier held a copy
     */
    public CompletableFuture<Boolean> evict(ObjectKey key, String tierName) {
        checkOpen();
        EngineTier t = tier(tierName);
        Owner o = owner;
        return o != null ? o.evict(key, t) : request(RequestType.EVICT, key, t.id, 0).thenApply(r -> true);
    }

    /**
     * Where {@code key} lies as a plain file on tier {@code tierName}: a file that holds exactly the
     * object's bytes, which any program may open or memory-map. Empty when that tier holds no
     * committed current copy, when the key has no plain path (an escaped name), or when the file
     * was changed behind the tier's back. Blocking (stats the file).
     *
     * @throws io.thermocline.tier.InvalidArgumentException if there is no such tier, or it keeps no plain files
     */
    public Optional<java.nio.file.Path> plainPath(ObjectKey key, String tierName) {
        checkOpen();
        EngineTier t = tier(tierName);
        if (!keepsPlainFiles(tierName)) {
            throw InvalidArgumentException.of("tier", "'" + tierName + "' (" + t.definition.description() + ")",
                    "a tier that keeps objects as plain files, such as a local tier");
        }
        return ((io.thermocline.tier.local.LocalTier) t.tier).plainPath(key);
    }

    /** Whether tier {@code tierName} is open in this process and keeps its objects as plain files. */
    public boolean keepsPlainFiles(String tierName) {
        checkOpen();
        return tier(tierName).tier instanceof io.thermocline.tier.local.LocalTier;
    }

    /** What the engine knows of the object, or empty. */
    public CompletableFuture<Optional<ObjectStatus>> stat(ObjectKey key) {
        checkOpen();
        Owner o = owner;
        if (o != null) {
            return CompletableFuture.completedFuture(o.status(key));
        }
        EntryView v = new EntryView();
        RegionKey rk = RegionKey.of(key);
        if (!region.table().lookup(rk, v)) {
            return CompletableFuture.completedFuture(Optional.empty());
        }
        return CompletableFuture.completedFuture(Optional.of(statusOf(key, v, -1)));
    }

    ObjectStatus statusOf(ObjectKey key, EntryView v, long pinUntil) {
        ObjectTable.Heat heat = region.table().heat(v.slot());
        return new ObjectStatus(key, v.sizeInBytes(), v.crc32c(), v.state(), tierNames(v.tiers()), v.epoch(),
                heat.reads(), heat.decayedReads(), pinUntil);
    }

    List<String> tierNames(int mask) {
        List<String> names = new ArrayList<>();
        for (EngineTier t : tiers) {
            if ((mask & (1 << t.id)) != 0) {
                names.add(t.name());
            }
        }
        return names;
    }

    /** Every object the engine knows whose key starts with {@code prefix}, in key order. */
    public List<ObjectStatus> list(String prefix) {
        checkOpen();
        Owner o = owner;
        if (o != null) {
            return o.list(prefix);
        }
        TreeMap<String, ObjectStatus> out = new TreeMap<>();
        region.table().forEach((rk, v) -> {
            String k = rk.key().toString();
            if (k.startsWith(prefix)) {
                out.put(k, statusOf(rk.key(), v, -1));
            }
        });
        return List.copyOf(out.values());
    }

    /** The tiers, fastest first, with capacity, usage and object counts. */
    public List<TierStatus> tiers() {
        checkOpen();
        long[] counts = new long[tiers.size()];
        Owner o = owner;
        if (o != null) {
            o.countPerTier(counts);
        } else {
            region.table().forEach((rk, v) -> {
                for (EngineTier t : tiers) {
                    if (v.onTier(t.id)) {
                        counts[t.id]++;
                    }
                }
            });
        }
        List<TierStatus> out = new ArrayList<>();
        for (EngineTier t : tiers) {
            out.add(new TierStatus(t.id, t.name(), t.open() ? t.tier.tierClass() : null, t.definition.spec().capacityBytes(),
                    t.open() ? t.tier.usage().usedInBytes() : -1, counts[t.id], t.open() ? t.tier.health() : null,
                    t.definition.description()));
        }
        return out;
    }

    // ------------------------------------------------------------------ requests to the owner

    private long sendOrWait(RequestType type, ObjectKey key, int tierId, long arg) throws InterruptedException {
        long deadline = System.nanoTime() + config.requestTimeout().toNanos();
        while (true) {
            Owner o = owner;
            if (o != null) {
                throw new IllegalStateException("this process became the owner");
            }
            long id = region.ring().offer(type, key, tierId, arg);
            if (id != RequestRing.FULL) {
                return id;
            }
            if (System.nanoTime() > deadline) {
                throw new EngineException("the owner of " + config.dataRoot() + " did not take requests for "
                        + config.requestTimeout() + " (its request ring stayed full); is it stuck?");
            }
            Thread.sleep(10);
        }
    }

    /** Sends one request and completes with its final result; fails if the owner reports failure. */
    CompletableFuture<RequestResults.Result> request(RequestType type, ObjectKey key, int tierId, long arg) {
        CompletableFuture<RequestResults.Result> f = new CompletableFuture<>();
        Thread.ofVirtual().name("thermocline-request").start(() -> {
            try {
                long id = sendOrWait(type, key, tierId, arg);
                long deadline = System.nanoTime() + config.requestTimeout().toNanos();
                long lastDone = -1;
                while (true) {
                    Optional<RequestResults.Result> r = region.results().get(id);
                    if (r.isPresent()) {
                        RequestResults.Result res = r.get();
                        if (res.finished()) {
                            if (res.status() == RequestResults.Status.DONE) {
                                f.complete(res);
                            } else if (res.status() == RequestResults.Status.UNAVAILABLE) {
                                f.completeExceptionally(new io.thermocline.tier.TierUnavailableException(type + " " + key
                                        + ": the owner could not reach a tier (see the owner's log for which)", true));
                            } else {
                                f.completeExceptionally(new EngineException(type + " " + key + ": the owner reported " + res.status()
                                        + " (see the owner's log for the reason)"));
                            }
                            return;
                        }
                        if (res.done() != lastDone) {
                            lastDone = res.done();
                            deadline = System.nanoTime() + config.requestTimeout().toNanos();
                        }
                    }
                    if (System.nanoTime() > deadline) {
                        f.completeExceptionally(new EngineException(type + " " + key + ": no progress from the owner of "
                                + config.dataRoot() + " for " + config.requestTimeout()));
                        return;
                    }
                    Thread.sleep(2);
                }
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    private static <T> T await(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (java.util.concurrent.CompletionException e) {
            Throwable t = TierException.unwrap(e);
            throw t instanceof RuntimeException re ? re : e;
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("engine on " + config.dataRoot() + " is closed");
        }
    }

    /**
     * Stops the stager (moves under way are abandoned and rolled back at the next open), releases
     * ownership, closes the tiers and unmaps the region. Idempotent.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        ownershipWatcher.interrupt();
        try {
            ownershipWatcher.join(Duration.ofSeconds(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Owner o = owner;
        owner = null;
        if (o != null) {
            o.close();
        }
        for (EngineTier t : tiers) {
            if (t.tier != null) {
                try {
                    t.tier.close();
                } catch (RuntimeException e) {
                    log.warn("closing tier {}: {}", t.name(), e.toString());
                }
            }
        }
        region.close();
        metrics.close();
        try {
            FileLock l = lock;
            if (l != null) {
                l.release();
            }
            lockChannel.close();
        } catch (IOException e) {
            log.warn("releasing {}: {}", config.dataRoot().resolve("owner.lock"), e.toString());
        }
    }

    @Override
    public String toString() {
        return "TierEngine[" + config.dataRoot() + ", " + (owner != null ? "owner" : "attached") + ", tiers "
                + tiers.stream().map(EngineTier::name).toList() + "]";
    }

    /** Open readers per (object, tier) in this process, so a move frees a copy only once nobody reads it. */
    static final class ReaderRegistry {
        private final ConcurrentHashMap<String, AtomicInteger> open = new ConcurrentHashMap<>();

        private static String id(ObjectKey key, int tier) {
            return tier + "\u0000" + key;
        }

        Runnable register(ObjectKey key, int tier) {
            String id = id(key, tier);
            open.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
            java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
            return () -> {
                if (done.compareAndSet(false, true)) {
                    open.computeIfPresent(id, (k, n) -> n.decrementAndGet() == 0 ? null : n);
                }
            };
        }

        /** Waits until no reader of {@code key} on {@code tier} is open, or {@code timeout}; true if none is. */
        boolean awaitNone(ObjectKey key, int tier, Duration timeout) throws InterruptedException {
            String id = id(key, tier);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (open.containsKey(id)) {
                if (System.nanoTime() > deadline) {
                    return false;
                }
                Thread.sleep(5);
            }
            return true;
        }
    }
}
