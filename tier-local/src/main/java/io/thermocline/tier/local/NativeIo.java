package io.thermocline.tier.local;

import java.io.IOException;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one Linux call the JDK does not offer, {@code fallocate(2)}, by path and best effort, through
 * {@link Libc}:
 * <ul>
 *   <li>{@link #allocate}: reserve a file's blocks up front. Besides failing early when the disk is
 *       full, this is what lets concurrent O_DIRECT writes proceed in parallel on ext4 and XFS: a
 *       write into allocated (unwritten) extents is an "overwrite" and takes the inode lock shared,
 *       whereas a write that extends the file or fills a hole takes it exclusively.</li>
 *   <li>{@link #punchHole}: {@code FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE} deallocates a range
 *       (discards it on a block device) so that it reads back as zeros.</li>
 * </ul>
 * When the call is unavailable (another OS, native access denied, a file system without it) both
 * return false and callers carry on without it; why is logged at debug level.
 */
final class NativeIo {

    private static final Logger log = LoggerFactory.getLogger(NativeIo.class);

    static {
        if (!Libc.isAvailable()) {
            log.debug("fallocate(2) unavailable; trim will write zeros", Libc.unavailableReason());
        }
    }

    private NativeIo() {
    }

    /**
     * Deallocates {@code [offset, offset + length)} of {@code path}, keeping its size.
     *
     * @return true if done; false if the platform or file system does not support it
     */
    static boolean punchHole(Path path, long offset, long length) {
        return fallocate(path, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, offset, length);
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
        if (!Libc.isAvailable()) {
            return false;
        }
        try {
            int fd = Libc.open(path, Libc.O_WRONLY);
            if (fd < 0) {
                if (log.isDebugEnabled()) {
                    log.debug("{}", Libc.failure("open(O_WRONLY)", path, -fd).getMessage());
                }
                return false;
            }
            try {
                int rc = Libc.fallocate(fd, mode, offset, length);
                if (rc != 0 && log.isDebugEnabled()) {
                    log.debug("{}", Libc.failure("fallocate(mode " + mode + ") of " + length + " bytes at offset "
                            + offset, path, -rc).getMessage());
                }
                return rc == 0;
            } finally {
                Libc.close(fd);
            }
        } catch (IOException e) {
            log.debug("fallocate({}) failed", path, e);
            return false;
        }
    }
}
