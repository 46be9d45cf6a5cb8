package io.thermocline.engine;

import io.thermocline.placement.PolicyConfig;
import io.thermocline.placement.Rule;
import io.thermocline.placement.WriteMode;
import io.thermocline.region.SlotState;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectNotFoundException;
import io.thermocline.tier.TierException;
import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.testkit.TestTimeouts;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.function.BooleanSupplier;

import static io.thermocline.engine.EngineFixture.MIB;
import static io.thermocline.engine.EngineFixture.assertContent;
import static io.thermocline.engine.EngineFixture.put;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TierEngineTest {

    private static EmbeddedS3Server server;
    private static int buckets;

    @TempDir
    Path dir;

    private final List<TierEngine> engines = new ArrayList<>();

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

    @AfterEach
    void closeEngines() {
        for (TierEngine e : engines.reversed()) {
            e.close();
        }
    }

    private TierEngine open(PolicyConfig policy) throws Exception {
        String bucket = "engine-" + buckets++;
        server.createBucket(bucket);
        return open(EngineFixture.config(dir, server, bucket, policy).build());
    }

    private TierEngine open(EngineConfig config) {
        TierEngine e = TierEngine.open(config);
        engines.add(e);
        return e;
    }

    private static PolicyConfig policy(Rule... rules) {
        return PolicyConfig.builder().rules(List.of(rules)).build();
    }

    private static void await(String what, BooleanSupplier condition) {
        TestTimeouts.await(what, Duration.ofSeconds(20), condition);
    }

    private static List<String> tiersOf(TierEngine e, String key) {
        return e.stat(ObjectKey.of(key)).join().orElseThrow(() -> new AssertionError(key + " unknown")).tiers();
    }

    @Test
    void writeThroughPutLandsOnTheFastAndBackingTiersAndReadsBackVerified() throws Exception {
        TierEngine e = open(policy());
        assertTrue(e.isOwner());
        long size = 3 * MIB + 12345;
        var info = put(e, "models/a/shard-1.safetensors", 1, size, PutOptions.defaults());
        assertEquals(size, info.sizeInBytes());
        ObjectStatus s = e.stat(ObjectKey.of("models/a/shard-1.safetensors")).join().orElseThrow();
        assertEquals(List.of("local", "s3"), s.tiers());
        assertEquals(SlotState.READY, s.state());
        assertEquals(info.crc32c(), s.crc32c());
        assertContent(e, "models/a/shard-1.safetensors", 1, size);
        try (EngineReader r = e.read(ObjectKey.of("models/a/shard-1.safetensors")).join()) {
            assertEquals("local", r.tier());
        }
        assertTrue(e.stat(ObjectKey.of("models/a/shard-1.safetensors")).join().orElseThrow().reads() > 0, "reads add heat");
    }

    @Test
    void aSecondPutOfAKeyIsRefusedUnlessItReplaces() throws Exception {
        TierEngine e = open(policy());
        put(e, "k", 1, 100_000, PutOptions.defaults());
        CompletionException ex = assertThrows(CompletionException.class,
                () -> e.put(ObjectKey.of("k"), EngineFixture.source(2, 5000), 5000, PutOptions.defaults()).join());
        assertInstanceOf(EngineException.class, ex.getCause());
        assertTrue(ex.getCause().getMessage().contains("exists"), ex.getCause().getMessage());
        assertContent(e, "k", 1, 100_000);
        put(e, "k", 2, 5000, PutOptions.defaults().withReplace(true));
        assertContent(e, "k", 2, 5000);
    }

    @Test
    void aSourceShorterThanDeclaredLeavesNothing() throws Exception {
        TierEngine e = open(policy());
        CompletionException ex = assertThrows(CompletionException.class,
                () -> e.put(ObjectKey.of("short"), EngineFixture.source(1, 1000), 5000, PutOptions.defaults()).join());
        assertTrue(ex.getCause().getMessage().contains("ended after 1000 bytes"), ex.getCause().getMessage());
        assertTrue(e.stat(ObjectKey.of("short")).join().isEmpty());
        for (TierStatus t : e.tiers()) {
            assertEquals(0, t.objectCount(), t.name());
        }
        try (var files = Files.walk(dir.resolve("local"))) {
            assertEquals(0, files.filter(Files::isRegularFile).count(), "files left in the local tier");
        }
    }

    @Test
    void writeBackReturnsBeforeTheUploadAndDirtyObjectsAreNeverEvicted() throws Exception {
        TierEngine e = open(policy(Rule.builder("ckpt/**").writeMode(WriteMode.WRITE_BACK).build()));
        EngineTier s3 = e.backing();
        // hold every upload slot of the backing tier so the object stays dirty while we look
        int slots = s3.definition.spec().maxConcurrentMoves();
        for (int i = 0; i < slots; i++) {
            s3.moves.acquire(1);
        }
        try {
            put(e, "ckpt/step-100", 7, 2 * MIB, PutOptions.defaults());
            ObjectStatus s = e.stat(ObjectKey.of("ckpt/step-100")).join().orElseThrow();
            assertEquals(List.of("local"), s.tiers());
            CompletionException ex = assertThrows(CompletionException.class, () -> e.evict(ObjectKey.of("ckpt/step-100"), "local").join());
            assertInstanceOf(EngineException.class, ex.getCause());
        } finally {
            for (int i = 0; i < slots; i++) {
                s3.moves.release();
            }
        }
        await("the upload", () -> tiersOf(e, "ckpt/step-100").contains("s3")
                && e.stat(ObjectKey.of("ckpt/step-100")).join().orElseThrow().state() == SlotState.READY);
        assertTrue(e.evict(ObjectKey.of("ckpt/step-100"), "local").join());
        assertEquals(List.of("s3"), tiersOf(e, "ckpt/step-100"));
        assertContent(e, "ckpt/step-100", 7, 2 * MIB);
    }

    @Test
    void evictionOfTheOnlyCopyIsRefused() throws Exception {
        TierEngine e = open(policy());
        put(e, "only", 3, 50_000, PutOptions.defaults().withWriteMode(WriteMode.LOCAL_ONLY));
        assertEquals(List.of("local"), tiersOf(e, "only"));
        CompletionException ex = assertThrows(CompletionException.class, () -> e.evict(ObjectKey.of("only"), "local").join());
        assertTrue(ex.getCause().getMessage().contains("only copy"), ex.getCause().getMessage());
        assertFalse(e.evict(ObjectKey.of("only"), "s3").join());
    }

    @Test
    void stageCopiesFromTheBackingTierWithProgressAndPins() throws Exception {
        TierEngine e = open(policy());
        for (int i = 0; i < 3; i++) {
            put(e, "m/shard-" + i, 10 + i, MIB + i * 1000, PutOptions.defaults().withTier("s3"));
        }
        assertEquals(List.of("s3"), tiersOf(e, "m/shard-0"));
        StageHandle h = e.stage("m/", "fabric", Duration.ofHours(1));
        StageHandle.Result r = h.future().get();
        assertTrue(r.complete(), r.failed().toString());
        assertEquals(3, r.staged().size());
        StageHandle.Progress p = h.progress();
        assertEquals(3, p.objectsDone());
        assertEquals(p.bytesTotal(), p.bytesDone());
        assertEquals(3 * MIB + 3000, p.bytesTotal());
        for (int i = 0; i < 3; i++) {
            assertEquals(List.of("fabric", "s3"), tiersOf(e, "m/shard-" + i));
            assertTrue(e.stat(ObjectKey.of("m/shard-" + i)).join().orElseThrow().pinUntilMillis() > System.currentTimeMillis());
            assertContent(e, "m/shard-" + i, 10 + i, MIB + i * 1000);
        }
        StageHandle.Result again = e.stage("m/", "fabric", Duration.ZERO).future().get();
        assertEquals(3, again.already().size());
        CompletionException ex = assertThrows(CompletionException.class, () -> e.evict(ObjectKey.of("m/shard-0"), "fabric").join());
        assertTrue(ex.getCause().getMessage().contains("pinned"), ex.getCause().getMessage());
    }

    @Test
    void aReadOfAnObjectOnlyInTheBackingTierStreamsFromThereWhileItIsPromoted() throws Exception {
        TierEngine e = open(policy());
        put(e, "cold", 5, 4 * MIB, PutOptions.defaults().withTier("s3"));
        try (EngineReader r = e.read(ObjectKey.of("cold")).join()) {
            assertEquals("s3", r.tier());
            await("the read-through promotion", () -> tiersOf(e, "cold").contains("local"));
            // the open reader moves over to the new copy: the rest is not read from s3 as well
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(100_000);
            assertEquals(100_000, r.read(MIB, buf).join());
            assertEquals("local", r.tier());
            buf.flip();
            assertEquals(-1, io.thermocline.tier.testkit.TestData.firstMismatch(5, MIB, buf));
        }
        assertContent(e, "cold", 5, 4 * MIB);
        try (EngineReader r = e.read(ObjectKey.of("cold")).join()) {
            assertEquals("local", r.tier());
        }
    }

    @Test
    void objectsWrittenToTheBackingTierByOthersAreFoundThere() throws Exception {
        TierEngine e = open(policy());
        // written straight to the tier, as another process or tool would
        var s3 = e.backing().tier;
        var w = s3.create(ObjectKey.of("foreign"), 70_000).join();
        w.write(0, io.thermocline.tier.testkit.TestData.bytes(9, 0, 70_000)).join();
        w.commit().join();
        assertTrue(e.stat(ObjectKey.of("foreign")).join().isEmpty());
        assertContent(e, "foreign", 9, 70_000);
        assertTrue(tiersOf(e, "foreign").contains("s3"));
        CompletionException ex = assertThrows(CompletionException.class, () -> e.read(ObjectKey.of("nowhere")).join());
        assertInstanceOf(ObjectNotFoundException.class, ex.getCause());
    }

    @Test
    void idleObjectsAreDemotedAndLocalOnlyOnesMoveToTheFabricTier() throws Exception {
        TierEngine e = open(policy(
                // the content checks below read the objects: heat must not promote them back here
                Rule.builder("scratch/**").writeMode(WriteMode.LOCAL_ONLY).maxIdleBeforeDemotion(Duration.ofMillis(1))
                        .minHeatToPromote(1e9).build(),
                Rule.builder("idle/**").maxIdleBeforeDemotion(Duration.ofMillis(1)).minHeatToPromote(1e9).build()));
        put(e, "scratch/x", 21, 3 * MIB, PutOptions.defaults());
        put(e, "idle/y", 22, MIB, PutOptions.defaults());
        Owner o = e.owner();
        o.planOnce(); // first sight of the objects
        Thread.sleep(20);
        o.planOnce();
        // each goes one tier down: a local-only object never reaches the backing tier
        await("demotions", () -> tiersOf(e, "scratch/x").equals(List.of("fabric")) && tiersOf(e, "idle/y").equals(List.of("fabric", "s3")));
        assertContent(e, "scratch/x", 21, 3 * MIB);
        assertContent(e, "idle/y", 22, MIB);
        // idle on the fabric tier too: the copy there goes, the backing copy stays; a local-only object has nowhere to go
        o.planOnce(); // sees the reads above: not idle yet
        assertEquals(List.of("fabric", "s3"), tiersOf(e, "idle/y"));
        // plan until it happens, as the planner loop would: a round can still find the first demotion finishing
        // (the local copy freed after readers drain) and skip the object; nothing lies below s3 to overshoot to
        await("second demotion", () -> {
            o.planOnce();
            return tiersOf(e, "idle/y").equals(List.of("s3"));
        });
        assertEquals(List.of("fabric"), tiersOf(e, "scratch/x"));
        try (var files = Files.walk(dir.resolve("local").resolve("files"))) {
            assertEquals(0, files.filter(Files::isRegularFile).count(), "copies left on the local tier");
        }
    }

    @Test
    void hotObjectsArePromoted() throws Exception {
        TierEngine e = open(policy(Rule.builder("hot/**").minHeatToPromote(2).build()));
        put(e, "hot/z", 31, MIB, PutOptions.defaults().withTier("s3"));
        put(e, "hot/cold", 32, MIB, PutOptions.defaults().withTier("s3"));
        // read through the backing tier's own reader so the reads add heat without the read-through promotion
        for (int i = 0; i < 5; i++) {
            e.region().table().addHeat(io.thermocline.region.RegionKey.of("hot/z"), MIB);
        }
        e.owner().planOnce();
        await("the promotion", () -> tiersOf(e, "hot/z").contains("local"));
        assertEquals(List.of("s3"), tiersOf(e, "hot/cold"));
    }

    @Test
    void anAttachedEngineReadsThroughTheRegionAndSendsRequestsToTheOwner() throws Exception {
        String bucket = "engine-" + buckets++;
        server.createBucket(bucket);
        EngineConfig config = EngineFixture.config(dir, server, bucket, policy()).build();
        TierEngine owner = open(config);
        TierEngine attached = open(config);
        assertTrue(owner.isOwner());
        assertFalse(attached.isOwner());
        put(owner, "shared/a", 41, 2 * MIB + 1, PutOptions.defaults().withTier("s3"));
        assertEquals(List.of("s3"), attached.stat(ObjectKey.of("shared/a")).join().orElseThrow().tiers());
        StageHandle.Result r = attached.stage(List.of(ObjectKey.of("shared/a")), "local", Duration.ofMinutes(5)).future().get();
        assertTrue(r.complete(), r.failed().toString());
        assertEquals(List.of("local", "s3"), tiersOf(owner, "shared/a"));
        assertEquals(List.of("local", "s3"), tiersOf(attached, "shared/a"));
        assertContent(attached, "shared/a", 41, 2 * MIB + 1);
        assertTrue(owner.stat(ObjectKey.of("shared/a")).join().orElseThrow().pinUntilMillis() > System.currentTimeMillis());
        attached.unpin(ObjectKey.of("shared/a")).join();
        assertEquals(0, owner.stat(ObjectKey.of("shared/a")).join().orElseThrow().pinUntilMillis());
        attached.evict(ObjectKey.of("shared/a"), "local").join();
        assertEquals(List.of("s3"), tiersOf(owner, "shared/a"));
        // an attached put goes straight to the backing tier and the owner records it
        attached.put(ObjectKey.of("shared/b"), EngineFixture.source(42, 300_000), 300_000, PutOptions.defaults()).join();
        assertEquals(List.of("s3"), tiersOf(owner, "shared/b"));
        assertEquals(2, attached.list("shared/").size());
        assertEquals(2, attached.tiers().getLast().objectCount());
    }

    @Test
    void whenTheOwnerClosesAnAttachedEngineTakesOver() throws Exception {
        String bucket = "engine-" + buckets++;
        server.createBucket(bucket);
        EngineConfig config = EngineFixture.config(dir, server, bucket, policy()).build();
        // the fabric tier is owner-only; a process that can take over must be able to open every tier
        EngineConfig shareable = EngineConfig.builder(config.dataRoot()).regionPath(config.regionPath())
                .tier(config.tiers().get(0)).tier(config.tiers().get(2)).ownershipInterval(Duration.ofMillis(50)).build();
        TierEngine first = TierEngine.open(shareable);
        TierEngine second = open(shareable);
        put(first, "t/a", 51, MIB, PutOptions.defaults());
        assertFalse(second.isOwner());
        first.close();
        await("the takeover", second::isOwner);
        assertEquals(List.of("local", "s3"), tiersOf(second, "t/a"));
        assertContent(second, "t/a", 51, MIB);
    }
    @Test
    void aRegionThatDoesNotValidateIsRebuiltFromTheCatalogAtOpen() throws Exception {
        String bucket = "engine-" + buckets++;
        server.createBucket(bucket);
        EngineConfig config = EngineFixture.config(dir, server, bucket, policy()).build();
        try (TierEngine e = TierEngine.open(config)) {
            put(e, "r/a", 61, 700_000, PutOptions.defaults());
            put(e, "r/b", 62, 80_000, PutOptions.defaults().withTier("s3"));
        }
        // scribble over the region's header (its magic and layout version)
        try (var ch = java.nio.channels.FileChannel.open(config.regionPath(), java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}), 0);
        }
        TierEngine e = open(config);
        assertTrue(e.isOwner());
        io.thermocline.region.EntryView v = new io.thermocline.region.EntryView();
        assertTrue(e.region().table().lookup(io.thermocline.region.RegionKey.of("r/a"), v), "r/a republished");
        assertTrue(e.region().table().lookup(io.thermocline.region.RegionKey.of("r/b"), v), "r/b republished");
        // an attached process finds both through the rebuilt region alone
        TierEngine attached = open(config);
        assertFalse(attached.isOwner());
        assertEquals(List.of("local", "s3"), tiersOf(attached, "r/a"));
        assertEquals(List.of("s3"), tiersOf(attached, "r/b"));
        assertContent(attached, "r/a", 61, 700_000);
        assertContent(attached, "r/b", 62, 80_000);
        assertEquals(2, attached.tiers().getLast().objectCount(), "backing tier object count recounted");
    }
    @Test
    void backgroundMovesYieldToForegroundReadsOnTheirTiersAndStillFinish() throws Exception {
        TierEngine e = open(policy());
        put(e, "bg/big", 71, 8 * MIB, PutOptions.defaults().withTier("s3"));
        put(e, "fg/small", 72, MIB, PutOptions.defaults().withWriteMode(WriteMode.LOCAL_ONLY));
        java.util.concurrent.atomic.AtomicBoolean reading = new java.util.concurrent.atomic.AtomicBoolean(true);
        java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(1);
        Thread reader = Thread.ofVirtual().start(() -> {
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(256 * 1024);
            try (EngineReader r = e.read(ObjectKey.of("fg/small")).join()) {
                while (reading.get()) {
                    buf.clear();
                    r.read(0, buf).join();
                    started.countDown();
                }
            }
        });
        try {
            assertTrue(started.await(30, java.util.concurrent.TimeUnit.SECONDS), "the foreground reader did not start");
            StageHandle.Result result = e.stage(List.of(ObjectKey.of("bg/big")), "local", Duration.ZERO).future().get();
            assertTrue(result.complete(), result.failed().toString());
        } finally {
            reading.set(false);
            reader.join();
        }
        double preempted = e.meters().get("thermocline.engine.move.preempted").counter().count();
        assertTrue(preempted > 0, "no chunk of the stage waited for the foreground reads on the local tier");
        assertContent(e, "bg/big", 71, 8 * MIB);
    }
    @Test
    void anEngineReopenedOnTheSameRegistryReportsItsOwnGauges() throws Exception {
        String bucket = "engine-" + buckets++;
        server.createBucket(bucket);
        var registry = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        EngineConfig config = EngineFixture.config(dir, server, bucket,
                policy(Rule.builder("ckpt/**").writeMode(WriteMode.WRITE_BACK).build())).meters(registry).build();
        TierEngine.open(config).close();
        TierEngine e = open(config);
        EngineTier s3 = e.backing();
        int slots = s3.definition.spec().maxConcurrentMoves();
        for (int i = 0; i < slots; i++) {
            s3.moves.acquire(1);
        }
        try {
            put(e, "ckpt/g", 8, MIB, PutOptions.defaults());
            assertEquals(MIB, registry.get("thermocline.engine.dirty.bytes").gauge().value(), "dirty bytes of the open engine");
        } finally {
            for (int i = 0; i < slots; i++) {
                s3.moves.release();
            }
        }
    }
    @Test
    void aReadThroughPromotionTakesTheChunksTheReaderFetchedInsteadOfReadingThemAgain() throws Exception {
        String bucket = "engine-" + buckets++;
        server.createBucket(bucket);
        // the promotion copies one chunk at a time at 1 MiB/s out of s3; the foreground reader is not
        // limited, so it fetches most chunks first and the promotion should take those from it
        EngineConfig config = EngineFixture.config(dir, server.endpoint(), server.accessKey(), server.secretKey(), bucket, policy(),
                MIB).parallelChunks(1).build();
        TierEngine e = open(config);
        long size = 16 * MIB + 4321;
        put(e, "rt/shard", 81, size, PutOptions.defaults().withTier("s3"));
        try (EngineReader r = e.read(ObjectKey.of("rt/shard")).join()) {
            assertEquals("s3", r.tier());
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(3 * (int) MIB);
            long position = 0;
            while (position < size) {
                buf.clear();
                int n = r.read(position, buf).join();
                buf.flip();
                assertEquals(-1, io.thermocline.tier.testkit.TestData.firstMismatch(81, position, buf));
                position += n;
            }
        }
        await("the read-through promotion", () -> tiersOf(e, "rt/shard").contains("local"));
        int chunks = (int) ((size + ObjectInfo.DEFAULT_CHUNK_SIZE_IN_BYTES - 1) / ObjectInfo.DEFAULT_CHUNK_SIZE_IN_BYTES);
        double shared = e.meters().get("thermocline.engine.move.shared.chunks").counter().count();
        assertTrue(shared >= chunks / 2.0, shared + " of " + chunks + " chunks taken from the reader");
        assertContent(e, "rt/shard", 81, size);
    }
}
