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
 * <p>Body buffers arrive on Netty's event loop; the file writes run on the tier's executor and
 * the next buffer is requested only when the previous one is written, so the event loop never
 * blocks and memory stays bounded.
 */
final class S3Download {

    private S3Download() {
    }

    /**
     * @param rangeSizeInBytes bytes per GET, rounded up to whole chunks
     * @param parallelism GETs in flight
     * @param progress receives byte counts as they are written (may be called from several threads)
     */
    static CompletableFuture<ObjectInfo> toFile(S3Tier tier, ObjectKey key, Path target, int parallelism,
                                                long rangeSizeInBytes, LongConsumer progress) {
        return tier.statWithETag(key).thenCompose(s -> {
            S3Tier.Stat stat = s.orElseThrow(() -> new ObjectNotFoundException(tier.name(), key));
            ObjectInfo info = stat.info();
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
            for (int w = 0; w < Math.min(parallelism, Math.max(ranges, 1)); w++) {
                workers.add(nextRange(tier, stat, ch, next, ranges, range, progress));
            }
            return CompletableFuture.allOf(workers.toArray(CompletableFuture[]::new))
                    .thenApplyAsync(v -> {
                        try (ch) {
                            ch.force(false);
                            ch.close();
                            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                            return info;
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

    /** Runs ranges one after another until none is left. */
    private static CompletableFuture<Void> nextRange(S3Tier tier, S3Tier.Stat stat, FileChannel ch, AtomicInteger next,
                                                     int ranges, long range, LongConsumer progress) {
        int r = next.getAndIncrement();
        if (r >= ranges) {
            return CompletableFuture.completedFuture(null);
        }
        long start = r * range;
        long end = Math.min(start + range, stat.info().sizeInBytes());
        RangeToFile transformer = new RangeToFile(ch, stat.info(), start, end, tier.executor(), tier.where(stat.info().key()), progress);
        return tier.client().getObject(b -> b.bucket(tier.config().bucket()).key(tier.s3Key(stat.info().key()))
                        .range("bytes=" + start + "-" + (end - 1)).ifMatch(stat.eTag()), transformer)
                .exceptionallyCompose(t -> CompletableFuture.failedFuture(
                        tier.translate(transformer.failure != null ? transformer.failure : t, "download", stat.info().key())))
                .thenCompose(v -> nextRange(tier, stat, ch, next, ranges, range, progress));
    }

    /** Streams one chunk-aligned range of the body into the file, checking each chunk's CRC32C. */
    private static final class RangeToFile implements AsyncResponseTransformer<GetObjectResponse, Void> {
        private final FileChannel ch;
        private final ObjectInfo info;
        private final long start;
        private final long end;
        private final Executor executor;
        private final String resource;
        private final LongConsumer progress;
        private CompletableFuture<Void> result;
        /** What went wrong on our side (a checksum mismatch, a write error), if anything. */
        volatile Throwable failure;

        RangeToFile(FileChannel ch, ObjectInfo info, long start, long end, Executor executor, String resource,
                    LongConsumer progress) {
            this.ch = ch;
            this.info = info;
            this.start = start;
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
            private final CRC32C crc = new CRC32C();
            private final ByteBuffer stage = ByteBuffer.allocateDirect(STAGE_BYTES);
            private volatile boolean completed;
            private volatile Throwable upstreamError;
            private Subscription subscription;
            private long position = start;   // bytes checked so far (object offset)
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
                if (position + buffer.remaining() > end) {
                    throw new TierIoException(resource + ": the server sent more than the range " + start + "-" + (end - 1), true);
                }
                ByteBuffer b = buffer.duplicate();
                while (b.hasRemaining()) {
                    int chunk = info.chunkIndexOf(position);
                    long chunkEnd = info.chunkOffset(chunk) + info.chunkLength(chunk);
                    int n = (int) Math.min(Math.min(b.remaining(), chunkEnd - position), stage.remaining());
                    ByteBuffer piece = b.slice(b.position(), n);
                    crc.update(piece.duplicate());
                    stage.put(piece);
                    b.position(b.position() + n);
                    position += n;
                    if (position == chunkEnd) {
                        int actual = (int) crc.getValue();
                        crc.reset();
                        if (actual != info.chunkCrc32c(chunk)) {
                            throw new ChecksumMismatchException(resource, info.chunkOffset(chunk), info.chunkLength(chunk),
                                    info.chunkCrc32c(chunk), actual);
                        }
                    }
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
                progress.accept(n);
            }

            private void finish() throws IOException {
                if (upstreamError != null) {
                    failure = upstreamError;
                    result.completeExceptionally(upstreamError);
                    return;
                }
                flush();
                if (position != end) {
                    throw new TierIoException(resource + ": the body of range " + start + "-" + (end - 1) + " ended at "
                            + position + " (truncated)", true);
                }
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
