package io.thermocline.engine;

import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.Crc32c;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.Tier;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierFullException;
import io.thermocline.tier.TierIoException;
import io.thermocline.tier.WriteRequest;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SeekableByteChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/** Streams a caller's bytes into one or more tiers at once, one chunk in memory at a time. */
final class Streams {

    private static final Logger log = LoggerFactory.getLogger(Streams.class);

    private Streams() {
    }

    /**
     * Writes {@code size} bytes from {@code source} to a new object on every tier of
     * {@code targets}, each chunk sent to all of them before the next is read, then commits them
     * in reverse order (so the last tier — the backing tier in a write-through — is durable before
     * any faster copy is published). On any failure every writer is aborted and copies already
     * committed are deleted. Blocking.
     *
     * @return the committed info (the same on every tier)
     */
    static ObjectInfo write(List<Tier> targets, ObjectKey key, ReadableByteChannel source, long size, PutOptions options) {
        return write(targets, key, source, size, options, null, null);
    }

    /**
     * As {@link #write(List, ObjectKey, ReadableByteChannel, long, PutOptions)}, and resumable when
     * {@code resume} is given, the options carry a {@link PutOptions#resumeId() resumeId} and the
     * source is a {@link SeekableByteChannel}:
     * <ul>
     *   <li>every {@link #checkpointInterval} bytes the writers are checkpointed (in the
     *       background; the writing goes on) and the points saved in {@code resume} with the
     *       chunk CRC32Cs read so far;</li>
     *   <li>a failure other than bad input (the process stopping, a tier going away) suspends the
     *       writers instead of aborting them, so their checkpointed bytes stay;</li>
     *   <li>a put that finds a record of the same key, source, size and chunk size reads the
     *       source's first chunks, keeps the prefix whose checksums match, resumes each tier's
     *       writer there (a tier that can no longer starts afresh) and writes only the rest;</li>
     *   <li>the record goes once the put commits, or fails for good.</li>
     * </ul>
     */
    static ObjectInfo write(List<Tier> targets, ObjectKey key, ReadableByteChannel source, long size, PutOptions options,
                            PutResume resume, EngineMetrics metrics) {
        // one creation time for every tier's copy, so that they commit the same info
        WriteRequest.Builder b = WriteRequest.builder(key, size).createdAt(java.time.Instant.now());
        if (options.chunkSizeInBytes() > 0) {
            b.chunkSizeInBytes(options.chunkSizeInBytes());
        }
        if (options.contentType() != null) {
            b.contentType(options.contentType());
        }
        if (options.expected() != null) {
            b.expected(options.expected());
        }
        WriteRequest request = b.build();
        SeekableByteChannel seekable = resume != null && options.resumeId() != null
                && source instanceof SeekableByteChannel s ? s : null;
        return new Put(targets, request, source, seekable, options.resumeId(), resume, metrics).run();
    }

    /** Bytes between checkpoints of a resumable put: a sixteenth of the object, 8 chunks to 256 MiB. */
    static long checkpointInterval(long size, int chunk) {
        long interval = Math.min(256L << 20, Math.max(8L * chunk, size / 16));
        return Math.max(chunk, interval / chunk * chunk);
    }

    /** One put's state. */
    private static final class Put {
        private final List<Tier> targets;
        private final WriteRequest request;
        private final ObjectKey key;
        private final long size;
        private final int chunk;
        private final ReadableByteChannel source;
        /** Non-null when the put is resumable. */
        private final SeekableByteChannel seekable;
        private final String resumeId;
        private final PutResume resume;
        private final EngineMetrics metrics;
        private final ObjectWriter[] writers;
        /** One chunk of the source at a time. */
        private final ByteBuffer buffer;
        /** CRC32C of every chunk read from the source (resumable puts). */
        private final int[] crcs;
        private long start;
        /** Per writer: its checkpoint under way (or the last one, done). */
        private final CompletableFuture<?>[] checkpointing;
        /** Bytes from the start that every writer has taken (each write completed). */
        private long written;
        /** Per writer: where its last checkpoint was started. */
        private final long[] lastCheckpoint;
        private volatile boolean recordKept;
        /** Per writer: its tier gave no point (it does not resume writers), so it is not asked again. */
        private final boolean[] noPoints;

        Put(List<Tier> targets, WriteRequest request, ReadableByteChannel source, SeekableByteChannel seekable,
            String resumeId, PutResume resume, EngineMetrics metrics) {
            this.targets = targets;
            this.request = request;
            this.key = request.key();
            this.size = request.sizeInBytes();
            this.chunk = request.chunkSizeInBytes();
            this.source = source;
            this.seekable = seekable;
            this.resumeId = resumeId;
            this.resume = resume;
            this.metrics = metrics;
            this.writers = new ObjectWriter[targets.size()];
            this.buffer = ByteBuffer.allocateDirect((int) Math.min(chunk, Math.max(size, 1)));
            this.crcs = seekable != null ? new int[request.chunkCount()] : null;
            this.checkpointing = new CompletableFuture<?>[targets.size()];
            Arrays.fill(checkpointing, CompletableFuture.completedFuture(null));
            this.lastCheckpoint = new long[targets.size()];
            this.noPoints = new boolean[targets.size()];
        }

