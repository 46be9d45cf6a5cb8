package io.thermocline.examples.checkpoint;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A stand-in for a training job's state: weights and two optimizer moments, F32, off-heap, changed
 * by every step in a way that depends on the step — so a restored checkpoint can be checked with
 * {@link #expectedAt} — and cheap enough that checkpointing dominates.
 */
public final class TrainingLoop implements AutoCloseable {

    private final Arena arena = Arena.ofShared();
    private final Map<String, MemorySegment> state = new LinkedHashMap<>();
    private long step;

    /** State of {@code bytesPerTensor} bytes in each of three tensors, at step 0. */
    public TrainingLoop(long bytesPerTensor) {
        long floats = Math.max(1, bytesPerTensor / 4);
        for (String name : new String[] {"weights", "adam.m", "adam.v"}) {
            state.put(name, arena.allocate(floats * 4, 64));
        }
        apply(0);
    }

    /** Runs one step. */
    public long step() {
        step++;
        apply(step);
        return step;
    }

    public long currentStep() {
        return step;
    }

    /** The live state: what {@link Checkpointer#save} writes. */
    public Map<String, MemorySegment> state() {
        return state;
    }

    /** Sets the loop to a restored checkpoint's step and tensors. */
    public void resume(long restoredStep, Map<String, MemorySegment> tensors) {
        for (Map.Entry<String, MemorySegment> e : state.entrySet()) {
            MemorySegment from = tensors.get(e.getKey());
            if (from == null || from.byteSize() != e.getValue().byteSize()) {
                throw new IllegalArgumentException("checkpoint tensor " + e.getKey() + ": " + (from == null ? "missing" : from.byteSize() + " bytes")
                        + " (expected: " + e.getValue().byteSize() + " bytes)");
            }
            e.getValue().copyFrom(from);
        }
        step = restoredStep;
    }

    /** The value of float {@code i} of tensor number {@code tensor} after step {@code step}. */
    public static float expectedAt(int tensor, long step, long i) {
        return (float) (tensor * 1000 + step) + (i % 1024) / 1024f;
    }

    private void apply(long s) {
        int t = 0;
        for (MemorySegment seg : state.values()) {
            long n = seg.byteSize() / 4;
            for (long i = 0; i < n; i++) {
                seg.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, expectedAt(t, s, i));
            }
            t++;
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
