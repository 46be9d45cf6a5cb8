package io.thermocline.examples.serving;

import io.thermocline.engine.EngineReader;
import io.thermocline.engine.TierEngine;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectNotFoundException;
import io.thermocline.tier.TierException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A model server's loading and serving core, embedding {@link TierEngine}: the template for putting
 * Thermocline under a serving process.
 *
 * <p><b>Loading</b> ({@link #load}) follows a Hugging Face layout under a key prefix:
 * {@code model.safetensors.index.json} names the shards (or a single {@code model.safetensors}).
 * For each shard it opens an engine reader — served from the fastest tier holding the shard — reads
 * the 8-byte header length and the JSON header ({@link Safetensors}), allocates one off-heap
 * {@link MemorySegment} per tensor, and reads every tensor into it by range: reads of up to
 * {@link Options#chunkBytes()} aligned to that size in the file, {@link Options#parallelism()} of
 * them in flight across all shards,
 * each read positional and asynchronous into a slice of the tensor's segment, so no byte is copied
 * twice and nothing goes through the Java heap. The tiers verify each chunk's CRC32C before a read
 * completes. Every segment is allocated before the first tensor read, so the {@link LoadReport}'s
 * time per shard and per tier is the reads' alone; allocation is reported apart.
 *
 * <p><b>Serving</b> ({@link #read}) reads a range of a tensor through the engine again, as a server
 * paging weights in on demand would. Each read finds the object's current location, so reads go on
 * while the engine promotes, stages or evicts shards; {@link Served#tier()} tells where a read was
 * served from. Reads add heat, which is what makes the planner promote hot shards.
 *
 * <p>Thread-safe after {@link #load} returns. {@link #close()} frees the tensors' memory: segments
 * from {@link #tensor} must not be used after it.
 */
public final class ModelServer implements AutoCloseable {

    /**
     * How a load reads.
     *
     * @param chunkBytes  bytes per read (default 8 MiB)
     * @param parallelism reads in flight at once, over all shards (default 8)
     */
    public record Options(int chunkBytes, int parallelism) {
        public static final Options DEFAULTS = new Options(8 << 20, 8);

        public Options {
            if (chunkBytes < 4096 || chunkBytes > (1 << 30)) {
                throw new IllegalArgumentException("chunkBytes: " + chunkBytes + " (expected: 4096..1073741824)");
            }
            if (parallelism < 1 || parallelism > 1024) {
                throw new IllegalArgumentException("parallelism: " + parallelism + " (expected: 1..1024)");
            }
        }
    }

    /**
     * A loaded tensor.
     *
     * @param key        the shard object it came from
     * @param fileOffset where its bytes start in the shard
     * @param data       its bytes, off-heap, owned by the server (freed by {@link #close()})
     */
    public record Tensor(String name, Safetensors.Dtype dtype, long[] shape, ObjectKey key, long fileOffset, MemorySegment data) {
    }

    /** One shard's load: where it was read from, its size and how long its reads took (first read issued to last byte in). */
    public record ShardLoad(ObjectKey key, String tier, long bytes, long nanos) {
    }

    /** The shards read from one tier: their bytes, and the time from the first one's start to the last one's end. */
    public record TierLoad(String tier, int shards, long bytes, long nanos) {
        public double mibPerSecond() {
            return nanos == 0 ? 0 : bytes / (double) (1 << 20) / (nanos / 1e9);
        }
    }

    /**
     * A whole load: bytes, wall time and each shard.
     *
     * @param nanos        wall time of the whole load
     * @param prepareNanos of which: opening the shards, reading their headers and allocating the
     *                     tensors' memory, before the first tensor read (tier-independent, and
     *                     dominated by the allocation, which zeroes the memory)
     */
    public record LoadReport(long bytes, long nanos, long prepareNanos, List<ShardLoad> shards, Map<String, TierLoad> perTier) {
        public double mibPerSecond() {
            return nanos == 0 ? 0 : bytes / (double) (1 << 20) / (nanos / 1e9);
        }
    }

    /** The outcome of a serving read: bytes read and the tier they came from. */
    public record Served(int bytes, String tier) {
    }

    private final TierEngine engine;
    private final Arena arena;
    private final Map<String, Tensor> tensors;
    private final LoadReport report;

    private ModelServer(TierEngine engine, Arena arena, Map<String, Tensor> tensors, LoadReport report) {
        this.engine = engine;
        this.arena = arena;
        this.tensors = tensors;
        this.report = report;
    }

    /** Loads the model under {@code prefix} (for example {@code models/llama-3-8b/}) with {@link Options#DEFAULTS}. */
    public static ModelServer load(TierEngine engine, String prefix) throws IOException {
        return load(engine, prefix, Options.DEFAULTS);
    }

    /**
     * Loads the model under {@code prefix}: every tensor of every shard into off-heap memory.
     *
     * @throws IOException if the index or a header is malformed, or a read fails (the cause says which tier and why)
     */
    public static ModelServer load(TierEngine engine, String prefix, Options options) throws IOException {
        Objects.requireNonNull(engine, "engine");
        Objects.requireNonNull(options, "options");
        long started = System.nanoTime();
        List<String> files = shardFiles(engine, prefix);
        Arena arena = Arena.ofShared(); // shared: the tiers fill the segments from their own threads
        boolean ok = false;
        List<OpenShard> open = new ArrayList<>();
        try {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (String file : files) {
                ObjectKey key = ObjectKey.of(prefix + file);
                EngineReader reader = join(engine.read(key));
                OpenShard s = new OpenShard(key, reader, reader.tier());
                open.add(s);
                Safetensors.Header header = readHeader(reader);
                for (Safetensors.TensorInfo t : header.tensors()) {
                    MemorySegment data = arena.allocate(Math.max(1, t.sizeInBytes()), 64).asSlice(0, t.sizeInBytes());
                    Tensor tensor = new Tensor(t.name(), t.dtype(), t.shape(), key, header.dataOffset() + t.begin(), data);
                    if (tensors.putIfAbsent(t.name(), tensor) != null) {
                        throw new IOException(key + ": tensor " + t.name() + " is also in another shard");
                    }
                    // reads start on the file's chunk grid, not the tensor's: tiers keep a checksum per
                    // aligned chunk and O_DIRECT wants aligned offsets, so an aligned read is one
                    // verified chunk run with no bounce copy; only a tensor's two ends are partial
                    long at = 0;
                    while (at < t.sizeInBytes()) {
                        long pos = tensor.fileOffset() + at;
                        long next = (pos / options.chunkBytes() + 1) * options.chunkBytes();
                        int n = (int) Math.min(next - pos, t.sizeInBytes() - at);
                        s.chunks.add(new Chunk(pos, data.asSlice(at, n)));
                        at += n;
                    }
                }
                s.bytes = reader.info().sizeInBytes();
            }
            long prepared = System.nanoTime();
            readAll(open, options.parallelism());
            long nanos = System.nanoTime() - started;
            List<ShardLoad> shards = new ArrayList<>();
            Map<String, long[]> tiers = new LinkedHashMap<>(); // shards, bytes, first start, last end
            for (OpenShard s : open) {
                shards.add(new ShardLoad(s.key, s.tier, s.bytes, s.end.get() - s.start));
                long[] t = tiers.computeIfAbsent(s.tier, k -> new long[] {0, 0, Long.MAX_VALUE, Long.MIN_VALUE});
                t[0]++;
                t[1] += s.bytes;
                t[2] = Math.min(t[2], s.start);
                t[3] = Math.max(t[3], s.end.get());
            }
            Map<String, TierLoad> perTier = new LinkedHashMap<>();
            tiers.forEach((tier, t) -> perTier.put(tier, new TierLoad(tier, (int) t[0], t[1], t[3] - t[2])));
            LoadReport report = new LoadReport(shards.stream().mapToLong(ShardLoad::bytes).sum(), nanos, prepared - started,
                    List.copyOf(shards), Map.copyOf(perTier));
            ok = true;
            return new ModelServer(engine, arena, Map.copyOf(tensors), report);
        } finally {
            for (OpenShard s : open) {
                s.reader.close();
            }
            if (!ok) {
                arena.close();
            }
        }
    }

    /** The shard files the index names, or the single {@code model.safetensors} when there is no index. */
    private static List<String> shardFiles(TierEngine engine, String prefix) throws IOException {
        ObjectKey indexKey = ObjectKey.of(prefix + SyntheticModel.INDEX);
        EngineReader index;
        try {
            index = engine.read(indexKey).join();
        } catch (CompletionException e) {
            if (TierException.unwrap(e) instanceof ObjectNotFoundException) {
                return List.of("model.safetensors");
            }
            throw new IOException("cannot read " + indexKey + ": " + TierException.unwrap(e).getMessage(), TierException.unwrap(e));
        }
        try (index) {
            long size = index.info().sizeInBytes();
            if (size > 64L << 20) {
                throw new IOException(indexKey + ": " + size + " bytes (expected: an index JSON under 64 MiB)");
            }
            ByteBuffer b = ByteBuffer.allocate((int) size);
            join(readFully(index, 0, b));
            return List.copyOf(Safetensors.parseIndex(b.array(), indexKey.toString()).keySet());
        }
    }

    private static Safetensors.Header readHeader(EngineReader reader) throws IOException {
        String where = reader.info().key().toString();
        long size = reader.info().sizeInBytes();
        if (size < Safetensors.LENGTH_PREFIX_BYTES) {
            throw new IOException(where + ": " + size + " bytes (expected: at least the 8-byte header length)");
        }
        ByteBuffer prefix = ByteBuffer.allocate(Safetensors.LENGTH_PREFIX_BYTES);
        join(readFully(reader, 0, prefix));
        long n = Safetensors.headerLength(prefix.flip(), size, where);
        ByteBuffer json = ByteBuffer.allocate((int) n);
        join(readFully(reader, Safetensors.LENGTH_PREFIX_BYTES, json));
        return Safetensors.parse(json.flip(), size, where);
    }

    /** Reads every chunk of every shard with at most {@code parallelism} reads in flight. */
    private static void readAll(List<OpenShard> shards, int parallelism) throws IOException {
        Semaphore slots = new Semaphore(parallelism);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<CompletableFuture<Void>> all = new ArrayList<>();
        try {
            for (OpenShard s : shards) {
                AtomicLong remaining = new AtomicLong(s.chunks.size());
                s.start = System.nanoTime();
                if (s.chunks.isEmpty()) {
                    s.end.set(s.start);
                }
                for (Chunk c : s.chunks) {
                    slots.acquire();
                    if (failure.get() != null) {
                        slots.release();
                        break;
                    }
                    CompletableFuture<Void> f = readFully(s.reader, c.filePosition, c.target.asByteBuffer()).whenComplete((v, err) -> {
                        slots.release();
                        if (err != null) {
                            failure.compareAndSet(null, TierException.unwrap(err));
                        } else if (remaining.decrementAndGet() == 0) {
                            s.end.set(System.nanoTime());
                        }
                    });
                    all.add(f);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while loading", e);
        } finally {
            // never return (and free the segments) while a read may still be filling one
            CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).exceptionally(t -> null).join();
        }
        Throwable t = failure.get();
        if (t != null) {
            throw new IOException("load failed: " + t.getMessage(), t);
        }
    }

    /** Fills {@code dst} from {@code position}, however the tier splits the read; the buffer is the caller's. */
    static CompletableFuture<Void> readFully(EngineReader reader, long position, ByteBuffer dst) {
        return reader.read(position, dst).thenCompose(n -> {
            if (n <= 0) {
                return CompletableFuture.failedFuture(new IOException(reader.info().key() + ": end of object at offset " + position
                        + " with " + dst.remaining() + " bytes still expected"));
            }
            return dst.hasRemaining() ? readFully(reader, position + n, dst) : CompletableFuture.completedFuture(null);
        });
    }

    private static <T> T join(CompletableFuture<T> f) throws IOException {
        try {
            return f.join();
        } catch (CompletionException e) {
            Throwable t = TierException.unwrap(e);
            if (t instanceof IOException io) {
                throw io;
            }
            throw new IOException(t.getMessage(), t);
        }
    }

    /** A loaded tensor, or null. */
    public Tensor tensor(String name) {
        return tensors.get(name);
    }

    public Collection<Tensor> tensors() {
        return tensors.values();
    }

    public LoadReport report() {
        return report;
    }

    /**
     * Reads {@code dst.remaining()} bytes of tensor {@code name} from {@code offset} through the
     * engine (not from the loaded copy), wherever its shard is now.
     *
     * @param dst filled from its position; the caller's (not retained after the future completes)
     */
    public CompletableFuture<Served> read(String name, long offset, ByteBuffer dst) {
        Tensor t = tensors.get(name);
        if (t == null) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("tensor: '" + name + "' (expected: one of the model's "
                    + tensors.size() + " tensors)"));
        }
        if (offset < 0 || offset + dst.remaining() > t.data().byteSize()) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("range: " + dst.remaining() + " bytes at " + offset
                    + " of tensor " + name + " (expected: within its " + t.data().byteSize() + " bytes)"));
        }
        int n = dst.remaining();
        return engine.read(t.key()).thenCompose(r -> {
            String tier = r.tier();
            return readFully(r, t.fileOffset() + offset, dst).thenApply(v -> new Served(n, tier)).whenComplete((v, err) -> r.close());
        });
    }

    /** Frees every tensor's memory. */
    @Override
    public void close() {
        arena.close();
    }

    private static final class OpenShard {
        final ObjectKey key;
        final EngineReader reader;
        final String tier;
        final List<Chunk> chunks = new ArrayList<>();
        final AtomicLong end = new AtomicLong();
        long start;
        long bytes;

        OpenShard(ObjectKey key, EngineReader reader, String tier) {
            this.key = key;
            this.reader = reader;
            this.tier = tier;
        }
    }

    private record Chunk(long filePosition, MemorySegment target) {
    }
}
