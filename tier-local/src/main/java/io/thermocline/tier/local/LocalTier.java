package io.thermocline.tier.local;

import io.thermocline.tier.support.AlignedBufferPool;
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
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.LinkOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The LOCAL tier: each object is a plain file holding exactly the object's bytes, at
 * {@code root/files/<key>} (the key's {@code /}-separated segments become directories), so that
 * any program can open or memory-map it; its checksum record lives in a sidecar,
 * {@code root/sums/xx/<sha-256 of key>.sum} (see {@link SumFile}). Keys that cannot be plain paths
 * ({@link KeyPaths}) are kept at {@code root/escaped/xx/<sha-256 of key>} and are read through the
 * API only. The layout is described in {@code docs/local-tier-layout.md}.
 *
 * <p><b>Publication.</b> A writer fills {@code root/tmp/<hash>.<pid>.<n>.tmp} (holding an fcntl
 * lock on it, its blocks allocated up front with {@code fallocate} where supported), truncates it
 * to the object's size, fdatasyncs it and makes it read-only (0444). The tier then writes the
 * sidecar (temp file, fdatasync, rename, directory fsync), naming the data file's inode, size and
 * mtime, creates missing directories of the key's path (each fsynced, and its parent), renames the
 * data file into place and fsyncs its directory. At open, temp files whose writer is gone are
 * deleted and the sidecars are read to rebuild the in-memory index and the space accounting. A
 * data file whose inode, size or mtime differs from its sidecar (changed behind the tier's back),
 * or whose bytes fail their CRC32C when read, is moved with its sidecar to {@code root/quarantine/}
 * and is no longer served; it is never deleted.
 *
 * <p><b>Deletion.</b> Delete unlinks the data file (then its sidecar), so a process that has the
 * file open or memory-mapped keeps reading the old bytes until it closes or unmaps it.
 *
 * <p><b>Old data roots.</b> A root written in the former layout ({@code objects/xx/<hash>.obj},
 * the bytes followed by a trailer, see {@link ObjectFileFormat}) is converted at open, one file at
 * a time: a sidecar marked "converting" is written first, then the file is truncated to the
 * object's size and renamed into place, then the sidecar is marked committed. A crash at any step
 * is finished at the next open.
 *
 * <p><b>Resume.</b> A writer's first checkpoint renames its temp file to
 * {@code root/tmp/<hash>.<random>.resume} (see {@link LocalObjectWriter}); {@link #resume} reopens
 * that file for a new writer, trusting its checkpointed prefix, and {@link #discard} deletes it.
 * Resume files survive the tier's open until they have not been written for
 * {@link LocalTierConfig#resumeMaxAge()}. They are not counted in the tier's usage.
 *
 * <p><b>O_DIRECT.</b> With {@link LocalTierConfig#directIo()} object data is read and written with
 * O_DIRECT: 4 KiB-aligned direct buffers given by the caller are used as they are, anything else
 * goes through pooled aligned bounce buffers.
 *
 * <p>Blocking work runs on the configured executor (virtual threads by default). Thread-safe.
 */
public final class LocalTier implements Tier {

    private static final Logger log = LoggerFactory.getLogger(LocalTier.class);

    static final String FILES_DIR = "files";
    static final String SUMS_DIR = "sums";
    static final String ESCAPED_DIR = "escaped";
    static final String TMP_DIR = "tmp";
    static final String QUARANTINE_DIR = "quarantine";
    static final String SUM_SUFFIX = ".sum";
    /** The former layout's object directory and file suffix; converted at open. */
    static final String LEGACY_OBJECTS_DIR = "objects";
    static final String LEGACY_OBJECT_SUFFIX = ".obj";
    private static final Set<PosixFilePermission> READ_ONLY = PosixFilePermissions.fromString("r--r--r--");
    /** Leaves room under PATH_MAX (4096) for the root and a terminating NUL. */
    private static final int MAX_PLAIN_PATH_BYTES = 4000;
    static final String TMP_SUFFIX = ".tmp";
    static final String RESUME_SUFFIX = ".resume";
    private static final Pattern RESUME_NAME = Pattern.compile("[0-9a-f]{64}\\.[0-9a-f]{16}\\" + RESUME_SUFFIX);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final LocalTierConfig config;
    private final String name;
    private final Path root;
    private final Path filesRoot;
    private final Path sumsDir;
    private final Path escapedDir;
    private final Path tmpDir;
    private final Executor executor;
    private final ExecutorService ownedExecutor;
    private final AlignedBufferPool buffers;
    private final long capacityInBytes;
    /** Committed objects by key: where each lies, what identifies its file and the bytes it occupies. */
    private final ConcurrentSkipListMap<String, Entry> index = new ConcurrentSkipListMap<>();
    /** Held to change the files tree, the sidecars or the index (publish, delete, quarantine). */
    private final ReentrantLock namespace = new ReentrantLock();
    private final Object accounting = new Object();
    private long usedInBytes;
    private long reservedInBytes;
    private final AtomicLong tmpCounter = new AtomicLong();
    /** Resume files a writer of this tier has open: each is handed to one writer at a time. */
    private final Set<Path> resumeFilesInUse = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    private LocalTier(LocalTierConfig config) throws IOException {
        this.config = config;
        this.name = config.name();
        this.root = config.root().toAbsolutePath();
        this.filesRoot = root.resolve(FILES_DIR);
        this.sumsDir = root.resolve(SUMS_DIR);
        this.escapedDir = root.resolve(ESCAPED_DIR);
        this.tmpDir = root.resolve(TMP_DIR);
        this.buffers = new AlignedBufferPool(config.maxIdleBuffersPerSize());
        Files.createDirectories(root);
        for (Path dir : List.of(filesRoot, tmpDir, sumsDir, escapedDir)) {
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir);
                fsyncDirectory(dir);
            }
        }
        for (Path dir : List.of(sumsDir, escapedDir)) {
            for (int i = 0; i < 256; i++) {
                Files.createDirectories(dir.resolve(String.format("%02x", i)));
            }
            fsyncDirectory(dir);
        }
        fsyncDirectory(root);
        this.capacityInBytes = config.capacityInBytes() > 0
                ? config.capacityInBytes() : Files.getFileStore(root).getTotalSpace();
        if (config.executor().isPresent()) {
            this.executor = config.executor().get();
            this.ownedExecutor = null;
        } else {
            this.ownedExecutor = AsyncIo.newVirtualThreadExecutor("tier-" + name + "-");
            this.executor = ownedExecutor;
        }
        int removed = removeAbandonedTempFiles() + removeExpiredResumeFiles();
        int converted = convertLegacyRoot();
        scanSums();
        log.info("opened local tier {}: {} objects, {} bytes used of {}, {} abandoned temp files removed, "
                 + "{} files of the former layout converted, config {}",
                name, index.size(), usedInBytes, capacityInBytes, removed, converted, config);
    }

    /**
     * Opens (creating if needed) the tier at {@code config.root()}, removing what crashed writers
     * left behind and rebuilding the index from the object files. Blocking.
     *
     * @throws TierUnavailableException if the root cannot be created or read
     */
    public static LocalTier open(LocalTierConfig config) {
        try {
            return new LocalTier(config);
        } catch (IOException | UncheckedIOException e) {
            throw new TierUnavailableException("cannot open local tier " + config.name() + " at " + config.root()
                    + ": " + e.getMessage(), false, e);
        }
    }

    public LocalTierConfig config() {
        return config;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public TierClass tierClass() {
        return TierClass.LOCAL;
    }

    @Override
    public CompletableFuture<Optional<ObjectInfo>> stat(ObjectKey key) {
        return async("stat " + key, () -> {
            Current current = currentWithInfo(key);
            return current == null ? Optional.<ObjectInfo>empty() : Optional.of(current.info());
        });
    }

    @Override
    public CompletableFuture<ObjectReader> openReader(ObjectKey key) {
        return async("open " + key, () -> {
            Current current = null;
            FileChannel ch = null;
            for (int attempt = 0; attempt < 8 && ch == null; attempt++) {
                current = currentWithInfo(key);
                if (current == null) {
                    throw new ObjectNotFoundException(name, key);
                }
                Path path = locationOf(key, current.entry().escaped());
                FileChannel opened;
                try {
                    opened = FileChannel.open(path, dataOptions(StandardOpenOption.READ));
                } catch (NoSuchFileException e) {
                    continue; // deleted or replaced meanwhile: look again
                }
                if (index.get(key.value()) == current.entry() && current.entry().identity().equals(identityOf(path))) {
                    ch = opened;
                } else {
                    opened.close(); // replaced meanwhile: look again
                }
            }
            if (ch == null) {
                throw new ObjectNotFoundException(name, key);
            }
            boolean success = false;
            try {
                LocalObjectReader reader = new LocalObjectReader(this, current.info(), ch, current.entry());
                success = true;
                return reader;
            } finally {
                if (!success) {
                    ch.close();
                }
            }
        });
    }

    /** Bytes the request's object takes: its data rounded up to 4 KiB, and its sidecar. */
    private static long footprintOf(WriteRequest request) {
        int recordLength = ObjectFileFormat.recordLength(request.key(), request.chunkCount(),
                request.contentType(), request.userMetadata());
        return SumFile.footprint(request.sizeInBytes(), recordLength);
    }

    @Override
    public CompletableFuture<ObjectWriter> create(WriteRequest request) {
        long footprint = footprintOf(request);
        Reservation reservation;
        try {
            checkOpen();
            reservation = reserve(footprint, request.key());
        } catch (TierException e) {
            return CompletableFuture.failedFuture(e);
        }
        return async("create " + request.key(), () -> {
            Path tmp = tmpDir.resolve(hashOf(request.key()) + "." + PROCESS_TAG + "."
                                      + tmpCounter.incrementAndGet() + TMP_SUFFIX);
            FileChannel ch = null;
            try {
                ch = FileChannel.open(tmp, dataOptions(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                        StandardOpenOption.READ));
                if (request.sizeInBytes() > 0) {
                    NativeIo.allocate(tmp, 0, ObjectFileFormat.alignUp(request.sizeInBytes()));
                }
                return (ObjectWriter) new LocalObjectWriter(this, request, tmp, ch, reservation);
            } catch (IOException | RuntimeException e) {
                if (ch != null) {
                    closeQuietly(ch);
                }
                Files.deleteIfExists(tmp);
                reservation.release();
                throw e;
            }
        }).whenComplete((w, t) -> {
            if (t != null) {
                reservation.release(); // also when the executor refused the task
            }
        });
    }

    @Override
    public CompletableFuture<Optional<ObjectWriter>> resume(WriteRequest request, ResumePoint point, int[] chunkCrc32cs) {
        Path file = resumeFileOf(request.key(), point);
        if (file == null) {
            return CompletableFuture.completedFuture(Optional.empty());
        }
        long footprint = footprintOf(request);
        Reservation reservation;
        try {
            checkOpen();
            io.thermocline.tier.support.ChunkChecksumTracker.checkResume(request, point.length(), chunkCrc32cs);
            reservation = reserve(footprint, request.key());
        } catch (TierException e) {
            return CompletableFuture.failedFuture(e);
        }
        if (!resumeFilesInUse.add(file)) {
            reservation.release();
            return CompletableFuture.completedFuture(Optional.empty()); // a live writer of this process has it
        }
        return async("resume " + request.key(), () -> {
            FileChannel ch = null;
            try {
                if (!Files.isRegularFile(file)) {
                    throw new NoSuchFileException(file.toString());
                }
                ch = FileChannel.open(file, dataOptions(StandardOpenOption.WRITE, StandardOpenOption.READ));
                if (ch.size() < ObjectFileFormat.alignUp(point.length())) {
                    throw new CorruptObjectFileException(file.toString(), ch.size(),
                            "resume file is shorter than its point of " + point.length() + " bytes");
                }
                if (request.sizeInBytes() > 0) {
                    NativeIo.allocate(file, 0, ObjectFileFormat.alignUp(request.sizeInBytes()));
                }
                return Optional.<ObjectWriter>of(new LocalObjectWriter(this, request, file, ch, reservation,
                        point.length(), chunkCrc32cs));
            } catch (IOException | RuntimeException e) {
                if (ch != null) {
                    closeQuietly(ch);
                }
                reservation.release();
                resumeFilesInUse.remove(file);
                if (e instanceof NoSuchFileException) {
                    return Optional.<ObjectWriter>empty(); // discarded or expired: the caller starts over
                }
                if (e instanceof CorruptObjectFileException) {
                    log.warn("{}: cannot resume {} from {}: {}; starting over", name, request.key(), file, e.getMessage());
                    Files.deleteIfExists(file);
                    return Optional.<ObjectWriter>empty();
                }
                throw e;
            }
        }).whenComplete((w, t) -> {
            if (t != null) {
                reservation.release();
                resumeFilesInUse.remove(file);
            }
        });
    }

    @Override
    public CompletableFuture<Void> discard(ResumePoint point) {
        String token = point.token();
        if (!RESUME_NAME.matcher(token).matches()) {
            return CompletableFuture.completedFuture(null);
        }
        Path file = tmpDir.resolve(token);
        return async("discard " + token, () -> {
            if (!resumeFilesInUse.contains(file) && Files.deleteIfExists(file)) {
                fsyncDirectory(tmpDir);
            }
            return null;
        });
    }

    /** The resume file a point names for this key, or null if its token is not one of this tier's for the key. */
    private Path resumeFileOf(ObjectKey key, ResumePoint point) {
        String token = point.token();
        if (!RESUME_NAME.matcher(token).matches() || !token.startsWith(hashOf(key) + ".")) {
            return null;
        }
        return tmpDir.resolve(token);
    }

    /**
     * Renames a writer's temp file to a new resume file (its first checkpoint) and registers it as
     * in use. Blocking.
     */
    Path toResumeFile(ObjectKey key, Path tmp) throws IOException {
        byte[] random = new byte[8];
        RANDOM.nextBytes(random);
        Path file = tmpDir.resolve(hashOf(key) + "." + HexFormat.of().formatHex(random) + RESUME_SUFFIX);
        resumeFilesInUse.add(file);
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
            fsyncDirectory(tmpDir);
        } catch (IOException | RuntimeException e) {
            resumeFilesInUse.remove(file);
            throw e;
        }
        return file;
    }

    /** A writer is done with its resume file (committed, aborted or suspended). */
    void resumeFileReleased(Path file) {
        resumeFilesInUse.remove(file);
    }

    @Override
    public CompletableFuture<Boolean> delete(ObjectKey key) {
        return async("delete " + key, () -> {
            namespace.lock();
            try {
                Entry entry = current(key); // follows what another process of the root did
                if (entry == null) {
                    return false;
                }
                dropLocked(key, entry);
                // the data file first: a crash between the two leaves a sidecar without a file,
                // which the next open drops, never a plain file that looks staged
                Path path = locationOf(key, entry.escaped());
                if (Files.deleteIfExists(path)) {
                    fsyncDirectory(path.getParent());
                }
                Path sum = sumPathOf(key);
                if (Files.deleteIfExists(sum)) {
                    fsyncDirectory(sum.getParent());
                }
                if (!entry.escaped()) {
                    prune(path.getParent());
                }
                return true;
            } finally {
                namespace.unlock();
            }
        });
    }

    @Override
    public CompletableFuture<ListPage> list(String prefix, ObjectKey startAfter, int maxKeys) {
        if (maxKeys < 1 || maxKeys > 1000) {
            return CompletableFuture.failedFuture(InvalidArgumentException.of("maxKeys", maxKeys, "1..1000"));
        }
        String from = startAfter != null && startAfter.value().compareTo(prefix) >= 0 ? startAfter.value() : prefix;
        boolean inclusive = startAfter == null || startAfter.value().compareTo(prefix) < 0;
        List<ObjectKey> keys = new ArrayList<>();
        for (String k : index.tailMap(from, inclusive).keySet()) {
            if (!k.startsWith(prefix)) {
                break;
            }
            if (keys.size() == maxKeys) {
                return CompletableFuture.completedFuture(new ListPage(keys, Optional.of(keys.getLast())));
            }
            keys.add(ObjectKey.of(k));
        }
        return CompletableFuture.completedFuture(new ListPage(keys, Optional.empty()));
    }

    @Override
    public TierUsage usage() {
        synchronized (accounting) {
            return new TierUsage(capacityInBytes, usedInBytes, reservedInBytes, index.size());
        }
    }

    @Override
    public TierHealth health() {
        if (closed) {
            return TierHealth.down("tier " + name + " is closed");
        }
        if (!Files.isDirectory(filesRoot) || !Files.isDirectory(sumsDir) || !Files.isWritable(tmpDir)) {
            return TierHealth.down(filesRoot + " or " + sumsDir + " is missing or " + tmpDir + " is not writable");
        }
        return TierHealth.up(root + (config.directIo() ? " (O_DIRECT)" : ""));
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (ownedExecutor != null) {
            ownedExecutor.close();
        }
        log.info("closed local tier {}", name);
    }

    @Override
    public String toString() {
        return "LocalTier[" + name + " at " + root + "]";
    }

    // ---- package-private: used by the reader and writer ----

    Executor executor() {
        return executor;
    }

    AlignedBufferPool buffers() {
        return buffers;
    }

    boolean directIo() {
        return config.directIo();
    }

    /**
     * Publishes a finished temp file (its bytes exactly the object's, fdatasynced and closed): makes
     * it read-only, writes its sidecar, renames it into place and turns its reservation into used
     * space. Blocking. Once the rename has happened the reservation is spent, even if the directory
     * fsync fails.
     */
    void publish(ObjectKey key, Path tmp, ObjectInfo info, Reservation reservation) throws IOException {
        checkOpen();
        Files.setPosixFilePermissions(tmp, READ_ONLY);
        SumFile.Identity identity = identityOf(tmp);
        namespace.lock();
        try {
            Entry previous = index.get(key.value());
            Path plain = plainTarget(key);
            boolean escaped = plain == null;
            Path target = escaped ? escapedPathOf(key) : plain;
            writeSum(key, SumFile.encode(SumFile.STATE_COMMITTED, escaped, identity, info));
            if (!escaped) {
                createParents(target.getParent());
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            long footprint = reservation.footprint();
            index.put(key.value(), new Entry(footprint, escaped, identity));
            synchronized (accounting) {
                if (reservation.spend()) {
                    reservedInBytes -= footprint;
                }
                usedInBytes += footprint - (previous == null ? 0 : previous.footprint());
            }
            fsyncDirectory(target.getParent());
            if (previous != null && previous.escaped() != escaped) {
                Path old = locationOf(key, previous.escaped());
                if (Files.deleteIfExists(old)) {
                    fsyncDirectory(old.getParent());
                    if (!previous.escaped()) {
                        prune(old.getParent());
                    }
                }
            }
        } finally {
            namespace.unlock();
        }
    }

    /** Space held for one writer; given back or spent exactly once. */
    final class Reservation {
        private final long footprint;
        private final java.util.concurrent.atomic.AtomicBoolean held = new java.util.concurrent.atomic.AtomicBoolean(true);

        private Reservation(long footprint) {
            this.footprint = footprint;
        }

        long footprint() {
            return footprint;
        }

        private boolean spend() {
            return held.compareAndSet(true, false);
        }

        /** Gives the space back unless it was already given back or spent by a publish. */
        void release() {
            if (spend()) {
                synchronized (accounting) {
                    reservedInBytes -= footprint;
                }
            }
        }
    }

    /** Maps an exception from file work to the tier's exception hierarchy. */
    TierException translate(Throwable t, String what) {
        if (t instanceof TierException te) {
            return te;
        }
        if (t instanceof CorruptObjectFileException c) {
            return new TierIoException(name + ": " + c.getMessage(), false, c);
        }
        if (t instanceof ClosedChannelException) {
            return new TierUnavailableException(name + ": " + what + " failed: the reader, writer or tier was closed",
                    false, t);
        }
        if (t instanceof FileSystemException fse && fse.getReason() != null
            && fse.getReason().contains("No space left")) {
            return new TierFullException(name, what, t);
        }
        if (t instanceof IOException io && io.getMessage() != null && io.getMessage().contains("No space left")) {
            return new TierFullException(name, what, t);
        }
        if (t instanceof UncheckedIOException u) {
            return translate(u.getCause(), what);
        }
        if (t instanceof IOException) {
            return new TierIoException(name + ": " + what + " failed: " + t, false, t);
        }
        if (t instanceof RejectedExecutionException) {
            return new TierUnavailableException("tier " + name + " is closed", false, t);
        }
        return new TierIoException(name + ": " + what + " failed unexpectedly: " + t, false, t);
    }

    /** Runs blocking work on the executor and completes the future with its result or translated failure. */
    <T> CompletableFuture<T> async(String what, AsyncIo.IoSupplier<T> body) {
        if (closed) {
            return CompletableFuture.failedFuture(new TierUnavailableException("tier " + name + " is closed", false));
        }
        return AsyncIo.submit(executor, body, t -> translate(t, what));
    }

    /** Where a committed object's data file lies (whether or not it is there). */
    Path pathFor(ObjectKey key) {
        Entry entry = index.get(key.value());
        if (entry != null) {
            return locationOf(key, entry.escaped());
        }
        return KeyPaths.plainRelative(key).map(filesRoot::resolve).orElseGet(() -> escapedPathOf(key));
    }

    /** The sidecar of a key. */
    Path sumPathOf(ObjectKey key) {
        String hash = hashOf(key);
        return sumsDir.resolve(hash.substring(0, 2)).resolve(hash + SUM_SUFFIX);
    }

    private Path escapedPathOf(ObjectKey key) {
        String hash = hashOf(key);
        return escapedDir.resolve(hash.substring(0, 2)).resolve(hash);
    }

    private Path locationOf(ObjectKey key, boolean escaped) {
        if (escaped) {
            return escapedPathOf(key);
        }
        return filesRoot.resolve(KeyPaths.plainRelative(key).orElseThrow(
                () -> new CorruptObjectFileException(name + ":" + key, 0, "the key has no plain path")));
    }

    OpenOption[] dataOptions(OpenOption... options) {
        if (!config.directIo()) {
            return options;
        }
        OpenOption[] withDirect = java.util.Arrays.copyOf(options, options.length + 1);
        withDirect[options.length] = com.sun.nio.file.ExtendedOpenOption.DIRECT;
        return withDirect;
    }

    /** Reads and checks the trailer of an object file of the former layout. */
    ObjectInfo readLegacyInfo(FileChannel ch, boolean direct, ObjectKey expectedKey) throws IOException {
        String resource = name + ":" + (expectedKey != null ? expectedKey : "?");
        long fileLength = ch.size();
        if (fileLength < ObjectFileFormat.ALIGNMENT) {
            throw new CorruptObjectFileException(resource, 0, "file is " + fileLength + " bytes, too short for a trailer");
        }
        ByteBuffer last = buffers.acquire(ObjectFileFormat.ALIGNMENT);
        long[] footer;
        try {
            FileIo.readFully(ch, direct, buffers, fileLength - ObjectFileFormat.ALIGNMENT, last, resource);
            footer = ObjectFileFormat.readFooter(last.flip(), fileLength, resource);
        } finally {
            buffers.release(last);
        }
        int recordLength = (int) footer[1];
        ByteBuffer record = buffers.acquire(recordLength);
        try {
            FileIo.readFully(ch, direct, buffers, footer[0], record, resource);
            ObjectInfo info = ObjectFileFormat.readRecord(record.flip(), footer[0], (int) footer[2], resource);
            if (expectedKey != null && !info.key().equals(expectedKey)) {
                throw new CorruptObjectFileException(resource, footer[0], "trailer names key " + info.key());
            }
            return info;
        } finally {
            buffers.release(record);
        }
    }

    static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            log.debug("close failed", e);
        }
    }

    // ---- internals ----

    private void checkOpen() {
        if (closed) {
            throw new TierUnavailableException("tier " + name + " is closed", false);
        }
    }

    private Reservation reserve(long footprint, ObjectKey key) {
        synchronized (accounting) {
            long available = capacityInBytes - usedInBytes - reservedInBytes;
            if (footprint > available) {
                throw new TierFullException(name, "object " + key, footprint, Math.max(0, available));
            }
            reservedInBytes += footprint;
        }
        return new Reservation(footprint);
    }

    /** {@code <pid>-<start time in epoch millis>} of this process: unique among live and past processes. */
    static final String PROCESS_TAG = processTag(ProcessHandle.current());

    private static String processTag(ProcessHandle process) {
        return process.pid() + "-" + process.info().startInstant().map(i -> i.toEpochMilli()).orElse(0L);
    }

    /** True if the process a temp file's tag names is still running. */
    private static boolean isAlive(String tag) {
        int dash = tag.indexOf('-');
        if (dash <= 0) {
            return false;
        }
        try {
            long pid = Long.parseLong(tag.substring(0, dash));
            return ProcessHandle.of(pid).filter(ProcessHandle::isAlive).map(LocalTier::processTag)
                    .map(current -> current.equals(tag) || tag.endsWith("-0")).orElse(false);
        } catch (NumberFormatException e) {
            return false;
        }
    }

    static String hashOf(ObjectKey key) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.toUtf8()));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    /** Deletes temp files whose writer's process is gone (it crashed or was killed). */
    private int removeAbandonedTempFiles() throws IOException {
        int removed = 0;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(tmpDir, "*" + TMP_SUFFIX)) {
            for (Path tmp : files) {
                String[] parts = tmp.getFileName().toString().split("\\.");
                if (parts.length == 4 && isAlive(parts[1])) {
                    continue; // its writer may still be at work
                }
                if (Files.deleteIfExists(tmp)) {
                    removed++;
                }
            }
        }
        if (removed > 0) {
            fsyncDirectory(tmpDir);
        }
        return removed;
    }

    /** Deletes resume files not written for longer than the configured age. */
    private int removeExpiredResumeFiles() throws IOException {
        int removed = 0;
        long cutoff = System.currentTimeMillis() - config.resumeMaxAge().toMillis();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(tmpDir, "*" + RESUME_SUFFIX)) {
            for (Path file : files) {
                try {
                    if (Files.getLastModifiedTime(file).toMillis() < cutoff && Files.deleteIfExists(file)) {
                        removed++;
                    }
                } catch (NoSuchFileException e) {
                    // deleted meanwhile
                }
            }
        }
        if (removed > 0) {
            fsyncDirectory(tmpDir);
        }
        return removed;
    }

    // ---- plain files ----

    /** One committed object in the index. */
    record Entry(long footprint, boolean escaped, SumFile.Identity identity) {
    }

    /**
     * The directory under which committed objects are plain files: the object with key {@code k}
     * is the file {@code filesRoot().resolve(k)} unless {@link #plainPath} says it has none.
     */
    public Path filesRoot() {
        return filesRoot;
    }

    /**
     * The plain file of a committed, current object: a file holding exactly the object's bytes,
     * which any program may open or memory-map (it is read-only; see the class comment for what
     * delete does to a mapping). Empty if there is no such object, if its key has an escaped name
     * (see {@code docs/local-tier-layout.md}), or if its file was changed behind the tier's back
     * (it is then quarantined). Blocking: it stats the file.
     */
    public Optional<Path> plainPath(ObjectKey key) {
        Entry entry;
        try {
            entry = current(key);
        } catch (IOException e) {
            throw translate(e, "plain path of " + key);
        }
        if (entry == null || entry.escaped()) {
            return Optional.empty();
        }
        return Optional.of(locationOf(key, false));
    }

    /**
     * The index entry of a key if its data file is still the one its sidecar names (same inode,
     * size and mtime, inside the root). When the index misses the key or its file differs, the
     * sidecar on disk decides: another process of this root (the owner, while this one is attached)
     * may have published, replaced or deleted the object since this one scanned, and the index
     * follows what that process did. Only a file that differs from the record on disk too is
     * quarantined. Returns null if there is no current object. Blocking.
     */
    private Entry current(ObjectKey key) throws IOException {
        Entry entry = index.get(key.value());
        if (entry != null && checkFile(key, entry) == null) {
            return entry;
        }
        namespace.lock();
        try {
            Entry now = index.get(key.value());
            if (now != null && checkFile(key, now) == null) {
                return now; // a publish of this process was between the two
            }
            Entry onDisk = entryOnDisk(key);
            if (onDisk != null && !onDisk.equals(now) && checkFile(key, onDisk) == null) {
                replaceLocked(key, now, onDisk); // published or replaced by another process
                return onDisk;
            }
            if (now == null) {
                return null;
            }
            String problem = checkFile(key, now);
            if (problem.endsWith(" is missing")) {
                // deleted by another process (or by hand): nothing is left to keep; a sidecar
                // without its file is removed by the next open's scan
                dropLocked(key, now);
                log.info("local tier {}: {}: {}; dropped from the index", name, key, problem);
                return null;
            }
            if (onDisk != null && !onDisk.identity().equals(now.identity())) {
                // the record moved on and the file is neither the old nor the new one: another
                // process's publish is half done (its sidecar is written before its rename)
                return null;
            }
            quarantineLocked(key, now, problem);
            return null;
        } finally {
            namespace.unlock();
        }
    }

    /**
     * The entry the sidecar of a key describes, if it is a committed record of that key whose size
     * agrees with the file it names; null if there is none or it cannot be read (the next open's
     * scan deals with a damaged one). Does not look at the data file.
     */
    private Entry entryOnDisk(ObjectKey key) throws IOException {
        SumFile.Sum sum;
        try {
            sum = readSum(sumPathOf(key));
        } catch (NoSuchFileException e) {
            return null;
        } catch (CorruptObjectFileException e) {
            log.debug("local tier {}: record of {} unreadable: {}", name, key, e.getMessage());
            return null;
        }
        if (sum.state() != SumFile.STATE_COMMITTED || !sum.info().key().equals(key)
            || (!sum.escaped() && KeyPaths.plainRelative(key).isEmpty())
            || sum.identity().size() != sum.info().sizeInBytes()) {
            return null;
        }
        return new Entry(SumFile.footprint(sum.info().sizeInBytes(), sum.recordLength()), sum.escaped(), sum.identity());
    }

    /** Puts {@code entry} in the index in place of {@code previous} (or nothing), keeping the usage right. */
    private void replaceLocked(ObjectKey key, Entry previous, Entry entry) {
        index.put(key.value(), entry);
        synchronized (accounting) {
            usedInBytes += entry.footprint() - (previous == null ? 0 : previous.footprint());
        }
    }

    /** Drops an entry from the index, keeping the usage right; touches no file. */
    private void dropLocked(ObjectKey key, Entry entry) {
        if (index.remove(key.value(), entry)) {
            synchronized (accounting) {
                usedInBytes -= entry.footprint();
            }
        }
    }

    /** What is wrong with an entry's data file, or null if it is the one its sidecar names. */
    private String checkFile(ObjectKey key, Entry entry) throws IOException {
        Path path = locationOf(key, entry.escaped());
        SumFile.Identity actual;
        try {
            actual = identityOf(path);
        } catch (NoSuchFileException e) {
            return path + " is missing";
        }
        if (actual == null) {
            return path + " is not a regular file";
        }
        if (!actual.equals(entry.identity())) {
            return path + " was changed behind the tier's back: inode, size, mtime " + actual.inode() + ", "
                   + actual.size() + ", " + actual.mtimeNanos() + " (the record says " + entry.identity().inode() + ", "
                   + entry.identity().size() + ", " + entry.identity().mtimeNanos() + ")";
        }
        if (!entry.escaped() && !path.getParent().toRealPath().startsWith(filesRoot.toRealPath())) {
            return path + " resolves outside " + filesRoot;
        }
        return null;
    }

    /** A committed object whose file and record agree. */
    private record Current(Entry entry, ObjectInfo info) {
    }

    /**
     * The entry and record of a key whose data file and sidecar both match the index; quarantines
     * the object if they do not (deciding under the namespace lock, where no publish is half done)
     * and returns null. Blocking.
     */
    private Current currentWithInfo(ObjectKey key) throws IOException {
        for (int attempt = 0; attempt < 12; attempt++) {
            if (attempt > 0) {
                pauseBeforeLookingAgain(attempt - 1);
            }
            Entry entry = current(key);
            if (entry == null) {
                return null;
            }
            try {
                SumFile.Sum sum = readSum(sumPathOf(key));
                if (matches(sum, key, entry)) {
                    return new Current(entry, sum.info());
                }
            } catch (NoSuchFileException | CorruptObjectFileException e) {
                // decided below
            }
            namespace.lock();
            try {
                if (index.get(key.value()) != entry) {
                    continue; // replaced or deleted meanwhile: look again
                }
                String problem;
                try {
                    SumFile.Sum sum = readSum(sumPathOf(key));
                    if (matches(sum, key, entry)) {
                        return new Current(entry, sum.info());
                    }
                    problem = "its record " + sumPathOf(key) + " names key " + sum.info().key() + " and file "
                              + sum.identity() + ", expected " + entry.identity();
                    Entry onDisk = entryOnDisk(key);
                    if (onDisk != null && !onDisk.identity().equals(entry.identity())) {
                        continue; // another process is replacing the object: its rename follows its record
                    }
                } catch (NoSuchFileException e) {
                    if (!Files.exists(locationOf(key, entry.escaped()), LinkOption.NOFOLLOW_LINKS)) {
                        continue; // deleted by another process meanwhile: current() drops it
                    }
                    problem = "its record " + sumPathOf(key) + " is missing";
                } catch (CorruptObjectFileException e) {
                    problem = e.getMessage();
                }
                quarantineLocked(key, entry, problem);
                return null;
            } finally {
                namespace.unlock();
            }
        }
        return null;
    }

    private static void pauseBeforeLookingAgain(int attempt) throws java.io.InterruptedIOException {
        try {
            Thread.sleep(1L << Math.min(attempt, 6));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted waiting for another process's publish");
        }
    }

    private static boolean matches(SumFile.Sum sum, ObjectKey key, Entry entry) {
        return sum.state() == SumFile.STATE_COMMITTED && sum.info().key().equals(key)
               && sum.identity().equals(entry.identity()) && sum.escaped() == entry.escaped();
    }

    /** Quarantines a key if its index entry is still {@code entry}: a reader found its bytes damaged. */
    void quarantine(ObjectKey key, Entry entry, String why) {
        namespace.lock();
        try {
            if (index.get(key.value()) == entry) {
                quarantineLocked(key, entry, why);
            }
        } catch (IOException e) {
            log.warn("local tier {}: cannot quarantine {}: {}", name, key, e.toString());
        } finally {
            namespace.unlock();
        }
    }

    /** Moves an object's data file and sidecar to quarantine/ and drops it from the index. */
    private void quarantineLocked(ObjectKey key, Entry entry, String why) throws IOException {
        index.remove(key.value());
        synchronized (accounting) {
            usedInBytes -= entry.footprint();
        }
        Path data = locationOf(key, entry.escaped());
        String stem = hashOf(key) + "." + System.currentTimeMillis();
        Path movedData = moveToQuarantine(data, stem + ".data");
        moveToQuarantine(sumPathOf(key), stem + SUM_SUFFIX);
        if (!entry.escaped()) {
            prune(data.getParent());
        }
        log.warn("local tier {}: {} is not served any more: {}; {}", name, key, why,
                movedData != null ? "its file was moved to " + movedData : "its file is gone");
    }

    /** Moves a file (if it exists and is no directory) to quarantine/ under a new name; returns where. */
    private Path moveToQuarantine(Path file, String newName) throws IOException {
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS) || Files.isDirectory(file, LinkOption.NOFOLLOW_LINKS)) {
            return null;
        }
        Path quarantine = root.resolve(QUARANTINE_DIR);
        if (!Files.isDirectory(quarantine)) {
            Files.createDirectories(quarantine);
            fsyncDirectory(root);
        }
        Path moved = quarantine.resolve(newName);
        Files.move(file, moved, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        fsyncDirectory(quarantine);
        fsyncDirectory(file.getParent());
        return moved;
    }

    /**
     * The plain path a key gets if it is published now, or null if it must be escaped: the key
     * itself cannot be a path, one of its parents is a file or a link, the path is a directory or a
     * link, or it would be too long. Call with the namespace lock held.
     */
    private Path plainTarget(ObjectKey key) throws IOException {
        Optional<Path> relative = KeyPaths.plainRelative(key);
        if (relative.isEmpty()) {
            return null;
        }
        Path target = filesRoot.resolve(relative.get());
        if (target.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_PLAIN_PATH_BYTES) {
            return null;
        }
        Path dir = filesRoot;
        for (int i = 0; i < relative.get().getNameCount() - 1; i++) {
            dir = dir.resolve(relative.get().getName(i));
            if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
                return target; // the rest is created
            }
            if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
                return null; // a file (an object such as "a" beside "a/b") or a link
            }
        }
        if (Files.exists(target, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS)) {
            return null; // a directory of other objects, or a link
        }
        return target;
    }

    /** Creates the missing directories down to {@code dir}, fsyncing each new one and its parent. */
    private void createParents(Path dir) throws IOException {
        if (Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        List<Path> missing = new ArrayList<>();
        for (Path d = dir; d != null && !d.equals(filesRoot) && !Files.exists(d, LinkOption.NOFOLLOW_LINKS);
             d = d.getParent()) {
            missing.add(d);
        }
        for (Path d : missing.reversed()) {
            try {
                Files.createDirectory(d);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                if (!Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS)) {
                    throw e;
                }
            }
            fsyncDirectory(d);
            fsyncDirectory(d.getParent());
        }
    }

    /** Removes empty directories from {@code dir} up to (not including) the files root. */
    private void prune(Path dir) throws IOException {
        for (Path d = dir; d != null && d.startsWith(filesRoot) && !d.equals(filesRoot); d = d.getParent()) {
            try {
                Files.delete(d);
            } catch (java.nio.file.DirectoryNotEmptyException | NoSuchFileException e) {
                return;
            }
            fsyncDirectory(d.getParent());
        }
    }

    /** Writes a key's sidecar crash-safely: temp file, fdatasync, rename, directory fsync. */
    private void writeSum(ObjectKey key, ByteBuffer encoded) throws IOException {
        Path target = sumPathOf(key);
        Path tmp = tmpDir.resolve(hashOf(key) + "." + PROCESS_TAG + "." + tmpCounter.incrementAndGet() + "s" + TMP_SUFFIX);
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                FileIo.writeFully(ch, 0, encoded);
                ch.force(false);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        fsyncDirectory(target.getParent());
    }

    private static SumFile.Sum readSum(Path sum) throws IOException {
        long size = Files.size(sum);
        if (size > SumFile.MAX_LENGTH) {
            throw new CorruptObjectFileException(sum.toString(), 0, "record file is " + size + " bytes");
        }
        return SumFile.decode(ByteBuffer.wrap(Files.readAllBytes(sum)), sum.toString());
    }

    /** Inode, size and mtime of a file (not following links), or null if it is not a regular file. */
    static SumFile.Identity identityOf(Path file) throws IOException {
        java.util.Map<String, Object> a = Files.readAttributes(file, "unix:ino,size,lastModifiedTime,isRegularFile",
                LinkOption.NOFOLLOW_LINKS);
        if (!(Boolean) a.get("isRegularFile")) {
            return null;
        }
        return new SumFile.Identity((Long) a.get("ino"), (Long) a.get("size"),
                ((FileTime) a.get("lastModifiedTime")).to(TimeUnit.NANOSECONDS));
    }

    /** Reads every sidecar into the index; quarantines what does not match its file. */
    private void scanSums() throws IOException {
        for (Path fan : listDirectory(sumsDir)) {
            if (!Files.isDirectory(fan)) {
                continue;
            }
            for (Path sum : listDirectory(fan)) {
                if (!sum.getFileName().toString().endsWith(SUM_SUFFIX)) {
                    continue;
                }
                SumFile.Sum decoded;
                try {
                    decoded = readSum(sum);
                    ObjectKey key = decoded.info().key();
                    if (!sum.equals(sumPathOf(key))) {
                        throw new CorruptObjectFileException(sum.toString(), 0, "it names key " + key
                                + ", whose record belongs in " + sumPathOf(key));
                    }
                    if (!decoded.escaped() && KeyPaths.plainRelative(key).isEmpty()) {
                        throw new CorruptObjectFileException(sum.toString(), 9, "it calls the key " + key
                                + " plain, which it cannot be");
                    }
                    if (decoded.state() != SumFile.STATE_COMMITTED) {
                        throw new CorruptObjectFileException(sum.toString(), 8, "its conversion was not finished");
                    }
                } catch (CorruptObjectFileException e) {
                    Path moved = moveToQuarantine(sum, sum.getFileName() + "." + System.currentTimeMillis());
                    log.warn("local tier {}: {}; moved to {}", name, e.getMessage(), moved);
                    continue;
                }
                ObjectKey key = decoded.info().key();
                Entry entry = new Entry(SumFile.footprint(decoded.info().sizeInBytes(), decoded.recordLength()),
                        decoded.escaped(), decoded.identity());
                String problem = checkFile(key, entry);
                if (problem == null && decoded.identity().size() != decoded.info().sizeInBytes()) {
                    problem = "its record says " + decoded.info().sizeInBytes() + " bytes, its file has "
                              + decoded.identity().size();
                }
                if (problem != null && problem.endsWith(" is missing")) {
                    // deleted (or a delete was cut off between the data file and its sidecar)
                    Files.deleteIfExists(sum);
                    fsyncDirectory(fan);
                    log.info("local tier {}: {}: {}; its record was removed", name, key, problem);
                    continue;
                }
                if (problem != null) {
                    index.put(key.value(), entry);
                    usedInBytes += entry.footprint();
                    quarantineLocked(key, entry, problem);
                    continue;
                }
                index.put(key.value(), entry);
                usedInBytes += entry.footprint();
            }
        }
    }

    private static List<Path> listDirectory(Path dir) throws IOException {
        List<Path> entries = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            s.forEach(entries::add);
        }
        return entries;
    }

    /**
     * Converts a root of the former layout ({@code objects/xx/<hash>.obj}, bytes then trailer)
     * into plain files, crash-safely: for each file a sidecar marked "converting" is written
     * first (so the trailer may then go), the file is truncated to the object's size, made
     * read-only and renamed into place, and the sidecar is marked committed. Conversions a crash
     * cut off are finished first. Returns how many files were converted.
     */
    private int convertLegacyRoot() throws IOException {
        Path legacy = root.resolve(LEGACY_OBJECTS_DIR);
        if (!Files.isDirectory(legacy, LinkOption.NOFOLLOW_LINKS)) {
            return 0;
        }
        int converted = 0;
        // 1. conversions that a crash cut off: their sidecars hold the record, the trailer may be gone
        for (Path fan : listDirectory(sumsDir)) {
            for (Path sum : Files.isDirectory(fan) ? listDirectory(fan) : List.<Path>of()) {
                SumFile.Sum decoded;
                try {
                    decoded = readSum(sum);
                } catch (CorruptObjectFileException e) {
                    continue; // scanSums quarantines it
                }
                if (decoded.state() == SumFile.STATE_CONVERTING) {
                    ObjectKey key = decoded.info().key();
                    Path file = legacy.resolve(hashOf(key).substring(0, 2)).resolve(hashOf(key) + LEGACY_OBJECT_SUFFIX);
                    finishConversion(key, decoded.escaped(), decoded.info(), file);
                    converted++;
                }
            }
        }
        // 2. the files not yet started
        Path quarantine = root.resolve(QUARANTINE_DIR);
        for (Path fan : listDirectory(legacy)) {
            if (!Files.isDirectory(fan, LinkOption.NOFOLLOW_LINKS)) {
                continue;
            }
            for (Path file : listDirectory(fan)) {
                if (!file.getFileName().toString().endsWith(LEGACY_OBJECT_SUFFIX)) {
                    continue;
                }
                ObjectInfo info;
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                    info = readLegacyInfo(ch, false, null);
                    String expected = hashOf(info.key()) + LEGACY_OBJECT_SUFFIX;
                    if (!file.getFileName().toString().equals(expected)) {
                        throw new CorruptObjectFileException(file.toString(), 0,
                                "trailer names key " + info.key() + ", whose file is " + expected);
                    }
                } catch (CorruptObjectFileException | TierException | java.io.EOFException e) {
                    Files.createDirectories(quarantine);
                    Path moved = quarantine.resolve(file.getFileName());
                    Files.move(file, moved, StandardCopyOption.REPLACE_EXISTING);
                    log.warn("local tier {}: {}; moved to {}", name, e.getMessage(), moved);
                    continue;
                }
                boolean escaped = plainTarget(info.key()) == null;
                writeSum(info.key(), SumFile.encode(SumFile.STATE_CONVERTING, escaped, SumFile.Identity.UNKNOWN, info));
                finishConversion(info.key(), escaped, info, file);
                converted++;
            }
        }
        // 3. the empty former directories
        for (Path fan : listDirectory(legacy)) {
            try {
                Files.delete(fan);
            } catch (java.nio.file.DirectoryNotEmptyException e) {
                log.warn("local tier {}: {} holds files that are not objects; left in place", name, fan);
            }
        }
        try {
            Files.delete(legacy);
            fsyncDirectory(root);
        } catch (java.nio.file.DirectoryNotEmptyException e) {
            // reported above
        }
        return converted;
    }

    /** Steps 2 to 4 of converting one file; idempotent, so a crash anywhere is finished by a rerun. */
    private void finishConversion(ObjectKey key, boolean escaped, ObjectInfo info, Path legacyFile) throws IOException {
        Path target = locationOf(key, escaped);
        if (Files.isRegularFile(legacyFile, LinkOption.NOFOLLOW_LINKS)) {
            try (FileChannel ch = FileChannel.open(legacyFile, StandardOpenOption.WRITE)) {
                if (ch.size() > info.sizeInBytes()) {
                    ch.truncate(info.sizeInBytes());
                }
                ch.force(false);
            }
            Files.setPosixFilePermissions(legacyFile, READ_ONLY);
            if (!escaped) {
                createParents(target.getParent());
            }
            Files.move(legacyFile, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            fsyncDirectory(target.getParent());
            fsyncDirectory(legacyFile.getParent());
        } else if (!Files.isRegularFile(target, LinkOption.NOFOLLOW_LINKS)) {
            log.warn("local tier {}: {} was being converted but neither {} nor {} exists; its record is dropped",
                    name, key, legacyFile, target);
            Files.deleteIfExists(sumPathOf(key));
            return;
        }
        writeSum(key, SumFile.encode(SumFile.STATE_COMMITTED, escaped, identityOf(target), info));
    }
}
