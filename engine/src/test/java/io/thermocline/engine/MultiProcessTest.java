package io.thermocline.engine;

import io.thermocline.placement.PolicyConfig;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.testkit.ChildJvm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static io.thermocline.engine.EngineFixture.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * An attached JVM ({@link AttachedReader}) reads one object whole in a tight loop while this
 * JVM, the owner, promotes and demotes it between tiers as fast as it can. No read may fail and
 * none may return bytes other than the object's.
 */
class MultiProcessTest {

    @TempDir
    Path dir;

    static PolicyConfig policy() {
        return PolicyConfig.builder().build();
    }

    @Test
    void anAttachedReaderNeverFailsNorSeesMixedBytesWhileTheOwnerMovesTheObject() throws Exception {
        long size = MIB + 12_345;
        long seed = 77;
        long runMillis = 8_000;
        try (EmbeddedS3Server server = EmbeddedS3Server.start(dir.resolve("s3-server"))) {
            server.createBucket("multiproc");
            EngineConfig config = EngineFixture.config(dir, server.endpoint(), server.accessKey(), server.secretKey(), "multiproc", policy()).build();
            try (TierEngine owner = TierEngine.open(config)) {
                assertTrue(owner.isOwner());
                ObjectKey key = ObjectKey.of("models/m/shard-1");
                // write-through: local and s3
                EngineFixture.put(owner, key.toString(), seed, size, PutOptions.defaults());
                Process child = ChildJvm.start(AttachedReader.class, dir.toString(), server.endpoint().toString(), server.accessKey(),
                        server.secretKey(), "multiproc", key.toString(), Long.toString(seed), Long.toString(size), Long.toString(runMillis));
                List<String> lines = new ArrayList<>();
                try {
                    BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
                    String line;
                    while ((line = out.readLine()) != null && !line.equals("READY")) {
                        lines.add(line);
                    }
                    assertTrue(line != null, "the reader exited before attaching:\n" + String.join("\n", lines));
                    int moves = 0;
                    long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(runMillis - 1_000);
                    while (System.nanoTime() < until) {
                        // local -> also fabric -> off local (reads go to s3: attached processes
                        // read shared tiers) -> back to local -> off fabric
                        owner.stage(List.of(key), "fabric", Duration.ZERO).future().join();
                        assertTrue(owner.evict(key, "local").join());
                        Thread.sleep(150);
                        owner.stage(List.of(key), "local", Duration.ZERO).future().join();
                        assertTrue(owner.evict(key, "fabric").join());
                        Thread.sleep(150);
                        moves += 4;
                    }
                    while ((line = out.readLine()) != null) {
                        lines.add(line);
                    }
                    assertTrue(child.waitFor(60, TimeUnit.SECONDS), "the reader did not finish");
                    String done = lines.stream().filter(l -> l.startsWith("DONE ")).findFirst()
                            .orElseThrow(() -> new AssertionError("no summary from the reader:\n" + String.join("\n", lines)));
                    System.out.println("attached reader: " + done + "; owner made " + moves + " moves");
                    List<String> failures = lines.stream().filter(l -> l.startsWith("FAIL")).toList();
                    assertEquals(List.of(), failures, "reads that failed or returned wrong bytes");
                    assertTrue(done.contains("local:") && done.contains("s3:"),
                            "the reader should have read from local and from s3 while the object moved: " + done);
                    assertTrue(moves >= 8, "only " + moves + " moves ran");
                } finally {
                    if (child.isAlive()) {
                        child.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
                    }
                }
            }
        }
    }
}
