package io.thermocline.examples.serving;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.engine.StageHandle;
import io.thermocline.engine.TierEngine;
import io.thermocline.examples.EmbeddedTiers;
import io.thermocline.placement.Rule;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@ScaledTimeout(120)
class ModelServerTest {

    private static final String PREFIX = "models/test/";

    @TempDir
    Path dir;

    private EmbeddedTiers tiers;
    private TierEngine engine;

    @BeforeEach
    void start() {
        // placement is the test's: no promotion by heat, so each load reads the tier the test staged to
        tiers = EmbeddedTiers.builder(dir).localBytes(256L << 20).fabricBytes(256L << 20)
                .rule(Rule.builder(PREFIX + "**").preferredTiers(List.of("s3")).minHeatToPromote(Double.MAX_VALUE).build()).start();
        engine = tiers.openEngine();
    }

    @AfterEach
    void stop() {
        if (engine != null) {
            engine.close();
        }
        if (tiers != null) {
            tiers.close();
        }
    }

    /** Every loaded byte equals the synthetic model's. */
    private static void assertLoaded(ModelServer server, SyntheticModel model) {
        int checked = 0;
        for (SyntheticModel.Shard s : model.shards()) {
            for (Safetensors.TensorInfo t : s.tensors()) {
                ModelServer.Tensor loaded = server.tensor(t.name());
                assertEquals(t.sizeInBytes(), loaded.data().byteSize(), t.name());
                assertThat(loaded.shape()).containsExactly(t.shape());
                ByteBuffer expected = ByteBuffer.allocate((int) t.sizeInBytes());
                SyntheticModel.expected(s.index(), t.begin(), expected);
                long mismatch = loaded.data().mismatch(java.lang.foreign.MemorySegment.ofArray(expected.array()));
                assertEquals(-1, mismatch, () -> t.name() + ": first wrong byte at " + mismatch);
                checked++;
            }
        }
        assertEquals(server.tensors().size(), checked);
    }

    private void stage(String tier) throws Exception {
        StageHandle.Result r = engine.stage(PREFIX, tier, Duration.ZERO).future().get();
        assertTrue(r.complete(), r.failed().toString());
    }

    @Test
    void load_readsEveryTensorIntoOffHeapMemory_fromEachTier_andReportsTheTier() throws Exception {
        SyntheticModel model = SyntheticModel.of(24L << 20, 3);
        model.put(engine, PREFIX, "s3");
        ModelServer.Options small = new ModelServer.Options(1 << 20, 4);
        for (String tier : List.of("s3", "fabric", "local")) {
            if (!tier.equals("s3")) {
                stage(tier);
            }
            try (ModelServer server = ModelServer.load(engine, PREFIX, small)) {
                assertLoaded(server, model);
                ModelServer.LoadReport r = server.report();
                assertEquals(model.sizeInBytes(), r.bytes());
                assertEquals(Set.of(tier), r.perTier().keySet(), "each shard read from the tier staged to");
                assertEquals(3, r.perTier().get(tier).shards());
                assertThat(r.shards()).allSatisfy(s -> assertEquals(tier, s.tier()));
                assertTrue(server.tensors().iterator().next().data().isNative(), "tensors live off-heap");
            }
        }
    }

