package io.thermocline.examples.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.thermocline.engine.EngineReader;
import io.thermocline.engine.ObjectStatus;
import io.thermocline.engine.PutOptions;
import io.thermocline.engine.TierEngine;
import io.thermocline.examples.serving.Safetensors;
import io.thermocline.placement.WriteMode;
import io.thermocline.region.SlotState;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.TierException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletionException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checkpoints for a training loop, written back through {@link TierEngine}.
 *
 * <p><b>Layout.</b> Step {@code s} is two objects under the prefix:
 * {@code step-<s, 12 digits>/state.safetensors} (every tensor of the training state, F32) and, once
 * that is committed, {@code step-<s>/COMPLETE}, a small JSON naming the state object's size and
 * CRC32C. A checkpoint is <em>complete</em> when its marker exists and the state object matches
 * it; a crash before the marker leaves an incomplete step that {@link #latestComplete()} skips.
 *
 * <p><b>Write-back.</b> Both objects are put {@link WriteMode#WRITE_BACK} to the {@code local}
 * tier: {@link #save} returns once the local copies are committed (fsynced), so the training loop
 * stalls only for a local write, and the engine uploads them to the backing tier (S3) in the
 * background. A write-back object is never evicted before its upload commits; if the process dies
 * first, the next engine to open the same data root resumes the upload. {@link #persisted} says
 * whether a step has reached the backing tier.
 *
 * <p>Not thread-safe: one training loop saves at a time.
 */
public final class Checkpointer {

    static final String STATE = "state.safetensors";
    static final String MARKER = "COMPLETE";
    private static final Pattern STEP = Pattern.compile("step-(\\d{12})/" + MARKER);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final TierEngine engine;
    private final String prefix;
    private final String fastTier;

    /**
     * @param prefix   where this run's checkpoints go, ending in {@code /}
     * @param fastTier the tier checkpoints land on (usually {@code local})
     */
    public Checkpointer(TierEngine engine, String prefix, String fastTier) {
        this.engine = Objects.requireNonNull(engine, "engine");
        if (!prefix.endsWith("/")) {
            throw new IllegalArgumentException("prefix: '" + prefix + "' (expected: ending in '/')");
        }
        this.prefix = prefix;
        this.fastTier = Objects.requireNonNull(fastTier, "fastTier");
    }

    /** A saved checkpoint: its step, the state object and how long the training loop waited. */
    public record Saved(long step, ObjectInfo state, long nanos) {
    }

    /** A restored checkpoint: its step and tensors, in memory owned by {@code arena} (the caller closes it). */
    public record Restored(long step, Map<String, MemorySegment> tensors, Arena arena) implements AutoCloseable {
        @Override
        public void close() {
            arena.close();
        }
    }

    /**
     * Saves {@code tensors} (name to bytes, each a whole number of F32 values) as step {@code step}.
     * The segments are read, not retained.
     */
    public Saved save(long step, Map<String, MemorySegment> tensors) throws IOException {
        long t0 = System.nanoTime();
        ObjectInfo state = writeState(step, tensors);
        writeMarker(step, state);
        return new Saved(step, state, System.nanoTime() - t0);
    }

    /** The state object of a step, without its marker: what a crash between the two leaves. */
    ObjectInfo writeState(long step, Map<String, MemorySegment> tensors) throws IOException {
        return writeState(step, tensors, Long.MAX_VALUE);
    }

    /** As {@link #writeState(long, Map)}, the source failing after {@code crashAfterBytes} bytes (a crash while writing). */
    ObjectInfo writeState(long step, Map<String, MemorySegment> tensors, long crashAfterBytes) throws IOException {
        List<Safetensors.TensorInfo> infos = new ArrayList<>();
        List<MemorySegment> data = new ArrayList<>();
        long at = 0;
        for (Map.Entry<String, MemorySegment> e : tensors.entrySet()) {
            long bytes = e.getValue().byteSize();
            if (bytes % 4 != 0) {
                throw new IllegalArgumentException("tensor " + e.getKey() + ": " + bytes + " bytes (expected: a multiple of 4, F32 values)");
            }
            infos.add(new Safetensors.TensorInfo(e.getKey(), Safetensors.Dtype.F32, new long[] {bytes / 4}, at, at + bytes));
            data.add(e.getValue());
            at += bytes;
        }
        byte[] header = Safetensors.writeHeader(infos, Map.of("step", Long.toString(step)));
        long size = header.length + at;
        return put(stepKey(step, STATE), new StateChannel(header, data, crashAfterBytes), size);
    }

    private void writeMarker(long step, ObjectInfo state) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", step);
        m.put("state", state.key().toString());
        m.put("size", state.sizeInBytes());
        m.put("crc32c", Integer.toHexString(state.crc32c()));
        byte[] json = JSON.writeValueAsBytes(m);
        put(stepKey(step, MARKER), Channels.newChannel(new ByteArrayInputStream(json)), json.length);
    }

    private ObjectInfo put(ObjectKey key, ReadableByteChannel source, long size) throws IOException {
        try {
            return engine.put(key, source, size, PutOptions.defaults().withWriteMode(WriteMode.WRITE_BACK).withTier(fastTier)
                    .withReplace(true)).join();
        } catch (CompletionException e) {
            Throwable t = TierException.unwrap(e);
            throw new IOException("checkpoint " + key + " was not written: " + t.getMessage(), t);
        }
    }

    ObjectKey stepKey(long step, String name) {
        if (step < 0 || step > 999_999_999_999L) {
            throw new IllegalArgumentException("step: " + step + " (expected: 0..999999999999)");
        }
        return ObjectKey.of(prefix + String.format(Locale.ROOT, "step-%012d/%s", step, name));
    }

    /** The latest step whose marker exists and whose state object matches it. */
    public Optional<Long> latestComplete() throws IOException {
        List<Long> steps = new ArrayList<>();
        for (ObjectStatus s : engine.list(prefix)) {
            Matcher m = STEP.matcher(s.key().toString().substring(prefix.length()));
            if (m.matches()) {
                steps.add(Long.parseLong(m.group(1)));
            }
        }
        steps.sort(java.util.Comparator.reverseOrder());
        for (long step : steps) {
            if (check(step).isPresent()) {
                return Optional.of(step);
            }
        }
        return Optional.empty();
    }

    /** The step's state object if its marker names exactly it (same size and CRC32C). */
    private Optional<ObjectStatus> check(long step) throws IOException {
        JsonNode marker = JSON.readTree(readAll(stepKey(step, MARKER)));
        Optional<ObjectStatus> state = engine.stat(stepKey(step, STATE)).join();
        if (state.isEmpty()) {
            return Optional.empty();
        }
        boolean matches = marker.path("size").asLong(-1) == state.get().sizeInBytes()
                && marker.path("crc32c").asText("").equals(Integer.toHexString(state.get().crc32c()));
        return matches ? state : Optional.empty();
    }

    /** Whether both objects of {@code step} are committed in the backing tier (the upload finished). */
    public boolean persisted(long step) {
        String backing = engine.tiers().getLast().name();
        for (String name : List.of(STATE, MARKER)) {
            Optional<ObjectStatus> s = engine.stat(stepKey(step, name)).join();
            if (s.isEmpty() || s.get().state() == SlotState.DIRTY || !s.get().tiers().contains(backing)) {
                return false;
            }
        }
        return true;
    }

    /** Restores the latest complete checkpoint, every tensor into off-heap memory; empty if there is none. */
    public Optional<Restored> restoreLatest() throws IOException {
        Optional<Long> step = latestComplete();
        return step.isEmpty() ? Optional.empty() : Optional.of(restore(step.get()));
    }

    /** Restores step {@code step}; fails if it is not complete. */
    public Restored restore(long step) throws IOException {
        if (check(step).isEmpty()) {
            throw new IOException("checkpoint step " + step + " under " + prefix + " is not complete (no marker, or the state object"
                    + " does not match it)");
        }
        ObjectKey key = stepKey(step, STATE);
        Arena arena = Arena.ofShared();
        boolean ok = false;
        try (EngineReader r = engine.read(key).join()) {
            long size = r.info().sizeInBytes();
            ByteBuffer prefixBytes = ByteBuffer.allocate(Safetensors.LENGTH_PREFIX_BYTES);
            readFully(r, 0, prefixBytes);
            long n = Safetensors.headerLength(prefixBytes.flip(), size, key.toString());
            ByteBuffer json = ByteBuffer.allocate((int) n);
            readFully(r, Safetensors.LENGTH_PREFIX_BYTES, json);
            Safetensors.Header header = Safetensors.parse(json.flip(), size, key.toString());
            Map<String, MemorySegment> tensors = new LinkedHashMap<>();
            for (Safetensors.TensorInfo t : header.tensors()) {
                MemorySegment seg = arena.allocate(Math.max(1, t.sizeInBytes()), 64).asSlice(0, t.sizeInBytes());
                for (long at = 0; at < t.sizeInBytes(); at += 8 << 20) {
                    long len = Math.min(8 << 20, t.sizeInBytes() - at);
                    readFully(r, header.dataOffset() + t.begin() + at, seg.asSlice(at, len).asByteBuffer());
                }
                tensors.put(t.name(), seg);
            }
            ok = true;
            return new Restored(step, tensors, arena);
        } catch (CompletionException e) {
            Throwable t = TierException.unwrap(e);
            throw new IOException("cannot restore " + key + ": " + t.getMessage(), t);
        } finally {
            if (!ok) {
                arena.close();
            }
        }
    }

    private byte[] readAll(ObjectKey key) throws IOException {
        try (EngineReader r = engine.read(key).join()) {
            ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(r.info().sizeInBytes()));
            readFully(r, 0, b);
            return b.array();
        } catch (CompletionException e) {
            Throwable t = TierException.unwrap(e);
            throw new IOException("cannot read " + key + ": " + t.getMessage(), t);
        }
    }

    private static void readFully(EngineReader r, long position, ByteBuffer dst) throws IOException {
        while (dst.hasRemaining()) {
            int n = r.read(position, dst).join();
            if (n <= 0) {
                throw new IOException(r.info().key() + ": end of object at offset " + position + " with " + dst.remaining()
                        + " bytes still expected");
            }
            position += n;
        }
    }

    /** The state file as a channel: header, then each tensor's bytes straight from its segment. */
    private static final class StateChannel implements ReadableByteChannel {
        private final byte[] header;
        private final List<MemorySegment> data;
        private final long crashAfter;
        private long position;
        private int segment;
        private long inSegment;

        StateChannel(byte[] header, List<MemorySegment> data, long crashAfter) {
            this.header = header;
            this.data = data;
            this.crashAfter = crashAfter;
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            if (position >= crashAfter) {
                throw new IOException("simulated crash after " + position + " bytes of the checkpoint");
            }
            int start = dst.position();
            long budget = crashAfter - position;
            while (dst.hasRemaining() && budget > 0) {
                if (position < header.length) {
                    int n = (int) Math.min(Math.min(dst.remaining(), header.length - position), budget);
                    dst.put(header, (int) position, n);
                    position += n;
                    budget -= n;
                    continue;
                }
                if (segment >= data.size()) {
                    break;
                }
                MemorySegment s = data.get(segment);
                if (inSegment == s.byteSize()) {
                    segment++;
                    inSegment = 0;
                    continue;
                }
                int n = (int) Math.min(Math.min(dst.remaining(), s.byteSize() - inSegment), budget);
                dst.put(s.asSlice(inSegment, n).asByteBuffer());
                inSegment += n;
                position += n;
                budget -= n;
            }
            int read = dst.position() - start;
            return read == 0 && segment >= data.size() ? -1 : read;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }

    /** For messages. */
    @Override
    public String toString() {
        return "Checkpointer[" + prefix + " on " + fastTier + "]";
    }
}
