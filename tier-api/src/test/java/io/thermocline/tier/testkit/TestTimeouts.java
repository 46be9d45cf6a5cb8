package io.thermocline.tier.testkit;

import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The one test-wide time scale: every deadline a test waits for is a base duration multiplied by
 * {@link #scale()}, so that a slow or loaded machine can be given more time without editing tests.
 *
 * <p>The scale is read from the system property {@value #PROPERTY}, else the environment variable
 * {@value #ENV}, else 1. CI raises it where the machine is known to be busy ({@code .ci/stress}).
 * A value that is not a positive number fails loudly rather than silently shortening deadlines.
 */
public final class TestTimeouts {

    /** System property holding the scale factor. */
    public static final String PROPERTY = "thermocline.test.timeScale";
    /** Environment variable holding the scale factor, when the property is not set. */
    public static final String ENV = "THERMOCLINE_TEST_TIME_SCALE";

    private static final double SCALE = readScale();

    private TestTimeouts() {
    }

    /** The factor every deadline is multiplied by (at least 1). */
    public static double scale() {
        return SCALE;
    }

    /** {@code base} multiplied by the test-wide scale. */
    public static Duration scaled(Duration base) {
        return Duration.ofNanos((long) Math.min(Long.MAX_VALUE / 2.0, base.toNanos() * SCALE));
    }

    /** {@code seconds} seconds multiplied by the test-wide scale. */
    public static Duration seconds(long seconds) {
        return scaled(Duration.ofSeconds(seconds));
    }

    /** {@code seconds} multiplied by the test-wide scale, in whole milliseconds. */
    public static long millis(long seconds) {
        return seconds(seconds).toMillis();
    }

    /**
     * Waits until {@code condition} holds, polling every few milliseconds, for at most {@code base}
     * scaled; fails with {@code what} and the time waited if it never does.
     */
    public static void await(String what, Duration base, BooleanSupplier condition) {
        await(what, base, condition, () -> "");
    }

    /**
     * As {@link #await(String, Duration, BooleanSupplier)}, adding {@code state} (what was seen last)
     * to the failure message.
     */
    public static void await(String what, Duration base, BooleanSupplier condition, Supplier<String> state) {
        Duration limit = scaled(base);
        long deadline = System.nanoTime() + limit.toNanos();
        long pause = 1;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                String seen = state.get();
                throw new AssertionError("timed out after " + limit.toMillis() + " ms waiting for " + what
                        + (seen.isEmpty() ? "" : "; last seen: " + seen));
            }
            try {
                TimeUnit.MILLISECONDS.sleep(pause);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what, e);
            }
            pause = Math.min(50, pause * 2);
        }
    }

    private static double readScale() {
        String text = System.getProperty(PROPERTY);
        String source = "system property " + PROPERTY;
        if (text == null || text.isBlank()) {
            text = System.getenv(ENV);
            source = "environment variable " + ENV;
        }
        if (text == null || text.isBlank()) {
            return 1.0;
        }
        try {
            double value = Double.parseDouble(text.trim());
            if (value >= 1.0 && Double.isFinite(value)) {
                return value;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalStateException(String.format(Locale.ROOT,
                "%s is '%s': expected a number of at least 1 (the factor test deadlines are multiplied by)", source, text));
    }
}
