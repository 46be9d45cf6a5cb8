package io.thermocline.tier.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;
import org.junit.platform.testkit.engine.EventType;

/**
 * {@link ScaledTimeout} fails a method that overruns its limit times the scale, interrupts it, and
 * leaves one that finishes in time alone. The classes it checks run in a nested JUnit engine.
 */
class ScaledTimeoutTest {

    @Test
    void aMethodThatOverruns_failsWithATimeoutThatNamesTheScale_andOneInTimePasses() {
        var results = EngineTestKit.engine("junit-jupiter").selectors(selectClass(Sample.class)).execute();
        results.testEvents().assertStatistics(stats -> stats.started(3).succeeded(1).failed(2));

        List<Event> failed = results.testEvents().failed().list();
        for (Event event : failed) {
            Throwable thrown = event.getPayload(org.junit.platform.engine.TestExecutionResult.class)
                    .flatMap(org.junit.platform.engine.TestExecutionResult::getThrowable).orElseThrow();
            assertEquals(TimeoutException.class, thrown.getClass(), event.getTestDescriptor().getDisplayName());
            assertTrue(thrown.getMessage().contains("time scale " + TestTimeouts.scale()), thrown.getMessage());
        }
        assertEquals(1, results.testEvents().list().stream()
                .filter(e -> e.getType() == EventType.FINISHED)
                .filter(e -> e.getTestDescriptor().getDisplayName().startsWith("finishesInTime"))
                .count());
    }

    /** Run only inside the nested engine above: its methods are meant to fail. */
    @ScaledTimeout(value = 20, unit = TimeUnit.SECONDS)
    static class Sample {

        @Test
        void finishesInTime() {
        }

        @Test
        @ScaledTimeout(value = 50, unit = TimeUnit.MILLISECONDS)
        void sleepsPastTheLimit_isInterrupted() throws InterruptedException {
            Thread.sleep(TimeUnit.MINUTES.toMillis(5));
        }

        @Test
        @ScaledTimeout(value = 50, unit = TimeUnit.MILLISECONDS, separateThread = true)
        void spinsPastTheLimit_onASeparateThread_isAbandoned() {
            long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
            while (System.nanoTime() < end && !Thread.currentThread().isInterrupted()) {
                Thread.onSpinWait();
            }
        }
    }
}
