package io.thermocline.nvmeof.kernel;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

import io.thermocline.tier.local.Libc;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * A block device node (or, for tests, a regular file) opened with {@code O_RDWR | O_DIRECT} and
 * driven through {@link Libc}: {@code pread}/{@code pwrite} at the device's own logical block size,
 * {@code fdatasync} for a flush, and the block layer's {@code BLKDISCARD} and {@code BLKZEROOUT}
 * ioctls for trim and write-zeroes.
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
final class DirectBlockFile implements AutoCloseable {

    /** linux/fs.h: BLKDISCARD = _IO(0x12, 119), BLKZEROOUT = _IO(0x12, 127); both take uint64_t[2] {start, length}. */
    private static final long BLKDISCARD = 0x1277;
    private static final long BLKZEROOUT = 0x127f;

    /** The errnos {@link #discard} and {@link #zeroOut} return rather than throw, for callers to work around. */
    static final int ENOTTY = Libc.ENOTTY;
    static final int EOPNOTSUPP = Libc.EOPNOTSUPP;

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
        int fd = Libc.open(path, Libc.O_RDWR | Libc.O_DIRECT | Libc.O_CLOEXEC);
        if (fd < 0) {
            throw Libc.failure("open(O_RDWR|O_DIRECT)", path, -fd);
        }
        return new DirectBlockFile(path, fd);
    }

    /** Reads {@code dst.byteSize()} bytes at {@code offset} into {@code dst}, retrying short reads and EINTR. */
    void read(long offset, MemorySegment dst) throws IOException {
        Libc.readFully(fd, path, offset, dst);
    }

    /** Writes all of {@code src} at {@code offset}, retrying short writes and EINTR. */
    void write(long offset, MemorySegment src) throws IOException {
        Libc.writeFully(fd, path, offset, src);
    }

    /** {@code fdatasync}: on a block device the kernel writes back its cache and sends the device a flush (NVMe Flush). */
    void sync() throws IOException {
        Libc.fdatasync(fd, path);
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

    /** Punches a hole in a regular file (the stand-in for a device that {@link #discard} refuses); returns 0 or the errno. */
    int punchHole(long offset, long length) throws IOException {
        return -Libc.fallocate(fd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, offset, length);
    }

    private int rangeIoctl(long request, String name, long offset, long length) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment range = arena.allocate(JAVA_LONG, 2);
            range.setAtIndex(JAVA_LONG, 0, offset);
            range.setAtIndex(JAVA_LONG, 1, length);
            int rc = Libc.ioctl(fd, request, range);
            int errno = rc >= 0 ? 0 : -rc;
            if (errno == 0 || errno == EOPNOTSUPP || errno == ENOTTY) {
                return errno;
            }
            throw Libc.failure(name + " of " + length + " bytes at offset " + offset, path, errno);
        }
    }

    @Override
    public void close() {
        Libc.close(fd);
    }
}
