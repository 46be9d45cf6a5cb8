package io.thermocline.tier.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectNotFoundException;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.testkit.TestData;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionException;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The local tier's plain-file layout: paths from keys, escaped names, files changed behind its back, old roots. */
class LocalTierPlainFilesTest {

    @TempDir
    Path dir;

    private LocalTier open(boolean directIo) {
        return LocalTier.open(LocalTierConfig.builder(dir.resolve("tier")).directIo(directIo).build());
    }

    private static void put(LocalTier tier, String key, long seed, int size) {
        try (ObjectWriter w = tier.create(WriteRequest.of(ObjectKey.of(key), size)).join()) {
            if (size > 0) {
                w.write(0, TestData.bytes(seed, 0, size)).join();
            }
            w.commit().join();
        }
    }

    private static byte[] bytes(long seed, int size) {
        ByteBuffer b = TestData.bytes(seed, 0, size);
        byte[] a = new byte[size];
        b.get(a);
        return a;
    }

    private static byte[] readThroughTier(LocalTier tier, String key) {
        try (ObjectReader r = tier.openReader(ObjectKey.of(key)).join()) {
            ByteBuffer dst = ByteBuffer.allocate((int) r.info().sizeInBytes());
            while (dst.hasRemaining()) {
                if (r.read(dst.position(), dst).join() < 0) {
                    break;
                }
            }
            return dst.array();
        }
    }

