package io.thermocline.it.fabric;

import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A Java NVMe/TCP target in a JVM of its own, so that a test can kill it the hard way (SIGKILL:
 * no drain, no close, sockets reset by the kernel) and start it again on the same port and
 * backing file. Writes it acknowledged are in the page cache of the file, which outlives the
 * process, as a power-safe device would keep them.
 *
 * <p>The child prints {@code LISTENING <port>} once it accepts connections and exits when its
 * standard input closes.
 */
final class TargetProcess implements AutoCloseable {
    private final Process process;
    private final int port;

    private TargetProcess(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    /** Starts a target serving {@code file} as namespace 1 of {@code nqn} to {@code hostNqn} on {@code port} (0: any). */
    static TargetProcess start(Path file, long sizeInBytes, String nqn, String hostNqn, int port) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx256m", "-XX:+UseSerialGC", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), TargetProcess.class.getName(),
                file.toString(), Long.toString(sizeInBytes), nqn, hostNqn, Integer.toString(port)));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        CompletableFuture<Integer> listening = new CompletableFuture<>();
        StringBuilder log = new StringBuilder();
        Thread.ofVirtual().start(() -> {
            try {
                String line;
                while ((line = out.readLine()) != null) {
                    if (line.startsWith("LISTENING ")) {
                        listening.complete(Integer.parseInt(line.substring(10).trim()));
                    } else if (!listening.isDone()) {
                        synchronized (log) {
                            log.append(line).append('\n');
                        }
                    }
                }
            } catch (IOException ignored) {
                // the process ended
            }
            listening.completeExceptionally(new IllegalStateException("the target process ended before listening:\n" + log));
        });
        try {
            return new TargetProcess(p, listening.get(30, TimeUnit.SECONDS));
        } catch (Exception e) {
            p.destroyForcibly();
            throw new IOException("target process did not start: " + e.getMessage(), e);
        }
    }

    int port() {
        return port;
    }

    /** SIGKILL, and wait for the process to be gone. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            try {
                process.getOutputStream().close();
            } catch (IOException ignored) {
                // gone already
            }
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        Path file = Path.of(args[0]);
        long size = Long.parseLong(args[1]);
        NvmeTcpTarget target = NvmeTcpTarget.builder().port(Integer.parseInt(args[4])).eventLoopThreads(1)
                .shutdownTimeout(Duration.ofSeconds(1))
                .subsystem(Subsystem.builder(args[2]).allowHost(args[3]).namespace(Namespace.openFile(file, size, 4096, false)).build())
                .build();
        InetSocketAddress at = target.start();
        System.out.println("LISTENING " + at.getPort());
        System.out.flush();
        while (System.in.read() >= 0) {
            // until the parent closes our input or dies
        }
        target.close();
    }
}
