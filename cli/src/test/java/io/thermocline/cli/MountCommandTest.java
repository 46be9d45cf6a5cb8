package io.thermocline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.thermocline.engine.EngineConfigLoader;
import io.thermocline.engine.PutOptions;
import io.thermocline.engine.TierEngine;
import io.thermocline.mount.ThermoclineMount;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.testkit.ChildProcesses;
import io.thermocline.tier.testkit.ScaledTimeout;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.ByteArrayInputStream;
import java.io.StringWriter;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code thermocline mount} on a real FUSE mount; skipped, with the reason printed, where FUSE is unavailable. */
@ScaledTimeout(120)
class MountCommandTest {

    @TempDir
    Path dir;
    private Path config;
    private Path mountPoint;
    private final byte[] data = new byte[300_001];

    @BeforeEach
    void engineWithOneObject() throws Exception {
        var unavailable = ThermoclineMount.unavailableReason();
        if (unavailable.isPresent()) {
            System.err.println("SKIPPED: FUSE is unavailable here: " + unavailable.get());
            Assumptions.abort("FUSE is unavailable here: " + unavailable.get());
        }
        config = Files.writeString(dir.resolve("thermocline.yaml"), """
                data-root: %s
                region: {path: region, max-objects: 256}
                stager: {planner-interval: 1h, drain-grace: 10ms}
                tiers:
                  - {name: local, type: local, path: local, capacity: 64MiB}
                  - {name: fabric, type: block, file: fabric.img, capacity: 64MiB}
                """.formatted(dir.resolve("root")));
        new Random(7).nextBytes(data);
        try (TierEngine e = TierEngine.open(EngineConfigLoader.load(config, Map.of()))) {
            e.put(ObjectKey.of("models/m/w.safetensors"), Channels.newChannel(new ByteArrayInputStream(data)), data.length,
                    PutOptions.defaults()).join();
        }
        mountPoint = Files.createDirectory(dir.resolve("mnt"));
    }

    @Test
    void mountsTheEngine_servesItsFiles_andExitsZeroOnceUnmountedFromOutside() throws Exception {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        // its own thread, not the common pool: the command blocks until unmounted
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        Thread command = Thread.ofPlatform().name("thermocline-mount").start(() -> exit.complete(
                CliRun.run(out, err, "mount", mountPoint.toString(), "--config", config.toString())));
        try {
            Path file = mountPoint.resolve("models/m/w.safetensors");
            // the command prints its line once the mount answers, so the line comes last
            TestTimeouts.await("the mount command's 'mounted' line", Duration.ofSeconds(60),
                    () -> out.toString().contains("mounted ") || exit.isDone(), () -> "out: " + out + "\nerr: " + err);
            assertThat(exit.isDone()).as("mount ended early: %s %s", out, err).isFalse();
            assertThat(out.toString()).contains("mounted 1 objects at " + mountPoint);
            assertThat(Arrays.equals(Files.readAllBytes(file), data)).isTrue();

            Process unmount = new ProcessBuilder("fusermount3", "-u", mountPoint.toString()).redirectErrorStream(true).start();
            assertThat(unmount.waitFor(TestTimeouts.millis(30), TimeUnit.MILLISECONDS)).isTrue();
            assertEquals(0, unmount.exitValue(), new String(unmount.getInputStream().readAllBytes()));
            assertEquals(0, exit.get(TestTimeouts.millis(30), TimeUnit.MILLISECONDS), err.toString());
            assertThat(out.toString()).contains("unmounted " + mountPoint);
            try (var left = Files.list(mountPoint)) {
                assertThat(left.toList()).isEmpty();
            }
        } finally {
            if (command.isAlive()) {
                // a failed assertion above: end the mount so that the command returns
                new ProcessBuilder("fusermount3", "-u", "-z", mountPoint.toString()).redirectErrorStream(true).start()
                        .waitFor(TestTimeouts.millis(30), TimeUnit.MILLISECONDS);
                command.join(TestTimeouts.millis(30));
            }
        }
    }

    @org.junit.jupiter.api.extension.RegisterExtension
    final ChildProcesses processes = new ChildProcesses();

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"TERM", "INT"})
    void aSignalToTheCommand_unmountsCleanly_evenWithAFileOpen_andItExitsZero(String signal) throws Exception {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                ThermoclineCommand.class.getName(), "mount", mountPoint.toString(), "--config", config.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("THERMOCLINE_"));
        Process p = processes.add(pb.start());
        StringBuffer out = new StringBuffer();
        Thread reader = Thread.ofVirtual().start(() -> {
            try (var in = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    out.append(line).append('\n');
                }
            } catch (java.io.IOException e) {
                out.append("(").append(e).append(")\n");
            }
        });
        CompletableFuture<String> err = ChildProcesses.readAll(p.getErrorStream());
        TestTimeouts.await("the mount command's 'mounted' line", Duration.ofSeconds(60),
                () -> out.toString().contains("mounted ") || !p.isAlive(), () -> "out: " + out);
        assertThat(p.isAlive()).as("mount ended early: %s", out).isTrue();
        Path file = mountPoint.resolve("models/m/w.safetensors");
        try (var ch = java.nio.channels.FileChannel.open(file)) {
            java.nio.ByteBuffer first = java.nio.ByteBuffer.allocate(4096);
            ch.read(first, 0);
            assertThat(Arrays.equals(first.array(), Arrays.copyOf(data, 4096))).isTrue();
            // the file stays open while the signal arrives
            Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).redirectErrorStream(true).start();
            assertThat(kill.waitFor(TestTimeouts.millis(30), TimeUnit.MILLISECONDS)).isTrue();
            assertThat(p.waitFor(TestTimeouts.millis(60), TimeUnit.MILLISECONDS)).as("mount ended after SIG%s", signal).isTrue();
        }
        reader.join(TestTimeouts.millis(30));
        String log = out + err.get(TestTimeouts.millis(30), TimeUnit.MILLISECONDS);
        assertEquals(0, p.exitValue(), log);
        assertThat(out.toString()).as(log).contains("SIG" + signal + ": unmounting " + mountPoint)
                .contains("unmounted " + mountPoint);
        // with a file still open the unmount is lazy: it leaves the table once the file is closed
        TestTimeouts.await("the mount leaves the mount table", Duration.ofSeconds(30),
                () -> ThermoclineMount.mountTypeAt(mountPoint).isEmpty());
        try (var left = Files.list(mountPoint)) {
            assertThat(left.toList()).isEmpty();
        }
    }

    @Test
    void aMountPointThatIsNoDirectory_isAUsageError() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(2, CliRun.run(out, err, "mount", dir.resolve("nowhere").toString(), "--config", config.toString()));
        assertThat(err.toString()).contains("is not a directory").contains(dir.resolve("nowhere").toString());
    }

    @Test
    void helpTeaches() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        assertEquals(0, CliRun.run(out, err, "mount", "--help"));
        assertThat(out.toString()).contains("MOUNTPOINT").contains("--allow-other").contains("fusermount3 -u")
                .contains("Exit codes");
    }
}
