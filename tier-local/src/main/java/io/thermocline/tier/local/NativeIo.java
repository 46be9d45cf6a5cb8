package io.thermocline.tier.local;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one Linux call the JDK does not offer, {@code fallocate(2)}, through the FFM API:
 * <ul>
 *   <li>{@link #allocate}: reserve a file's blocks up front. Besides failing early when the disk is
 *       full, this is what lets concurrent O_DIRECT writes proceed in parallel on ext4 and XFS: a
 *       write into allocated (unwritten) extents is an "overwrite" and takes the inode lock shared,
 *       whereas a write that extends the file or fills a hole takes it exclusively.</li>
 *   <li>{@link #punchHole}: {@code FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE} deallocates a range
 *       (discards it on a block device) so that it reads back as zeros.</li>
 * </ul>
 * When the call is unavailable (another OS, native access denied, a file system without it) both
 * return false and callers carry on without it.
 */
@SuppressWarnings("restricted") // downcalls are the point; tests and the launcher grant native access
final class NativeIo {

    private static final Logger log = LoggerFactory.getLogger(NativeIo.class);

    /** fcntl.h: O_WRONLY. */
    private static final int O_WRONLY = 1;
    /** linux/falloc.h: FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE. */
    private static final int PUNCH_HOLE_KEEP_SIZE = 0x01 | 0x02;

    private static final MethodHandle OPEN;
    private static final MethodHandle FALLOCATE;
    private static final MethodHandle CLOSE;
    private static final StructLayout CAPTURE;
    private static final VarHandle ERRNO;

    static {
        MethodHandle open;
        MethodHandle fallocate = null;
        MethodHandle close = null;
        StructLayout capture = null;
        VarHandle errno = null;
        try {
            Linker linker = Linker.nativeLinker();
            var libc = linker.defaultLookup();
            Linker.Option ccs = Linker.Option.captureCallState("errno");
            capture = Linker.Option.captureStateLayout();
            errno = capture.varHandle(MemoryLayout.PathElement.groupElement("errno"));
            open = linker.downcallHandle(libc.find("open").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), ccs, Linker.Option.firstVariadicArg(2));
            fallocate = linker.downcallHandle(libc.find("fallocate").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG), ccs);
            close = linker.downcallHandle(libc.find("close").orElseThrow(), FunctionDescriptor.of(JAVA_INT, JAVA_INT));
        } catch (Throwable t) {
            log.debug("fallocate(2) unavailable; trim will write zeros", t);
            open = null;
        }
        OPEN = open;
        FALLOCATE = fallocate;
        CLOSE = close;
        CAPTURE = capture;
        ERRNO = errno;
    }

    private NativeIo() {
    }

    /**
     * Deallocates {@code [offset, offset + length)} of {@code path}, keeping its size.
     *
     * @return true if done; false if the platform or file system does not support it
     */
    static boolean punchHole(Path path, long offset, long length) {
        return fallocate(path, PUNCH_HOLE_KEEP_SIZE, offset, length);
    }

    /**
     * Allocates blocks for {@code [offset, offset + length)} of {@code path}, extending its size
     * if the range ends past it.
     *
     * @return true if done; false if unsupported
     */
    static boolean allocate(Path path, long offset, long length) {
        return fallocate(path, 0, offset, length);
    }

    private static boolean fallocate(Path path, int mode, long offset, long length) {
        if (OPEN == null) {
            return false;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CAPTURE);
            int fd = (int) OPEN.invokeExact(state, arena.allocateFrom(path.toString()), O_WRONLY, 0);
            if (fd < 0) {
                log.debug("open({}) failed: errno {}", path, (int) ERRNO.get(state, 0L));
                return false;
            }
            try {
                int rc = (int) FALLOCATE.invokeExact(state, fd, mode, offset, length);
                if (rc != 0) {
                    log.debug("fallocate({}, mode {}) failed: errno {}", path, mode, (int) ERRNO.get(state, 0L));
                }
                return rc == 0;
            } finally {
                int ignored = (int) CLOSE.invokeExact(fd);
            }
        } catch (Throwable t) {
            log.debug("fallocate({}) failed", path, t);
            return false;
        }
    }
}
