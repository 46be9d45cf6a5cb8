package io.thermocline.region;

import static io.thermocline.region.RegionLayout.*;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.OptionalLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The host-wide metadata region: one memory-mapped file (in /dev/shm, on a DAX file system, or
 * anywhere) that every Thermocline process on a host maps, so that all of them agree on where
 * each object lives ({@link #table()}), how hot it is (heat, in the table), who is moving it
 * ({@link #leases()}), and what they have asked the owner to do ({@link #ring()},
 * {@link #results()}), without a daemon and without a syscall per lookup. The layout is
 * {@link RegionLayout}.
 *
 * <p><b>Open modes.</b> {@link #create} builds a fresh region in a temporary file (mode 0600, or
 * 0660 with {@link RegionConfig#group()}),
 * writes the version last, and renames it into place, so no process ever maps a half-built
 * region. {@link #attach} maps an existing one after validating magic, major version, geometry
 * and header checksum, and fails with {@link RegionCorruptException} naming the file and field.
 * {@link #openOrCreate} attaches, and creates anew when the file is missing or invalid; the
 * engine then refills it from its catalog. {@link #validate} only checks.
 *
 * <p>Processes already attached to a region that is replaced keep their mapping of the old file;
 * they notice through {@link #isCurrent()}.
 *
 * <p>Thread-safe. {@link #close()} unmaps; using the region or anything obtained from it
 * afterwards throws {@link IllegalStateException}.
 */
public final class SharedRegion implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(SharedRegion.class);
    private static final VarHandle LONG_H = ValueLayout.JAVA_LONG.varHandle();

    private final Path path;
    private final Object fileKey;
    private final Arena arena;
    private final MemorySegment seg;
    private final Geometry geometry;
    private final Instant createdAt;
    private final ObjectTable table;
    private final LeaseTable leases;
    private final RequestRing ring;
    private final RequestResults results;
    private final TierCounters tiers;
    private final RegionConfig config;

    private SharedRegion(RegionConfig config, Path path, Object fileKey, Arena arena, MemorySegment seg, Geometry g) {
        this.config = config;
        this.path = path;
        this.fileKey = fileKey;
        this.arena = arena;
        this.seg = seg;
        this.geometry = g;
        long created = seg.get(LONG, CREATED_MILLIS_OFFSET);
        this.createdAt = Instant.ofEpochMilli(created);
        this.table = new ObjectTable(seg, g, path.toString(), created, config.clock());
        this.leases = new LeaseTable(seg, g, table, config.clock());
        this.ring = new RequestRing(seg, g, config.clock(), config.ringStallTimeout());
        this.results = new RequestResults(seg, g);
        this.tiers = new TierCounters(seg, g);
    }

    /**
     * Creates a fresh, empty region at {@code config.path()}, replacing the region file that was
     * there: in a new file (created exclusively, under an unpredictable name, mode 0600 or 0660
     * with the configured group) renamed into place.
     *
     * @throws RegionAccessException if what is at the path is a symbolic link or a file the current
     *     user cannot trust (it is not replaced)
     */
    public static SharedRegion create(RegionConfig config) {
        Path path = config.path();
        Geometry g = config.geometry();
        boolean exists = Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS);
        if (exists) {
            // never through a link, and never into a device or file someone else prepared
            RegionFileAccess.check(path, config);
        }
        boolean regularFile = !exists || Files.isRegularFile(path, java.nio.file.LinkOption.NOFOLLOW_LINKS);
        // an unpredictable name, created with O_EXCL (createFile), so nobody can have put a file or link there first
        Path target = regularFile ? path.resolveSibling(path.getFileName() + ".creating-" + ProcessHandle.current().pid() + "-"
                + java.util.HexFormat.of().toHexDigits(new java.security.SecureRandom().nextLong())) : path;
        try {
            if (regularFile) {
                Files.createFile(target, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
                RegionFileAccess.protectNew(target, config);
            }
            Arena arena = Arena.ofShared();
            boolean success = false;
            try (FileChannel ch = FileChannel.open(target, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                if (regularFile) {
                    try (var raf = new java.io.RandomAccessFile(target.toFile(), "rw")) {
                        raf.setLength(g.regionLength());
                    }
                }
                MemorySegment seg = ch.map(FileChannel.MapMode.READ_WRITE, 0, g.regionLength(), arena);
                if (!regularFile) {
                    seg.fill((byte) 0);
                }
                writeHeader(seg, g, config.clock().millis());
                new RequestRing(seg, g, config.clock(), config.ringStallTimeout()).initialize();
                VarHandle.storeStoreFence();
                ValueLayout.JAVA_INT.varHandle().setRelease(seg, (long) VERSION_OFFSET, VERSION);
                if (regularFile) {
                    Files.move(target, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                }
                Object fileKey = Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
                SharedRegion region = new SharedRegion(config, path, fileKey, arena, seg, g);
                success = true;
                log.info("created shared region {}: {} bytes, {} slots, arena {} bytes", path, g.regionLength(),
                        g.slotCount(), g.arenaLength());
                return region;
            } finally {
                if (!success) {
                    arena.close();
                    if (regularFile) {
                        Files.deleteIfExists(target);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create shared region " + path + ": " + e.getMessage(), e);
        }
    }

    /**
     * Maps an existing region after validating it: first who made it (the current user, or the
     * configured group, with no access for others, and not through a symbolic link), then its
     * contents.
     *
     * @throws RegionAccessException if the file is not one the current user can trust
     * @throws RegionCorruptException if it is not a valid region (the message names the file and field)
     * @throws UncheckedIOException wrapping {@link NoSuchFileException} if there is none
     */
    public static SharedRegion attach(RegionConfig config) {
        Path path = config.path();
        if (Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            RegionFileAccess.check(path, config);
        }
        Arena arena = Arena.ofShared();
        boolean success = false;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE,
                java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            Object fileKey = Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class,
                    java.nio.file.LinkOption.NOFOLLOW_LINKS).fileKey();
            // checked again on the file now open: it is the one the first check saw, or is checked as what it now is
            RegionFileAccess.check(path, config);
            long length = Files.isRegularFile(path, java.nio.file.LinkOption.NOFOLLOW_LINKS) ? ch.size() : config.geometry().regionLength();
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_WRITE, 0, length, arena);
            Geometry g = readHeader(seg, length, path.toString());
            SharedRegion region = new SharedRegion(config, path, fileKey, arena, seg, g);
            success = true;
            return region;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot attach shared region " + path + ": " + e, e);
        } finally {
            if (!success) {
                arena.close();
            }
        }
    }

    /**
     * Attaches, or creates the region when it is missing or invalid (logging why). A file the
     * current user cannot trust ({@link RegionAccessException}) is neither attached nor replaced.
     */
    public static SharedRegion openOrCreate(RegionConfig config) {
        try {
            return attach(config);
        } catch (RegionCorruptException e) {
            log.warn("{}; creating a new region", e.getMessage());
        } catch (UncheckedIOException e) {
            if (!(e.getCause() instanceof NoSuchFileException)) {
                throw e;
            }
        }
        return create(config);
    }

    /**
     * Checks the region at {@code path} without keeping it mapped.
     *
     * @return its geometry
     * @throws RegionCorruptException naming the file and the bad field
     */
    public static Geometry validate(Path path) {
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long length = ch.size();
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, Math.max(length, 0), arena);
            return readHeader(seg, length, path.toString());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read shared region " + path + ": " + e, e);
        }
    }

    // ------------------------------------------------------------------ ownership

    /**
     * Makes this process the owner if there is none, or the previous one died or let its
     * deadline pass.
     *
     * @return the new owner epoch, or empty if a live owner holds the region
     */
    public OptionalLong tryAcquireOwnership(Duration ttl) {
        long now = config.clock().millis();
        long current = (long) LONG_H.getVolatile(seg, (long) OWNER_TOKEN_OFFSET);
        if (current == ProcessToken.SELF) {
            seg.set(LONG, OWNER_DEADLINE_OFFSET, now + ttl.toMillis());
            return OptionalLong.of(seg.get(LONG, OWNER_EPOCH_OFFSET));
        }
        boolean vacant = current == 0 || !ProcessToken.isAlive(current) || seg.get(LONG, OWNER_DEADLINE_OFFSET) < now;
        if (!vacant || !LONG_H.compareAndSet(seg, (long) OWNER_TOKEN_OFFSET, current, ProcessToken.SELF)) {
            return OptionalLong.empty();
        }
        long epoch = (long) LONG_H.getAndAdd(seg, (long) OWNER_EPOCH_OFFSET, 1L) + 1;
        seg.set(LONG, OWNER_DEADLINE_OFFSET, now + ttl.toMillis());
        log.info("process {} owns shared region {} (epoch {}, previous owner {})", ProcessToken.describe(ProcessToken.SELF),
                path, epoch, ProcessToken.describe(current));
        return OptionalLong.of(epoch);
    }

    /** Extends this process's ownership; false if it no longer owns the region. */
    public boolean renewOwnership(Duration ttl) {
        if ((long) LONG_H.getVolatile(seg, (long) OWNER_TOKEN_OFFSET) != ProcessToken.SELF) {
            return false;
        }
        seg.set(LONG, OWNER_DEADLINE_OFFSET, config.clock().millis() + ttl.toMillis());
        return true;
    }

    /** Gives ownership up if this process has it. */
    public boolean releaseOwnership() {
        return LONG_H.compareAndSet(seg, (long) OWNER_TOKEN_OFFSET, ProcessToken.SELF, 0L);
    }

    /** The owner's process token, or 0. */
    public long ownerToken() {
        return (long) LONG_H.getVolatile(seg, (long) OWNER_TOKEN_OFFSET);
    }

    public long ownerEpoch() {
        return (long) LONG_H.getVolatile(seg, (long) OWNER_EPOCH_OFFSET);
    }

    public long ownerDeadlineMillis() {
        return seg.get(LONG, OWNER_DEADLINE_OFFSET);
    }

    // ------------------------------------------------------------------ parts

    public ObjectTable table() {
        return table;
    }

    public LeaseTable leases() {
        return leases;
    }

    public RequestRing ring() {
        return ring;
    }

    public RequestResults results() {
        return results;
    }

    public TierCounters tiers() {
        return tiers;
    }

    public Geometry geometry() {
        return geometry;
    }

    public Path path() {
        return path;
    }

    public Instant createdAt() {
        return createdAt;
    }

    /** False once the file at {@link #path()} has been replaced by a newer region (or removed). */
    public boolean isCurrent() {
        try {
            return fileKey != null && fileKey.equals(Files.readAttributes(path,
                    java.nio.file.attribute.BasicFileAttributes.class).fileKey());
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "SharedRegion[" + path + ", " + geometry.regionLength() + " bytes, " + table + "]";
    }
}
