package io.thermocline.examples.checkpoint;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.engine.ObjectStatus;
import io.thermocline.engine.TierEngine;
import io.thermocline.examples.EmbeddedTiers;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@ScaledTimeout(120)
class CheckpointerTest {

    private static final String PREFIX = "checkpoints/run-1/";
    private static final long TENSOR_BYTES = 1 << 20;

    @TempDir
    Path dir;

    private EmbeddedTiers tiers;
    private TierEngine engine;
    private TrainingLoop loop;

    @BeforeEach
    void start() {
        tiers = EmbeddedTiers.builder(dir).localBytes(256L << 20).fabricBytes(64L << 20).start();
        engine = tiers.openEngine();
        loop = new TrainingLoop(TENSOR_BYTES);
    }

    @AfterEach
    void stop() {
        loop.close();
        if (engine != null) {
            engine.close();
        }
        tiers.close();
    }

    private static void await(String what, BooleanSupplier condition) {
        TestTimeouts.await(what, Duration.ofSeconds(60), condition);
    }

    private void runTo(long step) {
        while (loop.currentStep() < step) {
            loop.step();
        }
    }

    private static void assertStateOf(long step, Map<String, MemorySegment> tensors) {
        assertThat(tensors.keySet()).containsExactly("weights", "adam.m", "adam.v");
        int t = 0;
        for (MemorySegment seg : tensors.values()) {
            long n = seg.byteSize() / 4;
            assertEquals(TENSOR_BYTES / 4, n);
            for (long i = 0; i < n; i += 997) {
                assertEquals(TrainingLoop.expectedAt(t, step, i), seg.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i), "tensor " + t + " float " + i);
            }
            t++;
        }
    }

    @Test
    void save_landsOnLocal_andTheEngineUploadsItToS3InTheBackground() throws Exception {
        Checkpointer ckpt = new Checkpointer(engine, PREFIX, "local");
        runTo(10);
        Checkpointer.Saved saved = ckpt.save(10, loop.state());
        assertEquals(10, saved.step());
        ObjectStatus state = engine.stat(saved.state().key()).join().orElseThrow();
        assertTrue(state.tiers().contains("local"), "a write-back save lands on local: " + state.tiers());
        await("the upload of step 10", () -> ckpt.persisted(10));
        assertThat(engine.stat(saved.state().key()).join().orElseThrow().tiers()).contains("local", "s3");
        assertEquals(Optional.of(10L), ckpt.latestComplete());
    }

    @Test
    void afterACrash_theLatestCompleteCheckpointIsRestored_andItsUploadFinishes() throws Exception {
        Checkpointer ckpt = new Checkpointer(engine, PREFIX, "local");
        assertEquals(Optional.empty(), ckpt.latestComplete());
        runTo(10);
        ckpt.save(10, loop.state());
        runTo(20);
        ckpt.save(20, loop.state());
        runTo(30);
        ckpt.writeState(30, loop.state());                        // died between the state and its marker
        runTo(40);
        IOException torn = assertThrows(IOException.class, () -> ckpt.writeState(40, loop.state(), TENSOR_BYTES + 100)); // died while writing
        assertThat(torn.getMessage()).contains("step-000000000040/state.safetensors", "simulated crash");
        assertTrue(engine.stat(ckpt.stepKey(40, Checkpointer.STATE)).join().isEmpty(), "a torn write leaves no object");

        engine.close();                                           // the process is gone; uploads may be under way
        engine = tiers.openEngine();                              // the restarted job opens the same data root
        assertTrue(engine.isOwner());
        Checkpointer after = new Checkpointer(engine, PREFIX, "local");
        assertEquals(Optional.of(20L), after.latestComplete());
        try (Checkpointer.Restored r = after.restoreLatest().orElseThrow()) {
            assertEquals(20, r.step());
            assertStateOf(20, r.tensors());
            try (TrainingLoop resumed = new TrainingLoop(TENSOR_BYTES)) {
                resumed.resume(r.step(), r.tensors());
                assertEquals(20, resumed.currentStep());
                assertStateOf(20, resumed.state());
            }
        }
        await("the upload of step 20 after the restart", () -> after.persisted(20));
        assertThat(engine.stat(after.stepKey(20, Checkpointer.STATE)).join().orElseThrow().tiers()).contains("s3");
    }

    @Test
    void aStepWhoseStateNoLongerMatchesItsMarkerIsSkipped() throws Exception {
        Checkpointer ckpt = new Checkpointer(engine, PREFIX, "local");
        runTo(5);
        ckpt.save(5, loop.state());
        runTo(6);
        ckpt.save(6, loop.state());
        runTo(7);
        ckpt.writeState(6, loop.state());                         // step 6's state rewritten, its marker not
        assertEquals(Optional.of(5L), ckpt.latestComplete());
        IOException e = assertThrows(IOException.class, () -> ckpt.restore(6));
        assertThat(e.getMessage()).contains("step 6", "not complete");
        try (Checkpointer.Restored r = ckpt.restoreLatest().orElseThrow()) {
            assertStateOf(5, r.tensors());
        }
        assertThat(List.of(engine.list(PREFIX).size())).containsExactly(4);
    }
}
