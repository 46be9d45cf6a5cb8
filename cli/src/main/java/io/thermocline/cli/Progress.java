package io.thermocline.cli;

import java.io.PrintStream;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Progress of a long job on stderr: on a terminal, one line redrawn in place with a bar, bytes,
 * rate and ETA; elsewhere (a pipe, a log file, CI), a plain line every {@code plainInterval}.
 * The rate is the average since the start, which a single slow object does not throw around.
 */
final class Progress implements AutoCloseable {

    /** A snapshot of the job. */
    record Snapshot(long bytesDone, long bytesTotal, long objectsDone, long objectsTotal) {
    }

    private static final int BAR_WIDTH = 30;

    private final PrintStream err;
    private final String label;
    private final Supplier<Snapshot> source;
    private final boolean terminal;
    private final long plainIntervalNanos;
    private final long start = System.nanoTime();
    private final Thread ticker;
    private volatile boolean closed;

    Progress(PrintStream err, String label, Supplier<Snapshot> source, boolean terminal, long plainIntervalMillis) {
        this.err = err;
        this.label = label;
        this.source = source;
        this.terminal = terminal;
        this.plainIntervalNanos = plainIntervalMillis * 1_000_000L;
        this.ticker = Thread.ofPlatform().daemon().name("thermocline-progress").start(this::run);
    }

    /** Whether stderr is a terminal the bar can be redrawn on. */
    static boolean stderrIsTerminal() {
        java.io.Console c = System.console();
        return c != null && c.isTerminal() && System.getenv("TERM") != null && !"dumb".equals(System.getenv("TERM"));
    }

    private void run() {
        long lastPlain = System.nanoTime();
        while (!closed) {
            try {
                Thread.sleep(terminal ? 100 : 200);
            } catch (InterruptedException e) {
                return;
            }
            if (closed) {
                return;
            }
            if (terminal) {
                synchronized (err) {
                    err.print("\r" + line(source.get(), true) + "\u001b[K");
                    err.flush();
                }
            } else if (System.nanoTime() - lastPlain >= plainIntervalNanos) {
                lastPlain = System.nanoTime();
                synchronized (err) {
                    err.println(line(source.get(), false));
                }
            }
        }
    }

    String line(Snapshot s, boolean bar) {
        double seconds = Math.max(1e-3, (System.nanoTime() - start) / 1e9);
        double rate = s.bytesDone() / seconds;
        StringBuilder b = new StringBuilder(label).append(' ');
        if (bar) {
            int filled = s.bytesTotal() > 0 ? (int) Math.min(BAR_WIDTH, BAR_WIDTH * s.bytesDone() / s.bytesTotal()) : 0;
            b.append('[').append("=".repeat(filled)).append(filled < BAR_WIDTH ? ">" : "")
                    .append(" ".repeat(Math.max(0, BAR_WIDTH - filled - 1))).append("] ");
        }
        b.append(ByteSizeConverter.format(s.bytesDone())).append(" / ").append(ByteSizeConverter.format(s.bytesTotal()));
        if (s.bytesTotal() > 0) {
            b.append(String.format(Locale.ROOT, " (%.0f%%)", 100.0 * s.bytesDone() / s.bytesTotal()));
        }
        b.append(", ").append(ByteSizeConverter.format((long) rate)).append("/s");
        long left = s.bytesTotal() - s.bytesDone();
        b.append(", ETA ").append(rate > 0 && left > 0 ? clock((long) (left / rate)) : left <= 0 ? "0s" : "?");
        b.append(", ").append(s.objectsDone()).append('/').append(s.objectsTotal()).append(" objects");
        return b.toString();
    }

    static String clock(long seconds) {
        if (seconds < 60) {
            return seconds + "s";
        }
        if (seconds < 3600) {
            return seconds / 60 + "m" + String.format(Locale.ROOT, "%02ds", seconds % 60);
        }
        return seconds / 3600 + "h" + String.format(Locale.ROOT, "%02dm", seconds / 60 % 60);
    }

    /** Stops the ticker and prints the final state once (on a terminal, over the bar). */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        ticker.interrupt();
        try {
            ticker.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (err) {
            if (terminal) {
                err.print("\r" + line(source.get(), true) + "\u001b[K\n");
            } else {
                err.println(line(source.get(), false));
            }
            err.flush();
        }
    }
}
