package io.thermocline.mount;

import io.thermocline.engine.BackingObject;
import io.thermocline.engine.EngineReader;
import io.thermocline.engine.TierEngine;
import io.thermocline.engine.TierStatus;
import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.ObjectNotFoundException;
import io.thermocline.tier.TierException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.cryptomator.jfuse.api.DirFiller;
import org.cryptomator.jfuse.api.Errno;
import org.cryptomator.jfuse.api.FileInfo;
import org.cryptomator.jfuse.api.FuseConfig;
import org.cryptomator.jfuse.api.FuseConnInfo;
import org.cryptomator.jfuse.api.FuseOperations;
import org.cryptomator.jfuse.api.Stat;
import org.cryptomator.jfuse.api.Statvfs;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The file system a {@link ThermoclineMount} serves: every object of a {@link TierEngine} as a
 * read-only file at its key's path ({@link Namespace}), whichever tier holds it.
 *
 * <p>Reads go through {@link TierEngine#read}: from the fastest tier that holds the object, counted
 * as heat in the host's shared region, read through (and promoted as the engine's policy decides)
 * when only a slow tier holds it, and verified chunk by chunk against the object's CRC32Cs. A read
 * that no tier can answer with verified bytes answers {@code EIO} and logs the key, the tier and
 * the reason; it never answers wrong bytes.
 *
 * <p>libfuse calls these methods on its own threads, several at a time; they block on the engine.
 */
final class EngineFileSystem implements FuseOperations {

    private static final Logger log = LoggerFactory.getLogger(EngineFileSystem.class);
    /** open(2)'s access mode bits (O_RDONLY 0, O_WRONLY 1, O_RDWR 2). */
    private static final int O_ACCMODE = 3;
    private static final int BLOCK = 4096;

    private final TierEngine engine;
    private final Errno errno;
    private final Duration refreshInterval;
    private final Duration backingListInterval;
    /** The backing tier's last listing (guarded by refreshLock), and when it was made. */
    private List<BackingObject> backing = List.of();
    private long backingListedAtNanos;
    private boolean backingListed;
    private boolean backingFailing;
    private final int maxRead;
    private final int uid;
    private final int gid;
    private final Object refreshLock = new Object();
    private final Map<Long, OpenFile> open = new ConcurrentHashMap<>();
    private final AtomicLong nextHandle = new AtomicLong(1);
    private final LongAdder failedReads = new LongAdder();
    private final LongAdder checksumFailures = new LongAdder();
    private final Instant mountedAt = Instant.now();
    private volatile Namespace view = Namespace.empty();

    /** One open(2) of a file: the engine reader behind it. */
    private record OpenFile(String path, Namespace.FileEntry entry, EngineReader reader) {
    }

    EngineFileSystem(TierEngine engine, Errno errno, Duration refreshInterval, Duration backingListInterval, int maxRead,
            int uid, int gid) {
        this.engine = engine;
        this.errno = errno;
        this.refreshInterval = refreshInterval;
        this.backingListInterval = backingListInterval;
        this.maxRead = maxRead;
        this.uid = uid;
        this.gid = gid;
    }

    @Override
    public Errno errno() {
        return errno;
    }

    @Override
    public Set<Operation> supportedOperations() {
        return EnumSet.of(Operation.INIT, Operation.GET_ATTR, Operation.OPEN, Operation.READ, Operation.RELEASE,
                Operation.OPEN_DIR, Operation.READ_DIR, Operation.RELEASE_DIR, Operation.STATFS, Operation.ACCESS);
    }

    /**
     * Lists the engine's objects now, and the backing tier's when its last listing is older than
     * the backing list interval, and makes the view from them.
     */
    Namespace refresh() {
        synchronized (refreshLock) {
            long now = System.nanoTime();
            if (!backingListed || now - backingListedAtNanos >= backingListInterval.toNanos()) {
                listBacking(now);
            }
            Namespace next = Namespace.build(engine.list(""), backing, view, System.currentTimeMillis(), System.nanoTime());
            view = next;
            return next;
        }
    }

