package io.thermocline.tier.s3;

import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectNotFoundException;
import io.thermocline.tier.TierIoException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;
import java.util.zip.CRC32C;
import org.reactivestreams.Subscriber;
import org.reactivestreams.Subscription;
import software.amazon.awssdk.core.async.AsyncResponseTransformer;
import software.amazon.awssdk.core.async.SdkPublisher;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;

/**
 * Downloads one object into a file with parallel ranged GETs, each streamed straight to its place
 * in the file and checked chunk by chunk as it arrives; nothing is held in memory beyond the
 * buffers in flight. The file appears under its final name only once every chunk has matched
 * (written to a temporary sibling, fsynced, renamed); on any failure the temporary file is removed.
 *
 * <p>Body buffers arrive on Netty's event loop; the checks and file writes run on the tier's
 * executor, and the connection stops reading while a range has more than a few MiB waiting, so
 * the event loop never blocks and memory stays bounded. Where {@link S3RangeGetter} serves the
 * endpoint (any S3-compatible server addressed path-style), the GETs go through it and Netty's
 * pooled buffers are checked and written as they are, with no copy and no request-per-buffer round
 * trip; elsewhere through the SDK client ({@code RangeToFile}). Measured on 127.0.0.1 against the
 * embedded server (bench/s3-prestage.sh, 2 cores), the SDK path's copies into heap arrays and
 * reactive-streams hand-offs held a warm process to about 440 MiB/s into the page cache of ext4;
 * the Netty path with the SDK's default (adaptive) allocator spent much of its time zeroing newly
 * allocated chunks, and with Netty's pooled allocator reaches about 1 GiB/s into tmpfs.
 *
 * <p><b>Write-behind.</b> Every 32 MiB that lands, an fdatasync runs in the background, so the
 * kernel writes the file back while the rest arrives and the fsync before the rename has little
 * left to do (about 10 ms instead of about 90 ms for a 256 MiB object on the machine above).
 *
 * <p><b>Retries.</b> Each range is one {@link S3Retries#fetchRange}: when its body is cut short,
 * the next attempt asks for the rest from the start of the chunk that was being received (the
 * chunks before it are verified and in the file), so at most one chunk is fetched twice.
 *
 * <p><b>Objects written by other tools</b> have no chunk checksums: their chunks' CRC32Cs are
 * computed as the bytes land (1 MiB chunks), combined into the object's CRC32C, and compared with
 * S3's full-object CRC32C when the server keeps one, before the file is published.
 */
final class S3Download {

    private S3Download() {
    }

