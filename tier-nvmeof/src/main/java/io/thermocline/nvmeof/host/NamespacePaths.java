package io.thermocline.nvmeof.host;

import io.thermocline.nvmeof.pdu.AnaState;
import io.thermocline.nvmeof.pdu.Cqe;
import io.thermocline.nvmeof.pdu.NvmeStatus;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * The paths to one namespace — one controller each — and the rules that carry a command
 * across path failures (NVMe Base 2.0 §8.1 for ANA; the kernel's native multipath for the
 * rest).
 *
 * <p><b>Choosing.</b> A path is usable when its controller is {@link NvmeTcpController.State#LIVE}
 * and the namespace's ANA state through it is Optimized or Non-Optimized. Commands go to the
 * Optimized paths, spread by the {@link IoPolicy}; only when none is usable, to the Non-Optimized
 * ones. Never to a path that is Inaccessible, in Persistent Loss or in Change.
 *
 * <p><b>Retrying.</b> A command whose connection ended (scope {@link NvmeException.Scope#QUEUE}
 * or {@link NvmeException.Scope#ASSOCIATION}) is sent again on another usable path at once; the
 * queue's owner has marked its path down before the command fails, so it is not chosen again.
 * A command completed with a path-related status (SCT 3h) marks that path's ANA state and is
 * sent again the same way. With no usable path, the command waits for a change (a reconnect, an
 * ANA change) and fails only when every controller is gone (ctrl-loss-tmo) or fails fast
 * (fast-io-fail-tmo), or when paths stay live but unusable for longer than the longest
 * ctrl-loss-tmo. Any other failure, and any other error status, goes to the caller as it is.
 *
 * <p>A retried write may reach the namespace twice, as with any NVMe multipath host; both
 * carry the same data.
 */
final class NamespacePaths {
    /** One path: a controller and what it said about the namespace. */
    record Path(NvmeTcpController controller, NamespaceInfo namespace, AtomicInteger outstanding) {
        Path(NvmeTcpController controller, NamespaceInfo namespace) {
            this(controller, namespace, new AtomicInteger());
        }

        AnaState ana() {
            return controller.anaState(namespace);
        }

        boolean usable() {
            return controller.state() == NvmeTcpController.State.LIVE && ana().usable();
        }
    }

    /** How often a waiting command looks again even without a change: fast-io-fail and give-up deadlines pass silently. */
    private static final long RECHECK_MILLIS = 100;
    /** Pause before resending a command the target aborted because its queue was being deleted. */
    private static final long ABORT_RETRY_MILLIS = 10;

    /** An immutable snapshot, replaced when a path that was down at start joins. */
    private volatile List<Path> paths;
    /** Paths that have not connected yet and are still being tried: waiting for them may help. */
    private final java.util.concurrent.atomic.AtomicInteger pending = new java.util.concurrent.atomic.AtomicInteger();
    private final IoPolicy policy;
    private volatile long giveUpNanos;
    private final AtomicInteger next = new AtomicInteger();

    NamespacePaths(List<Path> paths, IoPolicy policy) {
        if (paths.isEmpty()) {
            throw new IllegalArgumentException("paths: none (expected at least one)");
        }
        this.paths = List.copyOf(paths);
        this.policy = policy;
        long longest = 0;
        for (Path p : paths) {
            longest = longer(longest, p.controller().options());
        }
        this.giveUpNanos = longest;
    }

    private static long longer(long nanos, NvmeTcpHostOptions o) {
        long loss = o.ctrlLossTimeout().toNanos();
        return loss < 0 || nanos == Long.MAX_VALUE ? Long.MAX_VALUE : Math.max(nanos, loss);
    }

    /** A path that was down at start is being tried in the background: I/O without a path waits for it too. */
    void pathPending(NvmeTcpHostOptions options) {
        pending.incrementAndGet();
        giveUpNanos = longer(giveUpNanos, options);
    }

    /** A pending path stopped being tried: it joined ({@link #add}) or was given up. */
    void pathSettled() {
        pending.decrementAndGet();
    }

    /** Adds a path that connected after the others. */
    synchronized void add(Path p) {
        List<Path> more = new java.util.ArrayList<>(paths);
        more.add(p);
        paths = List.copyOf(more);
    }

    List<Path> paths() {
        return paths;
    }

    IoPolicy policy() {
        return policy;
    }

    /** The usable path to send the next command on, or null. Allocates nothing: it runs for every command. */
    Path select() {
        List<Path> paths = this.paths;
        int n = paths.size();
        if (n == 1) {
            Path only = paths.getFirst();
            return only.usable() ? only : null;
        }
        // the best state any live path offers, and how many paths offer it
        AnaState best = null;
        int count = 0;
        for (int i = 0; i < n; i++) {
            Path p = paths.get(i);
            if (p.controller().state() != NvmeTcpController.State.LIVE) {
                continue;
            }
            AnaState s = p.ana();
            if (s == AnaState.OPTIMIZED) {
                if (best != AnaState.OPTIMIZED) {
                    best = AnaState.OPTIMIZED;
                    count = 0;
                }
                count++;
            } else if (s == AnaState.NON_OPTIMIZED && best != AnaState.OPTIMIZED) {
                best = AnaState.NON_OPTIMIZED;
                count++;
            }
        }
        if (count == 0) {
            return null;
        }
        int turn = next.getAndIncrement();
        if (policy == IoPolicy.QUEUE_DEPTH) {
            int start = Math.floorMod(turn, n);
            Path chosen = null;
            for (int i = 0; i < n; i++) {  // from a rotating start, so ties go round
                Path p = paths.get((start + i) % n);
                if (p.controller().state() == NvmeTcpController.State.LIVE && p.ana() == best
                        && (chosen == null || p.outstanding().get() < chosen.outstanding().get())) {
                    chosen = p;
                }
            }
            return chosen;
        }
        int skip = Math.floorMod(turn, count);
        Path first = null;
        for (int i = 0; i < n; i++) {
            Path p = paths.get(i);
            if (p.controller().state() == NvmeTcpController.State.LIVE && p.ana() == best) {
                if (skip-- == 0) {
                    return p;
                }
                if (first == null) {
                    first = p;
                }
            }
        }
        return first;  // a path changed state between the two passes
    }

    /**
     * Sends a command, made afresh by {@code make} for each attempt, and completes with its
     * completion — successful, or with a status that is not path-related — or fails with the
     * {@link NvmeException} that ended it.
     */
    CompletableFuture<Cqe> submit(Supplier<QueuePair.Request> make, boolean write) {
        CompletableFuture<Cqe> result = new CompletableFuture<>();
        attempt(make, write, result, 0L, null);
        return result;
    }

    private void attempt(Supplier<QueuePair.Request> make, boolean write, CompletableFuture<Cqe> result, long waitingSince,
                         Throwable lastError) {
        try {
            tryPath(make, write, result, waitingSince, lastError);
        } catch (RuntimeException | Error e) {
            // attempts run inside completion callbacks, which would swallow this and leave the caller waiting forever
            result.completeExceptionally(e);
        }
    }

    private void tryPath(Supplier<QueuePair.Request> make, boolean write, CompletableFuture<Cqe> result, long waitingSince,
                         Throwable lastError) {
        Path p = select();
        if (p == null) {
            List<Path> paths = this.paths;
            long now = System.nanoTime();
            long since = waitingSince == 0L ? now : waitingSince;
            String why = hopeless(now - since);
            if (why != null) {
                result.completeExceptionally(new NvmeException("no usable path to namespace " + paths.getFirst().namespace().nsid()
                        + " of " + paths.getFirst().controller().options().nqn() + ": " + why
                        + (lastError != null ? "; last error: " + NvmeTcpController.unwrap(lastError).getMessage() : ""),
                        NvmeException.Scope.ASSOCIATION, false, lastError));
                return;
            }
            CompletableFuture<?>[] changes = new CompletableFuture<?>[paths.size()];
            for (int i = 0; i < changes.length; i++) {
                changes[i] = paths.get(i).controller().nextChange();
            }
            CompletableFuture.anyOf(changes)
                    .completeOnTimeout(null, RECHECK_MILLIS, TimeUnit.MILLISECONDS)
                    .whenComplete((v, t) -> attempt(make, write, result, since, lastError));
            return;
        }
        QueuePair q;
        try {
            q = p.controller().ioQueue(write);
        } catch (NvmeException e) {
            if (p.controller().state() == NvmeTcpController.State.LIVE) {
                result.completeExceptionally(e);  // live but without I/O queues: no other path will differ
            } else {
                attempt(make, write, result, waitingSince, e);  // lost between select and here: choose again
            }
            return;
        }
        p.outstanding().incrementAndGet();
        q.submit(make.get()).whenComplete((cqe, t) -> {
            p.outstanding().decrementAndGet();
            if (t != null) {
                Throwable u = NvmeTcpController.unwrap(t);
                if (u instanceof NvmeException ne && ne.scope() != NvmeException.Scope.COMMAND) {
                    attempt(make, write, result, 0L, ne);
                } else {
                    result.completeExceptionally(u);
                }
            } else if (cqe.isSuccess()) {
                result.complete(cqe);
            } else if (cqe.statusCodeType() == NvmeStatus.SCT_PATH && p.controller().pathStatus(p.namespace(), cqe.status())) {
                attempt(make, write, result, 0L, new NvmeException("on " + p.controller().address(), cqe));
            } else if (cqe.nvmeStatus() == NvmeStatus.ABORTED_SQ_DELETION && !cqe.doNotRetry()) {
                // the target is shutting the queue down: its connection closes soon, and the path with it
                q.eventLoop().schedule(() -> attempt(make, write, result, 0L, new NvmeException("on " + p.controller().address(), cqe)),
                        ABORT_RETRY_MILLIS, TimeUnit.MILLISECONDS);
            } else {
                result.complete(cqe);
            }
        });
    }

    /** Why waiting for a path cannot help any more, or null while it can. */
    private String hopeless(long waitedNanos) {
        boolean anyLive = false;
        boolean anyHope = pending.get() > 0;
        StringBuilder states = new StringBuilder();
        for (Path p : this.paths) {
            NvmeTcpController c = p.controller();
            NvmeTcpController.State s = c.state();
            if (!states.isEmpty()) {
                states.append(", ");
            }
            states.append(c.address()).append(' ').append(s);
            if (s == NvmeTcpController.State.LIVE) {
                anyLive = true;
                states.append(' ').append(p.ana());
            } else if (s == NvmeTcpController.State.RECONNECTING && !c.failsFast()) {
                anyHope = true;
            } else if (s == NvmeTcpController.State.RECONNECTING) {
                states.append(" past fast-io-fail-tmo");
            }
        }
        if (anyHope) {
            return null;
        }
        if (anyLive && waitedNanos - giveUpNanos < 0) {
            return null;
        }
        return anyLive ? "live paths stayed unusable for " + TimeUnit.NANOSECONDS.toSeconds(waitedNanos) + " s (" + states + ")"
                : "every path is down for good (" + states + ")";
    }
}