    /**
     * Lists the backing tier for objects the engine has not seen. When it cannot be listed now,
     * the last listing stays (logged once until it can be listed again): the engine's own objects
     * are shown either way.
     */
    private void listBacking(long now) {
        backingListedAtNanos = now;
        backingListed = true;
        try {
            backing = engine.listBacking("");
            if (backingFailing) {
                log.info("the backing tier can be listed again: {} objects", backing.size());
                backingFailing = false;
            }
        } catch (RuntimeException e) {
            if (!backingFailing) {
                log.warn("cannot list the backing tier for objects the engine has not seen ({}); showing its last "
                        + "listing of {} objects and the engine's own", TierException.unwrap(e).toString(), backing.size());
                backingFailing = true;
            }
        }
    }

    /** The view, made anew first when {@code refreshIfOld} and it is older than the refresh interval. */
    private Namespace view(boolean refreshIfOld) {
        Namespace v = view;
        if (refreshIfOld && System.nanoTime() - v.builtAtNanos() >= refreshInterval.toNanos()) {
            synchronized (refreshLock) {
                v = view;
                if (System.nanoTime() - v.builtAtNanos() >= refreshInterval.toNanos()) {
                    v = refresh();
                }
            }
        }
        return v;
    }

    /** Open handles now (for tests and the log at unmount). */
    int openFiles() {
        return open.size();
    }

    /** Reads answered with EIO since the mount. */
    long failedReads() {
        return failedReads.sum();
    }

    /** Of those, the reads whose chunk failed its CRC32C on every tier that holds it. */
    long checksumFailures() {
        return checksumFailures.sum();
    }

    @Override
    public void init(FuseConnInfo conn, FuseConfig config) {
        // the kernel sizes read requests by max_pages, which libfuse derives from max_write; the
        // kernel caps the read-ahead it offers here, and ThermoclineMount raises the device's
        // read_ahead_kb after the mount
        conn.setMaxWrite(maxRead);
        conn.setMaxReadahead(Math.min(conn.maxReadahead(), maxRead));
        log.debug("FUSE protocol {}.{}, max read-ahead {} bytes, max write {}", conn.protoMajor(), conn.protoMinor(),
                conn.maxReadahead(), conn.maxWrite());
    }

    @Override
    public int getattr(String path, Stat stat, FileInfo fi) {
        String p = relative(path);
        Namespace v = view(false);
        if (!fill(v, p, stat)) {
            v = view(true);
            if (!fill(v, p, stat)) {
                return -errno.enoent();
            }
        }
        return 0;
    }

    private boolean fill(Namespace v, String p, Stat stat) {
        Optional<Namespace.FileEntry> file = v.file(p);
        if (file.isPresent()) {
            Namespace.FileEntry e = file.get();
            stat.setMode(Stat.S_IFREG | 0444);
            stat.setNLink((short) 1);
            stat.setSize(e.sizeInBytes());
            Instant t = Instant.ofEpochMilli(e.mtimeMillis());
            stat.mTime().set(t);
            stat.cTime().set(t);
            stat.aTime().set(t);
        } else if (v.isDirectory(p)) {
            stat.setMode(Stat.S_IFDIR | 0555);
            stat.setNLink((short) 2);
            stat.setSize(0);
            stat.mTime().set(mountedAt);
            stat.cTime().set(mountedAt);
            stat.aTime().set(mountedAt);
        } else {
            return false;
        }
        stat.setUid(uid);
        stat.setGid(gid);
        return true;
    }

    @Override
    public int access(String path, int mask) {
        // W_OK is 2: nothing here is writable
        if ((mask & 2) != 0) {
            return -errno.erofs();
        }
        String p = relative(path);
        return exists(view(false), p) || exists(view(true), p) ? 0 : -errno.enoent();
    }

    private static boolean exists(Namespace v, String p) {
        return v.file(p).isPresent() || v.isDirectory(p);
    }

    @Override
    public int opendir(String path, FileInfo fi) {
        String p = relative(path);
        return view(true).isDirectory(p) ? 0 : -errno.enoent();
    }

