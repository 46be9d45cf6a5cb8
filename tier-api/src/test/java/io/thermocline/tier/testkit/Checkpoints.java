package io.thermocline.tier.testkit;

import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.ResumePoint;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** Checkpoints in tests of tiers that name durable bytes only once they are (S3 parts acknowledged). */
public final class Checkpoints {

    private Checkpoints() {
    }

    /**
     * Checkpoints {@code w} at {@code prefix} again and again, as a writer that checkpoints as it
     * goes would, until the point covers at least {@code atLeast} bytes or 30 s have passed.
     *
     * @return the last point, or empty if the tier does not resume writers
     */
    public static Optional<ResumePoint> covering(ObjectWriter w, long prefix, long atLeast) {
        long deadline = System.nanoTime() + TestTimeouts.seconds(30).toNanos();
        Optional<ResumePoint> point = w.checkpoint(prefix).join();
        while (point.isPresent() && point.get().length() < atLeast && System.nanoTime() < deadline) {
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            point = w.checkpoint(prefix).join();
        }
        return point;
    }
}
