package io.thermocline.nvmeof.kernel;

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

/**
 * A block device node (or, for tests, a regular file) opened with {@code O_RDWR | O_DIRECT} and
 * driven through libc with the FFM API: {@code pread}/{@code pwrite} at the device's own logical
 * block size, {@code fdatasync} for a flush, and the block layer's {@code BLKDISCARD} and
 * {@code BLKZEROOUT} ioctls for trim and write-zeroes.
 *
 * <p>Why not {@link java.nio.channels.FileChannel} with {@code ExtendedOpenOption.DIRECT}: the JDK
 * demands that positions and lengths be multiples of the file store's block size, which for a node
 * in devtmpfs is the page size (4096), while a namespace formatted with 512-byte LBAs takes 512-byte
 * aligned I/O. Here the kernel alone judges alignment (EINVAL), and callers align to the namespace's
 * {@code queue/logical_block_size}.
 *
 * <p>Memory handed to {@link #read}/{@link #write} must be aligned for DMA; callers pass 4096-aligned
 * segments (at least the logical block size of every NVMe namespace in use).
 *
 * <p>Each call is one blocking system call; a downcall pins a virtual thread's carrier, so callers
 * run these on platform threads. Thread-safe: the descriptor is only read after open, and
 * {@link #close} is called once, after every I/O has finished.
 */
@SuppressWarnings("restricted") // downcalls are the point; the launcher grants native access
final class DirectBlockFile implements AutoCloseable {

    /** fcntl.h (x86-64, aarch64 differs in O_DIRECT: 0x10000): O_RDWR, O_DIRECT, O_CLOEXEC. */
    private static final int O_RDWR = 0x2;
    private static final int O_DIRECT = 0x4000;
    private static final int O_CLOEXEC = 0x80000;
    private static final int O_DIRECT_AARCH64 = 0x10000;
    /** linux/fs.h: BLKDISCARD = _IO(0x12, 119), BLKZEROOUT = _IO(0x12, 127); both take uint64_t[2] {start, length}. */
    private static final long BLKDISCARD = 0x1277;
    private static final long BLKZEROOUT = 0x127f;
    /** linux/falloc.h: FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, for regular files. */
    private static final int PUNCH_HOLE_KEEP_SIZE = 0x01 | 0x02;

    /** errno.h values that change what a caller does. */
    static final int EINTR = 4;
    static final int ENOTTY = 25;
    static final int EOPNOTSUPP = 95;

    private static final MethodHandle OPEN;
    private static final MethodHandle CLOSE;
    private static final MethodHandle PREAD;
    private static final MethodHandle PWRITE;
    private static final MethodHandle FDATASYNC;
    private static final MethodHandle IOCTL;
    private static final MethodHandle FALLOCATE;
    private static final MethodHandle STRERROR;
    private static final StructLayout CAPTURE;
    private static final VarHandle ERRNO;
    private static final Throwable UNAVAILABLE;

