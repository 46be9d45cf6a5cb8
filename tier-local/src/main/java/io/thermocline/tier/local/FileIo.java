package io.thermocline.tier.local;

import io.thermocline.tier.support.AlignedBufferPool;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * Positional file I/O that works on channels opened with or without O_DIRECT: when the channel
 * is direct and the caller's buffer, offset or length is not 4 KiB-aligned, the bytes go through
 * an aligned bounce buffer covering the enclosing aligned range.
 */
final class FileIo {

    private FileIo() {
    }

    /**
     * Reads up to {@code dst.remaining()} bytes at {@code position}; with O_DIRECT the file may end
     * anywhere (a read of its last block returns the bytes up to its end).
     *
     * @return bytes read, or -1 at end of file
     */
    static int read(FileChannel ch, boolean direct, AlignedBufferPool pool, long position, ByteBuffer dst)
            throws IOException {
        int length = dst.remaining();
        if (!direct || (position % AlignedBufferPool.ALIGNMENT == 0 && AlignedBufferPool.isAligned(dst))) {
            return ch.read(dst, position);
        }
        long alignedStart = ObjectFileFormat.alignDown(position);
        int span = (int) (ObjectFileFormat.alignUp(position + length) - alignedStart);
        ByteBuffer bounce = pool.acquire(span);
        try {
            int got = 0;
            while (bounce.hasRemaining()) {
                int r = ch.read(bounce, alignedStart + got);
                if (r < 0) {
                    break;
                }
                got += r;
                if (got % AlignedBufferPool.ALIGNMENT != 0) {
                    break; // a short read ends only at the end of the file; O_DIRECT cannot go on unaligned
                }
            }
            int skip = (int) (position - alignedStart);
            int n = Math.min(length, got - skip);
            if (n <= 0) {
                return -1;
            }
            dst.put(bounce.flip().position(skip).limit(skip + n));
            return n;
        } finally {
            pool.release(bounce);
        }
    }

    /** Writes all of {@code src}'s remaining bytes at {@code position}; does not move {@code src}. */
    static void writeFully(FileChannel ch, long position, ByteBuffer src) throws IOException {
        ByteBuffer b = src.duplicate();
        long p = position;
        while (b.hasRemaining()) {
            p += ch.write(b, p);
        }
    }

    /** Fills {@code dst} from {@code position}; throws if the file ends first. */
    static void readFully(FileChannel ch, boolean direct, AlignedBufferPool pool, long position, ByteBuffer dst,
                          String resource) throws IOException {
        long p = position;
        while (dst.hasRemaining()) {
            int r = read(ch, direct, pool, p, dst);
            if (r < 0) {
                throw new java.io.EOFException(resource + " ends at offset " + p + " (expected " + dst.remaining()
                        + " more bytes)");
            }
            p += r;
        }
    }
}
