package io.thermocline.mount;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thermocline.engine.EngineConfig;
import io.thermocline.engine.ObjectStatus;
import io.thermocline.engine.PutOptions;
import io.thermocline.engine.StandardTiers;
import io.thermocline.engine.TierEngine;
import io.thermocline.placement.PolicyConfig;
import io.thermocline.placement.Rule;
import io.thermocline.placement.TierSpec;
import io.thermocline.placement.WriteMode;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.s3.S3TierConfig;
import io.thermocline.tier.testkit.ChildProcesses;
import io.thermocline.tier.testkit.ScaledTimeout;
import io.thermocline.tier.testkit.TestData;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

/**
 * A real FUSE mount of an engine with three tiers: {@code local} (plain files), {@code fabric}
 * (extents on a file-backed block device) and {@code s3} (the embedded S3 server). Skipped, with
 * the reason printed, where FUSE is unavailable.
 */
@ScaledTimeout(120)
class ThermoclineMountTest {

    private static final long MIB = 1 << 20;

    @TempDir
    Path dir;

    @org.junit.jupiter.api.extension.RegisterExtension
    final ChildProcesses processes = new ChildProcesses();

    private EmbeddedS3Server server;
    private TierEngine engine;
    private ThermoclineMount mount;
    private Path mountPoint;

    @BeforeEach
    void setUp() throws Exception {
        Optional<String> unavailable = ThermoclineMount.unavailableReason();
        if (unavailable.isPresent()) {
            System.err.println("SKIPPED: FUSE is unavailable here: " + unavailable.get());
            Assumptions.abort("FUSE is unavailable here: " + unavailable.get());
        }
        server = EmbeddedS3Server.start(dir.resolve("s3"));
        server.createBucket("mount");
        EngineConfig config = config(dir, server.endpoint().toString(), server.accessKey(), server.secretKey(), "mount");
        engine = TierEngine.open(config);
        mountPoint = Files.createDirectory(dir.resolve("mnt"));
    }