    static {
        MethodHandle open = null;
        MethodHandle close = null;
        MethodHandle pread = null;
        MethodHandle pwrite = null;
        MethodHandle fdatasync = null;
        MethodHandle ioctl = null;
        MethodHandle fallocate = null;
        MethodHandle strerror = null;
        StructLayout capture = null;
        VarHandle errno = null;
        Throwable unavailable = null;
        try {
            Linker linker = Linker.nativeLinker();
            SymbolLookup libc = linker.defaultLookup();
            Linker.Option ccs = Linker.Option.captureCallState("errno");
            capture = Linker.Option.captureStateLayout();
            errno = capture.varHandle(MemoryLayout.PathElement.groupElement("errno"));
            open = linker.downcallHandle(libc.find("open").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), ccs, Linker.Option.firstVariadicArg(2));
            close = linker.downcallHandle(libc.find("close").orElseThrow(), FunctionDescriptor.of(JAVA_INT, JAVA_INT));
            pread = linker.downcallHandle(libc.find("pread").orElseThrow(),
                    FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), ccs);
            pwrite = linker.downcallHandle(libc.find("pwrite").orElseThrow(),
                    FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG), ccs);
            fdatasync = linker.downcallHandle(libc.find("fdatasync").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT), ccs);
            ioctl = linker.downcallHandle(libc.find("ioctl").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS), ccs, Linker.Option.firstVariadicArg(2));
            fallocate = linker.downcallHandle(libc.find("fallocate").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), ccs);
            strerror = linker.downcallHandle(libc.find("strerror").orElseThrow(),
                    FunctionDescriptor.of(ADDRESS, JAVA_INT));
        } catch (Throwable t) {
            unavailable = t;
        }
        OPEN = open;
        CLOSE = close;
        PREAD = pread;
        PWRITE = pwrite;
        FDATASYNC = fdatasync;
        IOCTL = ioctl;
        FALLOCATE = fallocate;
        STRERROR = strerror;
        CAPTURE = capture;
        ERRNO = errno;
        UNAVAILABLE = unavailable;
    }

    private final Path path;
    private final int fd;

    private DirectBlockFile(Path path, int fd) {
        this.path = path;
        this.fd = fd;
    }

    /**
     * Opens {@code path} read-write with O_DIRECT.
     *
     * @throws IOException naming the path and errno if the open fails, or if native calls are not
     *                     allowed in this JVM (run it with {@code --enable-native-access=ALL-UNNAMED})
     */
    static DirectBlockFile open(Path path) throws IOException {
        if (UNAVAILABLE != null) {
            throw new IOException("cannot call libc from this JVM (is --enable-native-access=ALL-UNNAMED set?): "
                    + UNAVAILABLE, UNAVAILABLE);
        }
        int direct = "aarch64".equals(System.getProperty("os.arch")) ? O_DIRECT_AARCH64 : O_DIRECT;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            int fd = (int) OPEN.invokeExact(state, arena.allocateFrom(path.toString()), O_RDWR | direct | O_CLOEXEC, 0);
            if (fd < 0) {
                throw failure("open(O_RDWR|O_DIRECT)", path, errno(state));
            }
            return new DirectBlockFile(path, fd);
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("open " + path + ": " + t, t);
        }
    }

    /** Reads {@code dst.byteSize()} bytes at {@code offset} into {@code dst}, retrying short reads and EINTR. */
    void read(long offset, MemorySegment dst) throws IOException {
        transfer(false, offset, dst);
    }

    /** Writes all of {@code src} at {@code offset}, retrying short writes and EINTR. */
    void write(long offset, MemorySegment src) throws IOException {
        transfer(true, offset, src);
    }

    private void transfer(boolean write, long offset, MemorySegment buffer) throws IOException {
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
                    throw failure((write ? "pwrite" : "pread") + " of " + rest.byteSize() + " bytes at offset "
                            + (offset + done), path, errno);
                }
                if (n == 0) {
                    throw new IOException((write ? "pwrite" : "pread") + " of " + path + " at offset " + (offset + done)
                            + " moved no bytes (end of device at " + (offset + done) + "?)");
                }
                done += n;
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException((write ? "pwrite " : "pread ") + path + ": " + t, t);
        }
    }

    /** {@code fdatasync}: on a block device the kernel writes back its cache and sends the device a flush (NVMe Flush). */
    void sync() throws IOException {
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
     * {@code BLKDISCARD} over the range (NVMe Dataset Management, deallocate, on a namespace).
     *
     * @return 0, or the errno of a failure a caller may work around: {@link #EOPNOTSUPP} (the device
     *         does not discard) or {@link #ENOTTY} (not a block device)
     * @throws IOException for any other failure
     */
    int discard(long offset, long length) throws IOException {
        return rangeIoctl(BLKDISCARD, "BLKDISCARD", offset, length);
    }

    /**
     * {@code BLKZEROOUT} over the range: the kernel sends Write Zeroes where the namespace supports
     * it and writes zero pages otherwise.
     *
     * @return 0, or {@link #EOPNOTSUPP} / {@link #ENOTTY} as for {@link #discard}
     */
    int zeroOut(long offset, long length) throws IOException {
        return rangeIoctl(BLKZEROOUT, "BLKZEROOUT", offset, length);
    }

    /** Punches a hole in a regular file; returns 0 or the errno. */
    int punchHole(long offset, long length) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            int rc = (int) FALLOCATE.invokeExact(state, fd, PUNCH_HOLE_KEEP_SIZE, offset, length);
            return rc == 0 ? 0 : errno(state);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("fallocate " + path + ": " + t, t);
        }
    }

    private int rangeIoctl(long request, String name, long offset, long length) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            MemorySegment range = arena.allocate(JAVA_LONG, 2);
            range.setAtIndex(JAVA_LONG, 0, offset);
            range.setAtIndex(JAVA_LONG, 1, length);
            int rc;
            int errno;
            do {
                rc = (int) IOCTL.invokeExact(state, fd, request, range);
                errno = rc == 0 ? 0 : errno(state);
            } while (errno == EINTR);
            if (errno == 0 || errno == EOPNOTSUPP || errno == ENOTTY) {
                return errno;
            }
            throw failure(name + " of " + length + " bytes at offset " + offset, path, errno);
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException(name + " " + path + ": " + t, t);
        }
    }

    @Override
    public void close() {
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            // close(2) on a valid descriptor does not fail in a way a caller could act on
        }
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    private static IOException failure(String call, Path path, int errno) {
        return new IOException(call + " of " + path + " failed: " + describe(errno) + " (errno " + errno + ")");
    }

    /** libc's text for {@code errno}, e.g. "Input/output error". */
    static String describe(int errno) {
        try {
            MemorySegment text = (MemorySegment) STRERROR.invokeExact(errno);
            return text.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }
}
