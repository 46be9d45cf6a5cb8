package io.thermocline.tier.testkit;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A time limit for each test and lifecycle method of the annotated class (or for the annotated
 * method), multiplied by the test-wide scale of {@link TestTimeouts}. JUnit's own {@code @Timeout}
 * takes a constant, so a loaded machine that CI gives a larger scale would still hit it; this one
 * grows with the scale.
 *
 * <p>As with {@code @Timeout}, a method annotation overrides the class's. The method runs on the
 * test's own thread, which is interrupted when the limit passes, unless {@link #separateThread()}
 * asks for the method to run on a thread of its own and be abandoned at the limit (for code that
 * does not answer interrupts).
 */
@Documented
@Inherited
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.TYPE, ElementType.METHOD})
@ExtendWith(ScaledTimeoutExtension.class)
public @interface ScaledTimeout {

    /** The limit before scaling, in {@link #unit()}. */
    long value();

    /** The unit of {@link #value()}; seconds by default. */
    TimeUnit unit() default TimeUnit.SECONDS;

    /** Whether the method runs on a separate thread that is abandoned at the limit. */
    boolean separateThread() default false;
}
