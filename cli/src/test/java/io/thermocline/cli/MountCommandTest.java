package io.thermocline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.thermocline.engine.EngineConfigLoader;
import io.thermocline.engine.PutOptions;
import io.thermocline.engine.TierEngine;
import io.thermocline.mount.ThermoclineMount;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.testkit.ScaledTimeout;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.ByteArrayInputStream;
import java.io.StringWriter;
import java.nio.channels.Channels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
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