        ObjectInfo run() {
            List<Tier> committed = new ArrayList<>();
            RuntimeException failure = null;
            try {
                if (seekable != null) {
                    start = position();
                    resumeWriters();
                }
                for (int i = 0; i < targets.size(); i++) {
                    if (writers[i] == null) {
                        writers[i] = join(targets.get(i).create(request));
                    }
                }
                long from = Long.MAX_VALUE;
                for (ObjectWriter w : writers) {
                    from = Math.min(from, w.resumedBytes());
                }
                from = writers.length == 0 ? 0 : from;
                if (seekable != null) {
                    seek(start + from); // the check of a kept prefix may have read past it
                }
                copy(from);
                awaitCheckpoint();
                ObjectInfo info = null;
                for (int i = writers.length - 1; i >= 0; i--) {
                    info = join(writers[i].commit());
                    committed.add(targets.get(i));
                }
                if (seekable != null) {
                    resume.delete(key);
                }
                return info;
            } catch (RuntimeException e) {
                failure = e;
                throw e;
            } finally {
                if (failure != null) {
                    cleanUp(failure, committed);
                }
            }
        }

        /** Takes up what a cut-off put of the same source left, tier by tier. */
        private void resumeWriters() {
            PutResume.Saved saved = resume.load(key).orElse(null);
            if (saved == null) {
                return;
            }
            Map<String, Tier> byName = new LinkedHashMap<>();
            targets.forEach(t -> byName.put(t.name(), t));
            if (!saved.resumeId().equals(resumeId) || saved.size() != size || saved.chunkSize() != chunk) {
                log.info("put of {}: the record of a cut-off put is of another source or shape ({}, {} bytes, {}-byte chunks); "
                        + "starting over", key, saved.resumeId(), saved.size(), saved.chunkSize());
                PutResume.discard(saved, byName);
                resume.delete(key);
                return;
            }
            recordKept = true;
            long verified = verifyPrefix(Math.min(saved.longest(), size), saved.crcs());
            if (verified < saved.longest()) {
                log.warn("put of {}: the source's bytes at {} differ from the cut-off put's; only the {} bytes before are kept",
                        key, verified, verified);
            }
            StringBuilder took = new StringBuilder();
            for (int i = 0; i < targets.size(); i++) {
                Tier t = targets.get(i);
                ResumePoint point = saved.points().get(t.name());
                if (point == null) {
                    continue;
                }
                long length = Math.min(point.length(), verified);
                Optional<ObjectWriter> w;
                try {
                    w = length == 0 ? Optional.empty()
                            : join(t.resume(request, new ResumePoint(length, point.token()),
                                    Arrays.copyOf(crcs, (int) ((length + chunk - 1) / chunk))));
                } catch (TierFullException e) {
                    throw e; // the rest does not fit: a new writer would not either
                } catch (RuntimeException e) {
                    log.warn("put of {}: tier {} cannot take up the cut-off put ({}); it starts over", key, t.name(), e.toString());
                    w = Optional.empty();
                }
                if (w.isEmpty()) {
                    t.discard(point).exceptionally(e -> null).join();
                    continue;
                }
                writers[i] = w.get();
                long kept = writers[i].resumedBytes();
                if (kept > 0) {
                    synchronized (latestPoints) {
                        latestPoints.put(t.name(), new ResumePoint(kept, point.token()));
                        if (latestSums.length < (kept + chunk - 1) / chunk) {
                            latestSums = Arrays.copyOf(crcs, (int) ((kept + chunk - 1) / chunk));
                        }
                    }
                }
                took.append(took.isEmpty() ? "" : ", ").append(t.name()).append(' ').append(kept);
                if (metrics != null && kept > 0) {
                    metrics.resumedPutBytes(t.name(), kept);
                }
            }
            if (!took.isEmpty()) {
                log.info("put of {} resumed from a cut-off earlier put of {}: bytes already held by tier: {} (of {})",
                        key, resumeId, took, size);
            }
        }

        /** Reads the source from its start while its chunks match {@code want}; returns the matching prefix's length. */
        private long verifyPrefix(long limit, int[] want) {
            ByteBuffer buf = buffer;
            long p = 0;
            seek(start);
            while (p < limit) {
                int i = (int) (p / chunk);
                int length = ObjectInfo.chunkLength(size, chunk, i);
                read(buf.clear().limit(length), p);
                int crc = Crc32c.of(buf.flip());
                if (i >= want.length || crc != want[i]) {
                    break;
                }
                crcs[i] = crc;
                p += length;
            }
            return p;
        }