    /**
     * @param rangeSizeInBytes bytes per GET, rounded up to whole chunks
     * @param parallelism GETs in flight
     * @param progress receives byte counts as they are written (may be called from several threads)
     */
    static CompletableFuture<S3Tier.Downloaded> toFile(S3Tier tier, ObjectKey key, Path target, int parallelism,
                                                       long rangeSizeInBytes, LongConsumer progress) {
        return tier.statWithETag(key).thenCompose(s -> {
            S3Tier.Stat stat = s.orElseThrow(() -> new ObjectNotFoundException(tier.name(), key));
            boolean plain = stat.info() == null;
            // another tool's object: chunking of our choosing, checksums filled in as the chunks land
            ObjectInfo info = plain ? ObjectInfo.builder(key, stat.head().contentLength())
                    .chunkCrc32c(new int[ObjectInfo.chunkCount(stat.head().contentLength(), ObjectInfo.DEFAULT_CHUNK_SIZE_IN_BYTES)])
                    .build() : stat.info();
            int[] computed = plain ? new int[info.chunkCount()] : null;
            Path tmp = target.resolveSibling(target.getFileName() + ".thermocline-part");
            FileChannel ch;
            try {
                Files.createDirectories(target.toAbsolutePath().getParent());
                ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                        StandardOpenOption.WRITE);
            } catch (IOException e) {
                return CompletableFuture.failedFuture(new TierIoException("cannot write " + tmp + ": " + e, false, e));
            }
            int chunk = info.chunkSizeInBytes();
            long range = Math.max(chunk, (rangeSizeInBytes + chunk - 1) / chunk * chunk);
            long size = info.sizeInBytes();
            int ranges = (int) ((size + range - 1) / range);
            AtomicInteger next = new AtomicInteger();
            List<CompletableFuture<Void>> workers = new ArrayList<>();
            LongConsumer landed = progress.andThen(new WriteBehind(ch, tier.executor())::landed);
            for (int w = 0; w < Math.min(parallelism, Math.max(ranges, 1)); w++) {
                workers.add(nextRange(tier, stat, info, computed, ch, next, ranges, range, landed));
            }
            return CompletableFuture.allOf(workers.toArray(CompletableFuture[]::new))
                    .thenApplyAsync(v -> {
                        try (ch) {
                            S3Tier.Downloaded done = plain ? checkPlain(tier, stat, key, computed) : new S3Tier.Downloaded(info,
                                    S3ObjectDescription.Verification.CHUNK_CRC32C);
                            ch.force(false);
                            ch.close();
                            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                            return done;
                        } catch (IOException e) {
                            throw new TierIoException("cannot publish " + target + ": " + e, false, e);
                        }
                    }, tier.executor())
                    .whenComplete((v, t) -> {
                        if (t != null) {
                            try {
                                ch.close();
                                Files.deleteIfExists(tmp);
                            } catch (IOException ignored) {
                                // best effort: the failure itself is what the caller needs
                            }
                        }
                    });
        });
    }

    /**
     * The info of another tool's object from the checksums computed as it landed, checked against
     * S3's full-object CRC32C if the server keeps one.
     */
    private static S3Tier.Downloaded checkPlain(S3Tier tier, S3Tier.Stat stat, ObjectKey key, int[] computed) {
        var head = stat.head();
        ObjectInfo.Builder b = ObjectInfo.builder(key, head.contentLength()).chunkCrc32c(computed);
        if (head.lastModified() != null) {
            b.createdAt(head.lastModified());
        }
        if (head.contentType() != null && head.contentType().matches("[\\x21-\\x7e][\\x20-\\x7e]{0,254}")) {
            b.contentType(head.contentType());
        }
        ObjectInfo info = b.build();
        OptionalInt expected = stat.s3Crc32c();
        if (expected.isEmpty()) {
            S3Tier.log.info("{}: written by another tool and the server keeps no full-object CRC32C for it: downloaded unverified",
                    tier.where(key));
            return new S3Tier.Downloaded(info, S3ObjectDescription.Verification.NONE);
        }
        if (expected.getAsInt() != info.crc32c()) {
            throw new ChecksumMismatchException(tier.where(key) + " (S3's full-object CRC32C)", 0, info.sizeInBytes(),
                    expected.getAsInt(), info.crc32c());
        }
        return new S3Tier.Downloaded(info, S3ObjectDescription.Verification.OBJECT_CRC32C);
    }

    /** Runs ranges one after another until none is left. */
    private static CompletableFuture<Void> nextRange(S3Tier tier, S3Tier.Stat stat, ObjectInfo info, int[] computed,
                                                     FileChannel ch, AtomicInteger next, int ranges, long range,
                                                     LongConsumer progress) {
        int r = next.getAndIncrement();
        if (r >= ranges) {
            return CompletableFuture.completedFuture(null);
        }
        long start = r * range;
        long end = Math.min(start + range, info.sizeInBytes());
        OncePerByte once = new OncePerByte(start, progress);
        return S3Retries.fetchRange(tier, "download", info.key(), start, end, new S3Retries.ResumableRange() {
                    /** The bytes up to here of the latest attempt are checked and in the file. */
                    private volatile java.util.function.LongSupplier current;
                    private volatile long from = start;

                    @Override
                    public CompletableFuture<Void> attempt(long from, Duration timeLeft) {
                        this.from = from;
                        if (from >= end) {
                            return CompletableFuture.completedFuture(null);
                        }
                        S3RangeGetter getter = tier.rangeGetter();
                        if (getter != null) {
                            BodyToFile body = new BodyToFile(ch, info, computed, from, end, tier.executor(),
                                    tier.where(info.key()), once.from(from));
                            current = () -> body.flushedTo;
                            getter.get(tier.s3Key(info.key()), from, end, stat.eTag(), timeLeft, body);
                            return body.result;
                        }
                        RangeToFile transformer = new RangeToFile(ch, info, computed, from, end, tier.executor(),
                                tier.where(info.key()), once.from(from));
                        current = () -> transformer.flushedTo;
                        return tier.rangeClient().getObject(b -> b.bucket(tier.config().bucket()).key(tier.s3Key(info.key()))
                                        .range("bytes=" + from + "-" + (end - 1)).ifMatch(stat.eTag())
                                        .overrideConfiguration(o -> o.apiCallTimeout(timeLeft)), transformer)
                                .exceptionallyCompose(t -> CompletableFuture.failedFuture(
                                        transformer.failure != null ? transformer.failure : t));
                    }

                    @Override
                    public long resumeAt() {
                        java.util.function.LongSupplier t = current;
                        if (t == null) {
                            return from;
                        }
                        long flushed = t.getAsLong();
                        // the chunk being received when the body broke starts over; the ones before it are in the file
                        return flushed >= end ? end : Math.max(from, info.chunkOffset(info.chunkIndexOf(flushed)));
                    }
                })
                .thenCompose(v -> nextRange(tier, stat, info, computed, ch, next, ranges, range, progress));
    }

    /**
     * Starts the file's writeback while the download runs: each time another {@value #STEP} bytes
     * have landed, an fdatasync runs on the executor (one at a time), so the one before the rename
     * finds little left to write instead of the whole object. Its failures are left to that last
     * one, which reports them.
     */
    private static final class WriteBehind {
        static final long STEP = 32 << 20;

        private final FileChannel ch;
        private final Executor executor;
        private final AtomicLong pending = new AtomicLong();
        private final AtomicBoolean running = new AtomicBoolean();

        WriteBehind(FileChannel ch, Executor executor) {
            this.ch = ch;
            this.executor = executor;
        }

        void landed(long n) {
            if (pending.addAndGet(n) >= STEP && running.compareAndSet(false, true)) {
                try {
                    executor.execute(this::flush);
                } catch (RuntimeException e) {
                    running.set(false);
                }
            }
        }

        private void flush() {
            try {
                do {
                    pending.set(0);
                    if (!ch.isOpen()) {
                        return;
                    }
                    ch.force(false);
                } while (pending.get() >= STEP);
            } catch (IOException | RuntimeException e) {
                // the fdatasync before the rename reports what is wrong
            } finally {
                running.set(false);
            }
        }
    }

    /**
     * Passes on the bytes of a range written for the first time: a resumed attempt writes part of
     * a chunk again, which is not progress.
     */
    private static final class OncePerByte {
        private final LongConsumer progress;
        private long highWater;

        OncePerByte(long start, LongConsumer progress) {
            this.progress = progress;
            this.highWater = start;
        }

        /** The progress of an attempt whose writes start at {@code position} and follow one another. */
        LongConsumer from(long position) {
            long[] at = {position};
            return n -> {
                synchronized (this) {
                    long newEnd = at[0] + n;
                    long fresh = newEnd - Math.max(at[0], highWater);
                    at[0] = newEnd;
                    if (fresh > 0) {
                        highWater = newEnd;
                        progress.accept(fresh);
                    }
                }
            };
        }
    }

    /**
     * The checks on one chunk-aligned range of an object as its bytes arrive in order: no more
     * than the range, each chunk's CRC32C against the object's (or recorded, for another tool's
     * object, into {@code computed}), and nothing missing at the end. One arrival at a time.
     */
    private static final class RangeCheck {
        private final ObjectInfo info;
        /** Null to check each chunk against {@code info}; else where each chunk's CRC32C is recorded. */
        private final int[] computed;
        private final long start;
        private final long end;
        private final String resource;
        private final CRC32C crc = new CRC32C();
        /** The object offset of the next byte expected: bytes before it have been checked. */
        long position;

        RangeCheck(ObjectInfo info, int[] computed, long start, long end, String resource) {
            this.info = info;
            this.computed = computed;
            this.start = start;
            this.end = end;
            this.resource = resource;
            this.position = start;
        }

        /** Before taking {@code n} more bytes: fails if they would run past the range. */
        void expect(long n) {
            if (position + n > end) {
                throw new TierIoException(resource + ": the server sent more than the range " + start + "-" + (end - 1), true);
            }
        }

        /** Takes the next bytes, {@code b}'s position to its limit (the position moves to the limit). */
        void update(ByteBuffer b) {
            int limit = b.limit();
            while (b.position() < limit) {
                int chunk = info.chunkIndexOf(position);
                long chunkEnd = info.chunkOffset(chunk) + info.chunkLength(chunk);
                int n = (int) Math.min(limit - b.position(), chunkEnd - position);
                b.limit(b.position() + n);
                crc.update(b); // up to the chunk's end, moving the position there
                b.limit(limit);
                position += n;
                if (position == chunkEnd) {
                    int actual = (int) crc.getValue();
                    crc.reset();
                    if (computed != null) {
                        computed[chunk] = actual;
                    } else if (actual != info.chunkCrc32c(chunk)) {
                        throw new ChecksumMismatchException(resource, info.chunkOffset(chunk), info.chunkLength(chunk),
                                info.chunkCrc32c(chunk), actual);
                    }
                }
            }
        }

        /** At the end of the body: fails if it stopped short of the range's end. */
        void requireComplete() {
            if (position != end) {
                throw new TierIoException(resource + ": the body of range " + start + "-" + (end - 1) + " ended at "
                        + position + " (truncated)", true);
            }
        }
    }

    /**
     * Streams one chunk-aligned range from {@link S3RangeGetter} into the file. Netty's buffers are
     * queued as they arrive (no copy) and drained by one task at a time on the executor, which
     * checks each chunk's CRC32C and writes each buffer at its place in the file; when more than
     * {@value #HIGH_WATER} bytes wait, the connection stops reading until the queue is below
     * {@value #LOW_WATER}, so memory stays bounded and the event loop never blocks.
     */
    private static final class BodyToFile implements S3RangeGetter.Body {
        private static final long HIGH_WATER = 2 << 20;
        private static final long LOW_WATER = 512 << 10;

        private final FileChannel ch;
        private final RangeCheck check;
        private final Executor executor;
        private final LongConsumer progress;
        final CompletableFuture<Void> result = new CompletableFuture<>();
        /** Bytes from {@code start} up to here are checked and in the file: where a resumed attempt may start. */
        volatile long flushedTo;

        private final ConcurrentLinkedQueue<io.netty.buffer.ByteBuf> queue = new ConcurrentLinkedQueue<>();
        private final AtomicLong queued = new AtomicLong();
        private final AtomicBoolean paused = new AtomicBoolean();
        private final AtomicBoolean draining = new AtomicBoolean();
        private volatile S3RangeGetter.Flow flow;
        private volatile boolean completed;
        private volatile Throwable upstreamError;
        /** Set when this side failed: what still arrives is released unread. */
        private volatile boolean dead;

        BodyToFile(FileChannel ch, ObjectInfo info, int[] computed, long start, long end, Executor executor, String resource,
                   LongConsumer progress) {
            this.ch = ch;
            this.check = new RangeCheck(info, computed, start, end, resource); // drain task only
            this.flushedTo = start;
            this.executor = executor;
            this.progress = progress;
        }

        @Override
        public void onData(io.netty.buffer.ByteBuf data, S3RangeGetter.Flow flow) {
            this.flow = flow;
            if (dead) {
                data.release();
                return;
            }
            queue.add(data);
            if (queued.addAndGet(data.readableBytes()) > HIGH_WATER && paused.compareAndSet(false, true)) {
                flow.pause();
            }
            schedule();
        }

        @Override
        public void onEnd() {
            completed = true;
            schedule();
        }

        @Override
        public void onError(Throwable t) {
            upstreamError = t;
            completed = true;
            schedule();
        }

        private void schedule() {
            if (draining.compareAndSet(false, true)) {
                try {
                    executor.execute(this::drain);
                } catch (RuntimeException e) {
                    draining.set(false);
                    fail(e);
                }
            }
        }

        private void drain() {
            try {
                for (;;) {
                    io.netty.buffer.ByteBuf buffer = queue.poll();
                    if (buffer == null) {
                        if (completed && queue.isEmpty()) {
                            finish();
                            return;
                        }
                        draining.set(false);
                        if ((queue.isEmpty() && !completed) || !draining.compareAndSet(false, true)) {
                            return;
                        }
                        continue;
                    }
                    int n = buffer.readableBytes();
                    try {
                        if (!dead) {
                            accept(buffer);
                        }
                    } finally {
                        buffer.release();
                    }
                    if (queued.addAndGet(-n) < LOW_WATER && paused.compareAndSet(true, false)) {
                        flow.resume();
                    }
                }
            } catch (Throwable t) {
                fail(t);
            }
        }

        private void fail(Throwable t) {
            if (dead) {
                return;
            }
            dead = true;
            result.completeExceptionally(t);
            S3RangeGetter.Flow f = flow;
            if (f != null) {
                f.cancel();
            }
            io.netty.buffer.ByteBuf b;
            while ((b = queue.poll()) != null) {
                b.release();
            }
        }

        private void accept(io.netty.buffer.ByteBuf buffer) throws IOException {
            check.expect(buffer.readableBytes());
            for (ByteBuffer b : buffer.nioBuffers()) {
                long at = check.position;
                int first = b.position();
                check.update(b);
                b.position(first);
                int n = b.remaining();
                while (b.hasRemaining()) {
                    at += ch.write(b, at);
                }
                flushedTo = check.position;
                progress.accept(n);
            }
        }

        private void finish() throws IOException {
            if (dead) {
                return;
            }
            if (upstreamError != null) {
                dead = true;
                result.completeExceptionally(upstreamError);
                return;
            }
            check.requireComplete();
            result.complete(null);
        }
    }

    /** Streams one chunk-aligned range of the body into the file, checking each chunk's CRC32C. */
    private static final class RangeToFile implements AsyncResponseTransformer<GetObjectResponse, Void> {
        private final FileChannel ch;
        private final ObjectInfo info;
        /** Null to check each chunk against {@code info}; else where each chunk's CRC32C is recorded (another tool's object). */
        private final int[] computed;
        private final long start;
        private final long end;
        private final Executor executor;
        private final String resource;
        private final LongConsumer progress;
        private CompletableFuture<Void> result;
        /** What went wrong on our side (a checksum mismatch, a write error), if anything. */
        volatile Throwable failure;
        /** Bytes from {@code start} up to here are checked and in the file: where a resumed attempt may start. */
        volatile long flushedTo;

        RangeToFile(FileChannel ch, ObjectInfo info, int[] computed, long start, long end, Executor executor, String resource,
                    LongConsumer progress) {
            this.ch = ch;
            this.info = info;
            this.computed = computed;
            this.start = start;
            this.flushedTo = start;
            this.end = end;
            this.executor = executor;
            this.resource = resource;
            this.progress = progress;
        }

        @Override
        public CompletableFuture<Void> prepare() {
            result = new CompletableFuture<>();
            return result;
        }

        @Override
        public void onResponse(GetObjectResponse response) {
        }

        @Override
        public void onStream(SdkPublisher<ByteBuffer> publisher) {
            publisher.subscribe(new Writer());
        }

        /**
         * Takes body buffers off the event loop: up to {@value #WINDOW} are requested ahead, queued,
         * and drained by one task at a time on the executor, which checks each chunk's CRC32C and
         * writes through a {@value #STAGE_BYTES}-byte staging buffer so that a range costs few
         * system calls however small the network buffers are.
         */
        private final class Writer implements Subscriber<ByteBuffer> {
            private static final int WINDOW = 64;
            private static final int STAGE_BYTES = 1 << 20;

            private final ConcurrentLinkedQueue<ByteBuffer> queue = new ConcurrentLinkedQueue<>();
            private final AtomicBoolean draining = new AtomicBoolean();
            private final RangeCheck check = new RangeCheck(info, computed, start, end, resource); // drain task only
            private final ByteBuffer stage = ByteBuffer.allocateDirect(STAGE_BYTES);
            private volatile boolean completed;
            private volatile Throwable upstreamError;
            private Subscription subscription;
            private long written = start;    // bytes in the file so far
            private int consumed;

            @Override
            public void onSubscribe(Subscription s) {
                subscription = s;
                s.request(WINDOW);
            }

            @Override
            public void onNext(ByteBuffer buffer) {
                queue.add(buffer);
                schedule();
            }

            @Override
            public void onError(Throwable t) {
                upstreamError = t;
                completed = true;
                schedule();
            }

            @Override
            public void onComplete() {
                completed = true;
                schedule();
            }

            private void schedule() {
                if (draining.compareAndSet(false, true)) {
                    try {
                        executor.execute(this::drain);
                    } catch (RuntimeException e) {
                        fail(e);
                    }
                }
            }

            private void drain() {
                try {
                    for (;;) {
                        ByteBuffer buffer = queue.poll();
                        if (buffer == null) {
                            if (completed && queue.isEmpty()) {
                                finish();
                                return;
                            }
                            draining.set(false);
                            if ((queue.isEmpty() && !completed) || !draining.compareAndSet(false, true)) {
                                return;
                            }
                            continue;
                        }
                        accept(buffer);
                        if (++consumed >= WINDOW / 2) {
                            subscription.request(consumed);
                            consumed = 0;
                        }
                    }
                } catch (Throwable t) {
                    fail(t);
                }
            }

            private void fail(Throwable t) {
                failure = t;
                result.completeExceptionally(t); // before cancelling, so the SDK reports this, not the cancel
                subscription.cancel();
            }

            private void accept(ByteBuffer buffer) throws IOException {
                check.expect(buffer.remaining());
                ByteBuffer b = buffer.duplicate();
                while (b.hasRemaining()) {
                    int n = Math.min(b.remaining(), stage.remaining());
                    ByteBuffer piece = b.slice(b.position(), n);
                    check.update(piece.duplicate());
                    stage.put(piece);
                    b.position(b.position() + n);
                    if (!stage.hasRemaining()) {
                        flush();
                    }
                }
            }

            private void flush() throws IOException {
                stage.flip();
                long at = written;
                int n = stage.remaining();
                while (stage.hasRemaining()) {
                    at += ch.write(stage, at);
                }
                stage.clear();
                written += n;
                flushedTo = written;
                progress.accept(n);
            }

            private void finish() throws IOException {
                if (upstreamError != null) {
                    failure = upstreamError;
                    result.completeExceptionally(upstreamError);
                    return;
                }
                flush();
                check.requireComplete();
                result.complete(null);
            }
        }

        @Override
        public void exceptionOccurred(Throwable error) {
            if (result != null) {
                result.completeExceptionally(error);
            }
        }
    }
}
