package io.thermocline.tier.support;

import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.Crc32c;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.TierIoException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Verified positional reads over a tier's raw, blocking byte source, for tiers whose I/O is
 * blocking (files, block devices) and runs on virtual threads.
 *
 * <p>A read is split at chunk boundaries. The chunks the read covers whole are read straight into
 * the caller's buffer, as one request to the source so that it can keep them all in flight, and
 * each is checked where it landed. A chunk covered only in part is read whole into a
 * scratch buffer from the {@link BufferPool}, checked, and the wanted bytes copied out; the
 * chunk is then remembered as verified (one bit per chunk) so that later partial reads of it,
 * e.g. a tensor-by-tensor scan, read just the bytes asked for. On a mismatch the caller's buffer
 * position is left where it was and {@link ChecksumMismatchException} names the resource, the
 * chunk's offset and both checksums.
 *
 * <p>Thread-safe if the source is.
 */
public final class VerifiedReader {

    /** A tier's raw bytes of one object, at object offsets. */
    @FunctionalInterface
    public interface RawSource {
        /**
         * Reads up to {@code dst.remaining()} bytes at {@code position}, advancing {@code dst}'s position.
         *
         * @return bytes read, or -1 at the end of the stored bytes
         */
        int read(long position, ByteBuffer dst) throws IOException;
    }

    private final ObjectInfo info;
    private final String resource;
    private final RawSource source;
    private final BufferPool scratch;
    private final AtomicLongArray verified;

    /**
     * @param resource names the object in errors, e.g. {@code "local:models/a.bin"}
     */
    public VerifiedReader(ObjectInfo info, String resource, RawSource source, BufferPool scratch) {
        this.info = info;
        this.resource = resource;
        this.source = source;
        this.scratch = scratch;
        this.verified = new AtomicLongArray((info.chunkCount() + 63) / 64);
    }

    public ObjectInfo info() {
        return info;
    }

    /** See {@link io.thermocline.tier.ObjectReader#read}; blocking. */
    public int read(long position, ByteBuffer dst) {
        if (position < 0) {
            throw InvalidArgumentException.of("position", position, ">= 0");
        }
        long size = info.sizeInBytes();
        if (!dst.hasRemaining()) {
            return 0;
        }
        if (position >= size) {
            return -1;
        }
        int n = (int) Math.min(dst.remaining(), size - position);
        int start = dst.position();
        boolean success = false;
        try {
            long p = position;
            long end = position + n;
            while (p < end) {
                int chunk = (int) (p / info.chunkSizeInBytes());
                long chunkStart = info.chunkOffset(chunk);
                int chunkLength = info.chunkLength(chunk);
                long pieceEnd = Math.min(end, chunkStart + chunkLength);
                int pieceLength = (int) (pieceEnd - p);
                if (p == chunkStart && pieceLength == chunkLength) {
                    // a run of whole chunks: one source read for all of them (the source can keep
                    // them all in flight at once), then each chunk checked where it landed
                    int last = chunk;
                    while (last + 1 < info.chunkCount() && info.chunkOffset(last + 1) + info.chunkLength(last + 1) <= end) {
                        last++;
                    }
                    long runEnd = info.chunkOffset(last) + info.chunkLength(last);
                    int runLength = (int) (runEnd - p);
                    ByteBuffer run = dst.slice(dst.position(), runLength);
                    readFully(p, run);
                    for (int c = chunk; c <= last; c++) {
                        check(c, run.slice((int) (info.chunkOffset(c) - p), info.chunkLength(c)));
                        markVerified(c);
                    }
                    dst.position(dst.position() + runLength);
                    p = runEnd;
                    continue;
                }
                ByteBuffer piece = dst.slice(dst.position(), pieceLength);
                if (isVerified(chunk)) {
                    readFully(p, piece);
                } else {
                    readThroughScratch(chunk, chunkStart, chunkLength, p, piece);
                }
                dst.position(dst.position() + pieceLength);
                p = pieceEnd;
            }
            success = true;
            return n;
        } finally {
            if (!success) {
                dst.position(start);
            }
        }
    }

    private void readThroughScratch(int chunk, long chunkStart, int chunkLength, long p, ByteBuffer piece) {
        ByteBuffer buf = scratch.acquire(chunkLength);
        try {
            ByteBuffer whole = buf.limit(chunkLength);
            readFully(chunkStart, whole);
            whole.flip();
            check(chunk, whole);
            markVerified(chunk);
            int from = (int) (p - chunkStart);
            piece.put(0, whole, from, piece.remaining());
        } finally {
            scratch.release(buf);
        }
    }

    private void check(int chunk, ByteBuffer bytes) {
        int actual = Crc32c.of(bytes);
        int expected = info.chunkCrc32c(chunk);
        if (actual != expected) {
            throw new ChecksumMismatchException(resource, info.chunkOffset(chunk), info.chunkLength(chunk), expected, actual);
        }
    }

    private void readFully(long position, ByteBuffer dst) {
        long p = position;
        try {
            while (dst.hasRemaining()) {
                int r = source.read(p, dst);
                if (r < 0) {
                    throw new TierIoException(resource + " is truncated: stored bytes end at offset " + p
                            + " (expected: " + info.sizeInBytes() + " bytes)", false);
                }
                p += r;
            }
        } catch (IOException e) {
            throw new TierIoException("read of " + resource + " at offset " + p + " failed: " + e.getMessage(), true, e);
        }
    }

    private boolean isVerified(int chunk) {
        return (verified.get(chunk >>> 6) & (1L << chunk)) != 0;
    }

    private void markVerified(int chunk) {
        verified.getAndAccumulate(chunk >>> 6, 1L << chunk, (a, b) -> a | b);
    }
}
