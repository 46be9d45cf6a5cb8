package io.thermocline.bench;

import io.thermocline.region.EntryView;
import io.thermocline.region.ObjectTable;
import io.thermocline.region.RegionKey;
import io.thermocline.region.SharedRegion;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Shared-region lookups and heat adds against ConcurrentHashMap, in process (JMH). The
 * cross-process and RocksDB / Chronicle Map comparisons are {@code bench/shm-lookup.sh}. Run:
 * {@code java -cp bench/target/classes:$(cat bench/target/classpath.txt) org.openjdk.jmh.Main RegionBenchmark}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Benchmark)
public class RegionBenchmark {

    @Param({"10000", "1000000"})
    int entries;

    private Path path;
    private SharedRegion region;
    private ObjectTable table;
    private RegionKey[] keys;
    private String[] names;
    private long[] slots;
    private ConcurrentHashMap<String, long[]> chm;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        path = Files.createTempFile(Path.of(Files.isDirectory(Path.of("/dev/shm")) ? "/dev/shm" : System.getProperty("java.io.tmpdir")),
                "thermocline-jmh-", "");
        names = ShmLookupBench.names(entries);
        region = ShmLookupBench.build(path, names);
        table = region.table();
        keys = Arrays.stream(names).map(RegionKey::of).toArray(RegionKey[]::new);
        slots = Arrays.stream(keys).mapToLong(table::slotOf).toArray();
        chm = new ConcurrentHashMap<>();
        for (int i = 0; i < entries; i++) {
            chm.put(new String(names[i]), new long[] {i});
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        region.close();
        Files.deleteIfExists(path);
    }

    /**
     * Per-thread reusable views: {@code view} receives the slot's fields (state, tiers, size,
     * CRC32C, epoch) like the {@code bench/shm-lookup.sh} lookups; {@code withLocator} also copies
     * and checks the locator.
     */
    @State(Scope.Thread)
    public static class View {
        final EntryView view = new EntryView(false);
        final EntryView withLocator = new EntryView(true);
        final RegionKey[] batchKeys = new RegionKey[BATCH];
        final EntryView[] batchViews = new EntryView[BATCH];
        final boolean[] found = new boolean[BATCH];

        public View() {
            for (int k = 0; k < BATCH; k++) {
                batchViews[k] = new EntryView(false);
            }
        }
    }

    static final int BATCH = 32;

    @Benchmark
    public long regionLookup(View v) {
        return table.lookup(keys[ThreadLocalRandom.current().nextInt(entries)], v.view) ? v.view.sizeInBytes() : -1;
    }

    @Benchmark
    public long regionLookupWithLocator(View v) {
        return table.lookup(keys[ThreadLocalRandom.current().nextInt(entries)], v.withLocator) ? v.withLocator.locatorLength() : -1;
    }

    /** {@link ObjectTable#lookupAll} over {@value #BATCH} random keys: divide by 32 for the time per key. */
    @Benchmark
    public int regionLookupAll32(View v) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        for (int k = 0; k < BATCH; k++) {
            v.batchKeys[k] = keys[random.nextInt(entries)];
        }
        return table.lookupAll(v.batchKeys, v.batchViews, v.found);
    }

    @Benchmark
    @Threads(2)
    public long regionLookupTwoThreads(View v) {
        return regionLookup(v);
    }

    @Benchmark
    public long concurrentHashMapGet() {
        return chm.get(names[ThreadLocalRandom.current().nextInt(entries)])[0];
    }

    @Benchmark
    public void heatAdd() {
        table.addHeat(slots[ThreadLocalRandom.current().nextInt(entries)], 4096);
    }
}