    @Test
    void load_ofASingleFileModelWithoutAnIndex() throws Exception {
        SyntheticModel model = SyntheticModel.of(1 << 20, 1);
        SyntheticModel.Shard s = model.shards().getFirst();
        engine.put(ObjectKey.of("single/model.safetensors"), s.channel(), s.sizeInBytes(), io.thermocline.engine.PutOptions.defaults()).join();
        try (ModelServer server = ModelServer.load(engine, "single/")) {
            assertEquals(4, server.tensors().size());
            ModelServer.Tensor t = server.tensor("model.layers.0.mlp.down_proj.weight");
            ByteBuffer expected = ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            SyntheticModel.expected(0, s.tensors().get(3).begin(), expected);
            assertEquals(expected.getLong(0), t.data().get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0));
        }
    }

    @Test
    void load_ofAMalformedIndexOrHeader_failsNamingTheObject() throws Exception {
        byte[] bad = "{\"weight_map\": 7}".getBytes();
        engine.put(ObjectKey.of("bad-index/" + SyntheticModel.INDEX), Channels.newChannel(new ByteArrayInputStream(bad)), bad.length,
                io.thermocline.engine.PutOptions.defaults()).join();
        IOException e = assertThrows(IOException.class, () -> ModelServer.load(engine, "bad-index/"));
        assertThat(e.getMessage()).contains("bad-index/model.safetensors.index.json", "weight_map");

        byte[] junk = new byte[64];
        java.util.Arrays.fill(junk, (byte) 0x7f);
        engine.put(ObjectKey.of("junk/model.safetensors"), Channels.newChannel(new ByteArrayInputStream(junk)), junk.length,
                io.thermocline.engine.PutOptions.defaults()).join();
        e = assertThrows(IOException.class, () -> ModelServer.load(engine, "junk/"));
        assertThat(e.getMessage()).contains("junk/model.safetensors", "header length");

        e = assertThrows(IOException.class, () -> ModelServer.load(engine, "nothing-here/"));
        assertThat(e.getMessage()).contains("nothing-here/model.safetensors");
    }

    @Test
    void servingReadsGoOnWhileTheEngineMovesTheShards() throws Exception {
        SyntheticModel model = SyntheticModel.of(16L << 20, 2);
        model.put(engine, PREFIX, "s3");
        stage("fabric");
        try (ModelServer server = ModelServer.load(engine, PREFIX, new ModelServer.Options(1 << 20, 4))) {
            assertLoaded(server, model);
            List<ModelServer.Tensor> tensors = new ArrayList<>(server.tensors());
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicLong reads = new AtomicLong();
            Set<String> servedFrom = ConcurrentHashMap.newKeySet();
            Thread reader = Thread.ofPlatform().name("serving-reads").start(() -> {
                SplittableRandom random = new SplittableRandom(7);
                ByteBuffer got = ByteBuffer.allocateDirect(64 << 10);
                try {
                    while (!stop.get()) {
                        ModelServer.Tensor t = tensors.get(random.nextInt(tensors.size()));
                        int n = (int) Math.min(got.capacity(), t.data().byteSize());
                        long at = random.nextLong(t.data().byteSize() - n + 1);
                        ModelServer.Served s = server.read(t.name(), at, got.clear().limit(n)).join();
                        servedFrom.add(s.tier());
                        long bad = got.flip().mismatch(t.data().asSlice(at, n).asByteBuffer());
                        if (bad >= 0) {
                            throw new AssertionError(t.name() + " at " + (at + bad) + ": served bytes differ from the loaded ones (from " + s.tier() + ")");
                        }
                        reads.incrementAndGet();
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            try {
                awaitReads(reads, 20);
                stage("local");                                        // fabric -> local
                awaitReads(reads, reads.get() + 20);
                for (SyntheticModel.Shard s : model.shards()) {        // fabric copies go
                    engine.evict(ObjectKey.of(PREFIX + s.fileName()), "fabric").join();
                }
                awaitReads(reads, reads.get() + 20);
                for (SyntheticModel.Shard s : model.shards()) {        // local copies go: S3 only
                    engine.evict(ObjectKey.of(PREFIX + s.fileName()), "local").join();
                }
                awaitReads(reads, reads.get() + 20);
            } finally {
                stop.set(true);
                reader.join();
            }
            if (failure.get() != null) {
                throw new AssertionError("a serving read failed while shards moved", failure.get());
            }
            assertThat(servedFrom).contains("fabric", "local", "s3");
        }
    }

    private static void awaitReads(AtomicLong reads, long atLeast) throws InterruptedException {
        long deadline = System.nanoTime() + TestTimeouts.seconds(30).toNanos();
        while (reads.get() < atLeast) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("serving reads stalled at " + reads.get());
            }
            Thread.sleep(5);
        }
    }
}
