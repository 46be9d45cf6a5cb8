package io.thermocline.tier.testkit;

import java.lang.reflect.Method;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.FutureTask;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.InvocationInterceptor;
import org.junit.jupiter.api.extension.ReflectiveInvocationContext;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * Applies {@link ScaledTimeout}: each intercepted method gets the annotated limit times
 * {@link TestTimeouts#scale()}. A method that overruns fails with a {@link TimeoutException} that
 * names the method, the limit, the base and the scale, so a report shows at once whether the scale
 * was raised.
 */
public final class ScaledTimeoutExtension implements InvocationInterceptor {

    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "scaled-timeout");
        t.setDaemon(true);
        return t;
    });

    @Override
    public void interceptTestMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> call,
            ExtensionContext context) throws Throwable {
        limit(invocation, call);
    }

    @Override
    public void interceptTestTemplateMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> call,
            ExtensionContext context) throws Throwable {
        limit(invocation, call);
    }

    @Override
    public <T> T interceptTestFactoryMethod(Invocation<T> invocation, ReflectiveInvocationContext<Method> call,
            ExtensionContext context) throws Throwable {
        return limit(invocation, call);
    }

    @Override
    public void interceptBeforeAllMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> call,
            ExtensionContext context) throws Throwable {
        limit(invocation, call);
    }

    @Override
    public void interceptBeforeEachMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> call,
            ExtensionContext context) throws Throwable {
        limit(invocation, call);
    }

    @Override
    public void interceptAfterEachMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> call,
            ExtensionContext context) throws Throwable {
        limit(invocation, call);
    }

    @Override
    public void interceptAfterAllMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> call,
            ExtensionContext context) throws Throwable {
        limit(invocation, call);
    }

    private static <T> T limit(Invocation<T> invocation, ReflectiveInvocationContext<Method> call) throws Throwable {
        Method method = call.getExecutable();
        Optional<ScaledTimeout> found = AnnotationSupport.findAnnotation(method, ScaledTimeout.class)
                .or(() -> AnnotationSupport.findAnnotation(call.getTargetClass(), ScaledTimeout.class))
                .or(() -> AnnotationSupport.findAnnotation(method.getDeclaringClass(), ScaledTimeout.class));
        if (found.isEmpty()) {
            return invocation.proceed();
        }
        ScaledTimeout timeout = found.get();
        Duration base = Duration.of(timeout.value(), timeout.unit().toChronoUnit());
        if (base.isNegative() || base.isZero()) {
            throw new IllegalArgumentException("@ScaledTimeout on " + describe(method)
                    + " must be positive, was " + timeout.value() + " " + timeout.unit());
        }
        Duration limit = TestTimeouts.scaled(base);
        String name = describe(method);
        return timeout.separateThread()
                ? onSeparateThread(invocation, name, base, limit)
                : onThisThread(invocation, name, base, limit);
    }

    private static <T> T onThisThread(Invocation<T> invocation, String name, Duration base, Duration limit)
            throws Throwable {
        Thread self = Thread.currentThread();
        long start = System.nanoTime();
        ScheduledFuture<?> alarm = TIMER.schedule(self::interrupt, limit.toNanos(), TimeUnit.NANOSECONDS);
        T result;
        try {
            result = invocation.proceed();
        } catch (Throwable failure) {
            if (stop(alarm, start, limit)) {
                TimeoutException timedOut = timedOut(name, base, limit);
                timedOut.addSuppressed(failure);
                throw timedOut;
            }
            throw failure;
        }
        if (stop(alarm, start, limit)) {
            throw timedOut(name, base, limit);
        }
        return result;
    }

    /** Cancels the alarm, clears an interrupt it may have delivered, and tells whether time ran out. */
    private static boolean stop(ScheduledFuture<?> alarm, long start, Duration limit) {
        boolean fired = !alarm.cancel(false);
        if (fired) {
            Thread.interrupted();
        }
        return fired || System.nanoTime() - start > limit.toNanos();
    }

    private static <T> T onSeparateThread(Invocation<T> invocation, String name, Duration base, Duration limit)
            throws Throwable {
        FutureTask<T> task = new FutureTask<>(() -> {
            try {
                return invocation.proceed();
            } catch (Exception | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new ExecutionException(t);
            }
        });
        Thread runner = new Thread(task, "scaled-timeout-" + name);
        runner.setDaemon(true);
        runner.start();
        try {
            return task.get(limit.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            runner.interrupt();
            throw timedOut(name, base, limit);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            throw cause instanceof ExecutionException inner && inner.getCause() != null ? inner.getCause() : cause;
        }
    }

    private static TimeoutException timedOut(String name, Duration base, Duration limit) {
        return new TimeoutException(name + " timed out after " + limit.toMillis() + " ms (limit "
                + base.toMillis() + " ms × time scale " + TestTimeouts.scale() + ", set with -D"
                + TestTimeouts.PROPERTY + " or " + TestTimeouts.ENV + ")");
    }

    private static String describe(Method method) {
        return method.getDeclaringClass().getSimpleName() + "." + method.getName() + "()";
    }
}
