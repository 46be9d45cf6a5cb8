package io.thermocline.cli;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.testkit.TestTimeouts;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code thermocline demo} end to end: in this JVM (to look for leftovers) and as a process. */
class DemoCommandTest {

    @TempDir
    Path dir;

    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        CommandLine cl = ThermoclineCommand.newCommandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        return cl.execute(args);
    }

    @Test
    @ScaledTimeout(180)
    void demo_movesTheModelAcrossTiers_andStopsEverythingItStarted() throws Exception {
        Path data = dir.resolve("demo");
        assertEquals(0, run("demo", "--size", "8MiB", "--shards", "4", "--data-dir", data.toString(), "--keep"), err::toString);
        String text = out.toString();
        // every step ran, in order
        assertThat(text).contains("1. Put the model in S3", "2. Prestage the model to the fabric tier", "3. Load the model",
                "4. Serving traffic on 2 of 4 shards", "5. Write a checkpoint back to local", "6. Restore the checkpoint from S3");
        assertThat(text).contains("5 objects staged, 0 already there, 0 failed");
        // the placement the story ends in: hot shards promoted, cold ones still on fabric, the checkpoint only in S3
        assertThat(placementOf(text, "demo-model/model-00001-of-00004.safetensors")).isEqualTo("local,fabric,s3");
        assertThat(placementOf(text, "demo-model/model-00002-of-00004.safetensors")).isEqualTo("local,fabric,s3");
        assertThat(placementOf(text, "demo-model/model-00003-of-00004.safetensors")).isEqualTo("fabric,s3");
        assertThat(placementOf(text, "demo-model/model-00004-of-00004.safetensors")).isEqualTo("fabric,s3");
        assertThat(placementOf(text, "demo-checkpoints/step-000100/model.safetensors")).isEqualTo("s3");
        // timings per tier, each read step from the tier the story says
        assertThat(text).containsPattern("load model +fabric").containsPattern("load hot shards +local")
                .containsPattern("restore checkpoint +s3").containsPattern("checkpoint put \\(write-back\\) +local");
        // --keep kept the tiers' files: the namespace file and the bucket
        assertTrue(Files.size(data.resolve("fabric-namespace.img")) > 0);
        assertThat(data.resolve("s3").resolve(DemoSandbox.BUCKET)).isDirectory();

        // nothing left running: both servers' ports refuse connections, and no server or host threads remain
        assertRefused(port(text, "embedded S3 server at http://127\\.0\\.0\\.1:(\\d+)"));
        assertRefused(port(text, "NVMe/TCP target at 127\\.0\\.0\\.1:(\\d+)"));
        long deadline = System.nanoTime() + TestTimeouts.seconds(10).toNanos();
        List<String> left;
        do {
            left = Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
                    .filter(n -> n.startsWith("S3Proxy") || n.startsWith("nvme-") || n.startsWith("thermocline-")).toList();
            if (!left.isEmpty()) {
                Thread.sleep(100);
            }
        } while (!left.isEmpty() && System.nanoTime() < deadline);
        assertThat(left).as("threads left behind").isEmpty();
    }

    @Test
    @ScaledTimeout(180)
    void demo_asAProcess_withJson_printsThePlacementOnStdout_andRemovesItsTemporaryDirectory() throws Exception {
        Path tmp = Files.createDirectories(dir.resolve("tmp"));
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Djava.io.tmpdir=" + tmp, "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), ThermoclineCommand.class.getName(), "demo", "--size", "4MiB", "--json")
                .start();
        String output;
        String narrative;
        try {
            var stderr = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
                } catch (java.io.IOException e) {
                    return e.toString();
                }
            });
            output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the demo process did not exit");
            narrative = stderr.join();
        } finally {
            p.destroyForcibly();
        }
        assertEquals(0, p.exitValue(), output + narrative);
        // the story goes to stderr, the result to stdout as one JSON object
        assertThat(narrative).contains("Placement", "Timings per tier", "restore checkpoint");
        var result = new com.fasterxml.jackson.databind.ObjectMapper().readTree(output);
        java.util.Map<String, String> placement = new java.util.HashMap<>();
        result.get("objects").forEach(o -> {
            List<String> tiers = new java.util.ArrayList<>();
            o.get("tiers").forEach(t -> tiers.add(t.asText()));
            placement.put(o.get("key").asText(), String.join(",", tiers));
        });
        assertThat(placement).containsEntry("demo-model/model-00001-of-00004.safetensors", "local,fabric,s3")
                .containsEntry("demo-model/model-00004-of-00004.safetensors", "fabric,s3")
                .containsEntry("demo-checkpoints/step-000100/model.safetensors", "s3");
        assertThat(result.get("tiers").size()).isEqualTo(3);
        assertThat(result.get("timings").toString()).contains("\"step\":\"restore checkpoint\"", "\"tier\":\"s3\"");
        assertThat(result.get("kept").asBoolean()).isFalse();
        try (var files = Files.list(tmp)) {
            assertThat(files.filter(f -> f.getFileName().toString().startsWith("thermocline-demo-")).toList())
                    .as("temporary data directory left behind").isEmpty();
        }
    }

    @Test
    void badInput_namesTheOptionAndExitsWithTwo() {
        assertEquals(2, run("demo", "--shards", "0"));
        assertThat(err.toString()).contains("--shards: 0 (expected: 1..1000)");
        assertEquals(2, run("demo", "--size", "1KiB", "--shards", "4"));
        assertThat(err.toString()).contains("--size: 1.0 KiB (expected: 32.0 KiB to 1TiB for 4 shards)");
        assertEquals(2, run("demo", "--size", "lots"));
        assertThat(err.toString()).contains("'lots' is not a size");
    }

    private static String placementOf(String text, String key) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(key) + " +\\S+ \\S+ +\\S+ +(\\S+) +\\d+$").matcher(text);
        assertTrue(m.find(), () -> "no placement row for " + key + " in:\n" + text);
        return m.group(1);
    }

    private static int port(String text, String regex) {
        Matcher m = Pattern.compile(regex).matcher(text);
        assertTrue(m.find(), () -> "no match for " + regex + " in:\n" + text);
        return Integer.parseInt(m.group(1));
    }

    private static void assertRefused(int port) {
        assertThrows(ConnectException.class, () -> {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 2000);
            }
        }, "something still listens on 127.0.0.1:" + port);
    }
}
