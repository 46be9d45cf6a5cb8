package io.thermocline.mount;

import io.thermocline.engine.TierEngine;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.cryptomator.jfuse.api.Fuse;
import org.cryptomator.jfuse.api.FuseBuilder;
import org.cryptomator.jfuse.api.FuseMountFailedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A read-only FUSE mount of a {@link TierEngine}: every object is a file at its key's path,
 * whichever tier holds it ({@link EngineFileSystem}, {@link Namespace}).
 *
 * <p>libfuse 3 ({@code libfuse3.so.3}, Debian's {@code libfuse3-3}, pulled in by {@code fuse3})
 * is bound through the FFM API by {@code org.cryptomator:jfuse}; {@code fusermount3} (Debian's
 * {@code fuse3}) mounts for a user who is not root and undoes a dead mount.
 *
 * <p>Mount options: {@code ro}, {@code default_permissions} (the kernel checks the 0444 / 0555
 * modes), {@code auto_cache} (the kernel keeps a file's cached pages while its modification time
 * and size are unchanged, i.e. while the object's version is), {@code noatime}, and
 * {@code allow_other} only when asked for.
 *
 * <p><b>A mount whose process died</b> (SIGKILL, a crash) stays in the mount table, and every
 * access to it fails with ENOTCONN ("Transport endpoint is not connected"). {@link #mount} finds
 * such a dead {@code fuse.thermocline} mount on its mount point and detaches it
 * ({@code fusermount3 -u -z}) before mounting again; by hand, {@code fusermount3 -u -z MOUNTPOINT}
 * (or {@code umount -l MOUNTPOINT} as root) does the same.
 */
public final class ThermoclineMount implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ThermoclineMount.class);
    /** The program name libfuse is given: the mount's type is {@code fuse.thermocline}. */
    static final String PROGRAM = "thermocline";
    static final String FS_TYPE = "fuse." + PROGRAM;
    private static final List<Path> LIBRARY_DIRS = List.of(Path.of("/usr/lib/x86_64-linux-gnu"),
            Path.of("/lib/x86_64-linux-gnu"), Path.of("/usr/lib/aarch64-linux-gnu"), Path.of("/lib/aarch64-linux-gnu"),
            Path.of("/usr/lib64"), Path.of("/usr/lib"), Path.of("/lib64"), Path.of("/lib"));

    /** How to mount. */
    public record Options(boolean allowOther, Duration refreshInterval, int maxReadBytes, int readAheadKiB, int maxThreads,
            Duration backingListInterval) {

        public Options {
            if (refreshInterval.isNegative()) {
                throw new IllegalArgumentException("refreshInterval: " + refreshInterval + " (expected: >= 0)");
            }
            if (backingListInterval.isNegative()) {
                throw new IllegalArgumentException("backingListInterval: " + backingListInterval + " (expected: >= 0)");
            }
            if (maxReadBytes < 4096 || maxReadBytes > (1 << 20) || Integer.bitCount(maxReadBytes) != 1) {
                throw new IllegalArgumentException("maxReadBytes: " + maxReadBytes
                        + " (expected: a power of two from 4096 to 1048576)");
            }
            if (readAheadKiB < 0) {
                throw new IllegalArgumentException("readAheadKiB: " + readAheadKiB + " (expected: >= 0; 0 keeps the kernel's)");
            }
            if (maxThreads < 1) {
                throw new IllegalArgumentException("maxThreads: " + maxThreads + " (expected: >= 1)");
            }
        }

        /**
         * Others may not read; the engine's objects are listed again at most once a second, the
         * backing tier's (for objects the engine has not seen) at most once every 30 seconds; 1 MiB
         * reads and read-ahead; 64 threads.
         */
        public static Options defaults() {
            return new Options(false, Duration.ofSeconds(1), 1 << 20, 1024, 64, Duration.ofSeconds(30));
        }

        public Options withAllowOther(boolean v) {
            return new Options(v, refreshInterval, maxReadBytes, readAheadKiB, maxThreads, backingListInterval);
        }

        public Options withRefreshInterval(Duration v) {
            return new Options(allowOther, v, maxReadBytes, readAheadKiB, maxThreads, backingListInterval);
        }

        /** How often, at most, the backing tier is listed for objects the engine has not seen. */
        public Options withBackingListInterval(Duration v) {
            return new Options(allowOther, refreshInterval, maxReadBytes, readAheadKiB, maxThreads, v);
        }
    }

    private final Path mountPoint;
    private final Fuse fuse;
    private final EngineFileSystem fileSystem;
    /** The mount's device number (st_dev of its root), or -1 when it could not be read. */
    private final long device;
    private boolean closed;

    private ThermoclineMount(Path mountPoint, Fuse fuse, EngineFileSystem fileSystem) {
        this.mountPoint = mountPoint;
        this.fuse = fuse;
        this.fileSystem = fileSystem;
        long dev;
        try {
            dev = ((Number) Files.getAttribute(mountPoint, "unix:dev")).longValue();
        } catch (IOException | RuntimeException e) {
            log.debug("the device number of {} cannot be read: {}", mountPoint, e.toString());
            dev = -1;
        }
        this.device = dev;
    }

    /**
     * Why a mount cannot be made on this machine, or empty when it can: {@code /dev/fuse} missing
     * or not readable and writable, {@code fusermount3} not on the PATH, or no {@code libfuse3.so.3}.
     */
    public static Optional<String> unavailableReason() {
        Path dev = Path.of("/dev/fuse");
        if (!Files.exists(dev)) {
            return Optional.of("/dev/fuse does not exist (the kernel has no FUSE, or this container was not given the device)");
        }
        if (!Files.isReadable(dev) || !Files.isWritable(dev)) {
            return Optional.of("/dev/fuse is not readable and writable by this user");
        }
        if (findOnPath("fusermount3").isEmpty()) {
            return Optional.of("fusermount3 is not on the PATH (Debian package fuse3)");
        }
        if (library().isEmpty()) {
            return Optional.of("libfuse3.so.3 was found in none of " + LIBRARY_DIRS + " (Debian package libfuse3-3)");
        }
        return Optional.empty();
    }

    /**
     * Mounts {@code engine} at {@code mountPoint}, an existing empty directory, and returns once the
     * file system answers. The caller keeps the engine open until {@link #close}.
     *
     * @throws MountException with the reason and its kind: FUSE unavailable, the mount point unfit,
     *                        or the mount failed
     */
    public static ThermoclineMount mount(TierEngine engine, Path mountPoint, Options options) throws MountException {
        Optional<String> unavailable = unavailableReason();
        if (unavailable.isPresent()) {
            throw new MountException(unavailable.get(), MountException.Kind.UNAVAILABLE);
        }
        Path point = mountPoint.toAbsolutePath().normalize();
        recoverDeadMount(point);
        if (!Files.isDirectory(point, LinkOption.NOFOLLOW_LINKS)) {
            throw new MountException("mount point " + point + " is not a directory (expected: an existing empty directory)", MountException.Kind.MOUNT_POINT);
        }
        try (var entries = Files.list(point)) {
            if (entries.findAny().isPresent()) {
                throw new MountException("mount point " + point + " is not empty (expected: an existing empty directory;"
                        + " the files in it would be hidden while mounted)", MountException.Kind.MOUNT_POINT);
            }
        } catch (IOException e) {
            throw new MountException("mount point " + point + " cannot be listed: " + e.getMessage(), MountException.Kind.MOUNT_POINT);
        }
        FuseBuilder builder = Fuse.builder();
        builder.setLibraryPath(library().orElseThrow().toString());
        int[] owner = owner();
        EngineFileSystem fs = new EngineFileSystem(engine, builder.errno(), options.refreshInterval(),
                options.backingListInterval(), options.maxReadBytes(), owner[0], owner[1]);
        Namespace first = fs.refresh();
        Fuse fuse;
        try {
            fuse = builder.build(fs);
        } catch (UnsatisfiedLinkError e) {
            throw new MountException("libfuse3 could not be bound: " + e.getMessage(), MountException.Kind.UNAVAILABLE);
        }
        List<String> flags = new ArrayList<>(List.of("-o", "ro", "-o", "default_permissions", "-o", "auto_cache",
                "-o", "noatime", "-o", "fsname=thermocline", "-o", "subtype=" + PROGRAM, "-o", "max_threads=" + options.maxThreads()));
        if (options.allowOther()) {
            flags.addAll(List.of("-o", "allow_other"));
        }
        try {
            fuse.mount(PROGRAM, point, flags.toArray(String[]::new));
        } catch (FuseMountFailedException | RuntimeException e) {
            closeQuietly(fuse);
            throw new MountException("mounting at " + point + " failed: " + e.getMessage()
                    + (options.allowOther() ? " (allow_other needs root, or user_allow_other in /etc/fuse.conf)" : ""), MountException.Kind.FAILED);
        }
        ThermoclineMount mount = new ThermoclineMount(point, fuse, fs);
        mount.raiseReadAhead(options.readAheadKiB());
        log.info("mounted {} objects in {} directories at {} ({})", first.fileCount(), first.directoryCount(), point, FS_TYPE);
        return mount;
    }

    /** Where it is mounted. */
    public Path mountPoint() {
        return mountPoint;
    }

    /** Whether the mount table still holds this mount (someone may have run {@code fusermount3 -u}). */
    public boolean isMounted() {
        return mountTypeAt(mountPoint).filter(FS_TYPE::equals).isPresent();
    }

    /** Lists the engine's objects now, so that the files show what was put just before. */
    public void refresh() {
        fileSystem.refresh();
    }

    /** Files open through the mount now. */
    public int openFiles() {
        return fileSystem.openFiles();
    }

    /** Reads answered with EIO since the mount. */
    public long failedReads() {
        return fileSystem.failedReads();
    }

    /** Reads answered with EIO because no copy of their chunk passed its CRC32C check. */
    public long checksumFailures() {
        return fileSystem.checksumFailures();
    }

    /**
     * Unmounts (waiting for reads in progress to end) and closes every reader it opened. Idempotent.
     *
     * <p>First {@code fusermount3 -u}. When a process still has a file or directory open there, that
     * fails (EBUSY); the mount is then detached ({@code fusermount3 -u -z}) and its connection
     * aborted ({@code /sys/fs/fuse/connections/N/abort}, the kernel's documented way to end a FUSE
     * connection), so that this process can end at once, and those open files answer ENOTCONN
     * from then on.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<java.nio.file.DirectoryStream<Path>> wakers = new ArrayList<>();
        if (isMounted() && !fusermount(mountPoint, false)) {
            // libfuse then says "failed to unmount ...: Invalid argument" on stderr: it was already detached
            log.warn("{} is busy (a process has a file or directory open there; {} files are open through the mount): "
                    + "detaching it, and those processes get ENOTCONN from now on", mountPoint, fileSystem.openFiles());
            wakers = openWakers();
            fusermount(mountPoint, true);
            abortConnection();
        }
        try {
            closeFuse(wakers);
        } catch (TimeoutException e) {
            log.warn("unmounting {} timed out: {}; detaching it", mountPoint, e.getMessage());
            detach(mountPoint);
        } finally {
            wakers.forEach(ThermoclineMount::closeQuietly);
            fileSystem.closeAll();
        }
        if (isMounted()) {
            detach(mountPoint); // could not be aborted: the mount leaves once the last file is closed
        }
        log.info("unmounted {}", mountPoint);
    }

    /**
     * Directory handles on the mount, held by this process, so that once the mount is detached the
     * file system's loop can be woken to notice that it was told to end: libfuse's loop checks
     * that only after a request, and a detached mount whose files stay open elsewhere sends none.
     * Closing one sends a RELEASEDIR request.
     */
    private List<java.nio.file.DirectoryStream<Path>> openWakers() {
        List<java.nio.file.DirectoryStream<Path>> wakers = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            try {
                wakers.add(Files.newDirectoryStream(mountPoint));
            } catch (IOException e) {
                log.debug("no handle on {} to wake its loop with: {}", mountPoint, e.toString());
                break;
            }
        }
        return wakers;
    }

    /** {@link Fuse#close}, waking the loop with one of {@code wakers} every 250 ms until it has ended. */
    private void closeFuse(List<java.nio.file.DirectoryStream<Path>> wakers) throws TimeoutException {
        if (wakers.isEmpty()) {
            fuse.close();
            return;
        }
        java.util.concurrent.CompletableFuture<Void> done = new java.util.concurrent.CompletableFuture<>();
        Thread closer = Thread.ofPlatform().name("thermocline-unmount-" + mountPoint.getFileName()).start(() -> {
            try {
                fuse.close();
                done.complete(null);
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        });
        int next = 0;
        try {
            while (true) {
                try {
                    done.get(250, TimeUnit.MILLISECONDS);
                    return;
                } catch (TimeoutException stillRunning) {
                    if (next < wakers.size()) {
                        closeQuietly(wakers.get(next++));
                    }
                } catch (java.util.concurrent.ExecutionException e) {
                    if (e.getCause() instanceof TimeoutException t) {
                        throw t;
                    }
                    throw new IllegalStateException("closing the FUSE session of " + mountPoint + " failed", e.getCause());
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            log.warn("interrupted while unmounting {}; {} goes on closing it", mountPoint, closer.getName());
        }
    }

    private static void closeQuietly(java.nio.file.DirectoryStream<Path> stream) {
        try {
            stream.close();
        } catch (IOException e) {
            log.debug("closing a directory handle: {}", e.toString());
        }
    }

    /**
     * Aborts this mount's FUSE connection through the fusectl file system (kernel
     * Documentation/filesystems/fuse.rst, "Aborting a filesystem connection"): the connection's
     * number is the minor device number of the mount, known from {@link #mount}.
     */
    private void abortConnection() {
        if (device < 0) {
            return;
        }
        Path abort = Path.of("/sys/fs/fuse/connections", Long.toString(minor(device)), "abort");
        try {
            if (Files.isWritable(abort)) {
                Files.writeString(abort, "1");
                log.debug("aborted FUSE connection {}", abort.getParent());
            } else {
                log.info("{} is not writable here (fusectl not mounted, or not this user's): open files keep the mount "
                        + "until they are closed", abort);
            }
        } catch (IOException e) {
            log.info("aborting the FUSE connection of {} failed: {}", mountPoint, e.toString());
        }
    }

    private static long major(long dev) {
        return (dev >>> 8) & 0xfff | ((dev >>> 32) & ~0xfffL);
    }

    private static long minor(long dev) {
        return (dev & 0xff) | ((dev >>> 12) & ~0xffL);
    }

    /**
     * The kernel starts a FUSE mount with its default read-ahead (128 KiB). As root, the mount's
     * backing device's {@code read_ahead_kb} is raised, so that a sequential reader's requests
     * reach the engine as large reads.
     */
    private void raiseReadAhead(int kib) {
        if (kib <= 0) {
            return;
        }
        if (device < 0) {
            log.info("read-ahead of {} stays the kernel's: its device number is unknown", mountPoint);
            return;
        }
        try {
            Path knob = Path.of("/sys/class/bdi/" + major(device) + ":" + minor(device) + "/read_ahead_kb");
            if (Files.isWritable(knob)) {
                Files.writeString(knob, Integer.toString(kib));
                log.debug("read-ahead of {} set to {} KiB ({})", mountPoint, kib, knob);
            } else {
                log.info("read-ahead of {} stays the kernel's: {} is not writable by this user", mountPoint, knob);
            }
        } catch (IOException | RuntimeException e) {
            log.info("read-ahead of {} stays the kernel's: {}", mountPoint, e.toString());
        }
    }

    /**
     * Finds a dead Thermocline mount at {@code point} (its process is gone, every access fails
     * with ENOTCONN) and detaches it. A live mount, or another file system, is refused.
     */
    static void recoverDeadMount(Path point) throws MountException {
        Optional<String> type = mountTypeAt(point);
        if (type.isEmpty()) {
            return;
        }
        if (!type.get().equals(FS_TYPE)) {
            throw new MountException(point + " is already a mount point (" + type.get()
                    + "); choose an empty directory that is not mounted", MountException.Kind.MOUNT_POINT);
        }
        try {
            // opendir asks the file system's process (a stat may be answered from cached attributes)
            Files.newDirectoryStream(point).close();
        } catch (FileSystemException e) {
            String reason = String.valueOf(e.getReason());
            if (reason.contains("not connected")) {
                log.warn("{} holds a dead Thermocline mount (its process is gone: {}); detaching it", point, reason);
                detach(point);
                if (mountTypeAt(point).isPresent()) {
                    throw new MountException("the dead mount at " + point + " could not be detached; run: fusermount3 -u -z "
                            + point, MountException.Kind.FAILED);
                }
                return;
            }
            throw new MountException(point + " is a Thermocline mount that cannot be read (" + reason + ")", MountException.Kind.FAILED);
        } catch (IOException e) {
            throw new MountException(point + " is a Thermocline mount that cannot be read (" + e.getMessage() + ")", MountException.Kind.FAILED);
        }
        throw new MountException(point + " is already mounted by a running thermocline mount; unmount it first"
                + " (Ctrl-C in its terminal, or fusermount3 -u " + point + ")", MountException.Kind.MOUNT_POINT);
    }

    /** {@code fusermount3 -u -z}: a lazy unmount, done once the last open file is closed. */
    private static void detach(Path point) {
        fusermount(point, true);
    }

    /**
     * {@code fusermount3 -u [-z] point}; whether it exited 0. A failure of the lazy one is logged;
     * the plain one fails when the mount is busy, which the caller handles.
     */
    private static boolean fusermount(Path point, boolean lazy) {
        List<String> cmd = new ArrayList<>(List.of(findOnPath("fusermount3").map(Path::toString).orElse("fusermount3"), "-u"));
        if (lazy) {
            cmd.add("-z");
        }
        cmd.add(point.toString());
        String shown = "fusermount3 -u " + (lazy ? "-z " : "") + point;
        try {
            Process p = new ProcessBuilder(cmd)
                    .redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                log.warn("{} did not end in 30 s", shown);
                return false;
            }
            if (p.exitValue() != 0) {
                if (lazy) {
                    log.warn("{} exited with {}: {}", shown, p.exitValue(), out);
                } else {
                    log.debug("{} exited with {}: {}", shown, p.exitValue(), out);
                }
                return false;
            }
            return true;
        } catch (IOException e) {
            log.warn("{} could not run: {}", shown, e.getMessage());
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** The type of the file system mounted exactly at {@code point}, from /proc/self/mountinfo. */
    public static Optional<String> mountTypeAt(Path point) {
        List<String> lines;
        try {
            lines = Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return Optional.empty();
        }
        String wanted = point.toAbsolutePath().normalize().toString();
        String type = null;
        for (String line : lines) {
            // proc(5): ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
            String[] fields = line.split(" ");
            if (fields.length < 7 || !unescape(fields[4]).equals(wanted)) {
                continue;
            }
            for (int i = 5; i < fields.length - 1; i++) {
                if (fields[i].equals("-")) {
                    type = fields[i + 1]; // the last one listed is the one on top
                    break;
                }
            }
        }
        return Optional.ofNullable(type);
    }

    /** mountinfo writes space, tab, newline and backslash in paths as octal escapes (\040 ...). */
    private static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length()) {
                out.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static Optional<Path> library() {
        for (Path dir : LIBRARY_DIRS) {
            Path lib = dir.resolve("libfuse3.so.3");
            if (Files.isReadable(lib)) {
                return Optional.of(lib);
            }
        }
        return Optional.empty();
    }

    private static Optional<Path> findOnPath(String name) {
        String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
        for (String dir : path.split(":")) {
            if (dir.isEmpty()) {
                continue;
            }
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        for (String dir : List.of("/usr/bin", "/bin", "/usr/sbin", "/sbin")) {
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** The uid and gid the files show: this process's. */
    private static int[] owner() {
        try {
            Path self = Path.of("/proc/self");
            return new int[] {((Number) Files.getAttribute(self, "unix:uid")).intValue(),
                    ((Number) Files.getAttribute(self, "unix:gid")).intValue()};
        } catch (IOException | RuntimeException e) {
            return new int[] {0, 0};
        }
    }

    private static void closeQuietly(Fuse fuse) {
        try {
            fuse.close();
        } catch (TimeoutException | RuntimeException e) {
            log.debug("closing an unmounted libfuse handle: {}", e.toString());
        }
    }
}
