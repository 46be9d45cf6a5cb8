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
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The LOCAL tier: each object is one self-describing file (see {@link ObjectFileFormat}) under
 * {@code root/objects/xx/<sha-256 of key>.obj}.
 *
 * <p><b>Publication.</b> A writer fills {@code root/tmp/<hash>.<pid>.<n>.tmp} (holding an fcntl
 * lock on it, its blocks allocated up front with {@code fallocate} where supported), appends the trailer, fdatasyncs, renames it over the final name and fsyncs the
 * directory; only then is the object visible. At open, temp files whose lock can be taken — their
 * writer is gone — are deleted, and the object files are scanned to rebuild the in-memory index
 * and the space accounting, so the directory alone is the source of truth. A file whose trailer is
 * damaged is moved to {@code root/quarantine/} and reported, never deleted.
 *
 * <p><b>Resume.</b> A writer's first checkpoint renames its temp file to
 * {@code root/tmp/<hash>.<random>.resume} (see {@link LocalObjectWriter}); {@link #resume} reopens
 * that file for a new writer, trusting its checkpointed prefix, and {@link #discard} deletes it.
 * Resume files survive the tier's open until they have not been written for
 * {@link LocalTierConfig#resumeMaxAge()}. They are not counted in the tier's usage.
 *
 * <p><b>Names.</b> Hashing the key gives file names of fixed length that no key can turn into a
 * path, whatever its characters or length; the key itself is in the trailer and checked on open.
 *
 * <p><b>O_DIRECT.</b> With {@link LocalTierConfig#directIo()} object data is read and written with
 * O_DIRECT: 4 KiB-aligned direct buffers given by the caller are used as they are, anything else
 * goes through pooled aligned bounce buffers.
 *
 * <p>Blocking work runs on the configured executor (virtual threads by default). Thread-safe.
 */
public final class LocalTier implements Tier {

    private static final Logger log = LoggerFactory.getLogger(LocalTier.class);

    static final String OBJECTS_DIR = "objects";
    static final String TMP_DIR = "tmp";
    static final String QUARANTINE_DIR = "quarantine";
    static final String OBJECT_SUFFIX = ".obj";
    static final String TMP_SUFFIX = ".tmp";
    static final String RESUME_SUFFIX = ".resume";
    private static final Pattern RESUME_NAME = Pattern.compile("[0-9a-f]{64}\\.[0-9a-f]{16}\\" + RESUME_SUFFIX);
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final int LOCK_STRIPES = 256;

    private final LocalTierConfig config;
    private final String name;
    private final Path root;
    private final Path objectsDir;
    private final Path tmpDir;
    private final Executor executor;
    private final ExecutorService ownedExecutor;
    private final AlignedBufferPool buffers;
    private final long capacityInBytes;
    /** Committed objects by key, with the bytes each file occupies. */
    private final ConcurrentSkipListMap<String, Long> index = new ConcurrentSkipListMap<>();
    private final ReentrantLock[] keyLocks = new ReentrantLock[LOCK_STRIPES];
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
        this.objectsDir = root.resolve(OBJECTS_DIR);
        this.tmpDir = root.resolve(TMP_DIR);
        this.buffers = new AlignedBufferPool(config.maxIdleBuffersPerSize());
        for (int i = 0; i < LOCK_STRIPES; i++) {
            keyLocks[i] = new ReentrantLock();
        }
        Files.createDirectories(objectsDir);
        Files.createDirectories(tmpDir);
        for (int i = 0; i < 256; i++) {
            Files.createDirectories(objectsDir.resolve(String.format("%02x", i)));
        }
        fsyncDirectory(objectsDir);
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
        scanObjects();
        log.info("opened local tier {}: {} objects, {} bytes used of {}, {} abandoned temp files removed, config {}",
                name, index.size(), usedInBytes, capacityInBytes, removed, config);
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
            try (FileChannel ch = FileChannel.open(pathFor(key), StandardOpenOption.READ)) {
                return Optional.of(readInfo(ch, false, key));
            } catch (NoSuchFileException e) {
                return Optional.empty();
            }
        });
    }

    @Override
    public CompletableFuture<ObjectReader> openReader(ObjectKey key) {
        return async("open " + key, () -> {
            FileChannel ch;
            try {
                ch = FileChannel.open(pathFor(key), dataOptions(StandardOpenOption.READ));
            } catch (NoSuchFileException e) {
                throw new ObjectNotFoundException(name, key);
            }
            boolean success = false;
            try {
                ObjectInfo info = readInfo(ch, config.directIo(), key);
                LocalObjectReader reader = new LocalObjectReader(this, info, ch);
                success = true;
                return reader;
            } finally {
                if (!success) {
                    ch.close();
                }
            }
        });
    }

    /** Bytes the request's object file takes: its data rounded up to 4 KiB, and its trailer. */
    private static long footprintOf(WriteRequest request) {
        int recordLength = ObjectFileFormat.recordLength(request.key(), request.chunkCount(),
                request.contentType(), request.userMetadata());
        return ObjectFileFormat.footprint(request.sizeInBytes(), recordLength);
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
                NativeIo.allocate(tmp, 0, footprint);
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
                NativeIo.allocate(file, 0, footprint);
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
            ReentrantLock lock = lockFor(key);
            lock.lock();
            try {
                Path path = pathFor(key);
                boolean existed = Files.deleteIfExists(path);
                if (existed) {
                    fsyncDirectory(path.getParent());
                }
                Long footprint = index.remove(key.value());
                if (footprint != null) {
                    synchronized (accounting) {
                        usedInBytes -= footprint;
                    }
                }
                return existed;
            } finally {
                lock.unlock();
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
        if (!Files.isDirectory(objectsDir) || !Files.isWritable(tmpDir)) {
            return TierHealth.down(objectsDir + " is missing or " + tmpDir + " is not writable");
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
     * Renames a finished temp file into place and turns its reservation into used space. Blocking.
     * Once the rename has happened the reservation is spent, even if the directory fsync fails.
     */
    void publish(ObjectKey key, Path tmp, Reservation reservation) throws IOException {
        checkOpen();
        ReentrantLock lock = lockFor(key);
        lock.lock();
        try {
            Path target = pathFor(key);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            long footprint = reservation.footprint();
            Long previous = index.put(key.value(), footprint);
            synchronized (accounting) {
                if (reservation.spend()) {
                    reservedInBytes -= footprint;
                }
                usedInBytes += footprint - (previous == null ? 0 : previous);
            }
            fsyncDirectory(target.getParent());
        } finally {
            lock.unlock();
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

    Path pathFor(ObjectKey key) {
        String hash = hashOf(key);
        return objectsDir.resolve(hash.substring(0, 2)).resolve(hash + OBJECT_SUFFIX);
    }

    OpenOption[] dataOptions(OpenOption... options) {
        if (!config.directIo()) {
            return options;
        }
        OpenOption[] withDirect = java.util.Arrays.copyOf(options, options.length + 1);
        withDirect[options.length] = com.sun.nio.file.ExtendedOpenOption.DIRECT;
        return withDirect;
    }

    /** Reads and checks the trailer of an open object file. */
    ObjectInfo readInfo(FileChannel ch, boolean direct, ObjectKey expectedKey) throws IOException {
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

    private ReentrantLock lockFor(ObjectKey key) {
        return keyLocks[(key.hashCode() & 0x7fffffff) % LOCK_STRIPES];
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

    private static String hashOf(ObjectKey key) {
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

    private void scanObjects() throws IOException {
        Path quarantine = root.resolve(QUARANTINE_DIR);
        try (DirectoryStream<Path> fans = Files.newDirectoryStream(objectsDir)) {
            for (Path fan : fans) {
                if (!Files.isDirectory(fan)) {
                    continue;
                }
                try (DirectoryStream<Path> files = Files.newDirectoryStream(fan, "*" + OBJECT_SUFFIX)) {
                    for (Path file : files) {
                        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                            ObjectInfo info = readInfo(ch, false, null);
                            if (!file.equals(pathFor(info.key()))) {
                                throw new CorruptObjectFileException(file.toString(), 0,
                                        "trailer names key " + info.key() + ", which belongs in " + pathFor(info.key()));
                            }
                            long footprint = ch.size();
                            index.put(info.key().value(), footprint);
                            usedInBytes += footprint;
                        } catch (CorruptObjectFileException | TierException e) {
                            Files.createDirectories(quarantine);
                            Path moved = quarantine.resolve(file.getFileName());
                            Files.move(file, moved, StandardCopyOption.REPLACE_EXISTING);
                            log.warn("local tier {}: {}; moved to {}", name, e.getMessage(), moved);
                        }
                    }
                }
            }
        }
    }
}
