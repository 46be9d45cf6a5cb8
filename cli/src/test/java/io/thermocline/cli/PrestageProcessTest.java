package io.thermocline.cli;

import io.thermocline.tier.testkit.ChildProcesses;
import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.thermocline.engine.EngineConfigLoader;
import io.thermocline.engine.TierEngine;
import io.thermocline.nvmeof.fault.TcpFaultProxy;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.s3.S3Tier;
import io.thermocline.tier.s3.S3TierConfig;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

/**
 * {@code thermocline prestage} and the engine commands run as separate processes (the way a user
 * runs them) against the embedded S3 server, a local tier and a file-backed fabric tier: an
 * interrupted prestage resumed, {@code --json} parsed, exit codes, and bad input.
 */
@ScaledTimeout(value = 5, unit = TimeUnit.MINUTES)
class PrestageProcessTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MIB = 1 << 20;
    private static final String HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000c1e01";

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

    /** A result of one process. */
    record Run(int code, String out, String err) {
        JsonNode json() throws IOException {
            return JSON.readTree(out);
        }
    }

    private Path config(String extra) throws IOException {
        return config(extra, "1GiB", server.endpoint().toString());
    }

    private Path config(String extra, String localCapacity, String endpoint) throws IOException {
        if (bucket == null) {
            bucket = "cli-" + buckets++;
            server.createBucket(bucket);
        }
        Path file = dir.resolve("thermocline.yaml");
        Files.writeString(file, """
                data-root: root
                region: {path: region, max-objects: 4096}
                stager: {planner-interval: 1h, drain-grace: 10ms}
                ownership: {check-interval: 100ms, request-timeout: 30s}
                tiers:
                  - {name: local, type: local, path: local, capacity: %s}
                  - {name: fabric, type: block, file: fabric.img, capacity: 512MiB, host-nqn: "%s"}
                  - {name: s3, type: s3, bucket: %s, prefix: tc/, endpoint: "%s", max-attempts: 2, request-deadline: 10s}
                %s""".formatted(localCapacity, HOST_NQN, bucket, endpoint, extra));
        return file;
    }

    private ProcessBuilder command(String... args) {
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
        return pb;
    }

    private Run run(String... args) throws Exception {
        Process p = command(args).start();
        processes.add(p);
        CompletableFuture<String> out = ChildProcesses.readAll(p.getInputStream());
        CompletableFuture<String> err = ChildProcesses.readAll(p.getErrorStream());
        assertTrue(p.waitFor(3, TimeUnit.MINUTES), "thermocline " + String.join(" ", args) + " did not finish");
        Run r = new Run(p.exitValue(), out.join(), err.join());
        System.out.println("$ thermocline " + String.join(" ", args) + "\n" + r.out() + r.err() + "exit " + r.code());
        return r;
    }


    /** Writes random shards and an index straight into the bucket, as another tool would; returns the shard names. */
    private List<String> uploadModel(String prefix, int shards, long shardSize) throws Exception {
        S3TierConfig c = S3TierConfig.builder(bucket).prefix("tc/").endpoint(server.endpoint())
                .credentials(StaticCredentialsProvider.create(AwsBasicCredentials.create(server.accessKey(), server.secretKey()))).build();
        List<String> names = new ArrayList<>();
        StringBuilder map = new StringBuilder();
        Random random = new Random(shards);
        try (S3Tier tier = S3Tier.open(c)) {
            for (int i = 1; i <= shards; i++) {
                String name = String.format("model-%05d-of-%05d.safetensors", i, shards);
                names.add(name);
                long size = shardSize + i * 4097L;
                try (ObjectWriter w = tier.create(WriteRequest.of(ObjectKey.of(prefix + name), size)).join()) {
                    byte[] chunk = new byte[(int) MIB];
                    for (long off = 0; off < size; off += chunk.length) {
                        random.nextBytes(chunk);
                        w.write(off, ByteBuffer.wrap(chunk, 0, (int) Math.min(chunk.length, size - off))).join();
                    }
                    w.commit().join();
                }
                map.append(map.isEmpty() ? "" : ",").append("\"layer").append(i).append(".weight\":\"").append(name).append('"');
            }
            byte[] index = ("{\"metadata\":{\"total_size\":1},\"weight_map\":{" + map + "}}").getBytes(StandardCharsets.UTF_8);
            try (ObjectWriter w = tier.create(WriteRequest.of(ObjectKey.of(prefix + PrestageCommand.INDEX_NAME), index.length)).join()) {
                w.write(0, ByteBuffer.wrap(index)).join();
                w.commit().join();
            }
            tier.create(WriteRequest.of(ObjectKey.of(prefix + "README.md"), 2)).thenCompose(w -> w.write(0, ByteBuffer.wrap("hi".getBytes()))
                    .thenCompose(v -> w.commit())).join();
        }
        return names;
    }

    private static final Pattern PROGRESS = Pattern.compile("prestage ([0-9.]+) MiB /");

    /**
     * Reads a running prestage's stderr (echoing it) until a progress line reports at least
     * {@code mib} MiB done; returns the reader, positioned after that line.
     */
    private static BufferedReader awaitProgress(Process p, double mib) throws IOException {
        BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = err.readLine()) != null) {
            System.out.println("prestage under test: " + line);
            Matcher m = PROGRESS.matcher(line);
            if (m.find() && Double.parseDouble(m.group(1)) >= mib) {
                return err;
            }
        }
        throw new AssertionError("the prestage ended before it printed progress of " + mib + " MiB");
    }

    private long tmpFilesOfLocalTier() throws IOException {
        Path tmp = dir.resolve("local").resolve("tmp");
        if (!Files.isDirectory(tmp)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(tmp)) {
            return s.count();
        }
    }

    @Test
    void prestage_killedMidway_resumesWithoutRefetchingVerifiedChunks_andJsonSaysDone() throws Exception {
        Path conf = config("");
        List<String> shards = uploadModel("llama/", 3, 40 * MIB);
        String src = "s3://" + bucket + "/tc/llama/";

        Run dry = run("prestage", src, "--to", "local", "--config", conf.toString(), "--dry-run", "--json");
        assertEquals(0, dry.code(), dry.err());
        JsonNode plan = dry.json();
        assertEquals(5, plan.get("objects").size(), "the index, its three shards and README.md: a prefix is staged whole");
        for (JsonNode o : plan.get("objects")) {
            assertEquals("would stage", o.get("result").asText());
        }

        // slow the copies into local down so that the process can be killed in the middle
        Process p = command("prestage", src, "--to", "local", "--config", conf.toString(), "--parallel", "3",
                "--set", "tiers.local.bandwidth=12MiB", "--progress-interval", "100ms").start();
        processes.add(p);
        ChildProcesses.readAll(p.getInputStream());
        try (BufferedReader err = awaitProgress(p, 30)) {
            p.destroyForcibly(); // kill -9: no shutdown hook, no cleanup
        }
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        try (Stream<Path> kept = Files.list(dir.resolve("root").resolve("resume"))) {
            assertThat(kept.count()).as("cut-off copies left their verified chunks").isGreaterThan(0);
        }

        Run resumed = run("prestage", src, "--to", "local", "--config", conf.toString(), "--json", "--verbose");
        assertEquals(0, resumed.code(), resumed.err());
        JsonNode result = resumed.json();
        assertEquals(0, result.get("failed").asInt());
        assertEquals(5, result.get("staged").asInt() + result.get("already").asInt(), "the index, its three shards and README.md");
        assertEquals(0, result.get("exit_code").asInt());
        Matcher reused = Pattern.compile("took (\\d+) of (\\d+) chunks from a cut-off earlier copy").matcher(resumed.err());
        int chunks = 0;
        while (reused.find()) {
            chunks += Integer.parseInt(reused.group(1));
        }
        assertThat(chunks).as("chunks taken from the interrupted run instead of S3").isGreaterThan(0);

        Run ls = run("ls", "llama/", "--config", conf.toString(), "--json");
        assertEquals(0, ls.code(), ls.err());
        assertEquals(5, ls.json().size(), "the index, its three shards and README.md");
        for (JsonNode o : ls.json()) {
            assertThat(o.get("tiers").toString()).contains("\"local\"").contains("\"s3\"");
            assertEquals("READY", o.get("state").asText());
        }
        Run verify = run("prestage", src, "--to", "local", "--config", conf.toString(), "--verify");
        assertEquals(0, verify.code(), verify.err());
        assertThat(verify.out()).contains("0 staged, 5 already on local, 0 failed").contains("ok (local)");
        assertThat(shards).hasSize(3);
        assertEquals(0, tmpFilesOfLocalTier());
        try (Stream<Path> kept = Files.list(dir.resolve("root").resolve("resume"))) {
            assertEquals(0, kept.count(), "kept chunks are deleted once their copies commit");
        }
    }

    @Test
    void prestage_terminated_stopsWithinSeconds_keepsVerifiedChunks_andTheRerunFinishes() throws Exception {
        Path conf = config("");
        uploadModel("term/", 2, 40 * MIB);
        String src = "s3://" + bucket + "/tc/term/";
        // the bandwidth limit comes from the environment, as THERMOCLINE_* variables override the file
        ProcessBuilder pb = command("prestage", src, "--to", "local", "--config", conf.toString(), "--progress-interval", "100ms");
        pb.environment().put("THERMOCLINE_TIERS_LOCAL_BANDWIDTH", "10MiB");
        Process p = pb.start();
        processes.add(p);
        ChildProcesses.readAll(p.getInputStream());
        StringBuilder err = new StringBuilder();
        BufferedReader lines = awaitProgress(p, 20);
        String line;
        long t0 = System.nanoTime();
        p.toHandle().destroy(); // SIGTERM (unlike Process.destroy, this leaves our ends of the pipes open)
        assertTrue(p.waitFor(20, TimeUnit.SECONDS), "prestage stopped after SIGTERM");
        double seconds = (System.nanoTime() - t0) / 1e9;
        while ((line = lines.readLine()) != null) {
            err.append(line).append('\n');
        }
        assertThat(err.toString()).contains("interrupted").contains("run the same command again");
        assertThat(seconds).as("copies stop at a chunk boundary instead of running to their end (60+ MiB left at 10 MiB/s)")
                .isLessThan(5.0);
        assertEquals(0, tmpFilesOfLocalTier(), "the abandoned copies left no temporary object files");
        try (Stream<Path> kept = Files.list(dir.resolve("root").resolve("resume"))) {
            assertThat(kept.count()).isGreaterThan(0);
        }
        Run resumed = run("prestage", src, "--to", "local", "--config", conf.toString(), "--verbose");
        assertEquals(0, resumed.code(), resumed.err());
        assertThat(resumed.err()).contains("chunks from a cut-off earlier copy");
        assertThat(resumed.out()).contains("0 failed");
    }

    @Test
    void engineCommands_printTextAndJson_andPinUnpinEvict() throws Exception {
        Path conf = config("");
        uploadModel("m/", 2, 3 * MIB);
        String c = conf.toString();
        assertEquals(0, run("prestage", "s3://" + bucket + "/tc/m/model.safetensors.index.json", "--to", "fabric", "--config", c,
                "--pin", "2h").code());
        String key = "m/model-00001-of-00002.safetensors";
        Run stat = run("stat", key, "--config", c, "--json");
        assertEquals(0, stat.code(), stat.err());
        assertThat(stat.json().get("tiers").toString()).contains("fabric");
        assertThat(stat.json().get("pinned_until").asText()).isNotEqualTo("null");
        Run tiers = run("tiers", "--config", c, "--json");
        assertEquals(0, tiers.code(), tiers.err());
        assertEquals(List.of("local", "fabric", "s3"), tiers.json().findValuesAsText("name"));
        assertEquals(3, tiers.json().get(1).get("objects").asInt());
        assertThat(run("tiers", "--config", c).out()).contains("CAPACITY").contains("fabric");
        Run heat = run("heat", "--config", c, "--top", "1", "--json");
        assertEquals(1, heat.json().size());
        assertEquals(0, run("unpin", key, "--config", c).code());
        assertEquals("null", run("stat", key, "--config", c, "--json").json().get("pinned_until").toString());
        assertEquals(0, run("pin", key, "--for", "30m", "--config", c).code());
        Run refused = run("evict", key, "--tier", "fabric", "--config", c, "--json");
        assertEquals(1, refused.code(), "a pinned object is not evicted");
        assertEquals(false, refused.json().get("ok").asBoolean());
        assertEquals(0, run("unpin", key, "--config", c).code());
        Run evicted = run("evict", key, "--tier", "fabric", "--config", c, "--json");
        assertEquals(0, evicted.code(), evicted.out() + evicted.err());
        assertThat(evicted.json().get("status").get("tiers").toString()).doesNotContain("fabric");
        Run missing = run("stat", "m/nope", "--config", c);
        assertEquals(1, missing.code());
        assertThat(missing.err()).contains("m/nope").doesNotContain("\tat ");
    }

    @Test
    void prestage_attachesToARunningOwner_andItsRequestsGoThroughTheRegion() throws Exception {
        Path conf = config("");
        uploadModel("att/", 2, 2 * MIB);
        System.setProperty("aws.accessKeyId", server.accessKey());
        System.setProperty("aws.secretAccessKey", server.secretKey());
        try (TierEngine owner = TierEngine.open(EngineConfigLoader.load(conf))) {
            assertTrue(owner.isOwner());
            Run r = run("prestage", "s3://" + bucket + "/tc/att/", "--to", "local", "--config", conf.toString());
            assertEquals(0, r.code(), r.err());
            assertThat(r.out()).contains("attached to the owner");
            assertEquals(List.of("local", "s3"), owner.stat(ObjectKey.of("att/model-00002-of-00002.safetensors")).join().orElseThrow().tiers());
        } finally {
            System.clearProperty("aws.accessKeyId");
            System.clearProperty("aws.secretAccessKey");
        }
    }

    @Test
    void badInput_givesAClearMessage_theRightExitCode_andNoPartialObject() throws Exception {
        Path conf = config("");
        String c = conf.toString();
        // an unknown key
        Path typo = dir.resolve("typo.yaml");
        Files.writeString(typo, Files.readString(conf) + "stagger: {parallel-chunks: 2}\n");
        Run r = run("tiers", "--config", typo.toString());
        assertEquals(2, r.code());
        assertThat(r.err()).contains("stagger").contains("expected: a known key").doesNotContain("\tat ");
        r = run("ls", "--config", c, "--set", "stager.parallel-chunks=lots");
        assertEquals(2, r.code());
        assertThat(r.err()).contains("stager.parallel-chunks: 'lots' (expected: an integer in 1..256)");

        // bad URIs and sources
        r = run("prestage", "ftp://host/models/", "--to", "local", "--config", c);
        assertEquals(2, r.code());
        assertThat(r.err()).contains("ftp://host/models/").contains("expected: s3://BUCKET/PREFIX");
        r = run("prestage", "s3://Bad_Bucket/x/", "--to", "local", "--config", c);
        assertEquals(2, r.code());
        assertThat(r.err()).contains("Bad_Bucket");
        r = run("prestage", "s3://other-bucket/tc/x/", "--to", "local", "--config", c);
        assertEquals(2, r.code());
        assertThat(r.err()).contains("other-bucket").contains(bucket);
        r = run("prestage", "s3://" + bucket + "/tc/x/", "--to", "nvme", "--config", c);
        assertEquals(2, r.code());
        assertThat(r.err()).contains("--to: 'nvme'");

        // a malformed index: nothing is put
        Path model = Files.createDirectories(dir.resolve("broken"));
        Files.write(model.resolve("model-00001-of-00001.safetensors"), new byte[300_000]);
        Files.writeString(model.resolve(PrestageCommand.INDEX_NAME), "{\"weight_map\": {\"a\": \"model-00001-of-00001.safetensors\",}");
        r = run("prestage", model.toString(), "--to", "local", "--config", c);
        assertEquals(2, r.code());
        assertThat(r.err()).contains(PrestageCommand.INDEX_NAME).contains("not valid JSON").contains("line 1");
        Run ls = run("ls", "--config", c, "--json");
        assertEquals(0, ls.json().size(), "nothing was staged");

        // a full tier: the object does not fit, and no partial object is left on it
        Path small = config("", "8MiB", server.endpoint().toString());
        uploadModel("big/", 1, 12 * MIB);
        r = run("prestage", "s3://" + bucket + "/tc/big/", "--to", "local", "--config", small.toString(), "--json");
        assertEquals(1, r.code(), r.err());
        JsonNode failed = null;
        for (JsonNode o : r.json().get("objects")) {
            if (o.get("key").asText().endsWith(".safetensors")) {
                failed = o;
            }
        }
        assertEquals("failed", failed.get("result").asText());
        assertThat(failed.get("reason").asText()).containsIgnoringCase("local").contains("evict");
        assertThat(failed.get("tiers").toString()).doesNotContain("local");
        assertEquals(0, tmpFilesOfLocalTier(), "the cut-off write left nothing in the tier's tmp/");
        Run st = run("stat", "big/model-00001-of-00001.safetensors", "--config", small.toString(), "--json");
        assertThat(st.json().get("tiers").toString()).doesNotContain("local");

        // an unreachable endpoint: the backing tier cannot be opened
        Path unreachable = dir.resolve("unreachable.yaml");
        Files.writeString(unreachable, Files.readString(conf).replace(server.endpoint().toString(), "http://127.0.0.1:9"));
        r = run("prestage", "s3://" + bucket + "/tc/big/", "--to", "local", "--config", unreachable.toString());
        assertEquals(3, r.code(), r.out() + r.err());
        assertThat(r.err()).contains("s3").contains("127.0.0.1:9").doesNotContain("\tat ");
        r = run("tiers", "--config", unreachable.toString());
        assertEquals(3, r.code(), r.out() + r.err());
    }

    @Test
    void prestage_theBackingTierLostWhileStaging_exits3_keepsWhatWasStaged_andTheRerunFinishes() throws Exception {
        // the CLI reaches S3 through a proxy that the test cuts in the middle of the copies
        try (TcpFaultProxy proxy = TcpFaultProxy.start(new InetSocketAddress("127.0.0.1", server.endpoint().getPort()))) {
            Path conf = config("", "1GiB", "http://127.0.0.1:" + proxy.port());
            uploadModel("outage/", 2, 30 * MIB);
            String src = "s3://" + bucket + "/tc/outage/";
            Process p = command("prestage", src, "--to", "local", "--config", conf.toString(), "--parallel", "2", "--json",
                    "--set", "tiers.local.bandwidth=12MiB", "--progress-interval", "100ms").start();
            processes.add(p);
            CompletableFuture<String> out = ChildProcesses.readAll(p.getInputStream());
            StringBuilder err = new StringBuilder();
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
                String line;
                boolean cut = false;
                while ((line = lines.readLine()) != null) {
                    err.append(line).append('\n');
                    Matcher m = PROGRESS.matcher(line);
                    if (!cut && m.find() && Double.parseDouble(m.group(1)) >= 8) {
                        proxy.refuse(true); // S3 goes away: open connections reset, new ones refused
                        proxy.reset();
                        cut = true;
                    }
                }
                assertTrue(cut, "the prestage printed progress before it ended:\n" + err);
            }
            assertTrue(p.waitFor(2, TimeUnit.MINUTES));
            Run r = new Run(p.exitValue(), out.join(), err.toString());
            System.out.println("$ thermocline prestage (S3 cut midway)\n" + r.out() + r.err() + "exit " + r.code());
            assertEquals(3, r.code(), "a tier lost while staging is exit 3");
            JsonNode result = r.json();
            assertEquals(3, result.get("exit_code").asInt());
            assertThat(result.get("failed").asInt()).isGreaterThan(0);
            assertThat(r.err()).doesNotContain("\tat ");
            assertEquals(0, tmpFilesOfLocalTier(), "the cut-off copies left no temporary object files");

            proxy.heal();
            Run again = run("prestage", src, "--to", "local", "--config", conf.toString(), "--json");
            assertEquals(0, again.code(), again.err());
            assertEquals(0, again.json().get("failed").asInt());
            assertEquals(4, again.json().get("staged").asInt() + again.json().get("already").asInt(), "the index, its two shards and README.md");
        }
    }

    private long putRecords() throws IOException {
        Path resume = dir.resolve("root").resolve("resume");
        if (!Files.isDirectory(resume)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(resume)) {
            return s.filter(f -> f.toString().endsWith(".put")).count();
        }
    }

    @Test
    void prestage_ofADirectory_killedMidway_resumesThePutsFromWhatTheTiersKept() throws Exception {
        // the puts write through to S3, reached through a proxy that slows them down so that the process can be
        // killed in the middle
        try (TcpFaultProxy proxy = TcpFaultProxy.start(new InetSocketAddress("127.0.0.1", server.endpoint().getPort()))) {
            Path conf = config("", "1GiB", "http://127.0.0.1:" + proxy.port());
            Path model = Files.createDirectories(dir.resolve("mistral"));
            Random random = new Random(11);
            StringBuilder map = new StringBuilder();
            for (int i = 1; i <= 2; i++) {
                byte[] shard = new byte[(int) (40 * MIB) + i * 4097];
                random.nextBytes(shard);
                Files.write(model.resolve("shard-" + i + ".safetensors"), shard);
                map.append(i == 1 ? "" : ",").append("\"w").append(i).append("\":\"shard-").append(i).append(".safetensors\"");
            }
            Files.writeString(model.resolve(PrestageCommand.INDEX_NAME), "{\"weight_map\":{" + map + "}}");
            proxy.throttle(12 * MIB);
            Process p = command("prestage", model.toString(), "--to", "local", "--config", conf.toString(),
                    "--progress-interval", "100ms", "--verbose").start();
            processes.add(p);
            ChildProcesses.readAll(p.getInputStream());
            try (BufferedReader err = awaitProgress(p, 40)) {
                ChildProcesses.readAll(p.getErrorStream());
                // the uploads at 12 MiB/s take seconds: kill once the puts have checkpointed, before they commit
                long deadline = System.nanoTime() + TestTimeouts.seconds(20).toNanos();
                while (putRecords() < 2 && p.isAlive() && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
            }
            p.destroyForcibly(); // kill -9: no shutdown hook, no cleanup
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            assertThat(putRecords()).as("the cut-off puts left records of their checkpoints").isGreaterThan(0);

            proxy.heal();
            Run resumed = run("prestage", model.toString(), "--to", "local", "--config", conf.toString(), "--json", "--verbose");
            assertEquals(0, resumed.code(), resumed.err());
            assertEquals(0, resumed.json().get("failed").asInt());
            Matcher held = Pattern.compile("bytes already held by tier: [^\\n]*local (\\d+)").matcher(resumed.err());
            long local = 0;
            while (held.find()) {
                local += Long.parseLong(held.group(1));
            }
            assertThat(local).as("bytes the local tier kept from the killed run instead of writing them again").isGreaterThan(0);

            Run verify = run("prestage", model.toString(), "--to", "local", "--config", conf.toString(), "--verify", "--json");
            assertEquals(0, verify.code(), verify.err());
            assertEquals(3, verify.json().get("already").asInt());
            for (JsonNode o : verify.json().get("objects")) {
                assertThat(o.get("tiers").toString()).contains("\"local\"").contains("\"s3\"");
                assertEquals("ok (local)", o.get("verified").asText());
            }
            assertEquals(0, tmpFilesOfLocalTier(), "resume files outlived the commits");
            assertEquals(0, putRecords(), "put records outlived the commits");
        }
    }

    @Test
    void prestage_aDirectory_putsAndStagesTheFilesTheIndexNames() throws Exception {
        Path conf = config("");
        Path model = Files.createDirectories(dir.resolve("tiny"));
        Files.write(model.resolve("a.safetensors"), new byte[2_500_000]);
        Files.write(model.resolve("b.safetensors"), new byte[1_000_000]);
        Files.writeString(model.resolve("notes.txt"), "not a shard");
        Files.writeString(model.resolve(PrestageCommand.INDEX_NAME),
                "{\"weight_map\": {\"x\": \"b.safetensors\", \"y\": \"a.safetensors\"}}");
        Run r = run("prestage", model.toString(), "--to", "fabric", "--order", "size", "--index-only", "--config", conf.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode objects = r.json().get("objects");
        assertEquals(List.of("tiny/a.safetensors", "tiny/b.safetensors", "tiny/" + PrestageCommand.INDEX_NAME),
                objects.findValuesAsText("key"), "largest first");
        for (JsonNode o : objects) {
            assertThat(o.get("tiers").toString()).contains("fabric");
        }
        Run again = run("prestage", model.toString(), "--to", "fabric", "--index-only", "--config", conf.toString(), "--json");
        assertEquals(3, again.json().get("already").asInt());
        // the same key with other bytes of the same size is not taken for the object the engine holds
        byte[] changed = new byte[1_000_000];
        changed[7] = 1;
        Files.write(model.resolve("b.safetensors"), changed);
        Run clash = run("prestage", model.toString(), "--to", "fabric", "--config", conf.toString(), "--json");
        assertEquals(1, clash.code(), clash.err());
        assertEquals(1, clash.json().get("failed").asInt());
        assertThat(clash.out()).contains("other content").contains("choose another --prefix");
    }

    // ---- a model that another tool uploaded

    /** A plain SDK client on the embedded server: what aws s3 sync or boto3 would do, no Thermocline code. */
    private software.amazon.awssdk.services.s3.S3Client plainClient() {
        return software.amazon.awssdk.services.s3.S3Client.builder().endpointOverride(server.endpoint()).forcePathStyle(true)
                .region(software.amazon.awssdk.regions.Region.of(server.region()))
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(server.accessKey(), server.secretKey())))
                .build();
    }

    private static void multipart(software.amazon.awssdk.services.s3.S3Client s3, String bucket, String key, byte[] bytes, int partSize) {
        String id = s3.createMultipartUpload(b -> b.bucket(bucket).key(key)
                .checksumAlgorithm(software.amazon.awssdk.services.s3.model.ChecksumAlgorithm.CRC32_C)).uploadId();
        List<software.amazon.awssdk.services.s3.model.CompletedPart> parts = new ArrayList<>();
        for (int off = 0, n = 1; off < bytes.length; off += partSize, n++) {
            int number = n;
            byte[] part = java.util.Arrays.copyOfRange(bytes, off, Math.min(bytes.length, off + partSize));
            var r = s3.uploadPart(b -> b.bucket(bucket).key(key).uploadId(id).partNumber(number)
                    .checksumAlgorithm(software.amazon.awssdk.services.s3.model.ChecksumAlgorithm.CRC32_C),
                    software.amazon.awssdk.core.sync.RequestBody.fromBytes(part));
            parts.add(software.amazon.awssdk.services.s3.model.CompletedPart.builder().partNumber(number).eTag(r.eTag())
                    .checksumCRC32C(r.checksumCRC32C()).build());
        }
        s3.completeMultipartUpload(b -> b.bucket(bucket).key(key).uploadId(id).multipartUpload(m -> m.parts(parts)));
    }

    private static String crc32cHex(byte[] b) {
        return String.format("%08x", io.thermocline.tier.Crc32c.of(b, 0, b.length));
    }

    @Test
    void aModelAnotherToolUploaded_isStagedWhole_verified_andRestagedWhenAnObjectIsReplaced() throws Exception {
        Path conf = config("");
        String c = conf.toString();
        Random random = new Random(17);
        byte[] shard1 = new byte[(int) (11 * MIB + 3)];
        byte[] shard2 = new byte[(int) (2 * MIB + 5)];
        random.nextBytes(shard1);
        random.nextBytes(shard2);
        byte[] index = ("{\"metadata\":{},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                + "\"b\":\"model-00002-of-00002.safetensors\"}}").getBytes(StandardCharsets.UTF_8);
        Map<String, byte[]> small = Map.of(PrestageCommand.INDEX_NAME, index, "config.json", "{\"model_type\":\"llama\"}".getBytes(),
                "tokenizer.json", "{\"version\":\"1.0\"}".getBytes(), "original/params.json", "{}".getBytes());
        try (var s3 = plainClient()) {
            multipart(s3, bucket, "tc/hf/model-00001-of-00002.safetensors", shard1, 5 * (int) MIB);
            s3.putObject(b -> b.bucket(bucket).key("tc/hf/model-00002-of-00002.safetensors"),
                    software.amazon.awssdk.core.sync.RequestBody.fromBytes(shard2));
            for (var e : small.entrySet()) {
                s3.putObject(b -> b.bucket(bucket).key("tc/hf/" + e.getKey()), software.amazon.awssdk.core.sync.RequestBody.fromBytes(e.getValue()));
            }
        }
        String src = "s3://" + bucket + "/tc/hf/";

        // the selection: whole by default; --index-only; AWS-CLI filters, the last match deciding
        Run whole = run("prestage", src, "--to", "local", "--config", c, "--dry-run", "--json");
        assertEquals(0, whole.code(), whole.err());
        assertEquals(6, whole.json().get("objects").size(), whole.out());
        Run indexOnly = run("prestage", src, "--to", "local", "--config", c, "--dry-run", "--json", "--index-only");
        assertEquals(List.of("hf/" + PrestageCommand.INDEX_NAME, "hf/model-00001-of-00002.safetensors", "hf/model-00002-of-00002.safetensors"),
                indexOnly.json().get("objects").findValuesAsText("key"));
        Run json = run("prestage", src, "--to", "local", "--config", c, "--dry-run", "--json",
                "--exclude", "*", "--include", "*.json", "--exclude", "original/*");
        assertThat(json.json().get("objects").findValuesAsText("key")).containsExactlyInAnyOrder(
                "hf/" + PrestageCommand.INDEX_NAME, "hf/config.json", "hf/tokenizer.json");

        // staged and read back through the engine (--verify), equal to what was uploaded
        Run staged = run("prestage", src, "--to", "local", "--config", c, "--json", "--verify");
        assertEquals(0, staged.code(), staged.err());
        for (JsonNode o : staged.json().get("objects")) {
            assertThat(o.get("tiers").toString()).as(o.toString()).contains("local");
        }
        Run stat = run("stat", "hf/model-00001-of-00002.safetensors", "--config", c, "--json");
        assertEquals(0, stat.code(), stat.err());
        assertEquals(crc32cHex(shard1), stat.json().get("crc32c").asText());
        assertThat(stat.json().get("tiers").toString()).contains("local").contains("s3");

        // another tool replaces a shard: its staged copy is stale, and the next prestage restages it
        byte[] replaced = new byte[(int) (3 * MIB)];
        random.nextBytes(replaced);
        try (var s3 = plainClient()) {
            s3.putObject(b -> b.bucket(bucket).key("tc/hf/model-00002-of-00002.safetensors"),
                    software.amazon.awssdk.core.sync.RequestBody.fromBytes(replaced));
        }
        Run again = run("prestage", src, "--to", "local", "--config", c, "--json", "--verify");
        assertEquals(0, again.code(), again.err());
        for (JsonNode o : again.json().get("objects")) {
            String expected = o.get("key").asText().equals("hf/model-00002-of-00002.safetensors") ? "staged" : "already";
            assertEquals(expected, o.get("result").asText(), o.toString());
        }
        Run after = run("stat", "hf/model-00002-of-00002.safetensors", "--config", c, "--json");
        assertEquals(crc32cHex(replaced), after.json().get("crc32c").asText());
        assertEquals(replaced.length, after.json().get("size").asLong());
        assertThat(after.json().get("tiers").toString()).contains("local");
    }
}
