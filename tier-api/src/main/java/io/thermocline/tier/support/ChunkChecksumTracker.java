package io.thermocline.tier.support;

import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.Crc32c;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.WriteRequest;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * Computes an object's chunk checksums while a writer receives its bytes in the order the
 * {@link io.thermocline.tier.ObjectWriter} contract allows: chunks in any order and concurrently,
 * each chunk front to back.
 *
 * <p>Each chunk keeps the offset where its next write must start and the CRC32C of what it has
 * received so far; a piece's checksum is folded in with {@link Crc32c#combine}. A chunk is
 * claimed with a compare-and-set of its offset to {@code BUSY} while a piece is folded in, so two
 * writes racing for the same chunk are detected rather than interleaved. Memory is 12 bytes a
 * chunk (12 KiB for a 1 GiB object in 1 MiB chunks).
 *
 * <p>Thread-safe.
 */
public final class ChunkChecksumTracker {

    private static final long BUSY = -1;

    private final WriteRequest request;
    private final int chunkSize;
    private final int chunkCount;
    /** Per chunk: bytes received so far, or BUSY while a piece is being folded in. */
    private final AtomicLongArray received;
    /** Per chunk: CRC32C of the bytes received so far (read and written under the chunk's claim). */
    private final int[] crc;
    private final LongAdder bytesReceived = new LongAdder();

    public ChunkChecksumTracker(WriteRequest request) {
        this.request = request;
        this.chunkSize = request.chunkSizeInBytes();
        this.chunkCount = request.chunkCount();
        this.received = new AtomicLongArray(chunkCount);
        this.crc = new int[chunkCount];
    }

    public WriteRequest request() {
        return request;
    }

    /**
     * Checks that {@code [position, position + length)} lies within the object and that each
     * chunk it touches continues where that chunk's previous write ended. Does not record anything.
     *
     * @throws InvalidArgumentException naming the key, the range and what was expected
     */
    public void checkRange(long position, long length) {
        long size = request.sizeInBytes();
        if (position < 0 || length < 0 || position > size || length > size - position) {
            throw new InvalidArgumentException("write to " + request.key() + " at position " + position
                    + " of " + length + " bytes is outside the object (expected: within 0.." + size + ")");
        }
        long p = position;
        long end = position + length;
        while (p < end) {
            int chunk = (int) (p / chunkSize);
            long chunkStart = (long) chunk * chunkSize;
            long have = received.get(chunk);
            if (have != BUSY && chunkStart + have != p) {
                throw new InvalidArgumentException("write to " + request.key() + " at position " + p
                        + " does not continue chunk " + chunk + " (expected: position " + (chunkStart + have)
                        + "; bytes within a chunk are written front to back)");
            }
            p = Math.min(end, chunkStart + chunkSize);
        }
    }

    /**
     * Folds a piece that lies within a single chunk into that chunk's checksum.
     *
     * @param position the piece's offset in the object
     * @param piece its bytes (remaining); position is not changed
     * @return true if this piece completed its chunk
     * @throws InvalidArgumentException if the piece crosses a chunk boundary, does not continue
     *         its chunk, or races with another write to the same chunk
     */
    public boolean record(long position, ByteBuffer piece) {
        int length = piece.remaining();
        checkRange(position, length);
        int chunk = (int) (position / chunkSize);
        long chunkStart = (long) chunk * chunkSize;
        int chunkLength = ObjectInfo.chunkLength(request.sizeInBytes(), chunkSize, chunk);
        long offsetInChunk = position - chunkStart;
        if (offsetInChunk + length > chunkLength) {
            throw new InvalidArgumentException("piece at " + position + " of " + length + " bytes crosses the end of chunk "
                    + chunk + " of " + request.key() + " (expected: at most " + (chunkLength - offsetInChunk) + " bytes)");
        }
        if (length == 0) {
            return false;
        }
        if (!received.compareAndSet(chunk, offsetInChunk, BUSY)) {
            throw new InvalidArgumentException("write to " + request.key() + " at position " + position
                    + " conflicts with another write to chunk " + chunk
                    + " (expected: one writer per chunk, front to back)");
        }
        int pieceCrc = Crc32c.of(piece);
        crc[chunk] = offsetInChunk == 0 ? pieceCrc : Crc32c.combine(crc[chunk], pieceCrc, length);
        long now = offsetInChunk + length;
        received.set(chunk, now); // release: publishes crc[chunk]
        bytesReceived.add(length);
        return now == chunkLength;
    }

    /**
     * Counts the first {@code prefixLength} bytes as received with the given chunk checksums: the
     * prefix a resumed writer took over from a cut-off one (see
     * {@link io.thermocline.tier.Tier#resume}). Call before any write.
     *
     * @param prefixLength a multiple of the chunk size, or the object's size
     * @param chunkCrc32cs at least one checksum per chunk of the prefix
     * @throws InvalidArgumentException if the prefix is not chunk-aligned, lies outside the
     *         object, lacks checksums, or a chunk of it has been written already
     */
    public void adopt(long prefixLength, int[] chunkCrc32cs) {
        long size = request.sizeInBytes();
        checkResume(request, prefixLength, chunkCrc32cs);
        int chunks = (int) ((prefixLength + chunkSize - 1) / chunkSize);
        for (int i = 0; i < chunks; i++) {
            int length = ObjectInfo.chunkLength(size, chunkSize, i);
            if (!received.compareAndSet(i, 0, BUSY)) {
                throw new InvalidArgumentException("cannot resume " + request.key() + ": chunk " + i + " was written already");
            }
            crc[i] = chunkCrc32cs[i];
            received.set(i, length);
            bytesReceived.add(length);
        }
    }

