package io.thermocline.cli;

import io.thermocline.tier.testkit.ChildProcesses;
import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.s3.S3Tier;
import io.thermocline.tier.s3.S3TierConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

/**
 * {@code thermocline path} and {@code prestage --print-path} run as separate processes against the
 * embedded S3 server and a local tier: the path of a staged model, the objects that are not there,
 * and the usage errors.
 */
@ScaledTimeout(value = 5, unit = TimeUnit.MINUTES)
class PathCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000c1e02";

    private static EmbeddedS3Server server;
    private static int buckets;

    @TempDir
    Path dir;

    private String bucket;
    @RegisterExtension
    final ChildProcesses processes = new ChildProcesses();

    @BeforeAll
    static void startServer(@TempDir Path serverDir) {
        server = EmbeddedS3Server.start(serverDir.resolve("s3"));
    }

    @AfterAll
    static void stopServer() {
        if (server != null) {
            server.close();
        }
    }

    record Run(int code, String out, String err) {
        JsonNode json() throws IOException {
            return JSON.readTree(out);
        }
    }

    private Path config() throws IOException {
        bucket = "path-" + buckets++;
        server.createBucket(bucket);
        Path file = dir.resolve("thermocline.yaml");
        Files.writeString(file, """
                data-root: root
                region: {path: region, max-objects: 4096}
                stager: {planner-interval: 1h, drain-grace: 10ms}
                ownership: {check-interval: 100ms, request-timeout: 30s}
                tiers:
                  - {name: local, type: local, path: local, capacity: 256MiB}
                  - {name: fabric, type: block, file: fabric.img, capacity: 64MiB, host-nqn: "%s"}
                  - {name: s3, type: s3, bucket: %s, prefix: tc/, endpoint: "%s", max-attempts: 2, request-deadline: 10s}
                """.formatted(HOST_NQN, bucket, server.endpoint()));
        return file;
    }

    private Run run(String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(ThermoclineCommand.class.getName());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        Map<String, String> env = pb.environment();
        env.keySet().removeIf(k -> k.startsWith("THERMOCLINE_") || k.startsWith("AWS_"));
        env.put("AWS_ACCESS_KEY_ID", server.accessKey());
        env.put("AWS_SECRET_ACCESS_KEY", server.secretKey());
        env.put("HOME", dir.toString());
        Process p = pb.start();
        processes.add(p);
        CompletableFuture<String> out = ChildProcesses.readAll(p.getInputStream());
        CompletableFuture<String> err = ChildProcesses.readAll(p.getErrorStream());
        assertTrue(p.waitFor(3, TimeUnit.MINUTES), "thermocline " + String.join(" ", args) + " did not finish");
        Run r = new Run(p.exitValue(), out.join(), err.join());
        System.out.println("$ thermocline " + String.join(" ", args) + "\n" + r.out() + r.err() + "exit " + r.code());
        return r;
    }


    /** Puts a small model (two shards, an index) into the bucket under tc/PREFIX; returns each key's bytes. */
    private Map<String, byte[]> uploadModel(String prefix) throws Exception {
        S3TierConfig c = S3TierConfig.builder(bucket).prefix("tc/").endpoint(server.endpoint())
                .credentials(StaticCredentialsProvider.create(AwsBasicCredentials.create(server.accessKey(), server.secretKey()))).build();
        Map<String, byte[]> objects = new LinkedHashMap<>();
        Random random = new Random(7);
        for (int i = 1; i <= 2; i++) {
            byte[] b = new byte[1_000_000 + i * 4097];
            random.nextBytes(b);
            objects.put(prefix + "model-0000" + i + "-of-00002.safetensors", b);
        }
        objects.put(prefix + PrestageCommand.INDEX_NAME, ("{\"metadata\":{},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                + "\"b\":\"model-00002-of-00002.safetensors\"}}").getBytes(StandardCharsets.UTF_8));
        try (S3Tier tier = S3Tier.open(c)) {
            for (var e : objects.entrySet()) {
                try (ObjectWriter w = tier.create(WriteRequest.of(ObjectKey.of(e.getKey()), e.getValue().length)).join()) {
                    w.write(0, ByteBuffer.wrap(e.getValue())).join();
                    w.commit().join();
                }
            }
        }
        return objects;
    }

    @Test
    void path_namesWhatIsMissing_thenPrintsTheDirectoryPrestageLeft_whoseFilesHoldExactlyTheObjects() throws Exception {
        String c = config().toString();
        Map<String, byte[]> objects = uploadModel("m/");
        String src = "s3://" + bucket + "/tc/m/";

        Run before = run("path", src, "--config", c);
        assertEquals(1, before.code(), before.err());
        assertEquals("", before.out(), "nothing on stdout while objects are missing");
        assertThat(before.err()).contains("3 of 3 objects").contains("m/model-00001-of-00002.safetensors: not staged")
                .contains("thermocline prestage");

        Run staged = run("prestage", src, "--to", "local", "--config", c, "--print-path");
        assertEquals(0, staged.code(), staged.err());
        assertEquals(1, staged.out().lines().count(), "only the path on stdout: " + staged.out());
        Path model = Path.of(staged.out().strip());
        assertThat(staged.err()).contains("3 staged");
        for (var e : objects.entrySet()) {
            Path f = model.resolve(e.getKey().substring("m/".length()));
            assertArrayEquals(e.getValue(), Files.readAllBytes(f), f.toString());
        }

        for (String source : List.of(src, "m/", "m", "s3://" + bucket + "/tc/m/" + PrestageCommand.INDEX_NAME,
                "m/" + PrestageCommand.INDEX_NAME)) {
            Run p = run("path", source, "--config", c);
            assertEquals(0, p.code(), source + ": " + p.err());
            assertEquals(model.toString(), p.out().strip(), source);
        }
        Run json = run("path", "m/", "--config", c, "--json");
        assertEquals(model.toString(), json.json().get("path").asText());
        assertEquals(3, json.json().get("objects").asInt());
        assertEquals(0, json.json().get("missing").size());
        Run again = run("prestage", src, "--to", "local", "--config", c, "--json");
        assertEquals(0, again.code(), again.err());
        assertEquals(model.toString(), again.json().get("path").asText());
        assertEquals(3, again.json().get("already").asInt());

        // evicted: no longer there
        String shard1 = "m/model-00001-of-00002.safetensors";
        assertEquals(0, run("evict", shard1, "--tier", "local", "--config", c).code());
        Run evicted = run("path", src, "--config", c, "--json");
        assertEquals(1, evicted.code());
        assertThat(evicted.json().get("path").isNull()).isTrue();
        assertEquals(shard1, evicted.json().get("missing").get(0).get("key").asText());
        assertThat(evicted.json().get("missing").get(0).get("reason").asText()).startsWith("not on local");

        // a staged file overwritten behind the engine's back is not counted as there
        String shard2 = "m/model-00002-of-00002.safetensors";
        Path f2 = model.resolve("model-00002-of-00002.safetensors");
        Files.setPosixFilePermissions(f2, PosixFilePermissions.fromString("rw-r--r--"));
        byte[] other = objects.get(shard2).clone();
        other[100] ^= 1;
        Files.write(f2, other);
        Run changed = run("path", src, "--config", c);
        assertEquals(1, changed.code());
        assertThat(changed.err()).contains(shard1).contains(shard2);

        // the engine's catalog still lists the changed copy on local, so prestage would take it as there:
        // evicting it drops that copy, and the next prestage brings both back
        assertEquals(0, run("evict", shard2, "--tier", "local", "--config", c).code());
        Run restaged = run("prestage", src, "--to", "local", "--config", c, "--print-path");
        assertEquals(0, restaged.code(), restaged.err());
        assertEquals(model.toString(), restaged.out().strip());
        assertArrayEquals(objects.get(shard2), Files.readAllBytes(f2));
        assertArrayEquals(objects.get(shard1), Files.readAllBytes(model.resolve("model-00001-of-00002.safetensors")));
    }

    @Test
    void path_andPrintPath_badOptions_areUsageErrorsThatNameTheValue() throws Exception {
        String c = config().toString();
        uploadModel("u/");
        String src = "s3://" + bucket + "/tc/u/";
        Run backing = run("path", src, "--tier", "s3", "--config", c);
        assertEquals(2, backing.code());
        assertThat(backing.err()).contains("--tier: 's3' (expected: one of the fast tiers [local, fabric])");
        Run fabric = run("path", src, "--tier", "fabric", "--config", c);
        assertEquals(2, fabric.code());
        assertThat(fabric.err()).contains("--tier: 'fabric' keeps no plain files");
        Run both = run("prestage", src, "--to", "local", "--config", c, "--print-path", "--json");
        assertEquals(2, both.code());
        assertThat(both.err()).contains("--print-path: with --json");
        Run toFabric = run("prestage", src, "--to", "fabric", "--config", c, "--print-path");
        assertEquals(2, toFabric.code());
        assertThat(toFabric.err()).contains("--print-path: tier fabric keeps no plain files");
        assertEquals("", toFabric.out());
        Run absolute = run("path", "/tmp/x", "--config", c);
        assertEquals(2, absolute.code());
        assertThat(absolute.err()).contains("SOURCE: '/tmp/x'");
        Run help = run("path", "--help");
        assertEquals(0, help.code());
        assertThat(help.out()).contains("--tier").contains("Exit codes: 0").contains("vllm serve");
    }

    @Test
    void commonDirectory_isTheLongestDirectoryAllKeysShare() {
        assertEquals("m", PathCommand.commonDirectory(List.of(ObjectKey.of("m/a"), ObjectKey.of("m/b/c"))));
        assertEquals("m/b", PathCommand.commonDirectory(List.of(ObjectKey.of("m/b/a"), ObjectKey.of("m/b/c"))));
        assertEquals("", PathCommand.commonDirectory(List.of(ObjectKey.of("m/b/a"), ObjectKey.of("mb/c"))));
        assertEquals("m", PathCommand.commonDirectory(List.of(ObjectKey.of("m/b/a"), ObjectKey.of("m/bc/a"))));
        assertEquals("", PathCommand.commonDirectory(List.of(ObjectKey.of("a"))));
    }
}