    @AfterEach
    void tearDown() throws Exception {
        if (mount != null) {
            mount.close();
        }
        if (mountPoint != null && ThermoclineMount.mountTypeAt(mountPoint).isPresent()) {
            // a test that failed between killing a mount process and mounting again leaves its dead mount
            new ProcessBuilder("fusermount3", "-u", "-z", mountPoint.toString()).redirectErrorStream(true).start()
                    .waitFor(TestTimeouts.millis(30), java.util.concurrent.TimeUnit.MILLISECONDS);
        }
        if (engine != null) {
            engine.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private void put(String key, long seed, long size, PutOptions options) {
        engine.put(ObjectKey.of(key), TestData.channel(seed, size), size, options).join();
    }

    private ThermoclineMount mount() throws MountException {
        mount = ThermoclineMount.mount(engine, mountPoint, ThermoclineMount.Options.defaults());
        return mount;
    }

    @Test
    void everyObjectIsAFileAtItsKeysPath_withItsSizeBeforeAnyRead_andReadsEqualTheObject_fromEveryTier() throws Exception {
        long localSize = 3 * MIB + 4097;
        long fabricSize = 2 * MIB + 1;
        long s3Size = 5 * MIB + 12345;
        put("models/tiny/model-00001-of-00003.safetensors", 1, localSize, PutOptions.defaults());
        put("models/tiny/model-00002-of-00003.safetensors", 2, fabricSize,
                PutOptions.defaults().withTier("fabric").withWriteMode(WriteMode.LOCAL_ONLY));
        put("models/tiny/model-00003-of-00003.safetensors", 3, s3Size, PutOptions.defaults().withTier("s3"));
        put("models/tiny/config.json", 4, 517, PutOptions.defaults());
        assertThat(tiers("models/tiny/model-00002-of-00003.safetensors")).containsExactly("fabric");
        assertThat(tiers("models/tiny/model-00003-of-00003.safetensors")).containsExactly("s3");

        mount();

        Path model = mountPoint.resolve("models/tiny");
        assertThat(Files.isDirectory(mountPoint.resolve("models"))).isTrue();
        try (Stream<Path> files = Files.list(model)) {
            assertThat(files.map(p -> p.getFileName().toString()).sorted().toList()).containsExactly(
                    "config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                    "model-00003-of-00003.safetensors");
        }
        // sizes come from the catalog: nothing has been read yet
        assertThat(Files.size(model.resolve("model-00001-of-00003.safetensors"))).isEqualTo(localSize);
        assertThat(Files.size(model.resolve("model-00002-of-00003.safetensors"))).isEqualTo(fabricSize);
        assertThat(Files.size(model.resolve("model-00003-of-00003.safetensors"))).isEqualTo(s3Size);
        assertThat(reads("models/tiny/model-00003-of-00003.safetensors")).isZero();

        assertContent(model.resolve("model-00001-of-00003.safetensors"), 1, localSize);
        assertContent(model.resolve("model-00002-of-00003.safetensors"), 2, fabricSize);
        assertContent(model.resolve("model-00003-of-00003.safetensors"), 3, s3Size);
        assertContent(model.resolve("config.json"), 4, 517);

        // every read went through the engine and counts as heat in the shared region
        for (String shard : List.of("model-00001-of-00003", "model-00002-of-00003", "model-00003-of-00003")) {
            String key = "models/tiny/" + shard + ".safetensors";
            assertThat(reads(key)).as("reads of %s", key).isPositive();
        }
        // the object only in S3 was read through, and promoted into free room on the fastest tier
        TestTimeouts.await("the S3-only shard promoted to local", Duration.ofSeconds(30),
                () -> tiers("models/tiny/model-00003-of-00003.safetensors").contains("local"));
    }

    @Test
    void anObjectAnotherToolUploaded_isAFileAtItsListedSize_andReadsEqualItsBytes() throws Exception {
        long size = 3 * MIB + 77;
        byte[] bytes = new byte[(int) size];
        ByteBuffer into = ByteBuffer.wrap(bytes);
        try (var source = TestData.channel(21, size)) {
            while (into.hasRemaining() && source.read(into) >= 0) {
                // filled chunk by chunk
            }
        }
        try (software.amazon.awssdk.services.s3.S3Client direct = software.amazon.awssdk.services.s3.S3Client.builder()
                .endpointOverride(server.endpoint()).forcePathStyle(true)
                .region(software.amazon.awssdk.regions.Region.of(server.region()))
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(server.accessKey(),
                        server.secretKey()))).build()) {
            // under the tier's prefix m/, with no record of the tier's: as aws s3 cp leaves it
            direct.putObject(b -> b.bucket("mount").key("m/foreign/model.safetensors"),
                    software.amazon.awssdk.core.sync.RequestBody.fromBytes(bytes));
        }
        assertThat(engine.list("")).isEmpty();

        mount();

        Path file = mountPoint.resolve("foreign/model.safetensors");
        assertThat(Files.size(file)).as("the size S3's listing tells, before any read").isEqualTo(size);
        assertContent(file, 21, size);
        // the first read imported it: the engine knows it now, with its bytes' CRC32Cs, and the read was heat
        assertThat(tiers("foreign/model.safetensors")).contains("s3");
        assertThat(reads("foreign/model.safetensors")).isPositive();
        assertContent(file, 21, size);
    }

    @Test
    void nothingCanBeWritten_andAWriteAnswersReadOnly() throws Exception {
        put("a/b.bin", 5, 1000, PutOptions.defaults());
        mount();
        Path file = mountPoint.resolve("a/b.bin");
        assertThat(Files.isReadable(file)).isTrue();
        assertThatThrownBy(() -> Files.newOutputStream(file, StandardOpenOption.WRITE).close())
                .isInstanceOf(FileSystemException.class).hasMessageContaining("Read-only file system");
        assertThatThrownBy(() -> Files.createFile(mountPoint.resolve("a/new.bin")))
                .isInstanceOf(FileSystemException.class).hasMessageContaining("Read-only file system");
        assertThatThrownBy(() -> Files.delete(file))
                .isInstanceOf(FileSystemException.class).hasMessageContaining("Read-only file system");
        assertThat(Files.size(file)).isEqualTo(1000);
    }

    @Test
    void aKeyThatIsAlsoADirectory_isListedUnderItsEscapedName_andStaysReadable() throws Exception {
        // local-only: S3Proxy's file-system store cannot hold a key beside a "directory" of the same name
        put("ckpt", 6, 3000, PutOptions.defaults().withWriteMode(WriteMode.LOCAL_ONLY));
        put("ckpt/step-1", 7, 4000, PutOptions.defaults().withWriteMode(WriteMode.LOCAL_ONLY));
        mount();
        assertThat(Files.isDirectory(mountPoint.resolve("ckpt"))).isTrue();
        assertContent(mountPoint.resolve("ckpt/step-1"), 7, 4000);
        assertContent(mountPoint.resolve(Namespace.ESCAPED_DIR).resolve("ckpt"), 6, 3000);
    }

    @Test
    void anObjectPutAfterTheMount_appearsWithinTheRefreshInterval() throws Exception {
        mount();
        assertThat(Files.exists(mountPoint.resolve("late/x.bin"))).isFalse();
        put("late/x.bin", 8, 70_000, PutOptions.defaults());
        TestTimeouts.await("late/x.bin visible through the mount", Duration.ofSeconds(20),
                () -> Files.exists(mountPoint.resolve("late/x.bin")));
        assertContent(mountPoint.resolve("late/x.bin"), 8, 70_000);
    }

    @Test
    void aCorruptedChunkWithNoGoodCopy_answersEio_neverWrongBytes() throws Exception {
        long size = 4 * MIB;
        put("bad/only-local.bin", 9, size, PutOptions.defaults().withWriteMode(WriteMode.LOCAL_ONLY));
        assertThat(tiers("bad/only-local.bin")).containsExactly("local");
        Path plain = engine.plainPath(ObjectKey.of("bad/only-local.bin"), "local").orElseThrow();
        corrupt(plain, 2 * MIB + 100);
        mount();
        Path file = mountPoint.resolve("bad/only-local.bin");
        assertThat(Files.size(file)).isEqualTo(size);
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer buf = ByteBuffer.allocate((int) MIB);
            assertThatThrownBy(() -> ch.read(buf, 2 * MIB)).isInstanceOf(IOException.class)
                    .hasMessageContaining("Input/output error");
        }
        assertThat(mount.failedReads()).isPositive();
        assertThat(mount.checksumFailures()).isPositive();
    }

