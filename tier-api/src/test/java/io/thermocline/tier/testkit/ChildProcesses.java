package io.thermocline.tier.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The processes one test started, stopped by PID after each test, whether it passed or failed.
 * Register it as an instance field: {@code @RegisterExtension final ChildProcesses processes = new
 * ChildProcesses();} and {@link #add} each process as soon as it is started.
 *
 * <p>A process still alive after the test is killed with its descendants (a JVM that forked a
 * helper takes it along), and waited for within a scaled deadline, so that no server outlives the
 * test that started it.
 */
public final class ChildProcesses implements AfterEachCallback {

    private final List<Process> processes = new ArrayList<>();

    /**
     * Reads all of {@code in} (a child's stdout or stderr) as UTF-8 on a virtual thread of its own,
     * never on the common pool: a pool worker blocked elsewhere (two cores give it one) would
     * leave the pipe undrained and the test waiting. A read error becomes the text "(error)".
     */
    public static CompletableFuture<String> readAll(InputStream in) {
        CompletableFuture<String> text = new CompletableFuture<>();
        Thread.ofVirtual().name("child-output").start(() -> {
            try (in) {
                text.complete(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                text.complete("(" + e + ")");
            }
        });
        return text;
    }

    /** Tracks {@code process} until the end of the current test; returns it. */
    public synchronized Process add(Process process) {
        processes.add(process);
        return process;
    }

    @Override
    public void afterEach(ExtensionContext context) throws InterruptedException {
        List<Process> started;
        synchronized (this) {
            started = new ArrayList<>(processes);
            processes.clear();
        }
        List<String> survivors = new ArrayList<>();
        for (Process p : started) {
            if (!p.isAlive()) {
                continue;
            }
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            if (!p.waitFor(TestTimeouts.millis(10), TimeUnit.MILLISECONDS)) {
                survivors.add("pid " + p.pid());
            }
        }
        if (!survivors.isEmpty()) {
            throw new AssertionError("processes did not stop after SIGKILL: " + survivors);
        }
    }
}
