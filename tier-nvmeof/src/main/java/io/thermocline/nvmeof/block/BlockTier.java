package io.thermocline.nvmeof.block;

import io.thermocline.tier.support.AlignedBufferPool;
import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.Crc32c;
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
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The FABRIC tier: objects stored as extents on any {@link BlockDevice} — a namespace reached
 * over NVMe/TCP, one the kernel attached, or a plain file.
 *
 * <p><b>On the device.</b> A two-slot superblock journal at the start (see {@link Superblock} for
 * the layout and {@link SuperblockJournal} for the rules), then the data area cut into allocation
 * units. Nothing else on the device is metadata: an object is just its bytes, from the first byte
 * of its first extent, the last block zero-padded.
 *
 * <p><b>On the local disk.</b> The catalog (RocksDB, see {@link Catalog}) maps each key to its
 * {@link ObjectInfo} and extents and records the device's UUID, so it cannot be used with another
 * device. It is the only record of what is stored: at open the free space is "everything the
 * catalog does not name", which is how an uncommitted or crashed writer leaves nothing behind.
 *
 * <p><b>Writes.</b> {@link #create} reserves whole extents for the declared size (best fit, see
 * {@link ExtentAllocator}) or fails with {@link TierFullException} before any byte is written.
 * Writes go to the device in whole blocks: a piece that ends inside a block waits in a block-sized
 * direct buffer until its chunk continues, and the object's last block is zero-padded. Commit
 * checks every chunk CRC32C (against the expected ones for a copy), optionally reads the chunks
 * back from the device, flushes the device, and only then writes the catalog entry with a synced
 * WAL write — so a published entry never points at bytes that are not durable. Replacing a key
 * is one catalog put: readers see the old object or the new one.
 *
 * <p><b>Deletes and readers.</b> A reader pins the version it opened. Delete (or replacement)
 * removes the catalog entry at once; the version's extents return to the free space when its last
 * reader closes. Freed extents are trimmed first ({@link BlockDevice#trim}) and become allocatable
 * only once the trim has completed, so a late trim can never hit a new object's bytes; a trim that
 * does not finish within {@value #TRIM_TIMEOUT_SECONDS} s leaves its extents unused until the next open.
 *
 * <p><b>Resume.</b> A writer's checkpoint flushes the device and returns a token listing its
 * extents (see {@link ResumeToken}); nothing is recorded as reserved, so a suspended writer's
 * extents are free at once and a crashed one's at the next open, and another writer may take them
 * and write over the checkpointed bytes. {@link #resume} therefore takes the prefix's extents back
 * only if all are free, and reads the prefix back to keep only the leading chunks whose CRC32C is
 * still the caller's. Abort and {@link #discard} spoil a checkpointed prefix's first byte, so a
 * point cannot be resumed after either, whatever trim leaves on the device.
 *
 * <p><b>Ownership.</b> The superblock names the host (NQN) that owns the device. Open refuses a
 * device owned by another host unless {@link BlockTierConfig#takeOwnership()}; every open and
 * clean close writes a new superblock generation.
 *
 * <p><b>Lifecycle.</b> {@link #format} prepares a device and its catalog and opens the tier;
 * {@link #open} opens a formatted one; {@link #openOrFormat} formats only a device whose
 * superblock slots are all blank (never one with a damaged superblock). The tier does not own the
 * device: the caller closes it after the tier.
 *
 * <p>Blocking work runs on the configured executor (virtual threads by default). Thread-safe.
 */
public final class BlockTier implements Tier {

    private static final Logger log = LoggerFactory.getLogger(BlockTier.class);
    private static final int LOCK_STRIPES = 256;
    /** How long a release waits for its trims before it gives up on the extents until reopen. */
    static final long TRIM_TIMEOUT_SECONDS = 30;

    private final BlockDevice device;
    private final BlockTierConfig config;
    private final String name;
    private final Catalog catalog;
    private final AlignedBufferPool buffers;
    private final Executor executor;
    private final ExecutorService ownedExecutor;
    private final int unit;
    private final long dataOffset;
    private final long unitCount;
    private final ReentrantLock[] keyLocks = new ReentrantLock[LOCK_STRIPES];
    /** The current version of each key that has open readers; changed under the key's lock. */
    private final Map<ObjectKey, Version> pinned = new ConcurrentHashMap<>();
    private final Object space = new Object();
    private final ExtentAllocator allocator;
    /** Units of committed versions, current or still read. Guarded by {@code space}, as are the next three. */
    private long usedUnits;
    private long reservedUnits;
    /** Units neither used nor free until the next open: a failed catalog update or a trim that did not finish. */
    private long strandedUnits;
    private long objectCount;
    private final Object journal = new Object();
    private volatile Superblock superblock;
    private volatile boolean closed;
    /** Set once by close, which runs once. */
    private boolean shutDown;
    private volatile boolean crashed;
    private volatile String degradedReason;

    private BlockTier(BlockDevice device, BlockTierConfig config, AlignedBufferPool buffers, Catalog catalog, Superblock sb) {
        this.device = device;
        this.config = config;
        this.name = config.name();
        this.buffers = buffers;
        this.catalog = catalog;
        this.superblock = sb;
        this.unit = sb.allocationUnitInBytes();
        this.dataOffset = sb.dataOffsetInBytes();
        this.unitCount = sb.unitCount();
        for (int i = 0; i < LOCK_STRIPES; i++) {
            keyLocks[i] = new ReentrantLock();
        }
        this.allocator = new ExtentAllocator(unitCount);
        catalog.forEach((key, entry) -> {
            long need = unitsFor(entry.info().sizeInBytes());
            if (entry.unitCount() < need) {
                throw new TierIoException("catalog at " + catalog.directory() + ": the entry of " + key + " has "
                        + entry.unitCount() + " units for " + entry.info().sizeInBytes() + " bytes (expected at least "
                        + need + " units of " + unit + " bytes)", false);
            }
            for (Extent e : entry.extents()) {
                try {
                    allocator.claim(e);
                } catch (IllegalStateException ex) {
                    throw new TierIoException("catalog at " + catalog.directory() + ": the entry of " + key + " names "
                            + "extent " + e + ", which " + ex.getMessage(), false, ex);
                }
            }
            usedUnits += entry.unitCount();
            objectCount++;
        });
        if (config.executor().isPresent()) {
            this.executor = config.executor().get();
            this.ownedExecutor = null;
        } else {
            this.ownedExecutor = Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("tier-" + name + "-", 0).factory());
            this.executor = ownedExecutor;
        }
    }

    // ---- lifecycle ----

    /**
     * Formats {@code device} for a new, empty tier and opens it: clears the superblock area,
     * trims the data area (unless {@link BlockTierConfig#trimOnFormat()} is off), creates the
     * catalog in {@link BlockTierConfig#catalogDirectory()} with a new device UUID and writes
     * superblock generation 1 naming {@link BlockTierConfig#hostNqn()} as owner. Blocking.
     *
     * <p>Refuses a device that already carries a superblock of this format unless
     * {@link BlockTierConfig#allowReformat()}, and a catalog directory that holds a catalog with
     * objects in any case; a refused format changes nothing. If format stops half-way (a crash),
     * run it again: the catalog is written first and has no objects yet.
     *
     * @throws InvalidArgumentException if the allocation unit does not suit the device, or the device is too small
     * @throws TierUnavailableException if the device or the catalog directory is already in use
     */
    public static BlockTier format(BlockDevice device, BlockTierConfig config) {
        int block = device.blockSizeInBytes();
        int au = config.allocationUnitInBytes();
        if (au % block != 0) {
            throw InvalidArgumentException.of("allocationUnitInBytes", au,
                    "a multiple of the block size " + block + " of " + device.name());
        }
        long dataOffset = Superblock.dataOffset(block, au);
        long units = (device.sizeInBytes() - dataOffset) / au;
        if (units < 1) {
            throw InvalidArgumentException.of("size of " + device.name(), device.sizeInBytes() + " bytes",
                    "at least " + (dataOffset + au) + " for the superblock area and one allocation unit of " + au);
        }
        AlignedBufferPool buffers = new AlignedBufferPool(config.maxIdleBuffersPerSize());
        List<SuperblockJournal.SlotReading> slots = SuperblockJournal.readAll(device, buffers);
        boolean ours = slots.stream().anyMatch(s -> s instanceof SuperblockJournal.Valid
                || s instanceof SuperblockJournal.ForeignVersion
                || s instanceof SuperblockJournal.Damaged d && d.carriesMagic());
        if (ours && !config.allowReformat()) {
            throw new TierUnavailableException("device " + device.name() + " already carries a BlockTier superblock ("
                    + SuperblockJournal.describe(device, slots) + "); set allowReformat to overwrite it and lose its objects", false);
        }
        UUID uuid = UUID.randomUUID();
        Instant now = Instant.now();
        // The catalog first: a refused format leaves the device untouched, and a format stopped
        // before the superblock is written fails to open (uuid mismatch or blank device) and can
        // be run again, since the catalog still has no objects.
        Catalog.create(config.catalogDirectory(), new Catalog.Identity(uuid, au, units, dataOffset, now)).close();
        SuperblockJournal.clear(device);
        if (config.trimOnFormat()) {
            try {
                DeviceIo.await(device.trim(dataOffset, units * au), () -> "trim of the data area of " + device.name());
            } catch (TierException e) {
                log.warn("format of {}: trimming the data area failed, continuing: {}", device.name(), e.getMessage());
            }
        }
        Superblock first = new Superblock(Superblock.MAJOR_VERSION, Superblock.MINOR_VERSION, 1, uuid, au, block,
                device.sizeInBytes(), dataOffset, units, now, now, 0, Superblock.State.CLEAN, config.hostNqn());
        SuperblockJournal.write(device, buffers, first);
        log.info("formatted {}: uuid {}, {} units of {} bytes from offset {}, owner {}, catalog {}",
                device.name(), uuid, units, au, dataOffset, config.hostNqn(), config.catalogDirectory());
        return open(device, config);
    }

    /**
     * Opens the tier on a formatted device: takes the newest valid superblock generation, checks
     * the device's geometry, the owner and that the catalog belongs to this device, rebuilds the
     * free space from the catalog and writes a new superblock generation (state OPEN). Blocking.
     *
     * @throws TierUnavailableException naming what did not match: no or damaged superblock,
     *         another layout version, another owner, a catalog of another device, a smaller device
     * @throws TierIoException if the catalog is damaged
     */
    public static BlockTier open(BlockDevice device, BlockTierConfig config) {
        AlignedBufferPool buffers = new AlignedBufferPool(config.maxIdleBuffersPerSize());
        List<SuperblockJournal.SlotReading> slots = SuperblockJournal.readAll(device, buffers);
        Superblock sb = SuperblockJournal.newest(device, slots);
        for (SuperblockJournal.SlotReading s : slots) {
            if (s instanceof SuperblockJournal.Damaged d) {
                log.warn("superblock slot {} of {} is damaged ({}); using generation {} from slot {}",
                        d.slot(), device.name(), d.reason(), sb.generation(), sb.slot());
            }
        }
        checkGeometry(device, sb);
        if (!sb.ownerHostNqn().equals(config.hostNqn()) && !config.takeOwnership()) {
            throw new TierUnavailableException("device " + device.name() + " (uuid " + sb.deviceUuid() + ") is owned by host "
                    + sb.ownerHostNqn() + " (superblock generation " + sb.generation() + ", written " + sb.writtenAt()
                    + "); this host is " + config.hostNqn() + " (expected the owner; set takeOwnership once "
                    + sb.ownerHostNqn() + " has stopped using the device)", false);
        }
        Catalog catalog = Catalog.open(config.catalogDirectory());
        BlockTier tier = null;
        try {
            checkIdentity(device, sb, catalog);
            tier = new BlockTier(device, config, buffers, catalog, sb);
            if (sb.state() == Superblock.State.OPEN) {
                log.info("{} was not closed cleanly (generation {} by {}); the catalog is authoritative, nothing to repair",
                        device.name(), sb.generation(), sb.ownerHostNqn());
            }
            tier.writeGeneration(Superblock.State.OPEN, config.hostNqn(), true);
            log.info("opened block tier {} on {}: {} objects, {} of {} units used, generation {}, catalog {}",
                    tier.name, device.name(), tier.objectCount, tier.usedUnits, tier.unitCount,
                    tier.superblock.generation(), config.catalogDirectory());
            return tier;
        } catch (RuntimeException e) {
            if (tier != null) {
                tier.crashed = true;
                tier.close();
            } else {
                catalog.close();
            }
            throw e;
        }
    }

    /**
     * {@link #format} if every superblock slot of {@code device} is blank (a new device), else
     * {@link #open}. A device with a damaged superblock is never formatted by this method.
     */
    public static BlockTier openOrFormat(BlockDevice device, BlockTierConfig config) {
        List<SuperblockJournal.SlotReading> slots =
                SuperblockJournal.readAll(device, new AlignedBufferPool(config.maxIdleBuffersPerSize()));
        return SuperblockJournal.isBlank(slots) ? format(device, config) : open(device, config);
    }

    /**
     * The device size that gives a tier {@code capacityInBytes} of data area: the superblock area
     * rounded up to an allocation unit, plus the capacity rounded up to whole units.
     */
    public static long deviceSizeFor(long capacityInBytes, int allocationUnitInBytes, int blockSizeInBytes) {
        long units = (capacityInBytes + allocationUnitInBytes - 1) / allocationUnitInBytes;
        return Superblock.dataOffset(blockSizeInBytes, allocationUnitInBytes) + units * allocationUnitInBytes;
    }

    private static void checkGeometry(BlockDevice device, Superblock sb) {
        if (device.blockSizeInBytes() != sb.blockSizeInBytes()) {
            throw new TierUnavailableException("device " + device.name() + " has a logical block size of "
                    + device.blockSizeInBytes() + " bytes (expected " + sb.blockSizeInBytes()
                    + ", as when it was formatted; superblock generation " + sb.generation() + ")", false);
        }
        long end = sb.dataOffsetInBytes() + sb.capacityInBytes();
        if (sb.allocationUnitInBytes() < BlockTierConfig.MIN_ALLOCATION_UNIT_IN_BYTES
            || sb.allocationUnitInBytes() % sb.blockSizeInBytes() != 0
            || sb.dataOffsetInBytes() < (long) Superblock.SLOT_COUNT * Superblock.slotLength(sb.blockSizeInBytes())
            || sb.dataOffsetInBytes() % sb.blockSizeInBytes() != 0 || sb.unitCount() < 1) {
            throw new TierUnavailableException("superblock generation " + sb.generation() + " of " + device.name()
                    + " describes an impossible layout: " + sb, false);
        }
        if (device.sizeInBytes() < end) {
            throw new TierUnavailableException("device " + device.name() + " is " + device.sizeInBytes()
                    + " bytes (expected at least " + end + ": data offset " + sb.dataOffsetInBytes() + " + "
                    + sb.unitCount() + " units of " + sb.allocationUnitInBytes() + " bytes)", false);
        }
    }

    private static void checkIdentity(BlockDevice device, Superblock sb, Catalog catalog) {
        Catalog.Identity id = catalog.identity();
        if (!id.deviceUuid().equals(sb.deviceUuid())) {
            throw new TierUnavailableException("catalog at " + catalog.directory() + " belongs to device uuid "
                    + id.deviceUuid() + ", but device " + device.name() + " has uuid " + sb.deviceUuid()
                    + " (expected the catalog that BlockTier.format created for this device)", false);
        }
        if (id.allocationUnitInBytes() != sb.allocationUnitInBytes() || id.unitCount() != sb.unitCount()
            || id.dataOffsetInBytes() != sb.dataOffsetInBytes()) {
            throw new TierUnavailableException("catalog at " + catalog.directory() + " records allocation unit "
                    + id.allocationUnitInBytes() + ", " + id.unitCount() + " units at offset " + id.dataOffsetInBytes()
                    + ", but the superblock of " + device.name() + " says " + sb.allocationUnitInBytes() + ", "
                    + sb.unitCount() + " units at offset " + sb.dataOffsetInBytes(), false);
        }
    }

    /** Writes the next superblock generation and makes it current. Blocking. */
    private void writeGeneration(Superblock.State state, String owner, boolean opening) {
        synchronized (journal) {
            Superblock next = superblock.next(state, owner, opening, Instant.now());
            SuperblockJournal.write(device, buffers, next);
            superblock = next;
        }
    }

    // ---- Tier ----

    @Override
    public String name() {
        return name;
    }

    @Override
    public TierClass tierClass() {
        return TierClass.FABRIC;
    }

    @Override
    public CompletableFuture<Optional<ObjectInfo>> stat(ObjectKey key) {
        return async("stat of " + key, () -> Optional.ofNullable(catalog.get(key)).map(CatalogEntry::info));
    }

    @Override
    public CompletableFuture<ObjectReader> openReader(ObjectKey key) {
        return async("open of " + key, () -> {
            ReentrantLock lock = lockFor(key);
            CatalogEntry entry;
            Version version;
            lock.lock();
            try {
                checkOpen();
                entry = catalog.get(key);
                if (entry == null) {
                    throw new ObjectNotFoundException(name, key);
                }
                version = pinned.computeIfAbsent(key, k -> new Version(entry.extents()));
                version.readers++;
            } finally {
                lock.unlock();
            }
            return new BlockObjectReader(this, entry.info(), new ExtentMap(entry.extents(), dataOffset, unit), version);
        });
    }

    @Override
    public CompletableFuture<ObjectWriter> create(WriteRequest request) {
        try {
            checkOpen();
            checkChunkSize(request);
            long units = unitsFor(request.sizeInBytes());
            List<Extent> extents;
            synchronized (space) {
                extents = allocator.allocate(units);
                if (extents == null) {
                    throw new TierFullException(name, "object " + request.key(), units * unit, allocator.freeUnits() * unit);
                }
                reservedUnits += units;
            }
            Reservation reservation = new Reservation(extents, units);
            return CompletableFuture.completedFuture(
                    new BlockObjectWriter(this, request, new ExtentMap(extents, dataOffset, unit), reservation));
        } catch (TierException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private void checkChunkSize(WriteRequest request) {
        int block = device.blockSizeInBytes();
        if (request.chunkSizeInBytes() % block != 0) {
            throw InvalidArgumentException.of("chunkSizeInBytes of " + request.key(), request.chunkSizeInBytes(),
                    "a multiple of the block size " + block + " of " + device.name());
        }
    }

    /**
     * Takes up a writer cut off after a checkpoint (see the class comment, "Resume"): reserves
     * the extents the token names for the prefix if they are all free right now, the token's
     * remaining extents too if they are free (else as many new units as {@link #create} would),
     * then reads the prefix back chunk by chunk and keeps the leading chunks whose CRC32C equals
     * {@code chunkCrc32cs}. Blocking work runs on the executor.
     *
     * @return the writer; empty if the token is not this device's or not this request's, if any
     *         extent of the prefix is in use, or if not even the first chunk reads back as written
     *         (its reservation is then released, trimmed)
     * @throws InvalidArgumentException (through the future) if the point's length is not a chunk
     *         boundary of the object, or fewer checksums than its chunks are given
     * @throws TierFullException (through the future) if the rest of the object no longer fits
     */
    @Override
    public CompletableFuture<Optional<ObjectWriter>> resume(WriteRequest request, ResumePoint point, int[] chunkCrc32cs) {
        try {
            checkOpen();
            checkChunkSize(request);
            ChunkChecksumTracker.checkResume(request, point.length(), chunkCrc32cs);
        } catch (TierException e) {
            return CompletableFuture.failedFuture(e);
        }
        int[] crcs = chunkCrc32cs.clone();
        return async("resume of " + request.key(), () -> {
            Optional<ResumeToken> parsed = ResumeToken.parse(point.token());
            if (parsed.isEmpty()) {
                log.info("block tier {}: resume of {}: the token is not one of this tier's", name, request.key());
                return Optional.empty();
            }
            ResumeToken token = parsed.get();
            long units = unitsFor(request.sizeInBytes());
            if (!token.matches(superblock) || !token.matches(request) || token.unitCount() != units) {
                log.info("block tier {}: resume of {}: the token was made for another device ({}, {} B units, {} B blocks) "
                        + "or another object ({} bytes in {} units, chunks of {})", name, request.key(),
                        token.deviceUuid(), token.allocationUnitInBytes(), token.blockSizeInBytes(),
                        token.sizeInBytes(), token.unitCount(), token.chunkSizeInBytes());
                return Optional.empty();
            }
            List<List<Extent>> split = splitAtUnit(token.extents(), unitsFor(point.length()));
            List<Extent> head = split.get(0);
            List<Extent> rest = split.get(1);
            List<Extent> extents = new ArrayList<>(head);
            synchronized (space) {
                checkOpen();
                if (!allocator.claimIfFree(head)) {
                    log.info("block tier {}: resume of {}: extents {} of the checkpointed prefix are in use again",
                            name, request.key(), head);
                    return Optional.empty();
                }
                if (allocator.claimIfFree(rest)) {
                    extents.addAll(rest);
                } else {
                    long restUnits = units - unitsFor(point.length());
                    List<Extent> fresh = allocator.allocate(restUnits);
                    if (fresh == null) {
                        long available = allocator.freeUnits() * unit;
                        allocator.free(head);
                        throw new TierFullException(name, "the rest of resumed object " + request.key(),
                                restUnits * unit, available);
                    }
                    extents.addAll(fresh);
                }
                reservedUnits += units;
            }
            extents = mergeAdjacent(extents);
            Reservation reservation = new Reservation(extents, units);
            boolean success = false;
            try {
                ExtentMap map = new ExtentMap(extents, dataOffset, unit);
                long verified = verifyPrefix(request, map, point.length(), crcs);
                if (verified == 0) {
                    log.info("block tier {}: resume of {}: the first chunk no longer reads back as written", name, request.key());
                    return Optional.empty();
                }
                if (verified < point.length()) {
                    log.info("block tier {}: resume of {}: {} of the point's {} bytes read back as written",
                            name, request.key(), verified, point.length());
                }
                ObjectWriter writer = new BlockObjectWriter(this, request, map, reservation, verified, crcs);
                success = true;
                return Optional.of(writer);
            } finally {
                if (!success) {
                    releaseReserved(reservation, "resume of " + request.key() + " that kept nothing");
                }
            }
        });
    }

    /**
     * Releases what a suspended or cut-off writer left for {@code point}: if every extent the
     * token names is free right now (nobody took it since), the prefix's first block is spoiled
     * so that the point can never be resumed, and the extents are trimmed. Extents in use again
     * belong to someone else and are left alone. A token of another tier or device is ignored.
     */
    @Override
    public CompletableFuture<Void> discard(ResumePoint point) {
        return async("discard of a resume point", () -> {
            Optional<ResumeToken> parsed = ResumeToken.parse(point.token());
            if (parsed.isEmpty() || !parsed.get().matches(superblock)) {
                return null;
            }
            List<Extent> extents = parsed.get().extents();
            long units = parsed.get().unitCount();
            synchronized (space) {
                checkOpen();
                if (!allocator.claimIfFree(extents)) {
                    return null;
                }
                reservedUnits += units;
            }
            Reservation reservation = new Reservation(extents, units);
            try {
                if (point.length() > 0) {
                    spoilCheckpoint(new ExtentMap(extents, dataOffset, unit), "discard of a resume point");
                }
            } finally {
                releaseReserved(reservation, "discard of a resume point");
            }
            return null;
        });
    }

    /**
     * Reads the first {@code length} bytes back chunk by chunk and returns the length of the
     * leading run of chunks whose CRC32C equals the expected one.
     */
    private long verifyPrefix(WriteRequest request, ExtentMap map, long length, int[] crcs) {
        int chunk = request.chunkSizeInBytes();
        long verified = 0;
        for (int i = 0; verified < length; i++) {
            int n = ObjectInfo.chunkLength(request.sizeInBytes(), chunk, i);
            ByteBuffer buf = buffers.acquire(n);
            try {
                DeviceIo.readObjectRange(device, map, buffers, verified, buf,
                        () -> "read-back of resumed " + request.key() + " from " + device.name());
                if (Crc32c.of(buf.flip()) != crcs[i]) {
                    break;
                }
            } finally {
                buffers.release(buf);
            }
            verified += n;
        }
        return verified;
    }

    /** Joins each extent with the one before it where the object's bytes run on across both. */
    private static List<Extent> mergeAdjacent(List<Extent> extents) {
        List<Extent> out = new ArrayList<>(extents.size());
        for (Extent e : extents) {
            Extent last = out.isEmpty() ? null : out.getLast();
            if (last != null && last.endUnit() == e.startUnit()) {
                out.set(out.size() - 1, new Extent(last.startUnit(), last.unitCount() + e.unitCount()));
            } else {
                out.add(e);
            }
        }
        return out;
    }

    /** Splits extents in object order into the first {@code units} units and the rest. */
    private static List<List<Extent>> splitAtUnit(List<Extent> extents, long units) {
        List<Extent> head = new ArrayList<>();
        List<Extent> rest = new ArrayList<>();
        long left = units;
        for (Extent e : extents) {
            if (left >= e.unitCount()) {
                head.add(e);
                left -= e.unitCount();
            } else if (left > 0) {
                head.add(new Extent(e.startUnit(), left));
                rest.add(new Extent(e.startUnit() + left, e.unitCount() - left));
                left = 0;
            } else {
                rest.add(e);
            }
        }
        return List.of(head, rest);
    }

    @Override
    public CompletableFuture<Boolean> delete(ObjectKey key) {
        return async("delete of " + key, () -> {
            List<Extent> toFree = null;
            ReentrantLock lock = lockFor(key);
            lock.lock();
            try {
                checkOpen();
                CatalogEntry entry = catalog.get(key);
                if (entry == null) {
                    return false;
                }
                catalog.delete(key);
                synchronized (space) {
                    objectCount--;
                }
                Version version = pinned.remove(key);
                if (version != null) {
                    version.retired = true;
                } else {
                    toFree = entry.extents();
                }
            } finally {
                lock.unlock();
            }
            if (toFree != null) {
                releaseUsed(toFree, "delete of " + key);
            }
            return true;
        });
    }

    @Override
    public CompletableFuture<ListPage> list(String prefix, ObjectKey startAfter, int maxKeys) {
        if (maxKeys < 1 || maxKeys > 1000) {
            return CompletableFuture.failedFuture(InvalidArgumentException.of("maxKeys", maxKeys, "1..1000"));
        }
        if (prefix == null) {
            return CompletableFuture.failedFuture(InvalidArgumentException.of("prefix", null, "a string, empty for every key"));
        }
        return async("list of \"" + prefix + "\"", () -> catalog.list(prefix, startAfter, maxKeys));
    }

    @Override
    public TierUsage usage() {
        synchronized (space) {
            return new TierUsage(unitCount * unit, (usedUnits + strandedUnits) * unit, reservedUnits * unit, objectCount);
        }
    }

    @Override
    public TierHealth health() {
        if (closed) {
            return TierHealth.down("tier " + name + " on " + device.name() + " is closed");
        }
        String degraded = degradedReason;
        if (degraded != null) {
            return TierHealth.degraded(degraded);
        }
        Superblock sb = superblock;
        return TierHealth.up(device.name() + " uuid " + sb.deviceUuid() + " generation " + sb.generation()
                + ", catalog " + catalog.directory());
    }

    /**
     * Closes the tier: open readers and writers fail afterwards, blocking work under way finishes,
     * a superblock generation with state CLEAN is written, and the catalog is closed. The device
     * stays open. Idempotent.
     */
    @Override
    public void close() {
        synchronized (journal) {
            if (shutDown) {
                return;
            }
            shutDown = true;
            closed = true;
        }
        if (ownedExecutor != null) {
            ownedExecutor.close();
        }
        if (!crashed) {
            try {
                writeGeneration(Superblock.State.CLEAN, superblock.ownerHostNqn(), false);
            } catch (RuntimeException e) {
                log.warn("block tier {}: writing the clean superblock generation to {} failed: {}",
                        name, device.name(), e.getMessage());
            }
        }
        try {
            catalog.close();
        } catch (RuntimeException e) {
            log.warn("block tier {}: {}", name, e.getMessage());
        }
        if (!crashed) {
            log.info("closed block tier {} on {}", name, device.name());
        }
    }

    /** The current superblock generation. */
    public Superblock superblock() {
        return superblock;
    }

    public BlockTierConfig config() {
        return config;
    }

    /** The device the tier stores objects on; the caller that opened the tier closes it. */
    public BlockDevice device() {
        return device;
    }

    @Override
    public String toString() {
        return "BlockTier[" + name + " on " + device.name() + ", catalog " + catalog.directory() + "]";
    }

    // ---- package-private: writer, reader and tests ----

    /**
     * Stops the tier the way a killed process would: nothing more is written to the device or the
     * catalog, and the catalog's lock is released so that another instance can open it. For tests
     * that reopen storage "after a crash" within one JVM.
     */
    void simulateCrash() {
        crashed = true;
        close();
    }

    BlockDevice blockDevice() {
        return device;
    }

    AlignedBufferPool buffers() {
        return buffers;
    }

    boolean isClosed() {
        return closed;
    }

    /** The catalog entry of {@code key}'s current version, or null. Blocking. */
    CatalogEntry entry(ObjectKey key) {
        return catalog.get(key);
    }

    ExtentMap extentMap(List<Extent> extents) {
        return new ExtentMap(extents, dataOffset, unit);
    }

    /** The free extents, ascending. */
    List<Extent> freeExtents() {
        synchronized (space) {
            return allocator.freeExtents();
        }
    }

    long unitsFor(long sizeInBytes) {
        return (sizeInBytes + unit - 1) / unit;
    }

    /** Space held for one writer: reserved until it is published or released, exactly once. */
    final class Reservation {
        private final List<Extent> extents;
        private final long units;
        private final AtomicBoolean held = new AtomicBoolean(true);

        private Reservation(List<Extent> extents, long units) {
            this.extents = List.copyOf(extents);
            this.units = units;
        }

        List<Extent> extents() {
            return extents;
        }

        private boolean take() {
            return held.compareAndSet(true, false);
        }

        /** True until the space is published or released. */
        boolean isHeld() {
            return held.get();
        }
    }

    /** One committed version of an object while readers hold it. Guarded by its key's lock. */
    static final class Version {
        private final List<Extent> extents;
        private int readers;
        /** Deleted or replaced: its extents are freed when the last reader closes. */
        private boolean retired;

        private Version(List<Extent> extents) {
            this.extents = extents;
        }
    }

    /**
     * Publishes a written object: one synced catalog put (replacing any previous version), then the
     * reservation becomes used space and the previous version is released or left to its readers.
     * The device must already have been flushed. Blocking.
     */
    void publish(ObjectKey key, ObjectInfo info, Reservation reservation) {
        List<Extent> toFree = null;
        ReentrantLock lock = lockFor(key);
        lock.lock();
        try {
            checkOpen();
            CatalogEntry previous = catalog.get(key);
            try {
                catalog.put(key, new CatalogEntry(info, reservation.extents()));
            } catch (TierException e) {
                // The outcome is unknown: the entry may be durable, so its extents must not be reused.
                if (reservation.take()) {
                    synchronized (space) {
                        reservedUnits -= reservation.units;
                        strandedUnits += reservation.units;
                    }
                }
                degradedReason = "catalog update for " + key + " failed (" + e.getMessage() + "); "
                        + reservation.units + " units are held until the tier is reopened";
                throw e;
            }
            if (!reservation.take()) {
                throw new IllegalStateException("reservation of " + key + " was released before its commit");
            }
            synchronized (space) {
                reservedUnits -= reservation.units;
                usedUnits += reservation.units;
                if (previous == null) {
                    objectCount++;
                }
            }
            if (previous != null) {
                Version version = pinned.remove(key);
                if (version != null) {
                    version.retired = true;
                } else {
                    toFree = previous.extents();
                }
            }
        } finally {
            lock.unlock();
        }
        if (toFree != null) {
            releaseUsed(toFree, "replacement of " + key);
        }
    }

    /** Gives an unpublished writer's extents back, after trimming them. Blocking; once only. */
    void releaseReserved(Reservation reservation, String why) {
        if (!reservation.take()) {
            return;
        }
        boolean trimmed = !closed && trim(reservation.extents(), why);
        synchronized (space) {
            reservedUnits -= reservation.units;
            if (trimmed) {
                allocator.free(reservation.extents());
            } else if (!closed) {
                strandedUnits += reservation.units;
            }
        }
    }

    /**
     * Gives a suspended writer's extents back to the allocator as they are, untrimmed, so that its
     * checkpointed bytes can still be resumed: nothing records them as held, and whoever takes
     * them next may overwrite them, which is why {@link #resume} reads the prefix back. Once only.
     */
    void releaseSuspended(Reservation reservation) {
        if (!reservation.take()) {
            return;
        }
        synchronized (space) {
            reservedUnits -= reservation.units;
            if (!closed) {
                allocator.free(reservation.extents());
            }
        }
    }

    /** The token of a resume point for a writer of {@code request} holding {@code reservation}. */
    String resumeToken(WriteRequest request, Reservation reservation) {
        return ResumeToken.of(superblock, request, reservation.extents()).format();
    }

    /**
     * Makes checkpointed bytes unresumable before their extents are given up (abort, discard):
     * flips every bit of the object's first byte and flushes, a change CRC32C always detects, so
     * a later {@link #resume} finds chunk 0 changed whether or not the device zeroes trimmed
     * blocks. A failure is only logged: the bytes then stay resumable, and a resume still checks
     * them. Blocking; the caller holds the extents.
     */
    void spoilCheckpoint(ExtentMap map, String why) {
        int block = device.blockSizeInBytes();
        long at = map.deviceOffset(0);
        ByteBuffer buf = buffers.acquire(block);
        try {
            DeviceIo.await(device.read(at, buf.duplicate()), () -> "read of " + device.name() + " at " + at + " for " + why);
            buf.put(0, (byte) ~buf.get(0));
            DeviceIo.await(device.write(at, buf.duplicate()), () -> "write of " + device.name() + " at " + at + " for " + why);
            DeviceIo.await(device.flush(), () -> "flush of " + device.name() + " for " + why);
        } catch (TierException e) {
            log.warn("block tier {}: {}: spoiling the checkpointed bytes at {} failed; they stay resumable: {}",
                    name, why, at, e.getMessage());
        } finally {
            buffers.release(buf);
        }
    }

    /** A reader of {@code key} closed: the last reader of a retired version frees its extents. */
    void unpin(ObjectKey key, Version version) {
        List<Extent> toFree = null;
        ReentrantLock lock = lockFor(key);
        lock.lock();
        try {
            version.readers--;
            if (version.readers == 0) {
                if (version.retired) {
                    toFree = version.extents;
                } else {
                    pinned.remove(key, version);
                }
            }
        } finally {
            lock.unlock();
        }
        if (toFree != null) {
            releaseUsed(toFree, "last reader of a deleted or replaced version of " + key);
        }
    }

    /** Frees a committed version's extents, after trimming them. Blocking. */
    private void releaseUsed(List<Extent> extents, String why) {
        if (closed || extents.isEmpty()) {
            return; // a closed tier's free space is rebuilt from the catalog at the next open
        }
        long units = 0;
        for (Extent e : extents) {
            units += e.unitCount();
        }
        boolean trimmed = trim(extents, why);
        synchronized (space) {
            usedUnits -= units;
            if (trimmed) {
                allocator.free(extents);
            } else {
                strandedUnits += units;
            }
        }
    }

    /**
     * Trims extents and waits for the device to finish. True when every trim has completed
     * (a failed trim is only logged: trim is advisory); false if they did not all finish in time,
     * in which case the extents must not be reused before the next open.
     */
    private boolean trim(List<Extent> extents, String why) {
        if (extents.isEmpty()) {
            return true;
        }
        List<CompletableFuture<Void>> trims = new ArrayList<>(extents.size());
        for (Extent e : extents) {
            trims.add(device.trim(dataOffset + e.startUnit() * unit, e.unitCount() * unit));
        }
        try {
            CompletableFuture.allOf(trims.toArray(CompletableFuture[]::new)).get(TRIM_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            return true;
        } catch (ExecutionException e) {
            log.warn("block tier {}: trim after {} failed; the space is reused untrimmed: {}",
                    name, why, TierException.unwrap(e).getMessage());
            return true;
        } catch (TimeoutException e) {
            degradedReason = "trims on " + device.name() + " after " + why + " did not finish in "
                    + TRIM_TIMEOUT_SECONDS + " s; their extents " + extents + " are held until the tier is reopened";
            log.warn("block tier {}: {}", name, degradedReason);
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Runs blocking work on the executor; the future fails with a {@link TierException}. */
    <T> CompletableFuture<T> async(String what, Callable<T> body) {
        if (closed) {
            return CompletableFuture.failedFuture(closedException());
        }
        CompletableFuture<T> result = new CompletableFuture<>();
        try {
            executor.execute(() -> {
                try {
                    result.complete(body.call());
                } catch (Throwable t) {
                    result.completeExceptionally(translate(t, what));
                }
            });
        } catch (RejectedExecutionException e) {
            result.completeExceptionally(new TierUnavailableException("tier " + name + " is closed", false, e));
        }
        return result;
    }

    private TierException translate(Throwable t, String what) {
        Throwable cause = TierException.unwrap(t);
        if (cause instanceof TierException te) {
            return te;
        }
        if (cause instanceof RejectedExecutionException) {
            return new TierUnavailableException("tier " + name + " is closed", false, cause);
        }
        return new TierIoException(name + ": " + what + " failed unexpectedly: " + cause, false, cause);
    }

    void checkOpen() {
        if (closed) {
            throw closedException();
        }
    }

    private TierUnavailableException closedException() {
        return new TierUnavailableException("tier " + name + " on " + device.name() + " is closed", false);
    }

    private ReentrantLock lockFor(ObjectKey key) {
        return keyLocks[(key.hashCode() & 0x7fffffff) % LOCK_STRIPES];
    }
}