        private void copy(long from) {
            ByteBuffer buf = buffer;
            long interval = checkpointInterval(size, chunk);
            Arrays.fill(lastCheckpoint, from);
            long position = from;
            while (position < size) {
                int length = (int) Math.min(buf.capacity(), size - position);
                read(buf.clear().limit(length), position);
                buf.flip();
                if (crcs != null) {
                    crcs[(int) (position / chunk)] = Crc32c.of(buf);
                }
                List<CompletableFuture<Void>> writes = new ArrayList<>();
                for (ObjectWriter w : writers) {
                    if (w.resumedBytes() <= position) {
                        writes.add(w.write(position, buf.duplicate()));
                    }
                }
                join(CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)));
                position += length;
                written = position;
                if (seekable != null && position < size) {
                    for (int i = 0; i < writers.length; i++) {
                        if (position - lastCheckpoint[i] >= interval && !noPoints[i] && checkpointing[i].isDone()) {
                            checkpoint(i, position);
                            lastCheckpoint[i] = position;
                        }
                    }
                }
            }
        }

        /**
         * Starts checkpointing writer {@code i} at {@code prefix}; the copy does not wait for it.
         * Each tier checkpoints on its own schedule — a slow one (S3 waiting for its parts) does not
         * hold back a fast one's — and its point is saved as soon as it comes.
         */
        private void checkpoint(int i, long prefix) {
            int[] sums = Arrays.copyOf(crcs, (int) (prefix / chunk));
            String tier = targets.get(i).name();
            checkpointing[i] = writers[i].checkpoint(prefix).thenAcceptAsync(p -> {
                if (p.isEmpty()) {
                    noPoints[i] = true;
                } else if (p.get().length() > 0) {
                    savePoint(tier, p.get(), sums);
                }
            }, command -> Thread.ofVirtual().name("thermocline-put-checkpoint").start(command));
        }

        /** Points saved so far, by tier; guarded by itself. */
        private final Map<String, ResumePoint> latestPoints = new LinkedHashMap<>();
        /** Chunk checksums the saved points need (the longest point's). */
        private int[] latestSums = new int[0];

        private void savePoint(String tier, ResumePoint point, int[] sums) {
            synchronized (latestPoints) {
                latestPoints.put(tier, point);
                if (sums.length > latestSums.length) {
                    latestSums = sums;
                }
                try {
                    resume.save(key, new PutResume.Saved(resumeId, size, chunk, latestSums, new LinkedHashMap<>(latestPoints)));
                    recordKept = true;
                } catch (IOException e) {
                    log.warn("put of {}: cannot save its resume record: {}; a cut-off put would start over", key, e.toString());
                }
            }
        }

        private void awaitCheckpoint() {
            try {
                CompletableFuture.allOf(checkpointing).join();
            } catch (RuntimeException e) {
                log.debug("put of {}: a checkpoint failed: {}", key, e.toString());
            }
        }

        /**
         * After a failure: suspends the writers when the put can be resumed (a record is kept and
         * the failure is not bad input), aborts them otherwise, and deletes copies already committed.
         */
        private void cleanUp(RuntimeException failure, List<Tier> committed) {
            awaitCheckpoint();
            Throwable cause = TierException.unwrap(failure);
            boolean resumable = seekable != null && committed.isEmpty()
                    && !(cause instanceof InvalidArgumentException) && !(cause instanceof ChecksumMismatchException);
            if (resumable && written > 0) {
                // a last checkpoint of everything written, so that the next put keeps what it can
                for (int i = 0; i < writers.length; i++) {
                    if (writers[i] != null && !noPoints[i] && written > lastCheckpoint[i]) {
                        checkpoint(i, written);
                    }
                }
                awaitCheckpoint();
            }
            boolean keep = resumable && recordKept;
            for (ObjectWriter w : writers) {
                if (w == null) {
                    continue;
                }
                try {
                    (keep ? w.suspend() : w.abort()).join();
                } catch (RuntimeException ignored) {
                    // the first failure is the one reported
                }
            }
            if (seekable != null && !keep) {
                resume.delete(key);
            }
            if (keep) {
                log.info("put of {} was cut off ({}); its checkpointed bytes are kept for the next put of {}",
                        key, cause.toString(), resumeId);
            }
            for (Tier t : committed) {
                try {
                    t.delete(key).join();
                } catch (RuntimeException ignored) {
                    // recovery's journal replay deletes it if this did not
                }
            }
        }

        private long position() {
            try {
                return seekable.position();
            } catch (IOException e) {
                throw new TierIoException("put " + key + ": cannot tell the source's position: " + e.getMessage(), false, e);
            }
        }

        private void seek(long p) {
            try {
                seekable.position(p);
            } catch (IOException e) {
                throw new TierIoException("put " + key + ": cannot seek the source to byte " + p + ": " + e.getMessage(), false, e);
            }
        }

        /** Fills {@code buf} from the source, which is at {@code position} in the object (for messages). */
        private void read(ByteBuffer buf, long position) {
            while (buf.hasRemaining()) {
                int n;
                try {
                    n = source.read(buf);
                } catch (IOException e) {
                    throw new TierIoException("put " + key + ": reading the source at byte " + (position + buf.position())
                            + " failed: " + e.getMessage(), false, e);
                }
                if (n < 0) {
                    throw InvalidArgumentException.of("source", "ended after " + (position + buf.position()) + " bytes",
                            "the " + size + " bytes the put declared");
                }
            }
        }
    }

    static <T> T join(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            Throwable t = TierException.unwrap(e);
            throw t instanceof RuntimeException re ? re : e;
        }
    }
}
