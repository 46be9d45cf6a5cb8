package io.thermocline.it.loader;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.thermocline.cli.ThermoclineCommand;
import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.testkit.ChildProcesses;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The child processes the loader tests run: the {@code thermocline} command (a JVM on the test's
 * class path) and the Python tool, each in the test's directory, with the embedded S3 server's
 * credentials as {@code AWS_*} and none of the caller's {@code THERMOCLINE_*} or {@code AWS_*}.
 * Every child is registered with {@link ChildProcesses}, so it is stopped when the test ends.
 */
final class LoaderChildren {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;
    private final Supplier<EmbeddedS3Server> server;
    private final ChildProcesses processes;
    private final Supplier<PythonEnv> python;

    /** {@code server} and {@code python} are asked for each child: a test may start them late, or anew. */
    LoaderChildren(Path dir, Supplier<EmbeddedS3Server> server, Supplier<PythonEnv> python, ChildProcesses processes) {
        this.dir = dir;
        this.server = server;
        this.python = python;
        this.processes = processes;
    }

    record Run(int code, String out, String err) {
        JsonNode json() throws IOException {
            return JSON.readTree(out);
        }
    }

    ProcessBuilder builder(List<String> cmd) {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        Map<String, String> env = pb.environment();
        env.keySet().removeIf(k -> k.startsWith("THERMOCLINE_") || k.startsWith("AWS_"));
        EmbeddedS3Server s = server.get();
        env.put("AWS_ACCESS_KEY_ID", s.accessKey());
        env.put("AWS_SECRET_ACCESS_KEY", s.secretKey());
        env.put("AWS_DEFAULT_REGION", "us-east-1");
        env.put("HOME", dir.toString());
        return pb;
    }

    /** Runs {@code cmd} to its end (within a scaled 300 s), printing what it wrote and its exit code. */
    Run exec(List<String> cmd) throws Exception {
        Process p = builder(cmd).start();
        processes.add(p);
        p.getOutputStream().close();
        CompletableFuture<String> out = ChildProcesses.readAll(p.getInputStream());
        CompletableFuture<String> err = ChildProcesses.readAll(p.getErrorStream());
        assertTrue(p.waitFor(TestTimeouts.seconds(300).toMillis(), TimeUnit.MILLISECONDS), String.join(" ", cmd) + " did not finish");
        Run r = new Run(p.exitValue(), out.join(), err.join());
        System.out.println("$ " + String.join(" ", cmd) + "\n" + r.out() + r.err() + "exit " + r.code());
        return r;
    }

    /** The command line of {@code thermocline ARGS}. */
    static List<String> thermoclineCommand(String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED",
                // the test classpath holds two logback-test.xml; logback's note of that would go to stdout
                "-Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener", "-cp",
                System.getProperty("java.class.path"), ThermoclineCommand.class.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    Run thermocline(String... args) throws Exception {
        return exec(thermoclineCommand(args));
    }

    /** The command line of {@code model_tool.py ARGS}. */
    List<String> pyCommand(String... args) {
        List<String> cmd = new ArrayList<>(List.of(python.get().python().toString(), python.get().tool().toString()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    Run py(String... args) throws Exception {
        return exec(pyCommand(args));
    }
}