    @Test
    void aCorruptedLocalCopy_isReadFromAnotherTier_withTheRightBytes() throws Exception {
        long size = 3 * MIB + 5;
        put("twice/x.bin", 10, size, PutOptions.defaults()); // write-through: local and s3
        assertThat(tiers("twice/x.bin")).contains("local", "s3");
        corrupt(engine.plainPath(ObjectKey.of("twice/x.bin"), "local").orElseThrow(), MIB + 7);
        mount();
        assertContent(mountPoint.resolve("twice/x.bin"), 10, size);
        assertThat(mount.failedReads()).isZero();
    }

    @Test
    void s3StoppedInTheMiddleOfARead_answersEio_andReadsWorkAgainOnceItIsBack() throws Exception {
        long size = 24 * MIB + 17;
        put("cold/weights.bin", 14, size, PutOptions.defaults().withTier("s3"));
        assertThat(tiers("cold/weights.bin")).containsExactly("s3");
        mount();
        Path file = mountPoint.resolve("cold/weights.bin");
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer buf = ByteBuffer.allocate((int) MIB);
            assertThat(ch.read(buf, 0)).isEqualTo((int) MIB);
            assertThat(TestData.firstMismatch(14, 0, buf.flip())).isNegative();
            int port = server.endpoint().getPort();
            String accessKey = server.accessKey();
            String secretKey = server.secretKey();
            server.close();
            server = null;
            // far past what the kernel's read-ahead may have fetched after the first MiB
            assertThatThrownBy(() -> ch.read(buf.clear(), 16 * MIB)).isInstanceOf(IOException.class)
                    .hasMessageContaining("Input/output error");
            assertThat(mount.failedReads()).isPositive();
            server = EmbeddedS3Server.start(dir.resolve("s3"), port, accessKey, secretKey);
            // the same open file reads again, and so does a new open, byte for byte
            assertThat(ch.read(buf.clear(), 16 * MIB)).isEqualTo((int) MIB);
            assertThat(TestData.firstMismatch(14, 16 * MIB, buf.flip())).isNegative();
        }
        assertContent(file, 14, size);
        assertThat(tiers("cold/weights.bin")).containsExactly("s3");
    }

    @Test
    void aCorruptedChunkOnFabric_answersEioForThatRangeOnly() throws Exception {
        long size = 4 * MIB;
        put("fab/only.bin", 15, size, PutOptions.defaults().withTier("fabric").withWriteMode(WriteMode.LOCAL_ONLY));
        assertThat(tiers("fab/only.bin")).containsExactly("fabric");
        long at = 2 * MIB + 100;
        corruptInImage(dir.resolve("fabric.img"), 15, at);
        mount();
        Path file = mountPoint.resolve("fab/only.bin");
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer buf = ByteBuffer.allocate((int) MIB);
            for (long offset : new long[] {0, MIB, 3 * MIB}) {
                assertThat(ch.read(buf.clear(), offset)).as("read at %d", offset).isEqualTo((int) MIB);
                assertThat(TestData.firstMismatch(15, offset, buf.flip())).as("first wrong byte after %d", offset).isNegative();
            }
            assertThatThrownBy(() -> ch.read(buf.clear(), 2 * MIB)).isInstanceOf(IOException.class)
                    .hasMessageContaining("Input/output error");
            // a small read inside the bad chunk fails too: the whole chunk is checked before any byte is given
            assertThatThrownBy(() -> ch.read(ByteBuffer.allocate(10), 2 * MIB + 4096)).isInstanceOf(IOException.class)
                    .hasMessageContaining("Input/output error");
        }
        assertThat(mount.failedReads()).isGreaterThanOrEqualTo(2);
        assertThat(mount.checksumFailures()).as("EIOs for a chunk that failed its CRC32C").isGreaterThanOrEqualTo(2);
    }

    @Test
    void anObjectDemotedWhileMapped_readsOnThroughTheMapping() throws Exception {
        long size = 8 * MIB + 4097;
        put("mapped/w.bin", 16, size, PutOptions.defaults()); // write-through: local and s3
        assertThat(tiers("mapped/w.bin")).contains("local", "s3");
        mount();
        Path file = mountPoint.resolve("mapped/w.bin");
        try (FileChannel ch = FileChannel.open(file)) {
            java.nio.MappedByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
            byte[] bytes = new byte[(int) MIB];
            map.get(0, bytes);
            assertThat(TestData.firstMismatch(16, 0, ByteBuffer.wrap(bytes))).isNegative();
            assertThat(engine.evict(ObjectKey.of("mapped/w.bin"), "local").join()).isTrue();
            assertThat(tiers("mapped/w.bin")).doesNotContain("local");
            for (long offset = MIB; offset < size; offset += MIB) {
                int n = (int) Math.min(MIB, size - offset);
                map.get((int) offset, bytes, 0, n);
                assertThat(TestData.firstMismatch(16, offset, ByteBuffer.wrap(bytes, 0, n)))
                        .as("first wrong byte of the mapping after %d", offset).isNegative();
            }
        }
        assertThat(mount.failedReads()).isZero();
    }

    @Test
    void sixtyFourConcurrentReadersOfOneFile_allReadTheObject() throws Exception {
        long size = 6 * MIB + 333;
        put("shared/weights.bin", 11, size, PutOptions.defaults().withTier("s3"));
        mount();
        Path file = mountPoint.resolve("shared/weights.bin");
        try (ExecutorService pool = Executors.newFixedThreadPool(64)) {
            List<Future<Void>> readers = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                int start = i;
                Callable<Void> reader = () -> {
                    assertContent(file, 11, size, (start * 64L * 1024) % size);
                    return null;
                };
                readers.add(pool.submit(reader));
            }
            for (Future<Void> f : readers) {
                f.get();
            }
        }
        TestTimeouts.await("every handle released", Duration.ofSeconds(10), () -> mount.openFiles() == 0);
    }

    @Test
    void aMountPointThatIsNotAnEmptyDirectory_isRefusedWithTheReason() throws Exception {
        Files.writeString(mountPoint.resolve("here"), "x");
        assertThatThrownBy(() -> ThermoclineMount.mount(engine, mountPoint, ThermoclineMount.Options.defaults()))
                .isInstanceOf(MountException.class).hasMessageContaining("is not empty")
                .extracting(e -> ((MountException) e).kind()).isEqualTo(MountException.Kind.MOUNT_POINT);
        Path file = dir.resolve("plain-file");
        Files.writeString(file, "x");
        assertThatThrownBy(() -> ThermoclineMount.mount(engine, file, ThermoclineMount.Options.defaults()))
                .isInstanceOf(MountException.class).hasMessageContaining("is not a directory");
    }

    @Test
    void closeUnmounts_andTheMountPointIsAnEmptyDirectoryAgain() throws Exception {
        put("x/y", 12, 100, PutOptions.defaults());
        mount();
        assertThat(mount.isMounted()).as("mounted at %s; mount table:%n%s", mountPoint,
                Files.readString(Path.of("/proc/self/mountinfo"))).isTrue();
        assertThat(ThermoclineMount.mountTypeAt(mountPoint)).contains("fuse.thermocline");
        mount.close();
        assertThat(ThermoclineMount.mountTypeAt(mountPoint)).isEmpty();
        try (Stream<Path> left = Files.list(mountPoint)) {
            assertThat(left.toList()).isEmpty();
        }
        assertThatThrownBy(() -> ThermoclineMount.mount(engine, mountPoint.resolve("missing"), ThermoclineMount.Options.defaults()))
                .isInstanceOf(MountException.class).hasMessageContaining("is not a directory");
    }

    /** The engine of these tests, under {@code dir}, on bucket {@code bucket} of the S3 server at {@code endpoint}. */
    static EngineConfig config(Path dir, String endpoint, String accessKey, String secretKey, String bucket) {
        S3TierConfig s3 = S3TierConfig.builder(bucket).prefix("m/").endpoint(java.net.URI.create(endpoint))
                .credentials(StaticCredentialsProvider.create(AwsBasicCredentials.create(accessKey, secretKey)))
                .build();
        TierSpec local = TierSpec.builder("local", 256 * MIB).build();
        TierSpec fabric = TierSpec.builder("fabric", 256 * MIB).build();
        TierSpec s3Spec = TierSpec.builder("s3", 1L << 40).build();
        return EngineConfig.builder(dir.resolve("root"))
                .regionPath(dir.resolve("region"))
                .regionMaxObjects(4096)
                .tier(StandardTiers.local(local, dir.resolve("local"), false))
                .tier(StandardTiers.blockOnFile(fabric, dir.resolve("fabric.img"),
                        dir.resolve("fabric-catalog"), "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-00000000f001", false))
                .tier(StandardTiers.s3(s3Spec, s3))
                // keys under cold/ prefer S3: opening one starts no read-through promotion, so its reads stay on S3
                .policy(PolicyConfig.builder().tiers(List.of(local, fabric, s3Spec)).rules(List.of(Rule.builder("cold/").preferredTiers(List.of("s3")).build())).build())
                .plannerInterval(Duration.ofHours(1))
                .requestTimeout(Duration.ofSeconds(30))
                .build();
    }

    /**
     * A mount process, for the test of a killed mount: mounts an engine of its own at the mount
     * point, prints {@code mounted}, and waits to be killed.
     * Arguments: DIR ENDPOINT ACCESS_KEY SECRET_KEY BUCKET MOUNTPOINT.
     */
    public static final class Child {
        public static void main(String[] args) throws Exception {
            TierEngine engine = TierEngine.open(config(Path.of(args[0]), args[1], args[2], args[3], args[4]));
            ThermoclineMount.mount(engine, Path.of(args[5]), ThermoclineMount.Options.defaults());
            System.out.println("mounted");
            System.out.flush();
            Thread.sleep(Long.MAX_VALUE);
        }
    }

    @Test
    void aMountWhoseProcessWasKilled_isDetachedByTheNextMount_whichServesItsFiles() throws Exception {
        put("after/kill.bin", 13, 9000, PutOptions.defaults());
        server.createBucket("child");
        Path childDir = Files.createDirectory(dir.resolve("child"));
        Process child = processes.add(new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), Child.class.getName(),
                childDir.toString(), server.endpoint().toString(), server.accessKey(), server.secretKey(), "child",
                mountPoint.toString())
                .redirectErrorStream(true).redirectOutput(childDir.resolve("out.log").toFile()).start());
        TestTimeouts.await("the child mounted", Duration.ofSeconds(60),
                () -> readQuietly(childDir.resolve("out.log")).contains("mounted") || !child.isAlive(),
                () -> readQuietly(childDir.resolve("out.log")));
        assertThat(child.isAlive()).as("child: %s", readQuietly(childDir.resolve("out.log"))).isTrue();
        child.destroyForcibly(); // SIGKILL: no unmount
        assertThat(child.waitFor(TestTimeouts.millis(30), java.util.concurrent.TimeUnit.MILLISECONDS)).isTrue();
        assertThat(ThermoclineMount.mountTypeAt(mountPoint)).contains("fuse.thermocline");
        assertThatThrownBy(() -> Files.list(mountPoint).close()).isInstanceOf(IOException.class)
                .hasMessageContaining("not connected");

        mount();
        assertContent(mountPoint.resolve("after/kill.bin"), 13, 9000);
        mount.close();
        mount = null;
        assertThat(ThermoclineMount.mountTypeAt(mountPoint)).isEmpty();
    }

    private static String readQuietly(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            return e.toString();
        }
    }

    /**
     * Flips the byte of object {@code seed}'s content at {@code offset} where it lies in a block
     * tier's device image, found by its content: 64 bytes of the object around it, searched for in
     * the image (the tests' objects are pseudo-random, so they match in one place only).
     */
    private static void corruptInImage(Path image, long seed, long offset) throws IOException {
        ByteBuffer want = ByteBuffer.allocate(64);
        TestData.fill(seed, offset, want);
        byte[] needle = want.array();
        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer block = ByteBuffer.allocate(1 << 20);
            long base = 0;
            while (base < ch.size()) {
                block.clear();
                int n = ch.read(block, base);
                if (n <= 0) {
                    break;
                }
                byte[] a = block.array();
                for (int i = 0; i + needle.length <= n; i++) {
                    if (a[i] == needle[0] && java.util.Arrays.equals(a, i, i + needle.length, needle, 0, needle.length)) {
                        ch.write(ByteBuffer.wrap(new byte[] {(byte) (needle[0] ^ 0x5a)}), base + i);
                        ch.force(true);
                        return;
                    }
                }
                base += n - needle.length; // overlap: a match across two blocks is found in the next
            }
        }
        throw new AssertionError("object " + seed + "'s bytes at " + offset + " are nowhere in " + image);
    }

    /** Flips a byte of a plain file behind the engine's back, keeping its size, inode and mtime. */
    private static void corrupt(Path plain, long offset) throws IOException {
        FileTime mtime = Files.getLastModifiedTime(plain);
        try (RandomAccessFile f = new RandomAccessFile(plain.toFile(), "rw")) {
            f.seek(offset);
            int b = f.read();
            f.seek(offset);
            f.write(b ^ 0x5a);
        }
        Files.setLastModifiedTime(plain, mtime);
    }

    private List<String> tiers(String key) {
        return engine.stat(ObjectKey.of(key)).join().map(ObjectStatus::tiers).orElse(List.of());
    }

    private long reads(String key) {
        return engine.stat(ObjectKey.of(key)).join().map(ObjectStatus::reads).orElse(0L);
    }

    private static void assertContent(Path file, long seed, long size) throws IOException {
        assertContent(file, seed, size, 0);
    }

    /** Reads the whole file, starting at {@code from} and wrapping around, in reads of odd sizes. */
    private static void assertContent(Path file, long seed, long size, long from) throws IOException {
        try (FileChannel ch = FileChannel.open(file)) {
            assertThat(ch.size()).as("size of %s", file).isEqualTo(size);
            ByteBuffer buf = ByteBuffer.allocate(300_007);
            long done = 0;
            long position = from;
            while (done < size) {
                buf.clear().limit((int) Math.min(buf.capacity(), size - position));
                int n = ch.read(buf, position);
                assertThat(n).as("read of %s at %d", file, position).isPositive();
                buf.flip();
                long bad = TestData.firstMismatch(seed, position, buf);
                long at = position;
                assertThat(bad).as("first wrong byte of %s after %d", file, at).isNegative();
                done += n;
                position = (position + n) % size;
            }
        }
    }
}
