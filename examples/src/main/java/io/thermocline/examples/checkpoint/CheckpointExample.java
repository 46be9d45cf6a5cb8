package io.thermocline.examples.checkpoint;

import io.thermocline.engine.TierEngine;
import io.thermocline.examples.EmbeddedTiers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;

/**
 * Runs the checkpoint example on {@link EmbeddedTiers}: a training loop saves a checkpoint every
 * few steps (write-back to local: the loop waits only for the local write), the engine uploads
 * them to S3 behind it; the process then "crashes" in the middle of a checkpoint, a new engine
 * opens the same data root, and the loop resumes from the latest complete checkpoint.
 *
 * <pre>
 *   java -cp ... io.thermocline.examples.checkpoint.CheckpointExample [DIR] [MIB_PER_TENSOR]
 * </pre>
 */
public final class CheckpointExample {

    private CheckpointExample() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = args.length > 0 ? Path.of(args[0]) : Files.createTempDirectory("thermocline-checkpoint-");
        long bytes = (args.length > 1 ? Long.parseLong(args[1]) : 16) << 20;
        String prefix = "checkpoints/run-1/";
        try (EmbeddedTiers tiers = EmbeddedTiers.builder(dir).start(); TrainingLoop loop = new TrainingLoop(bytes)) {
            try (TierEngine engine = tiers.openEngine()) {
                Checkpointer ckpt = new Checkpointer(engine, prefix, "local");
                for (int i = 0; i < 30; i++) {
                    long step = loop.step();
                    if (step % 10 == 0) {
                        Checkpointer.Saved s = ckpt.save(step, loop.state());
                        System.out.printf(Locale.ROOT, "step %d: checkpoint of %d MiB saved in %.0f ms (persisted to S3: %s)%n",
                                step, s.state().sizeInBytes() >> 20, s.nanos() / 1e6, ckpt.persisted(step));
                    }
                }
                loop.step();
                try {
                    ckpt.writeState(31, loop.state(), bytes); // the process dies a third of the way into this checkpoint
                } catch (java.io.IOException e) {
                    System.out.println("step 31: " + e.getMessage());
                }
            } // the engine closes with uploads possibly under way: the next owner resumes them
            try (TierEngine engine = tiers.openEngine()) {
                Checkpointer ckpt = new Checkpointer(engine, prefix, "local");
                Optional<Checkpointer.Restored> r = ckpt.restoreLatest();
                if (r.isEmpty()) {
                    System.out.println("no complete checkpoint");
                    return;
                }
                try (Checkpointer.Restored restored = r.get()) {
                    loop.resume(restored.step(), restored.tensors());
                }
                System.out.println("restarted: resumed from step " + loop.currentStep());
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (!ckpt.persisted(loop.currentStep()) && System.nanoTime() < deadline) {
                    Thread.sleep(50);
                }
                System.out.println("step " + loop.currentStep() + " persisted to S3: " + ckpt.persisted(loop.currentStep()));
            }
        }
    }
}
