package io.thermocline.it.loader;

import io.thermocline.tier.testkit.ChildProcesses;
import io.thermocline.tier.testkit.ScaledTimeout;
import io.thermocline.tier.testkit.TestTimeouts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.thermocline.cli.ThermoclineCommand;
import io.thermocline.tier.s3.EmbeddedS3Server;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The open world end to end, with the real Python loader: a model written by Python's
 * {@code safetensors.numpy.save_file} and uploaded with {@code boto3} (no Thermocline code writes
 * the objects) is staged by {@code thermocline prestage --to local --print-path}, and Python's
 * {@code safe_open(path, framework="np")} loads every tensor from the plain files, equal to the
 * original; then the faults: a shard evicted while Python has it mapped, a staged file overwritten
 * behind the engine's back, and an object replaced in S3 after it was staged.
 *
 * <p>Skipped, saying why, where the Python environment (python3, venv, pip and the pinned packages
 * of {@code python/requirements.txt}) cannot be made.
 */
@ScaledTimeout(value = 15, unit = TimeUnit.MINUTES)
class PythonLoaderTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PREFIX = "llm/";
    private static final String SHARD1 = "model-00001-of-00003.safetensors";
    private static final String SHARD2 = "model-00002-of-00003.safetensors";
    private static final String SHARD3 = "model-00003-of-00003.safetensors";

    private static PythonEnv.Outcome python;
    private static EmbeddedS3Server server;

    @TempDir
    Path dir;

    @RegisterExtension
    final ChildProcesses processes = new ChildProcesses();

    @BeforeAll
    static void setUp(@TempDir Path serverDir) {
        python = PythonEnv.make();
        if (python.env() != null) {
            server = EmbeddedS3Server.start(serverDir.resolve("s3"));
        }
    }

    @AfterAll
    static void tearDown() {
        if (server != null) {
            server.close();
        }
    }

    private LoaderChildren children() {
        return new LoaderChildren(dir, () -> server, () -> python.env(), processes);
    }

    private LoaderChildren.Run thermocline(String... args) throws Exception {
        return children().thermocline(args);
    }

    private LoaderChildren.Run py(String... args) throws Exception {
        return children().py(args);
    }

    private Path config(String bucket) throws IOException {
        Path file = dir.resolve("thermocline.yaml");
        Files.writeString(file, """
                data-root: root
                region: {path: region, max-objects: 4096}
                stager: {planner-interval: 1h, drain-grace: 10ms}
                ownership: {check-interval: 100ms, request-timeout: 30s}
                tiers:
                  - {name: local, type: local, path: local, capacity: 256MiB}
                  - {name: s3, type: s3, bucket: %s, prefix: tc/, endpoint: "%s", max-attempts: 2, request-deadline: 30s}
                """.formatted(bucket, server.endpoint()));
        return file;
    }

    private static Path stagedPath(LoaderChildren.Run r) {
        assertEquals(0, r.code(), r.err());
        assertEquals(1, r.out().lines().count(), "only the path on stdout: " + r.out());
        return Path.of(r.out().strip());
    }

    @Test
    void aModelThatBoto3Uploaded_isStagedAsPlainFiles_thatSafetensorsLoads_andSurvivesTheFaults() throws Exception {
        Assumptions.assumeTrue(python.env() != null, "skipped: " + python.unavailable());
        String bucket = "loader";
        server.createBucket(bucket);
        String c = config(bucket).toString();
        Path original = dir.resolve("original");
        LoaderChildren.Run wrote = py("write", original.toString(), "--shard-mib", "6"); // shard 1 above boto3's multipart threshold
        assertEquals(0, wrote.code(), wrote.out() + wrote.err());
        LoaderChildren.Run up = py("upload", original.toString(), server.endpoint().toString(), bucket, "tc/" + PREFIX);
        assertEquals(0, up.code(), up.out() + up.err());
        String src = "s3://" + bucket + "/tc/" + PREFIX;

        // prestage, then Python loads every tensor from the directory it printed
        Path model = stagedPath(thermocline("prestage", src, "--to", "local", "--config", c, "--print-path"));
        for (String f : List.of(SHARD1, SHARD2, SHARD3, "model.safetensors.index.json", "config.json", "tokenizer.json")) {
            assertTrue(Files.isRegularFile(model.resolve(f)), f + " is a plain file in " + model);
            assertEquals(Files.size(original.resolve(f)), Files.size(model.resolve(f)), f);
        }
        LoaderChildren.Run loaded = py("check", model.toString(), original.toString());
        assertEquals(0, loaded.code(), loaded.out() + loaded.err());
        assertThat(loaded.out()).contains("OK 21 tensors in 3 shards equal").contains("TinyForCausalLM");
        LoaderChildren.Run path = thermocline("path", src, "--config", c);
        assertEquals(model.toString(), stagedPath(path).toString());
        LoaderChildren.Run json = thermocline("prestage", src, "--to", "local", "--config", c, "--json");
        assertEquals(0, json.code(), json.err());
        assertEquals(model.toString(), json.json().get("path").asText());
        assertEquals(0, json.json().get("staged").asInt(), "everything was there already");

        // 1. a shard evicted while Python has it mapped: Python keeps reading it
        LoaderChildren children = children();
        Process holder = children.builder(children.pyCommand("hold", model.toString(), SHARD1, original.toString()))
                .redirectErrorStream(true).start();
        processes.add(holder);
        BufferedReader holderOut = new BufferedReader(new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
        assertEquals("MAPPED", holderOut.readLine(), "the holder maps the shard");
        LoaderChildren.Run evict = thermocline("evict", PREFIX + SHARD1, "--tier", "local", "--config", c);
        assertEquals(0, evict.code(), evict.err());
        assertFalse(Files.exists(model.resolve(SHARD1)), "the evicted shard's file is gone from the directory");
        try (OutputStream in = holder.getOutputStream()) {
            in.write('\n');
        }
        String held = holderOut.readLine();
        assertTrue(holder.waitFor(TestTimeouts.seconds(120).toMillis(), TimeUnit.MILLISECONDS), "the holder finishes");
        assertEquals(0, holder.exitValue(), String.valueOf(held));
        assertThat(held).isEqualTo("OK read 7 tensors after the file was unlinked");
        LoaderChildren.Run afterEvict = thermocline("path", src, "--config", c);
        assertEquals(1, afterEvict.code());
        assertThat(afterEvict.err()).contains(PREFIX + SHARD1 + ": not on local");

        // 2. a staged file overwritten behind the engine's back is detected: not counted as there
        Path f2 = model.resolve(SHARD2);
        assertEquals("r--r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(f2)), "staged files are read-only");
        Files.setPosixFilePermissions(f2, PosixFilePermissions.fromString("rw-r--r--"));
        byte[] bytes = Files.readAllBytes(f2);
        bytes[bytes.length - 1] ^= 0x55;
        Files.write(f2, bytes);
        LoaderChildren.Run afterOverwrite = thermocline("path", src, "--config", c, "--json");
        assertEquals(1, afterOverwrite.code());
        assertThat(afterOverwrite.json().get("missing").findValuesAsText("key")).contains(PREFIX + SHARD2);
        // the catalog still lists the changed copy on local; evicting it drops it so that it is staged again
        assertEquals(0, thermocline("evict", PREFIX + SHARD2, "--tier", "local", "--config", c).code());

        // 3. an object replaced in S3 by another tool after it was staged: stale, and the next prestage restages it
        Path other = dir.resolve("other");
        assertEquals(0, py("write", other.toString(), "--shard-mib", "2").code()); // other random tensors, same names and shapes in shard 3
        LoaderChildren.Run replaced = py("put", other.resolve(SHARD3).toString(), server.endpoint().toString(), bucket, "tc/" + PREFIX + SHARD3);
        assertEquals(0, replaced.code(), replaced.out() + replaced.err());
        Path expected = Files.createDirectories(dir.resolve("expected"));
        try (var files = Files.list(original)) {
            for (Path f : files.toList()) {
                Files.copy(f, expected.resolve(f.getFileName()));
            }
        }
        Files.copy(other.resolve(SHARD3), expected.resolve(SHARD3), StandardCopyOption.REPLACE_EXISTING);
        LoaderChildren.Run restage = thermocline("prestage", src, "--to", "local", "--config", c, "--json");
        assertEquals(0, restage.code(), restage.out() + restage.err());
        List<String> restaged = new ArrayList<>();
        for (JsonNode o : restage.json().get("objects")) {
            if (o.get("result").asText().equals("staged")) {
                restaged.add(o.get("key").asText());
            }
        }
        assertThat(restaged).containsExactlyInAnyOrder(PREFIX + SHARD1, PREFIX + SHARD2, PREFIX + SHARD3);
        assertEquals(model.toString(), restage.json().get("path").asText());
        LoaderChildren.Run reloaded = py("check", model.toString(), expected.toString());
        assertEquals(0, reloaded.code(), reloaded.out() + reloaded.err());
        assertThat(reloaded.out()).contains("OK 21 tensors in 3 shards equal");
        assertEquals(model.toString(), stagedPath(thermocline("path", src, "--config", c)).toString());
    }
}
