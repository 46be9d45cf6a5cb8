package io.thermocline.tier.local;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.testkit.ChildJvm;
import io.thermocline.tier.testkit.TestData;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Crash safety of LocalTier with real processes: a writer killed mid-object, and damaged object files. */
@ScaledTimeout(90)
class LocalTierCrashTest {

    @TempDir
    Path root;

    @Test
    void writerKilledMidObject_leavesNothing_andALiveWritersTempFileIsKept() throws Exception {
        Process child = startCrashingWriter("models/killed.bin");
        try {
            awaitReady(child);
            // while the writer lives, another process opening the tier must not delete its temp file
            try (LocalTier tier = LocalTier.open(LocalTierConfig.builder(root).build())) {
                assertEquals(1, tempFiles().size(), "the live writer's temp file is kept");
                assertEquals(Optional.empty(), tier.stat(ObjectKey.of("models/killed.bin")).join());
            }
        } finally {
            child.destroyForcibly();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS), "child exited");
        }
        try (LocalTier tier = LocalTier.open(LocalTierConfig.builder(root).build())) {
            assertEquals(List.of(), tempFiles(), "the dead writer's temp file is removed at open");
            assertEquals(Optional.empty(), tier.stat(ObjectKey.of("models/killed.bin")).join());
            assertEquals(0, tier.usage().objectCount());
            assertEquals(0, tier.usage().usedInBytes());
            assertEquals(0, tier.usage().reservedInBytes());
        }
    }

    @Test
    void damagedRecord_isQuarantinedAtOpen_notDeleted_andOthersStillLoad() throws Exception {
        ObjectKey good = ObjectKey.of("good");
        ObjectKey bad = ObjectKey.of("bad");
        Path badSum;
        Path badFile;
        try (LocalTier tier = LocalTier.open(LocalTierConfig.builder(root).build())) {
            for (ObjectKey k : List.of(good, bad)) {
                try (ObjectWriter w = tier.create(WriteRequest.of(k, 10_000)).join()) {
                    w.write(0, TestData.bytes(3, 0, 10_000)).join();
                    w.commit().join();
                }
            }
            badSum = tier.sumPathOf(bad);
            badFile = tier.pathFor(bad);
        }
        try (RandomAccessFile f = new RandomAccessFile(badSum.toFile(), "rw")) {
            f.seek(SumFile.HEADER_LENGTH + 9); // inside the record's size field
            f.write(0x7f);
        }
        try (LocalTier tier = LocalTier.open(LocalTierConfig.builder(root).build())) {
            assertEquals(1, tier.usage().objectCount());
            assertEquals(Optional.empty(), tier.stat(bad).join());
            assertEquals(Optional.empty(), tier.plainPath(bad));
            try (ObjectReader r = tier.openReader(good).join()) {
                assertEquals(10_000, r.info().sizeInBytes());
            }
        }
        try (Stream<Path> s = Files.list(root.resolve(LocalTier.QUARANTINE_DIR))) {
            assertThat(s.map(p -> p.getFileName().toString()).toList())
                    .anyMatch(n -> n.startsWith(badSum.getFileName().toString()));
        }
        assertTrue(Files.exists(badFile), "the data file of a damaged record is not deleted");
    }

    @Test
    void tempFileOfAReusedPid_isRemoved_butThisProcesssOwnIsKept() throws Exception {
        try (LocalTier tier = LocalTier.open(LocalTierConfig.builder(root).build())) {
            assertEquals(0, tier.usage().objectCount());
        }
        long pid = ProcessHandle.current().pid();
        Path reused = root.resolve(LocalTier.TMP_DIR).resolve("ab." + pid + "-12345.1" + LocalTier.TMP_SUFFIX);
        Path ours = root.resolve(LocalTier.TMP_DIR).resolve("cd." + LocalTier.PROCESS_TAG + ".1" + LocalTier.TMP_SUFFIX);
        Path gone = root.resolve(LocalTier.TMP_DIR).resolve("ef.999999999-1.1" + LocalTier.TMP_SUFFIX);
        for (Path p : List.of(reused, ours, gone)) {
            Files.write(p, new byte[10]);
        }
        LocalTier.open(LocalTierConfig.builder(root).build()).close();
        assertEquals(List.of(ours), tempFiles());
    }

    private Process startCrashingWriter(String key) throws Exception {
        return ChildJvm.start(CrashingWriter.class, root.toString(), key);
    }

    private static void awaitReady(Process child) throws Exception {
        ChildJvm.awaitReady(child);
    }

    private List<Path> tempFiles() throws Exception {
        try (Stream<Path> s = Files.list(root.resolve(LocalTier.TMP_DIR))) {
            List<Path> files = s.toList();
            assertThat(files).allMatch(p -> p.toString().endsWith(LocalTier.TMP_SUFFIX));
            return files;
        }
    }
}