    @ParameterizedTest(name = "directIo={0}")
    @ValueSource(booleans = {false, true})
    void anObject_isAReadOnlyPlainFileAtItsKeysPath_holdingExactlyItsBytes(boolean directIo) throws Exception {
        String reason = directIo ? LocalTierDirectIoTest.DirectIoSupport.unsupportedReason(dir) : null;
        if (reason != null) {
            System.out.println("SKIPPED O_DIRECT case: " + reason);
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(reason == null, reason);
        try (LocalTier tier = open(directIo)) {
            put(tier, "models/m/model-00001-of-00002.safetensors", 1, 10_000);
            put(tier, "models/m/config.json", 2, 57);
            put(tier, "models/m/empty", 3, 0);
            Path shard = tier.filesRoot().resolve("models/m/model-00001-of-00002.safetensors");
            assertEquals(Optional.of(shard), tier.plainPath(ObjectKey.of("models/m/model-00001-of-00002.safetensors")));
            assertArrayEquals(bytes(1, 10_000), Files.readAllBytes(shard));
            assertArrayEquals(bytes(2, 57), Files.readAllBytes(tier.filesRoot().resolve("models/m/config.json")));
            assertEquals(0, Files.size(tier.filesRoot().resolve("models/m/empty")));
            assertEquals("r--r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(shard)));
            assertArrayEquals(bytes(1, 10_000), readThroughTier(tier, "models/m/model-00001-of-00002.safetensors"));
            assertEquals(Optional.empty(), tier.plainPath(ObjectKey.of("models/m/absent")));
            assertTrue(tier.filesRoot().startsWith(dir.resolve("tier")));
        }
        try (LocalTier tier = open(directIo)) {
            assertEquals(3, tier.usage().objectCount(), "index rebuilt from the records at open");
            assertArrayEquals(bytes(2, 57), readThroughTier(tier, "models/m/config.json"));
            assertEquals(57, tier.stat(ObjectKey.of("models/m/config.json")).join().orElseThrow().sizeInBytes());
            // replace and delete keep the tree tidy: no empty directories are left behind
            put(tier, "models/m/config.json", 4, 99);
            assertArrayEquals(bytes(4, 99), Files.readAllBytes(tier.filesRoot().resolve("models/m/config.json")));
            for (String k : List.of("models/m/model-00001-of-00002.safetensors", "models/m/config.json", "models/m/empty")) {
                assertTrue(tier.delete(ObjectKey.of(k)).join());
            }
            assertFalse(Files.exists(tier.filesRoot().resolve("models")), "empty directories are removed");
            assertEquals(0, tier.usage().usedInBytes());
        }
    }

    @Test
    void keysThatCannotBePlainPaths_getEscapedNames_stayReadable_andNothingLandsOutsideTheRoot() throws Exception {
        String longSegment = "s".repeat(256);
        List<String> plain = List.of("a", "x/y/z", "ünïcode/ß.bin", "s".repeat(255));
        List<String> escaped = List.of("a/b", "x/y", "e//f", "t/", longSegment + "/f", "line\nbreak", "tab\tkey");
        try (LocalTier tier = open(false)) {
            int seed = 10;
            for (String k : plain) {
                put(tier, k, seed++, 100 + seed);
            }
            for (String k : escaped) {
                put(tier, k, seed++, 100 + seed);
            }
        }
        for (int round = 0; round < 2; round++) { // and again after a reopen
            try (LocalTier tier = open(false)) {
                int seed = 10;
                for (String k : plain) {
                    Path p = tier.plainPath(ObjectKey.of(k)).orElseThrow(() -> new AssertionError(k + " has no plain path"));
                    assertEquals(tier.filesRoot().resolve(k), p);
                    assertArrayEquals(bytes(seed, 100 + seed + 1), Files.readAllBytes(p), k);
                    seed++;
                }
                for (String k : escaped) {
                    assertEquals(Optional.empty(), tier.plainPath(ObjectKey.of(k)), k + " is escaped");
                    assertArrayEquals(bytes(seed, 100 + seed + 1), readThroughTier(tier, k), k);
                    seed++;
                }
                assertEquals(plain.size() + escaped.size(), tier.usage().objectCount());
            }
        }
        Path rootReal = dir.resolve("tier").toRealPath();
        try (Stream<Path> all = Files.walk(dir)) {
            assertThat(all.filter(Files::isRegularFile).map(p -> {
                try {
                    return p.toRealPath();
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).toList()).allMatch(p -> p.startsWith(rootReal));
        }
        // once "a/b" is gone, "a" keeps its plain path; once "a" is gone too, "a/b" written again gets one
        try (LocalTier tier = open(false)) {
            tier.delete(ObjectKey.of("a")).join();
            tier.delete(ObjectKey.of("a/b")).join();
            put(tier, "a/b", 99, 10);
            assertEquals(Optional.of(tier.filesRoot().resolve("a/b")), tier.plainPath(ObjectKey.of("a/b")));
        }
    }

    @Test
    void aFileChangedBehindTheTiersBack_isNeitherServedNorCounted() throws Exception {
        try (LocalTier tier = open(false)) {
            put(tier, "m/touched", 1, 5000);
            put(tier, "m/replaced", 2, 5000);
            put(tier, "m/truncated", 3, 5000);
            put(tier, "m/kept", 4, 5000);
            Path touched = tier.plainPath(ObjectKey.of("m/touched")).orElseThrow();
            Files.setLastModifiedTime(touched, FileTime.fromMillis(Files.getLastModifiedTime(touched).toMillis() - 60_000));
            assertEquals(Optional.empty(), tier.stat(ObjectKey.of("m/touched")).join(), "a new mtime is detected on stat");
            assertEquals(Optional.empty(), tier.plainPath(ObjectKey.of("m/touched")));
            assertEquals(3, tier.usage().objectCount());
            // same bytes, new inode: another tool copied a file over it
            Path replaced = tier.plainPath(ObjectKey.of("m/replaced")).orElseThrow();
            Path copy = dir.resolve("copy");
            Files.copy(replaced, copy);
            Files.move(copy, replaced, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            CompletionException e = org.junit.jupiter.api.Assertions.assertThrows(CompletionException.class,
                    () -> tier.openReader(ObjectKey.of("m/replaced")).join());
            assertThat(e.getCause()).isInstanceOf(ObjectNotFoundException.class);
        }
        Path truncated = dir.resolve("tier").resolve(LocalTier.FILES_DIR).resolve("m/truncated");
        try (FileChannel ch = FileChannel.open(truncated, StandardOpenOption.WRITE)) {
            ch.truncate(100);
        }
        try (LocalTier tier = open(false)) {
            assertEquals(Optional.empty(), tier.stat(ObjectKey.of("m/truncated")).join(), "a new size is detected at open");
            assertEquals(List.of(ObjectKey.of("m/kept")), tier.list("m/", null, 100).join().keys());
            assertEquals(1, tier.usage().objectCount());
            assertArrayEquals(bytes(4, 5000), readThroughTier(tier, "m/kept"));
            assertFalse(Files.exists(truncated), "the changed file is moved out of the tree");
            try (Stream<Path> q = Files.list(dir.resolve("tier").resolve(LocalTier.QUARANTINE_DIR))) {
                assertThat(q.count()).isGreaterThanOrEqualTo(6); // three data files and their records
            }
        }
    }

    @Test
    void aSecondInstanceOnTheRoot_followsWhatTheFirstPublishesReplacesAndDeletes_quarantiningNothing() throws Exception {
        // as an attached process follows the owner: each instance keeps its own index
        try (LocalTier owner = open(false); LocalTier attached = open(false)) {
            ObjectKey key = ObjectKey.of("models/m/model.safetensors");
            assertEquals(Optional.empty(), attached.stat(key).join());

            put(owner, key.value(), 61, 300_000);
            assertArrayEquals(bytes(61, 300_000), readThroughTier(attached, key.value()), "published after the scan");
            assertEquals(Optional.of(owner.filesRoot().resolve(key.value())), attached.plainPath(key));
            assertEquals(1, attached.usage().objectCount());

            put(owner, key.value(), 62, 200_000); // replaced: a new inode under the same name
            assertArrayEquals(bytes(62, 200_000), readThroughTier(attached, key.value()), "replaced after the first read");
            assertEquals(200_000, attached.stat(key).join().orElseThrow().sizeInBytes());

            assertTrue(owner.delete(key).join());
            assertEquals(Optional.empty(), attached.stat(key).join());
            assertEquals(Optional.empty(), attached.plainPath(key));
            assertEquals(0, attached.usage().objectCount());
            assertEquals(0, attached.usage().usedInBytes());

            put(owner, "models/m/config.json", 63, 500);
            assertTrue(attached.delete(ObjectKey.of("models/m/config.json")).join(), "a delete of what the other published");
            assertEquals(Optional.empty(), owner.stat(ObjectKey.of("models/m/config.json")).join());
        }
        Path quarantine = dir.resolve("tier").resolve("quarantine");
        assertTrue(!Files.exists(quarantine) || isEmpty(quarantine), "nothing was quarantined");
    }

    private static boolean isEmpty(Path directory) throws IOException {
        try (Stream<Path> s = Files.list(directory)) {
            return s.findAny().isEmpty();
        }
    }

    @Test
    void deletingAnObjectThatAProcessHasMapped_keepsTheMappingValid() throws Exception {
        int size = 3 << 20;
        try (LocalTier tier = open(false)) {
            put(tier, "model/shard.safetensors", 7, size);
            Path file = tier.plainPath(ObjectKey.of("model/shard.safetensors")).orElseThrow();
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                MappedByteBuffer mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
                assertTrue(tier.delete(ObjectKey.of("model/shard.safetensors")).join());
                assertFalse(Files.exists(file), "the file is unlinked");
                assertEquals(Optional.empty(), tier.stat(ObjectKey.of("model/shard.safetensors")).join());
                // the mapping still reads every byte of the deleted file (and writing a new version
                // of the key does not touch it: a new file, a new inode)
                put(tier, "model/shard.safetensors", 8, size);
                assertEquals(-1, TestData.firstMismatch(7, 0, mapped.duplicate()));
            }
        }
    }

    @Test
    void aDataRootOfTheFormerLayout_isConvertedAtOpen_intoPlainFiles() throws Exception {
        Path root = copyLegacyFixture(dir.resolve("tier"));
        String[] keys = {"models/tiny/config.json", "models/tiny/model-00001-of-00002.safetensors", "a", "a/b", "a//c", "empty"};
        int[] sizes = {57, 70_000, 4096, 1, 300, 0};
        for (int round = 0; round < 2; round++) {
            try (LocalTier tier = open(false)) {
                assertEquals(keys.length, tier.usage().objectCount());
                for (int i = 0; i < keys.length; i++) {
                    ObjectInfo info = tier.stat(ObjectKey.of(keys[i])).join().orElseThrow();
                    assertEquals(sizes[i], info.sizeInBytes(), keys[i]);
                    assertArrayEquals(bytes(i + 1, sizes[i]), readThroughTier(tier, keys[i]), keys[i]);
                }
                Path config = tier.plainPath(ObjectKey.of("models/tiny/config.json")).orElseThrow();
                assertArrayEquals(bytes(1, 57), Files.readAllBytes(config));
                assertArrayEquals(bytes(2, 70_000),
                        Files.readAllBytes(tier.filesRoot().resolve("models/tiny/model-00001-of-00002.safetensors")));
                // "a" and "a/b" cannot both be plain: one of them is escaped, whichever came second
                assertEquals(1, Stream.of("a", "a/b").filter(k -> tier.plainPath(ObjectKey.of(k)).isPresent()).count());
                assertEquals(Optional.empty(), tier.plainPath(ObjectKey.of("a//c")));
                assertFalse(Files.exists(root.resolve(LocalTier.LEGACY_OBJECTS_DIR)), "the former directory is gone");
            }
        }
    }

    @Test
    void aConversionCutOffAfterTheTrailerWasDropped_isFinishedAtTheNextOpen() throws Exception {
        // the record of one object, as the conversion's first step writes it
        Path scratch = copyLegacyFixture(dir.resolve("scratch"));
        ObjectKey key = ObjectKey.of("models/tiny/model-00001-of-00002.safetensors");
        ObjectInfo info;
        try (LocalTier tier = LocalTier.open(LocalTierConfig.builder(scratch).build())) {
            info = tier.stat(key).join().orElseThrow();
        }
        Path root = copyLegacyFixture(dir.resolve("tier"));
        String hash = LocalTier.hashOf(key);
        Path legacyFile = root.resolve("objects").resolve(hash.substring(0, 2)).resolve(hash + ".obj");
        Path sum = root.resolve(LocalTier.SUMS_DIR).resolve(hash.substring(0, 2)).resolve(hash + LocalTier.SUM_SUFFIX);
        Files.createDirectories(sum.getParent());
        try (FileChannel ch = FileChannel.open(sum, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(SumFile.encode(SumFile.STATE_CONVERTING, false, SumFile.Identity.UNKNOWN, info));
        }
        try (FileChannel ch = FileChannel.open(legacyFile, StandardOpenOption.WRITE)) {
            ch.truncate(info.sizeInBytes()); // the crash came after the truncation: the trailer is gone
        }
        try (LocalTier tier = open(false)) {
            assertEquals(6, tier.usage().objectCount());
            assertArrayEquals(bytes(2, 70_000), readThroughTier(tier, key.value()));
            assertArrayEquals(bytes(2, 70_000), Files.readAllBytes(tier.plainPath(key).orElseThrow()));
            assertFalse(Files.exists(legacyFile));
        }
    }

    /** Copies the data root that the former release wrote (test resource legacy-root/) to {@code target}. */
    private static Path copyLegacyFixture(Path target) throws Exception {
        List<String> files = new ArrayList<>();
        try (InputStream list = LocalTierPlainFilesTest.class.getResourceAsStream("/legacy-root/FILES")) {
            new String(list.readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII).lines()
                    .filter(l -> !l.isBlank()).forEach(files::add);
        }
        assertEquals(6, files.size());
        for (String f : files) {
            Path to = target.resolve(f);
            Files.createDirectories(to.getParent());
            try (InputStream in = LocalTierPlainFilesTest.class.getResourceAsStream("/legacy-root/" + f)) {
                Files.copy(in, to);
            }
        }
        return target;
    }
}