    /**
     * Checks that {@code prefixLength} may start a resumed writer or be named by a checkpoint: a
     * multiple of the chunk size within the object, or the object's whole size.
     *
     * @param what how the message calls it ("checkpoint", "resumed prefix")
     * @throws InvalidArgumentException naming the key, the value and what was expected
     */
    public void checkPrefix(String what, long prefixLength) {
        checkPrefix(request, what, prefixLength);
    }

    /** {@link #checkPrefix(String, long)} for a request that has no tracker yet. */
    public static void checkPrefix(WriteRequest request, String what, long prefixLength) {
        long size = request.sizeInBytes();
        int chunkSize = request.chunkSizeInBytes();
        if (prefixLength < 0 || prefixLength > size || (prefixLength % chunkSize != 0 && prefixLength != size)) {
            throw InvalidArgumentException.of(what + " of " + request.key(), prefixLength,
                    "a multiple of the chunk size " + chunkSize + " within 0.." + size + ", or " + size);
        }
    }

    /**
     * Checks what a {@link io.thermocline.tier.Tier#resume} is given before it does any work: the
     * point's length as {@link #checkPrefix(WriteRequest, String, long)} does, and at least one
     * chunk checksum per chunk of it. {@link #adopt} checks the same.
     *
     * @throws InvalidArgumentException naming the key, the value and what was expected
     */
    public static void checkResume(WriteRequest request, long prefixLength, int[] chunkCrc32cs) {
        checkPrefix(request, "resumed prefix", prefixLength);
        int chunkSize = request.chunkSizeInBytes();
        long chunks = (prefixLength + chunkSize - 1) / chunkSize;
        if (chunkCrc32cs == null || chunkCrc32cs.length < chunks) {
            throw InvalidArgumentException.of("chunk checksums of the resumed prefix of " + request.key(),
                    chunkCrc32cs == null ? "null" : chunkCrc32cs.length, "at least " + chunks + ", one per chunk of "
                    + prefixLength + " bytes");
        }
    }

    /**
     * Length of the leading run of complete chunks, capped at {@code limit}: the longest prefix of
     * at most {@code limit} bytes that is a multiple of the chunk size (or the whole object) and
     * whose every chunk has all its bytes. What a {@code checkpoint} may name.
     */
    public long completePrefix(long limit) {
        long prefix = 0;
        for (int i = 0; i < chunkCount; i++) {
            int length = ObjectInfo.chunkLength(request.sizeInBytes(), chunkSize, i);
            if (prefix + length > limit || received.get(i) != length) {
                break;
            }
            prefix += length;
        }
        return prefix;
    }

    /** Bytes recorded so far. */
    public long bytesReceived() {
        return bytesReceived.sum();
    }

    /** True once every byte of the object has been recorded. */
    public boolean isComplete() {
        return bytesReceived.sum() == request.sizeInBytes();
    }

    /**
     * The committed object's info, after checking that every byte arrived and, when the request
     * carries expected checksums, that each chunk matches them.
     *
     * @throws InvalidArgumentException if bytes are missing
     * @throws ChecksumMismatchException naming the key, the first bad chunk's offset and both values
     */
    public ObjectInfo finish(Instant commitTime) {
        int[] chunkCrc = new int[chunkCount];
        for (int i = 0; i < chunkCount; i++) {
            long have = received.get(i); // acquire: sees crc[i]
            int want = ObjectInfo.chunkLength(request.sizeInBytes(), chunkSize, i);
            if (have != want) {
                throw new InvalidArgumentException("cannot commit " + request.key() + ": chunk " + i + " at offset "
                        + (long) i * chunkSize + " has " + Math.max(have, 0) + " of " + want + " bytes ("
                        + bytesReceived() + " of " + request.sizeInBytes() + " bytes written)");
            }
            chunkCrc[i] = crc[i];
        }
        ObjectInfo info = ObjectInfo.builder(request.key(), request.sizeInBytes())
                .chunkSizeInBytes(chunkSize)
                .chunkCrc32c(chunkCrc)
                .createdAt(request.createdAt().orElse(commitTime))
                .contentType(request.contentType())
                .userMetadata(request.userMetadata())
                .build();
        request.expected().ifPresent(expected -> verify(expected, info));
        return info;
    }

    private static void verify(ObjectInfo expected, ObjectInfo actual) {
        for (int i = 0; i < actual.chunkCount(); i++) {
            if (expected.chunkCrc32c(i) != actual.chunkCrc32c(i)) {
                throw new ChecksumMismatchException("copy of " + actual.key(), actual.chunkOffset(i),
                        actual.chunkLength(i), expected.chunkCrc32c(i), actual.chunkCrc32c(i));
            }
        }
        if (expected.crc32c() != actual.crc32c()) {
            throw new ChecksumMismatchException("copy of " + actual.key(), 0, actual.sizeInBytes(),
                    expected.crc32c(), actual.crc32c());
        }
    }
}
