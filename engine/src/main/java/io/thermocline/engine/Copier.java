package io.thermocline.engine;

import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.TierClass;
import io.thermocline.tier.TierException;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.support.AlignedBufferPool;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongConsumer;

/**
 * Copies one object between two tiers, chunk by chunk with {@code parallelChunks} chunks in
 * flight, and publishes it on the destination only once every byte has been checked against the
 * source's checksums: the source reader verifies each chunk's CRC32C as it reads, and the
 * destination writer is created with the source's {@link ObjectInfo} as its expected checksums, so
 * its commit recomputes them from the bytes it wrote and refuses to publish on any difference.
 * A failure aborts the writer, which leaves nothing on the destination.
 *
 * <p>Background copies (priority above {@link #FOREGROUND}) yield to foreground reads on either
 * tier: before each chunk they wait, up to {@link #MAX_YIELD_MILLIS} per chunk, while a foreground
 * read is under way there. Every chunk passes both tiers' bandwidth limits.
 *
 * <p>A copy out of the backing (object) tier keeps the chunks it has verified in a
 * {@link CopyResume} file, and takes the chunks a cut-off earlier copy of the same object version
 * kept there instead of fetching them again (each checked against the chunk CRC32C first).
 */
final class Copier {

    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Copier.class);

    /** Priority of a read a caller is waiting for (MoveKind.FOREGROUND_READ). */
    static final int FOREGROUND = 1;
    static final long MAX_YIELD_MILLIS = 200;

    private final int parallelChunks;
    private final AlignedBufferPool buffers;
    private final EngineMetrics metrics;
    private final CopyResume resume;

    Copier(int parallelChunks, EngineMetrics metrics) {
        this(parallelChunks, metrics, null);
    }

    /** @param resume where cut-off copies from the object tier keep their chunks; null: nowhere */
    Copier(int parallelChunks, EngineMetrics metrics, CopyResume resume) {
        this.parallelChunks = parallelChunks;
        this.buffers = new AlignedBufferPool(parallelChunks * 4);
        this.metrics = metrics;
        this.resume = resume;
    }

    /** Whether the copy keeps its chunks: from the object tier (a network fetch per chunk) to a faster one, and more than one chunk. */
    private boolean resumable(ObjectInfo info, EngineTier from, EngineTier to) {
        return resume != null && info.chunkCount() > 1 && from.tier.tierClass() == TierClass.OBJECT
                && to.tier.tierClass() != TierClass.OBJECT;
    }

    /**
     * Copies and commits; blocking, for a virtual thread.
     *
     * @param progress told the size of each chunk once it is written
     * @return the destination's committed info (equal in content to {@code info})
     */
    ObjectInfo copy(ObjectInfo info, EngineTier from, EngineTier to, int priority, LongConsumer progress) throws Exception {
        return copy(info, from, to, priority, progress, null);
    }

    /**
     * As {@link #copy(ObjectInfo, EngineTier, EngineTier, int, LongConsumer)}, taking the chunks a
     * foreground reader of the same version offers through {@code tap} (null: none) instead of
     * reading them from the source again.
     */
    ObjectInfo copy(ObjectInfo info, EngineTier from, EngineTier to, int priority, LongConsumer progress, ReadTap tap)
            throws Exception {
        if (tap != null && (!tap.info().sameContentAs(info) || !tap.takeForCopy())) {
            tap = null;
        }
        try (ObjectReader reader = from.tier.openReader(info.key()).join()) {
            if (!reader.info().sameContentAs(info)) {
                throw new EngineException("object " + info.key() + " on tier " + from.name()
                        + " is not the one the catalog describes (size or checksums differ); not copied");
            }
            ObjectWriter writer = to.tier.create(WriteRequest.copyOf(info)).join();
            CopyResume.Session kept = resumable(info, from, to) ? resume.open(info) : null;
            boolean committed = false;
            try {
                copyChunks(info, reader, writer, from, to, priority, progress, kept, tap);
                ObjectInfo out = writer.commit().join();
                committed = true;
                if (kept != null) {
                    if (kept.reused() > 0) {
                        log.info("copy of {} from {} to {} took {} of {} chunks from a cut-off earlier copy ({})", info.key(),
                                from.name(), to.name(), kept.reused(), info.chunkCount(), kept.file());
                    }
                    metrics.resumedChunks(kept.reused());
                    kept.close(); // deleted by committed(), once the move is in the catalog too
                }
                return out;
            } finally {
                if (!committed && kept != null) {
                    kept.close();
                }
                if (!committed) {
                    try {
                        writer.abort().join();
                    } catch (RuntimeException e) {
                        // the copy's own failure is the one to report
                    }
                }
            }
        } catch (java.util.concurrent.CompletionException e) {
            Throwable t = TierException.unwrap(e);
            throw t instanceof Exception ex ? ex : e;
        }
    }

    /**
     * The move of {@code info} from {@code from} to {@code to} is committed (in the catalog as well
     * as on the tier): the chunks its copy kept are no longer needed. Until then they stay, so
     * that a copy published on the tier but not in the catalog (the owner closed in between)
     * costs no refetch when it runs again.
     */
    void committed(ObjectInfo info, EngineTier from, EngineTier to) {
        if (resumable(info, from, to)) {
            try {
                java.nio.file.Files.deleteIfExists(resume.fileOf(info));
            } catch (java.io.IOException e) {
                log.warn("cannot delete {}: {}", resume.fileOf(info), e.toString());
            }
        }
    }

    private void copyChunks(ObjectInfo info, ObjectReader reader, ObjectWriter writer, EngineTier from, EngineTier to,
                            int priority, LongConsumer progress, CopyResume.Session kept, ReadTap tap) throws Exception {
        int chunks = info.chunkCount();
        AtomicInteger next = new AtomicInteger();
        int workers = Math.max(1, Math.min(parallelChunks, chunks));
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> running = new ArrayList<>();
            for (int w = 0; w < workers; w++) {
                running.add(pool.submit(() -> {
                    for (int i; (i = tap != null ? tap.claimNext() : next.getAndIncrement()) < chunks && i >= 0; ) {
                        if (Thread.currentThread().isInterrupted()) {
                            // the owner is closing (shutdownNow): stop at a chunk boundary instead of copying to the end
                            throw new InterruptedException("copy of " + info.key() + " to " + to.name() + " abandoned");
                        }
                        if (tap != null && next.get() >= chunks) {
                            break; // another worker failed
                        }
                        copyChunk(info, i, reader, writer, from, to, priority, progress, kept, tap);
                    }
                    return null;
                }));
            }
            Exception first = null;
            for (Future<?> f : running) {
                try {
                    f.get();
                } catch (InterruptedException e) {
                    next.set(chunks);
                    pool.shutdownNow();
                    throw e;
                } catch (ExecutionException e) {
                    next.set(chunks); // stop the other workers at their next chunk
                    if (first == null) {
                        first = e.getCause() instanceof Exception ex ? ex : e;
                    }
                }
            }
            if (first != null) {
                throw first;
            }
        }
    }

    private void copyChunk(ObjectInfo info, int index, ObjectReader reader, ObjectWriter writer, EngineTier from,
                           EngineTier to, int priority, LongConsumer progress, CopyResume.Session kept, ReadTap tap) throws Exception {
        long offset = info.chunkOffset(index);
        int length = info.chunkLength(index);
        if (priority > FOREGROUND) {
            yieldToForeground(from, to);
        }
        ByteBuffer buf = buffers.acquire(length);
        try {
            boolean fromKept = kept != null && kept.readVerified(index, buf);
            boolean fromReader = !fromKept && tap != null && tap.take(index, buf);
            if (fromReader) {
                metrics.sharedChunks(1);
            }
            if (!fromKept && !fromReader) {
                from.bandwidth.acquire(length);
                buf.clear().limit(length);
                while (buf.hasRemaining()) {
                    int n = reader.read(offset + buf.position(), buf).join();
                    if (n < 0) {
                        throw new EngineException("object " + info.key() + " on tier " + from.name() + " ended at "
                                + (offset + buf.position()) + " bytes; the catalog says " + info.sizeInBytes());
                    }
                }
                buf.flip();
                if (kept != null) {
                    kept.save(index, buf); // verified by the reader against the chunk CRC32C
                }
            }
            to.bandwidth.acquire(length);
            writer.write(offset, buf).join();
        } catch (java.util.concurrent.CompletionException e) {
            Throwable t = TierException.unwrap(e);
            throw t instanceof Exception ex ? ex : e;
        } finally {
            buffers.release(buf);
        }
        metrics.movedBytes(length);
        progress.accept(length);
    }

    private void yieldToForeground(EngineTier from, EngineTier to) throws InterruptedException {
        long deadline = System.nanoTime() + MAX_YIELD_MILLIS * 1_000_000;
        boolean yielded = false;
        while ((from.foreground.get() > 0 || to.foreground.get() > 0) && System.nanoTime() < deadline) {
            yielded = true;
            Thread.sleep(1);
        }
        if (yielded) {
            metrics.preempted();
        }
    }
}
