package io.thermocline.tier.local;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * The project's one binding to the Linux C library, through the FFM API ({@code java.lang.foreign}),
 * for the file calls the JDK does not offer or offers with rules that do not fit: {@code open} with
 * {@code O_DIRECT}, {@code pread}/{@code pwrite} into native memory, {@code fdatasync},
 * {@code fallocate}, {@code ioctl} and {@code close}. Both the LOCAL tier (preallocation and hole
 * punching) and kernel-attached NVMe namespaces (direct I/O on a block device node) use it.
 *
 * <h2>Why not {@code FileChannel} with {@code ExtendedOpenOption.DIRECT}</h2>
 * The JDK insists that positions, lengths and buffer addresses be multiples of the file store's
 * block size, which for a device node in devtmpfs is the page size (4096), while a namespace
 * formatted with 512-byte LBAs takes 512-byte aligned I/O. Through this class the kernel alone
 * judges alignment: a misaligned {@code O_DIRECT} transfer fails with {@code EINVAL}. Callers align
 * offsets and lengths to the device's {@code queue/logical_block_size} and pass memory aligned for
 * DMA (4096-aligned segments satisfy every NVMe namespace in use).
 *
 * <h2>errno</h2>
 * {@code errno} is thread-local in libc and the JVM may make calls of its own between a downcall's
 * return and a later read of it, so every downcall that can fail is linked with
 * {@link Linker.Option#captureCallState(String...) captureCallState("errno")}: the linker copies
 * {@code errno} into a caller-supplied segment immediately after the call, before the JVM runs
 * anything else, and each call here allocates that segment in its own confined arena.
 *
 * <h2>Two kinds of method</h2>
 * <ul>
 *   <li>Single calls ({@link #open}, {@link #fallocate}, {@link #ioctl}) follow the kernel's
 *       convention: a non-negative result, or {@code -errno}. The caller decides which errnos it can
 *       work around and turns the others into an exception with {@link #failure}.</li>
 *   <li>Loops ({@link #readFully}, {@link #writeFully}, {@link #fdatasync}) retry {@code EINTR} and
 *       short transfers and throw an {@link IOException} that names the call, the path, the errno's
 *       symbolic name and number and libc's text for it.</li>
 * </ul>
 * Every method throws an {@code IOException} if the binding is unavailable: not Linux, a libc
 * without a symbol, or native access refused ({@link #isAvailable()} says which beforehand).
 *
 * <p>Constants are Linux's values for x86-64 and aarch64 (the two differ only in {@code O_DIRECT}).
 *
 * <p>Each method is one or a few blocking system calls; a downcall pins a virtual thread's carrier,
 * so callers on hot paths run these on platform threads. Thread-safe: no state beyond the immutable
 * method handles.
 */
@SuppressWarnings("restricted") // downcalls are the point; tests and the launcher grant native access
public final class Libc {

    /** fcntl.h: access modes. */
    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 0x1;
    public static final int O_RDWR = 0x2;
    /** fcntl.h: close the descriptor in a child after exec. */
    public static final int O_CLOEXEC = 0x80000;
    /**
     * fcntl.h: bypass the page cache (asm-generic value 0x4000 on x86-64; arm64 defines its own
     * 0x10000).
     */
    public static final int O_DIRECT = "aarch64".equals(System.getProperty("os.arch")) ? 0x10000 : 0x4000;

    /** linux/falloc.h: do not change the file size even when the range ends past it. */
    public static final int FALLOC_FL_KEEP_SIZE = 0x01;
    /** linux/falloc.h: deallocate the range (must be combined with {@link #FALLOC_FL_KEEP_SIZE}). */
    public static final int FALLOC_FL_PUNCH_HOLE = 0x02;

    /** asm-generic/errno-base.h: interrupted by a signal; the loops here retry it. */
    public static final int EINTR = 4;
    /** asm-generic/errno-base.h: bad file descriptor. */
    public static final int EBADF = 9;
    /** asm-generic/errno-base.h: invalid argument, also what a misaligned {@code O_DIRECT} transfer gets. */
    public static final int EINVAL = 22;
    /** asm-generic/errno-base.h: inappropriate ioctl, e.g. a block-layer ioctl on a regular file. */
    public static final int ENOTTY = 25;
    /** asm-generic/errno.h: operation not supported by this file system or device. */
    public static final int EOPNOTSUPP = 95;

    /**
     * Symbolic names of the errnos a file or block device call can plausibly return, from
     * asm-generic/errno-base.h and asm-generic/errno.h (shared by x86-64 and arm64).
     */
    private static final Map<Integer, String> ERRNO_NAMES = Map.ofEntries(
            Map.entry(1, "EPERM"), Map.entry(2, "ENOENT"), Map.entry(3, "ESRCH"), Map.entry(EINTR, "EINTR"),
            Map.entry(5, "EIO"), Map.entry(6, "ENXIO"), Map.entry(7, "E2BIG"), Map.entry(8, "ENOEXEC"),
            Map.entry(EBADF, "EBADF"), Map.entry(10, "ECHILD"), Map.entry(11, "EAGAIN"), Map.entry(12, "ENOMEM"),
            Map.entry(13, "EACCES"), Map.entry(14, "EFAULT"), Map.entry(15, "ENOTBLK"), Map.entry(16, "EBUSY"),
            Map.entry(17, "EEXIST"), Map.entry(18, "EXDEV"), Map.entry(19, "ENODEV"), Map.entry(20, "ENOTDIR"),
            Map.entry(21, "EISDIR"), Map.entry(EINVAL, "EINVAL"), Map.entry(23, "ENFILE"), Map.entry(24, "EMFILE"),
            Map.entry(ENOTTY, "ENOTTY"), Map.entry(26, "ETXTBSY"), Map.entry(27, "EFBIG"), Map.entry(28, "ENOSPC"),
            Map.entry(29, "ESPIPE"), Map.entry(30, "EROFS"), Map.entry(31, "EMLINK"), Map.entry(32, "EPIPE"),
            Map.entry(33, "EDOM"), Map.entry(34, "ERANGE"), Map.entry(35, "EDEADLK"), Map.entry(36, "ENAMETOOLONG"),
            Map.entry(37, "ENOLCK"), Map.entry(38, "ENOSYS"), Map.entry(39, "ENOTEMPTY"), Map.entry(40, "ELOOP"),
            Map.entry(61, "ENODATA"), Map.entry(62, "ETIME"), Map.entry(67, "ENOLINK"), Map.entry(71, "EPROTO"),
            Map.entry(74, "EBADMSG"), Map.entry(75, "EOVERFLOW"), Map.entry(84, "EILSEQ"),
            Map.entry(EOPNOTSUPP, "EOPNOTSUPP"), Map.entry(100, "ENETDOWN"), Map.entry(101, "ENETUNREACH"),
            Map.entry(103, "ECONNABORTED"), Map.entry(104, "ECONNRESET"), Map.entry(105, "ENOBUFS"),
            Map.entry(107, "ENOTCONN"), Map.entry(110, "ETIMEDOUT"), Map.entry(111, "ECONNREFUSED"),
            Map.entry(112, "EHOSTDOWN"), Map.entry(113, "EHOSTUNREACH"), Map.entry(116, "ESTALE"),
            Map.entry(117, "EUCLEAN"), Map.entry(121, "EREMOTEIO"), Map.entry(122, "EDQUOT"),
            Map.entry(123, "ENOMEDIUM"), Map.entry(124, "EMEDIUMTYPE"), Map.entry(125, "ECANCELED"));

    private static final MethodHandle OPEN;
    private static final MethodHandle CLOSE;
    private static final MethodHandle PREAD;
    private static final MethodHandle PWRITE;
    private static final MethodHandle FDATASYNC;
    private static final MethodHandle FALLOCATE;
    private static final MethodHandle IOCTL;
    private static final MethodHandle STRERROR;
    private static final StructLayout CAPTURE;
    private static final VarHandle ERRNO;
    /** Why the binding could not be made, or null if it was. */
    private static final Throwable UNAVAILABLE;

    static {
        MethodHandle open = null;
        MethodHandle close = null;
        MethodHandle pread = null;
        MethodHandle pwrite = null;
        MethodHandle fdatasync = null;
        MethodHandle fallocate = null;
        MethodHandle ioctl = null;
        MethodHandle strerror = null;
        StructLayout capture = null;
        VarHandle errno = null;
        Throwable unavailable = null;
        try {
            // The flag and errno values above are Linux's; on another kernel the same symbols mean other things.
            String os = System.getProperty("os.name", "");
            if (!os.toLowerCase(Locale.ROOT).startsWith("linux")) {
                throw new UnsupportedOperationException("os.name " + os + " (expected: Linux)");
            }
            Linker linker = Linker.nativeLinker();
            SymbolLookup libc = linker.defaultLookup();
            Linker.Option ccs = Linker.Option.captureCallState("errno");
            capture = Linker.Option.captureStateLayout();
            errno = capture.varHandle(MemoryLayout.PathElement.groupElement("errno"));
            // open(const char *path, int flags, ...) and ioctl(int fd, unsigned long request, ...) are
            // variadic: the mode and the argument are passed as variadic arguments.
            open = linker.downcallHandle(find(libc, "open"),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), ccs, Linker.Option.firstVariadicArg(2));
            close = linker.downcallHandle(find(libc, "close"), FunctionDescriptor.of(JAVA_INT, JAVA_INT));
            pread = linker.downcallHandle(find(libc, "pread"),
                    FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), ccs);
            pwrite = linker.downcallHandle(find(libc, "pwrite"),
                    FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), ccs);
            fdatasync = linker.downcallHandle(find(libc, "fdatasync"), FunctionDescriptor.of(JAVA_INT, JAVA_INT), ccs);
            fallocate = linker.downcallHandle(find(libc, "fallocate"),
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), ccs);
            ioctl = linker.downcallHandle(find(libc, "ioctl"),
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), ccs, Linker.Option.firstVariadicArg(2));
            strerror = linker.downcallHandle(find(libc, "strerror"), FunctionDescriptor.of(ADDRESS, JAVA_INT));
        } catch (Throwable t) {
            unavailable = t;
        }
        OPEN = open;
        CLOSE = close;
        PREAD = pread;
        PWRITE = pwrite;
        FDATASYNC = fdatasync;
        FALLOCATE = fallocate;
        IOCTL = ioctl;
        STRERROR = strerror;
        CAPTURE = capture;
        ERRNO = errno;
        UNAVAILABLE = unavailable;
    }

    private Libc() {
    }

    private static MemorySegment find(SymbolLookup libc, String name) {
        return libc.find(name).orElseThrow(() -> new UnsupportedOperationException("libc has no symbol " + name));
    }

    /** Whether the calls can be made in this JVM; if not, every method throws and {@link #unavailableReason()} says why. */
    public static boolean isAvailable() {
        return UNAVAILABLE == null;
    }

    /** Why the binding is unavailable, or null if it is available. */
    public static Throwable unavailableReason() {
        return UNAVAILABLE;
    }

    private static void requireAvailable() throws IOException {
        if (UNAVAILABLE != null) {
            throw new IOException("cannot call libc from this JVM (is --enable-native-access=ALL-UNNAMED set, or "
                    + "io.thermocline.tier.local on the module path?): " + UNAVAILABLE, UNAVAILABLE);
        }
    }

    /**
     * {@code open(path, flags, 0)}: the descriptor, or {@code -errno}. Owning the descriptor passes to
     * the caller, who must {@link #close} it.
     *
     * @param flags e.g. {@code O_RDWR | O_DIRECT | O_CLOEXEC}; without {@code O_CREAT}, as no mode is given
     * @throws IOException only if the binding is unavailable
     */
    public static int open(Path path, int flags) throws IOException {
        requireAvailable();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            int fd = (int) OPEN.invokeExact(state, arena.allocateFrom(path.toString()), flags, 0);
            return fd >= 0 ? fd : -errno(state);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("open " + path + ": " + t, t);
        }
    }

    /**
     * {@code close(fd)}. Errors are ignored: on Linux the descriptor is released even when close
     * reports one, so there is nothing a caller could retry, and data durability is the business of
     * {@link #fdatasync} before it. Does nothing if the binding is unavailable (no descriptor can
     * have been opened through it).
     */
    public static void close(int fd) {
        if (UNAVAILABLE != null) {
            return;
        }
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            // see above: nothing to act on
        }
    }

    /**
     * Reads exactly {@code dst.byteSize()} bytes at {@code offset} of {@code fd} into {@code dst},
     * retrying short reads and {@code EINTR}. With {@code O_DIRECT}, {@code offset}, the size and the
     * address of {@code dst} must be aligned as the kernel demands of the file (else {@code EINVAL}).
     *
     * @param path  the file {@code fd} was opened from, for messages only
     * @param dst   native memory, filled in place; the caller keeps owning it
     * @throws IOException naming the call, the path, the offset and the errno; or, at end of file,
     *                     saying that no bytes moved at that offset
     */
    public static void readFully(int fd, Path path, long offset, MemorySegment dst) throws IOException {
        transfer(false, fd, path, offset, dst);
    }

    /**
     * Writes all of {@code src} at {@code offset} of {@code fd}, retrying short writes and
     * {@code EINTR}. Alignment as for {@link #readFully}. Not durable until {@link #fdatasync}.
     *
     * @param src native memory, only read; the caller keeps owning it
     * @throws IOException naming the call, the path, the offset and the errno
     */
    public static void writeFully(int fd, Path path, long offset, MemorySegment src) throws IOException {
        transfer(true, fd, path, offset, src);
    }

    private static void transfer(boolean write, int fd, Path path, long offset, MemorySegment buffer)
            throws IOException {
        requireAvailable();
        String call = write ? "pwrite" : "pread";
        long done = 0;
        long length = buffer.byteSize();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            while (done < length) {
                MemorySegment rest = buffer.asSlice(done);
                long n = write
                        ? (long) PWRITE.invokeExact(state, fd, rest, rest.byteSize(), offset + done)
                        : (long) PREAD.invokeExact(state, fd, rest, rest.byteSize(), offset + done);
                if (n < 0) {
                    int errno = errno(state);
                    if (errno == EINTR) {
                        continue;
                    }
                    throw failure(call + " of " + rest.byteSize() + " bytes at offset " + (offset + done), path, errno);
                }
                if (n == 0) {
                    throw new IOException(call + " of " + path + " at offset " + (offset + done)
                            + " moved no bytes (end of device at " + (offset + done) + "?)");
                }
                done += n;
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException(call + " " + path + ": " + t, t);
        }
    }

    /**
     * {@code fdatasync(fd)}, retrying {@code EINTR}: written data (and the metadata needed to read it)
     * reaches stable storage; on a block device the kernel writes back its cache and sends the device
     * a cache flush (NVMe Flush).
     *
     * @throws IOException naming the path and the errno ({@code EIO}: a write-back failed and the
     *                     data since the last successful sync may be lost)
     */
    public static void fdatasync(int fd, Path path) throws IOException {
        requireAvailable();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            int rc;
            do {
                rc = (int) FDATASYNC.invokeExact(state, fd);
            } while (rc != 0 && errno(state) == EINTR);
            if (rc != 0) {
                throw failure("fdatasync", path, errno(state));
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("fdatasync " + path + ": " + t, t);
        }
    }

    /**
     * {@code fallocate(fd, mode, offset, length)}, retrying {@code EINTR}: 0, or {@code -errno}
     * ({@code -EOPNOTSUPP} where the file system does not support {@code mode}).
     *
     * @param mode 0 to allocate (extending the size if the range ends past it), or
     *             {@code FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE} to deallocate
     * @throws IOException only if the binding is unavailable
     */
    public static int fallocate(int fd, int mode, long offset, long length) throws IOException {
        requireAvailable();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            int rc;
            do {
                rc = (int) FALLOCATE.invokeExact(state, fd, mode, offset, length);
            } while (rc != 0 && errno(state) == EINTR);
            return rc == 0 ? 0 : -errno(state);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("fallocate fd " + fd + ": " + t, t);
        }
    }

    /**
     * {@code ioctl(fd, request, arg)}, retrying {@code EINTR}: the call's non-negative result, or
     * {@code -errno} ({@code -ENOTTY} when {@code fd} is not the kind of file {@code request} is for).
     *
     * @param arg native memory the request reads or fills, as its definition says; the caller keeps owning it
     * @throws IOException only if the binding is unavailable
     */
    public static int ioctl(int fd, long request, MemorySegment arg) throws IOException {
        requireAvailable();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            int rc;
            do {
                rc = (int) IOCTL.invokeExact(state, fd, request, arg);
            } while (rc < 0 && errno(state) == EINTR);
            return rc >= 0 ? rc : -errno(state);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("ioctl 0x" + Long.toHexString(request) + " on fd " + fd + ": " + t, t);
        }
    }

    /**
     * The exception for a failed call: {@code "<call> of <path> failed: <libc text> (errno <n>, <NAME>)"},
     * e.g. {@code "pread of 4096 bytes at offset 512 of /dev/nvme1n1 failed: Invalid argument (errno 22, EINVAL)"}.
     *
     * @param call what was attempted, with the arguments that matter (size, offset)
     */
    public static IOException failure(String call, Path path, int errno) {
        String name = errnoName(errno);
        return new IOException(call + " of " + path + " failed: " + strerror(errno) + " (errno " + errno
                + (name == null ? "" : ", " + name) + ")");
    }

    /** The symbolic name of {@code errno}, e.g. {@code "EINVAL"} for 22, or null for one this class does not know. */
    public static String errnoName(int errno) {
        return ERRNO_NAMES.get(errno);
    }

    /** libc's text for {@code errno}, e.g. "Input/output error"; {@code "errno <n>"} if libc cannot be asked. */
    public static String strerror(int errno) {
        if (UNAVAILABLE != null) {
            return "errno " + errno;
        }
        try {
            // For an errno it knows, glibc returns its constant message; the string is copied out at
            // once in any case. 256 bytes bounds the search for the terminating NUL.
            MemorySegment text = (MemorySegment) STRERROR.invokeExact(errno);
            return text.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }
}