    @Override
    public int readdir(String path, DirFiller filler, long offset, FileInfo fi, int flags) {
        String p = relative(path);
        Namespace v = view(false);
        if (!v.isDirectory(p)) {
            return -errno.enoent();
        }
        try {
            filler.fill(".");
            filler.fill("..");
            for (String name : v.children(p)) {
                filler.fill(name);
            }
        } catch (java.io.IOException e) {
            return -errno.enomem();
        }
        return 0;
    }

    @Override
    public int releasedir(String path, FileInfo fi) {
        return 0;
    }

    @Override
    public int open(String path, FileInfo fi) {
        if ((fi.getFlags() & O_ACCMODE) != 0) {
            return -errno.erofs();
        }
        String p = relative(path);
        Optional<Namespace.FileEntry> found = view(false).file(p);
        if (found.isEmpty()) {
            found = view(true).file(p);
            if (found.isEmpty()) {
                return view(false).isDirectory(p) ? -errno.eisdir() : -errno.enoent();
            }
        }
        Namespace.FileEntry entry = found.get();
        EngineReader reader;
        try {
            reader = engine.read(entry.key()).join();
        } catch (RuntimeException e) {
            Throwable t = TierException.unwrap(e);
            if (t instanceof ObjectNotFoundException) {
                if (entry.epoch() == Namespace.UNSEEN) {
                    synchronized (refreshLock) {
                        backingListed = false; // gone from the backing tier too: list it again now
                    }
                }
                refresh();
                return -errno.enoent();
            }
            log.warn("open of {} ({}) failed: {}; answering EIO", path, entry.key(), t.toString());
            return -errno.eio();
        }
        if (reader.info().sizeInBytes() != entry.sizeInBytes()) {
            refresh(); // replaced since the view was made: the next stat gives the new size
        }
        long handle = nextHandle.getAndIncrement();
        open.put(handle, new OpenFile(path, entry, reader));
        fi.setFh(handle);
        return 0;
    }

    @Override
    public int read(String path, ByteBuffer buf, long size, long offset, FileInfo fi) {
        OpenFile f = open.get(fi.getFh());
        if (f == null) {
            return -errno.ebadf();
        }
        int want = (int) Math.min(size, buf.remaining());
        ByteBuffer dst = buf.slice(buf.position(), want);
        long position = offset;
        try {
            while (dst.hasRemaining()) {
                int n = f.reader().read(position, dst).join();
                if (n < 0) {
                    break;
                }
                position += n;
            }
        } catch (RuntimeException e) {
            failedReads.increment();
            Throwable t = TierException.unwrap(e);
            if (t instanceof ChecksumMismatchException) {
                checksumFailures.increment();
                log.error("read of {} at offset {} from tier {}: no copy passed its CRC32C check ({}); answering EIO",
                        f.entry().key(), position, f.reader().tier(), t.getMessage());
            } else {
                log.warn("read of {} at offset {} from tier {} failed: {}; answering EIO",
                        f.entry().key(), position, f.reader().tier(), t.toString());
            }
            return -errno.eio();
        }
        int n = (int) (position - offset);
        buf.position(buf.position() + n);
        return n;
    }

    @Override
    public int release(String path, FileInfo fi) {
        OpenFile f = open.remove(fi.getFh());
        if (f != null) {
            f.reader().close();
        }
        return 0;
    }

    @Override
    public int statfs(String path, Statvfs statvfs) {
        long capacity = 0;
        long used = 0;
        for (TierStatus t : engine.tiers()) {
            capacity += t.capacityBytes();
            used += Math.min(t.usedBytes(), t.capacityBytes());
        }
        statvfs.setBsize(BLOCK);
        statvfs.setFrsize(BLOCK);
        statvfs.setBlocks(capacity / BLOCK);
        statvfs.setBfree((capacity - used) / BLOCK);
        statvfs.setBavail(0); // read-only: nobody may allocate
        statvfs.setNameMax(255);
        return 0;
    }

    /** Closes every reader still open (at unmount). */
    void closeAll() {
        for (Long handle : open.keySet()) {
            OpenFile f = open.remove(handle);
            if (f != null) {
                f.reader().close();
            }
        }
    }

    private static String relative(String path) {
        return path.startsWith("/") ? path.substring(1) : path;
    }
}
