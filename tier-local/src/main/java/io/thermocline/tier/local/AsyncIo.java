package io.thermocline.tier.local;

import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Function;

/** Runs blocking file work on an executor and reports its outcome through a future. */
final class AsyncIo {

    /** Blocking work that may throw {@link IOException}. */
    @FunctionalInterface
    interface IoSupplier<T> {
        T get() throws IOException;
    }

    private AsyncIo() {
    }

    /** An executor that starts a virtual thread per task, named {@code prefix<n>}. */
    static ExecutorService newVirtualThreadExecutor(String prefix) {
        return Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name(prefix, 0).factory());
    }

    /**
     * Runs {@code body} on {@code executor}; the future completes with its result, or with
     * {@code translate} applied to whatever it threw (or to the executor's rejection).
     */
    static <T> CompletableFuture<T> submit(Executor executor, IoSupplier<T> body,
                                           Function<Throwable, ? extends Throwable> translate) {
        CompletableFuture<T> result = new CompletableFuture<>();
        try {
            executor.execute(() -> {
                try {
                    result.complete(body.get());
                } catch (Throwable t) {
                    result.completeExceptionally(translate.apply(t));
                }
            });
        } catch (RejectedExecutionException e) {
            result.completeExceptionally(translate.apply(e));
        }
        return result;
    }
}
