package io.thermocline.it.loader;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.thermocline.cli.ThermoclineCommand;
import io.thermocline.mount.ThermoclineMount;
import io.thermocline.nvmeof.block.BlockTier;
import io.thermocline.nvmeof.block.BlockTierConfig;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.testkit.ChildProcesses;
import io.thermocline.tier.testkit.ScaledTimeout;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real Python loader through {@code thermocline mount}: a model that Python's
 * {@code safetensors} wrote and {@code boto3} uploaded is loaded with
 * {@code safe_open(path, framework="np")} from the mount, every tensor equal to the original, three
 * times: with the model only in S3 (never seen by the engine: listed from the bucket, imported on
 * first open), staged on fabric (an NVMe/TCP namespace of an in-process target), and staged on
 * local; the last two with the S3 server stopped, so that their bytes can only come from those
 * tiers. The catalog shows the heat of the reads afterwards.
 *
 * <p>Skipped, saying why, where FUSE or the Python environment is unavailable.
 */
@ScaledTimeout(value = 15, unit = TimeUnit.MINUTES)
class MountLoaderTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String NQN = "nqn.2026-12.io.thermocline.it:mount";
    private static final String HOST_NQN = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-00000000c0de";
    private static final List<String> SHARDS = List.of("model-00001-of-00003.safetensors",
            "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors");

    @TempDir
    Path dir;

    @RegisterExtension
    final ChildProcesses processes = new ChildProcesses();

    private PythonEnv.Outcome python;
    private EmbeddedS3Server server;

    private LoaderChildren children() {
        return new LoaderChildren(dir, () -> server, () -> python.env(), processes);
    }

    private LoaderChildren.Run thermocline(String... args) throws Exception {
        return children().thermocline(args);
    }

    private LoaderChildren.Run py(String... args) throws Exception {
        return children().py(args);
    }

    private static int port(EmbeddedS3Server s) {
        return s.endpoint().getPort();
    }

    @Test
    void safeOpenThroughTheMount_loadsEveryTensor_fromS3_fromFabric_andFromLocal() throws Exception {
        Optional<String> noFuse = ThermoclineMount.unavailableReason();
        Assumptions.assumeTrue(noFuse.isEmpty(), () -> "skipped: FUSE is unavailable here: " + noFuse.orElse(""));
        python = PythonEnv.make();
        Assumptions.assumeTrue(python.env() != null, () -> "skipped: " + python.unavailable());

        long device = BlockTier.deviceSizeFor(64L << 20, BlockTierConfig.DEFAULT_ALLOCATION_UNIT_IN_BYTES, 4096);
        NvmeTcpTarget target = NvmeTcpTarget.builder().bindAddress("127.0.0.1").port(0).eventLoopThreads(1)
                .subsystem(Subsystem.builder(NQN).allowHost(HOST_NQN)
                        .namespace(Namespace.openFile(dir.resolve("ns.img"), device, 4096, false)).build())
                .build();
        server = EmbeddedS3Server.start(dir.resolve("s3"));
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        Process mount = null;
        try (target) {
            int port = target.start().getPort();
            String bucket = "models";
            server.createBucket(bucket);
            Path config = dir.resolve("thermocline.yaml");
            Files.writeString(config, """
                    data-root: root
                    region: {path: region, max-objects: 4096}
                    stager: {planner-interval: 1h, drain-grace: 10ms}
                    ownership: {check-interval: 100ms, request-timeout: 30s}
                    tiers:
                      - {name: local, type: local, path: local, capacity: 64MiB}
                      - {name: fabric, type: block, transport: tcp, traddr: 127.0.0.1, trsvcid: %d, nqn: "%s", hostnqn: "%s",
                         nr-io-queues: 2, queue-size: 32, keep-alive-tmo: 5, ctrl-loss-tmo: 5, capacity: 64MiB}
                      - {name: s3, type: s3, bucket: %s, prefix: tc/, endpoint: "%s", max-attempts: 2, request-deadline: 10s}
                    """.formatted(port, NQN, HOST_NQN, bucket, server.endpoint()));
            String c = config.toString();

            // one model, written by safetensors and uploaded by boto3 three times: no Thermocline code writes it
            Path original = dir.resolve("original");
            LoaderChildren.Run wrote = py("write", original.toString(), "--shard-mib", "6");
            assertEquals(0, wrote.code(), wrote.out() + wrote.err());
            for (String prefix : List.of("in-s3/", "on-fabric/", "on-local/")) {
                LoaderChildren.Run up = py("upload", original.toString(), server.endpoint().toString(), bucket, "tc/" + prefix);
                assertEquals(0, up.code(), up.out() + up.err());
            }
            assertEquals(0, thermocline("prestage", "s3://" + bucket + "/tc/on-fabric/", "--to", "fabric", "--config", c).code());
            assertEquals(0, thermocline("prestage", "s3://" + bucket + "/tc/on-local/", "--to", "local", "--config", c).code());

            mount = children().builder(LoaderChildren.thermoclineCommand("mount", mnt.toString(), "--config", c))
                    .redirectErrorStream(true).start();
            processes.add(mount);
            mount.getOutputStream().close();
            StringBuffer mountLog = new StringBuffer();
            Process m = mount;
            Thread reader = Thread.ofVirtual().name("mount-output").start(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(m.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        mountLog.append(line).append('\n');
                    }
                } catch (IOException ignored) {
                    // the process ended
                }
            });
            TestTimeouts.await("the mount command's 'mounted' line", Duration.ofSeconds(90),
                    () -> mountLog.toString().contains("mounted ") || !m.isAlive(), mountLog::toString);
            assertTrue(m.isAlive(), "the mount ended early: " + mountLog);

            // 1. only in S3, never seen by the engine: listed from the bucket at S3's sizes, read through
            for (String shard : SHARDS) {
                assertEquals(Files.size(original.resolve(shard)), Files.size(mnt.resolve("in-s3").resolve(shard)), shard);
            }
            LoaderChildren.Run fromS3 = py("check", mnt.resolve("in-s3").toString(), original.toString());
            assertEquals(0, fromS3.code(), fromS3.out() + fromS3.err() + "\nmount: " + mountLog);
            assertThat(fromS3.out()).contains("OK 21 tensors in 3 shards equal");

            LoaderChildren.Run listed = thermocline("ls", "", "--json", "--config", c);
            assertEquals(0, listed.code(), listed.err());
            Map<String, JsonNode> byKey = new HashMap<>();
            for (JsonNode o : JSON.readTree(listed.out())) {
                byKey.put(o.get("key").asText(), o);
            }
            for (String prefix : List.of("in-s3/", "on-fabric/", "on-local/")) {
                JsonNode shard = byKey.get(prefix + SHARDS.get(0));
                assertThat(shard).as("%s in the catalog: %s", prefix, byKey.keySet()).isNotNull();
            }
            assertThat(byKey.get("on-fabric/" + SHARDS.get(0)).get("tiers").toString()).contains("fabric");
            assertThat(byKey.get("on-local/" + SHARDS.get(0)).get("tiers").toString()).contains("local");
            assertThat(byKey.get("in-s3/" + SHARDS.get(0)).get("reads").asLong()).as("heat of the S3 reads").isPositive();

            // 2. and 3. with S3 stopped: the bytes can only come from fabric, then from local
            server.close();
            LoaderChildren.Run fromFabric = py("check", mnt.resolve("on-fabric").toString(), original.toString());
            assertEquals(0, fromFabric.code(), fromFabric.out() + fromFabric.err() + "\nmount: " + mountLog);
            assertThat(fromFabric.out()).contains("OK 21 tensors in 3 shards equal");
            LoaderChildren.Run fromLocal = py("check", mnt.resolve("on-local").toString(), original.toString());
            assertEquals(0, fromLocal.code(), fromLocal.out() + fromLocal.err() + "\nmount: " + mountLog);
            assertThat(fromLocal.out()).contains("OK 21 tensors in 3 shards equal");

            // S3 back on its port (another process opening the engine needs every tier): the heat of every read
            server = EmbeddedS3Server.start(dir.resolve("s3"), port(server), server.accessKey(), server.secretKey());
            LoaderChildren.Run after = thermocline("ls", "", "--json", "--config", c);
            assertEquals(0, after.code(), after.err());
            Map<String, Long> reads = new HashMap<>();
            for (JsonNode o : JSON.readTree(after.out())) {
                reads.put(o.get("key").asText(), o.get("reads").asLong());
            }
            for (String prefix : List.of("in-s3/", "on-fabric/", "on-local/")) {
                for (String shard : SHARDS) {
                    assertThat(reads.getOrDefault(prefix + shard, 0L)).as("reads of %s%s", prefix, shard).isPositive();
                }
            }

            // unmounted from outside, the command reports it and ends
            Process unmount = new ProcessBuilder("fusermount3", "-u", mnt.toString()).redirectErrorStream(true).start();
            assertTrue(unmount.waitFor(TestTimeouts.seconds(30).toMillis(), TimeUnit.MILLISECONDS), "fusermount3 -u ends");
            assertEquals(0, unmount.exitValue(), new String(unmount.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            assertTrue(m.waitFor(TestTimeouts.seconds(60).toMillis(), TimeUnit.MILLISECONDS), "the mount command ends");
            assertTrue(reader.join(TestTimeouts.seconds(30)), "the mount's output read to its end");
            assertEquals(0, m.exitValue(), mountLog.toString());
            assertThat(mountLog.toString()).contains("unmounted " + mnt);
            assertThat(ThermoclineMount.mountTypeAt(mnt)).isEmpty();
        } finally {
            if (mount != null && mount.isAlive()) {
                mount.destroyForcibly();
                mount.waitFor(TestTimeouts.seconds(30).toMillis(), TimeUnit.MILLISECONDS);
            }
            if (ThermoclineMount.mountTypeAt(mnt).isPresent()) {
                new ProcessBuilder("fusermount3", "-u", "-z", mnt.toString()).redirectErrorStream(true).start()
                        .waitFor(TestTimeouts.seconds(30).toMillis(), TimeUnit.MILLISECONDS);
            }
            server.close();
        }
    }
}
