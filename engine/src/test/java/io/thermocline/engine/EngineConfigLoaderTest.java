package io.thermocline.engine;

import io.thermocline.placement.WriteMode;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.s3.EmbeddedS3Server;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EngineConfigLoaderTest {

    @TempDir
    Path dir;

    private static final String MINIMAL = """
            data-root: root
            tiers:
              - name: local
                type: local
                path: local
                capacity: 1GiB
              - name: s3
                type: s3
                bucket: models
            """;

    private EngineConfig parse(String yaml) {
        return EngineConfigLoader.parse(yaml, dir, Map.of());
    }

    private EngineConfigException refused(String yaml) {
        return assertThrows(EngineConfigException.class, () -> parse(yaml));
    }

    private EngineConfigException refused(String yaml, Map<String, String> overrides) {
        return assertThrows(EngineConfigException.class, () -> EngineConfigLoader.parse(yaml, dir, overrides));
    }

    @Test
    void parse_minimalFile_takesTheDocumentedDefaults() {
        EngineConfig c = parse(MINIMAL);
        assertEquals(dir.resolve("root"), c.dataRoot());
        assertEquals(EngineConfig.DEFAULT_REGION_MAX_OBJECTS, c.regionMaxObjects());
        assertEquals(null, c.regionGroup());
        assertEquals(EngineConfig.DEFAULT_PARALLEL_CHUNKS, c.parallelChunks());
        assertEquals(EngineConfig.DEFAULT_PLANNER_INTERVAL, c.plannerInterval());
        assertEquals(EngineConfig.DEFAULT_DRAIN_GRACE, c.drainGrace());
        assertEquals(EngineConfig.DEFAULT_OWNERSHIP_INTERVAL, c.ownershipInterval());
        assertEquals(EngineConfig.DEFAULT_REQUEST_TIMEOUT, c.requestTimeout());
        assertEquals(List.of("local", "s3"), c.tiers().stream().map(TierDefinition::name).toList());
        assertEquals(1L << 30, c.tiers().get(0).spec().capacityBytes());
        assertEquals(Long.MAX_VALUE, c.tiers().get(1).spec().capacityBytes(), "a bucket has no fixed size");
        assertTrue(c.tiers().get(0).sharedReadable());
        assertEquals("files in " + dir.resolve("local"), c.tiers().get(0).description());
    }

    @Test
    void parse_everyKey_reachesTheEngineAndThePolicy() {
        EngineConfig c = parse("""
                data-root: /var/lib/thermocline
                region: {path: /dev/shm/tc-test, max-objects: 5000, group: thermocline}
                stager: {parallel-chunks: 8, planner-interval: 250ms, drain-grace: 0}
                ownership: {check-interval: 2s, request-timeout: 5m}
                heat: {half-life: 30m}
                admission: {sketch-keys: 1024}
                rules:
                  - match: "checkpoints/**"
                    preferred-tiers: [local]
                    write-mode: write-back
                    max-dirty-age: 1m
                tiers:
                  - {name: local, type: local, path: /mnt/nvme/tc, direct-io: true, capacity: 100GiB,
                     high-watermark: 0.95, low-watermark: 0.5, max-concurrent-moves: 2, bandwidth: 1GiB}
                  - {name: fabric, type: block, file: fabric.img, capacity: 2TiB}
                  - {name: kfabric, type: block, transport: rdma, traddr: 10.0.0.5, nqn: "nqn.2026-11.io.thermocline:jbof",
                     nr-io-queues: 4, ctrl-loss-tmo: -1, capacity: 1TiB}
                  - {name: s3, type: s3, bucket: models, prefix: thermocline/, endpoint: "http://127.0.0.1:9000",
                     region: eu-west-1, part-size: 16MiB, max-concurrency: 64, track-usage: false, abandoned-upload-age: 2d}
                """);
        assertEquals(Path.of("/dev/shm/tc-test"), c.regionPath());
        assertEquals(5000, c.regionMaxObjects());
        assertEquals("thermocline", c.regionGroup());
        assertEquals(8, c.parallelChunks());
        assertEquals(Duration.ofMillis(250), c.plannerInterval());
        assertEquals(Duration.ZERO, c.drainGrace());
        assertEquals(Duration.ofSeconds(2), c.ownershipInterval());
        assertEquals(Duration.ofMinutes(5), c.requestTimeout());
        assertEquals(Duration.ofMinutes(30), c.policy().halfLife());
        assertEquals(1024, c.policy().sketchKeys());
        assertEquals(WriteMode.WRITE_BACK, c.policy().ruleFor("checkpoints/step-1/x").writeMode());
        var local = c.policy().tier("local");
        assertEquals(0.95, local.highWatermark());
        assertEquals(0.5, local.lowWatermark());
        assertEquals(2, local.maxConcurrentMoves());
        assertEquals(1L << 30, local.bandwidthBytesPerSecond());
        assertFalse(c.tiers().get(1).sharedReadable(), "a block namespace is the owner's alone");
        assertEquals("extents on " + dir.resolve("fabric.img"), c.tiers().get(1).description());
        assertTrue(c.tiers().get(2).description().contains("nvme-rdma://10.0.0.5:4420/nqn.2026-11.io.thermocline:jbof/ns1"),
                c.tiers().get(2).description());
        assertTrue(c.tiers().get(3).description().contains("models"), c.tiers().get(3).description());
    }

    @Test
    void parse_unknownTopLevelKey_namesItAndTheKnownOnes() {
        EngineConfigException e = refused(MINIMAL + "stagger: {parallel-chunks: 2}\n");
        assertEquals("stagger", e.key());
        assertTrue(e.getMessage().contains("expected: a known key"), e.getMessage());
        assertTrue(e.getMessage().contains("stager"), e.getMessage());
    }

    @Test
    void parse_unknownKeys_inSectionsAndTiers_nameTheFullPath() {
        assertEquals("stager.parallel-chunk", refused(MINIMAL + "stager: {parallel-chunk: 2}\n").key());
        EngineConfigException e = refused(MINIMAL.replace("path: local", "path: local\n    bucket: nope"));
        assertEquals("tiers[0].bucket", e.key());
        assertTrue(e.getMessage().contains("direct-io"), "lists the local tier's keys: " + e.getMessage());
    }

    @Test
    void parse_badValues_nameKeyValueAndExpectation() {
        EngineConfigException e = refused(MINIMAL + "stager: {parallel-chunks: 0}\n");
        assertEquals("stager.parallel-chunks: 0 (expected: an integer in 1..256)", e.getMessage());
        e = refused(MINIMAL + "stager: {planner-interval: soon}\n");
        assertEquals("stager.planner-interval", e.key());
        assertTrue(e.getMessage().contains("'soon'"), e.getMessage());
        e = refused(MINIMAL.replace("type: local", "type: nvme"));
        assertEquals("tiers[0].type: 'nvme' (expected: one of local, block, s3)", e.getMessage());
        e = refused(MINIMAL.replace("bucket: models", "bucket: models\n    endpoint: 127.0.0.1:9000"));
        assertEquals("tiers[1].endpoint", e.key());
        e = refused(MINIMAL.replace("path: local", "path: local\n    direct-io: yes please"));
        assertEquals("tiers[0].direct-io: 'yes please' (expected: true or false)", e.getMessage());
    }

    @Test
    void parse_policyKeyErrors_comeBackWithTheirPath() {
        EngineConfigException e = refused(MINIMAL.replace("capacity: 1GiB", "capacity: 1GiB\n    high-watermark: 1.5"));
        assertEquals("tiers[0].high-watermark", e.key());
        assertTrue(e.getMessage().contains("1.5"), e.getMessage());
        e = refused(MINIMAL.replace("capacity: 1GiB", "capacity: lots"));
        assertEquals("tiers[0].capacity", e.key());
        e = refused(MINIMAL + "rules: [{match: 'a/**', preferred-tiers: [nvme]}]\n");
        assertTrue(e.getMessage().contains("'nvme'") && e.getMessage().contains("local"), e.getMessage());
        e = refused(MINIMAL + "heat: {half-life: -3}\n");
        assertEquals("heat.half-life", e.key());
    }

    @Test
    void parse_missingRequiredKeys_sayWhatToAdd() {
        assertEquals("data-root", refused("tiers: []\n").key());
        assertEquals("tiers", refused("data-root: x\n").key());
        assertEquals("tiers[1].bucket", refused(MINIMAL.replace("bucket: models", "prefix: p/")).key());
        assertEquals("tiers", refused("data-root: x\ntiers: [{name: s3, type: s3, bucket: b}]\n").key());
        EngineConfigException e = refused("{not yaml");
        assertEquals("(document)", e.key());
    }

    @Test
    void parse_blockTier_needsFileOrTransport_andNvmeCliOptionsOnlyWithATransport() {
        String base = MINIMAL.replace("  - name: s3", "  - {name: fabric, type: block, capacity: 1GiB, %s}\n  - name: s3");
        assertEquals("tiers[1]", refused(base.formatted("host-nqn: nqn.x")).key());
        assertEquals("tiers[1]", refused(base.formatted("file: f, transport: tcp")).key());
        assertEquals("tiers[1].traddr", refused(base.formatted("file: f, traddr: 10.0.0.1")).key());
        assertEquals("tiers[1].nqn", refused(base.formatted("transport: tcp, traddr: 10.0.0.1")).key());
        assertEquals("tiers[1].trsvcid", refused(base.formatted("transport: tcp, traddr: 1.2.3.4, trsvcid: 70000, nqn: n")).key());
        assertEquals("tiers[1].initiator", refused(base.formatted("transport: rdma, initiator: java, traddr: 1.2.3.4, nqn: n")).key());
        assertEquals("tiers[1].keep-alive-tmo",
                refused(base.formatted("transport: tcp, traddr: 1.2.3.4, nqn: n, keep-alive-tmo: 5s")).key());
        EngineConfig c = parse(base.formatted("transport: tcp, traddr: 127.0.0.1, trsvcid: 4421, nqn: 'nqn.2026-11.io.thermocline:jbof', "
                + "nr-io-queues: 2, queue-size: 64, keep-alive-tmo: 5, reconnect-delay: 2, ctrl-loss-tmo: 30, hdr-digest: true"));
        assertTrue(c.tiers().get(1).description().contains("Java NVMe/TCP host"), c.tiers().get(1).description());
    }

    @Test
    void overrides_replaceFileValues_byDottedKeyOrTierName() {
        EngineConfig c = EngineConfigLoader.parse(MINIMAL, dir, Map.of("data-root", "/srv/tc", "stager.parallel-chunks", "16",
                "tiers.local.capacity", "2GiB", "tiers[1].prefix", "p/", "ownership.request-timeout", "10s"));
        assertEquals(Path.of("/srv/tc"), c.dataRoot());
        assertEquals(16, c.parallelChunks());
        assertEquals(2L << 30, c.tiers().get(0).spec().capacityBytes());
        assertEquals(Duration.ofSeconds(10), c.requestTimeout());
        assertEquals("stager.parallel-chunks", refused(MINIMAL, Map.of("stager.parallel-chunks", "many")).key());
        assertEquals("stager.speed", refused(MINIMAL, Map.of("stager.speed", "1")).key());
        assertEquals("tiers.nvme.path", refused(MINIMAL, Map.of("tiers.nvme.path", "/x")).key());
        assertEquals("tiers[0].colour", refused(MINIMAL, Map.of("tiers.local.colour", "blue")).key());
    }

    @Test
    void environment_mapsThermoclineVariablesToKeys_andIgnoresTheLaunchersOwn() {
        Map<String, String> o = EngineConfigLoader.environment(Map.of("THERMOCLINE_DATA_ROOT", "/srv/a",
                "THERMOCLINE_STAGER_PARALLEL_CHUNKS", "2", "THERMOCLINE_TIERS_LOCAL_DIRECT_IO", "true",
                "THERMOCLINE_JAVA_OPTS", "-Xmx1g", "THERMOCLINE_SOMETHING_ELSE", "x", "HOME", "/root"));
        assertEquals(3, o.size(), o.toString());
        EngineConfig c = EngineConfigLoader.parse(MINIMAL, dir, o);
        assertEquals(Path.of("/srv/a"), c.dataRoot());
        assertEquals(2, c.parallelChunks());
    }

    @Test
    void load_theDocumentedExample_parses() throws Exception {
        Path readme = Path.of("..", "docs", "configuration.md");
        String text = Files.readString(readme);
        Matcher m = Pattern.compile("<!-- engine-config-example -->\\s*```yaml\\n(.*?)```", Pattern.DOTALL).matcher(text);
        assertTrue(m.find(), "docs/configuration.md has the example configuration after <!-- engine-config-example -->");
        Path file = dir.resolve("thermocline.yaml");
        Files.writeString(file, m.group(1));
        EngineConfig c = EngineConfigLoader.load(file);
        assertTrue(c.tiers().size() >= 3);
    }

    @Test
    void load_blockTierOverNvmeTcp_connectsTheJavaHostWithNvmeCliOptions_andClosesIt() throws Exception {
        String nqn = "nqn.2026-11.io.thermocline:loader-test";
        String hostNqn = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000c2";
        long bytes = io.thermocline.nvmeof.block.BlockTier.deviceSizeFor(64 * EngineFixture.MIB,
                io.thermocline.nvmeof.block.BlockTierConfig.DEFAULT_ALLOCATION_UNIT_IN_BYTES, 4096);
        var target = io.thermocline.nvmeof.target.NvmeTcpTarget.builder().bindAddress("127.0.0.1").port(0).eventLoopThreads(1)
                .subsystem(io.thermocline.nvmeof.target.Subsystem.builder(nqn).allowHost(hostNqn)
                        .namespace(io.thermocline.nvmeof.target.Namespace.openFile(dir.resolve("ns.img"), bytes, 4096, false)).build())
                .build();
        try (EmbeddedS3Server server = EmbeddedS3Server.start(dir.resolve("s3")); target) {
            int port = target.start().getPort();
            server.createBucket("models");
            Path file = dir.resolve("thermocline.yaml");
            Files.writeString(file, """
                    data-root: root
                    region: {path: region, max-objects: 1024}
                    stager: {planner-interval: 1h, drain-grace: 10ms}
                    tiers:
                      - {name: local, type: local, path: local, capacity: 64MiB}
                      - {name: fabric, type: block, transport: tcp, traddr: 127.0.0.1, trsvcid: %d, nqn: "%s", hostnqn: "%s",
                         nr-io-queues: 2, queue-size: 32, keep-alive-tmo: 5, ctrl-loss-tmo: 5, capacity: 64MiB}
                      - {name: s3, type: s3, bucket: models, endpoint: "%s"}
                    """.formatted(port, nqn, hostNqn, server.endpoint()));
            try (SdkCredentials ignored = SdkCredentials.of(server)) {
                for (int round = 0; round < 2; round++) { // the second open finds the tier formatted by the first
                    try (TierEngine e = TierEngine.open(EngineConfigLoader.load(file))) {
                        String key = "m/" + round;
                        EngineFixture.put(e, key, 20 + round, 2_500_000, PutOptions.defaults());
                        e.stage(List.of(ObjectKey.of(key)), "fabric", Duration.ZERO).future().join();
                        assertTrue(e.stat(ObjectKey.of(key)).join().orElseThrow().tiers().contains("fabric"));
                        assertEquals(round + 1, e.tiers().get(1).objectCount());
                        assertTrue(e.tiers().get(1).description().contains("127.0.0.1:" + port), e.tiers().get(1).description());
                    }
                }
            }
        }
    }

    @Test
    void load_openedEngine_worksOnTheConfiguredTiers() throws Exception {
        try (EmbeddedS3Server server = EmbeddedS3Server.start(dir.resolve("s3"))) {
            server.createBucket("models");
            Path file = dir.resolve("conf").resolve("thermocline.yaml");
            Files.createDirectories(file.getParent());
            Files.writeString(file, """
                    data-root: root
                    region: {path: region, max-objects: 1024}
                    stager: {planner-interval: 1h, drain-grace: 10ms}
                    tiers:
                      - {name: local, type: local, path: local, capacity: 64MiB}
                      - {name: fabric, type: block, file: fabric.img, capacity: 64MiB, host-nqn: "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000c1"}
                      - {name: s3, type: s3, bucket: models, prefix: e/, endpoint: "%s"}
                    """.formatted(server.endpoint()));
            // AWS credentials come from the SDK chain; the test sets them as system properties
            try (SdkCredentials ignored = SdkCredentials.of(server); TierEngine e = TierEngine.open(EngineConfigLoader.load(file))) {
                assertTrue(e.isOwner());
                assertEquals(file.getParent().resolve("root"), e.dataRoot());
                EngineFixture.put(e, "m/a", 7, 3_000_000, PutOptions.defaults());
                e.stage(List.of(ObjectKey.of("m/a")), "fabric", Duration.ZERO).future().join();
                assertEquals(List.of("local", "fabric", "s3"), e.stat(ObjectKey.of("m/a")).join().orElseThrow().tiers());
                EngineFixture.assertContent(e, "m/a", 7, 3_000_000);
                assertTrue(Files.exists(file.getParent().resolve("fabric.img")));
            }
        }
    }

    /** The server's credentials as the SDK's system properties, for the SDK's default chain; cleared on close. */
    private interface SdkCredentials extends AutoCloseable {
        static SdkCredentials of(EmbeddedS3Server server) {
            System.setProperty("aws.accessKeyId", server.accessKey());
            System.setProperty("aws.secretAccessKey", server.secretKey());
            return () -> {
                System.clearProperty("aws.accessKeyId");
                System.clearProperty("aws.secretAccessKey");
            };
        }

        @Override
        void close();
    }
}
