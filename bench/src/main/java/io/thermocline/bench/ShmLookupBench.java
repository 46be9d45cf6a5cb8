package io.thermocline.bench;

import io.thermocline.region.EntryValues;
import io.thermocline.region.EntryView;
import io.thermocline.region.ObjectTable;
import io.thermocline.region.RegionConfig;
import io.thermocline.region.RegionKey;
import io.thermocline.region.SharedRegion;
import io.thermocline.region.SlotState;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.BloomFilter;
import org.rocksdb.FlushOptions;
import org.rocksdb.LRUCache;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.WriteOptions;

/**
 * Driver behind {@code bench/shm-lookup.sh}: point lookups of present keys, uniformly at random,
 * in the shared region against RocksDB (warm block cache), ConcurrentHashMap and Chronicle Map,
 * on the same keys in the same run; heat adds; two-thread throughput; and the region at 10 K
 * against 10 M entries.
 *
 * <p>Latency is measured in batches of {@value #BATCH} lookups (one {@code System.nanoTime} pair
 * per batch); "p50" is the median of the per-lookup means of {@value #BATCHES} batches.
 */
public final class ShmLookupBench {

    private static final int BATCH = 1000;
    private static final int BATCHES = 2000;
    private static long sink;

    /** One way to look a key up; returns something derived from the value so the JIT cannot skip it. */
    private interface Lookup {
        long get(int index);
    }

    public static void main(String[] args) throws Exception {
        int keys = args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000;
        int large = args.length > 1 ? Integer.parseInt(args[1]) : 10_000_000;
        Path shm = Path.of(args.length > 2 ? args[2] : "/dev/shm");
        Path scratch = Path.of(args.length > 3 ? args[3] : System.getProperty("java.io.tmpdir"));
        // the region's max-objects over the keys it holds: 1 fills the table to its 75% design load
        double headroom = args.length > 4 ? Double.parseDouble(args[4]) : 1.0;
        if (!(headroom >= 1.0 && headroom <= 16)) {
            throw new IllegalArgumentException("HEADROOM: " + headroom + " (expected: 1 to 16)");
        }
        RocksDB.loadLibrary();

        String[] names = names(keys);
        int[] order = order(keys, 1);

        // ---- the region
        Path regionPath = shm.resolve("thermocline-bench-" + ProcessHandle.current().pid());
        double regionP50;
        double regionWithLocatorP50;
        double regionChained;
        double regionBatchedNs;
        double heatNs;
        double[] twoThreadMops;
        try (SharedRegion region = build(regionPath, names, ShmLookupBench::locator, 112, headroom)) {
            ObjectTable t = region.table();
            RegionKey[] rk = Arrays.stream(names).map(RegionKey::of).toArray(RegionKey[]::new);
            EntryView view = new EntryView(false);
            regionP50 = measure("region lookup", i -> t.lookup(rk[i], view) ? view.sizeInBytes() : -1, order);
            EntryView withLocator = new EntryView(true);
            regionWithLocatorP50 = measure("region lookup+locator", i -> t.lookup(rk[i], withLocator) ? withLocator.locatorLength() : -1, order);
            regionChained = measureChained("region lookup, chained", i -> t.lookup(rk[i], view) ? view.sizeInBytes() : -1, order);
            regionBatchedNs = batched(t, rk, order);
            long[] slots = Arrays.stream(rk).mapToLong(t::slotOf).toArray();
            heatNs = measure("region heat add", i -> {
                t.addHeat(slots[i], 4096);
                return 1;
            }, order);
            twoThreadMops = twoThreads(t, rk);
        } finally {
            Files.deleteIfExists(regionPath);
        }

        // ---- ConcurrentHashMap on the heap, same keys, a comparable value
        ConcurrentHashMap<String, long[]> chm = new ConcurrentHashMap<>(keys * 2);
        for (int i = 0; i < keys; i++) {
            chm.put(new String(names[i]), new long[] {i, i, i, i, i, i});
        }
        double chmP50 = measure("ConcurrentHashMap get", i -> chm.get(names[i])[0], order);
        double chmChained = measureChained("ConcurrentHashMap, chained", i -> chm.get(names[i])[0], order);
        chm.clear();
        // the machine's own floor: one load from DRAM that depends on the one before, over a
        // footprint the size of the region's
        double dram = dramLoad(256 << 20);

        // ---- RocksDB with a warm block cache
        double rocksP50 = rocks(scratch, names, order);

        // ---- Chronicle Map, persisted to /dev/shm like the region
        double chronicleP50 = chronicle(shm, names, order);

        // ---- scale: 10 K against `large` entries
        double small = scale(shm, 10_000);
        double big = scale(shm, large);

        double ratio = rocksP50 / regionP50;
        System.out.printf(Locale.ROOT, "region lookup p50 %.1f ns; RocksDB get p50 %.1f ns; ConcurrentHashMap get p50 %.1f ns; "
                + "Chronicle Map get p50 %s%n", regionP50, rocksP50, chmP50,
                Double.isNaN(chronicleP50) ? "not measured" : String.format(Locale.ROOT, "%.1f ns", chronicleP50));
        System.out.printf(Locale.ROOT, "chained (each key chosen by the previous result: latency, no overlap between lookups): "
                + "region %.1f ns, ConcurrentHashMap %.1f ns, region/CHM %.2f; one dependent DRAM load %.1f ns, so a chained region "
                + "lookup costs %.1f DRAM loads%n", regionChained, chmChained, regionChained / chmChained, dram, regionChained / dram);
        System.out.printf(Locale.ROOT, "RESULT shm-lookup ratio=%.2f region_p50_ns=%.1f region_with_locator_p50_ns=%.1f "
                + "rocksdb_p50_ns=%.1f chm_p50_ns=%.1f "
                + "region_over_chm=%.2f batched_ns=%.1f rocksdb_over_batched=%.2f chronicle_p50_ns=%.1f chronicle_over_region=%.2f heat_add_ns=%.1f two_thread_Mops=%.1f two_thread_batched_Mops=%.1f "
                + "region_10k_p50_ns=%.1f region_%dk_p50_ns=%.1f scale_ratio=%.2f chained_region_ns=%.1f chained_chm_ns=%.1f "
                + "chained_region_over_chm=%.2f dram_load_ns=%.1f headroom=%.2f keys=%d sink=%d%n",
                ratio, regionP50, regionWithLocatorP50, rocksP50, chmP50, regionP50 / chmP50, regionBatchedNs, rocksP50 / regionBatchedNs, chronicleP50, chronicleP50 / regionP50, heatNs,
                twoThreadMops[0], twoThreadMops[1], small, large / 1000, big, big / small, regionChained, chmChained,
                regionChained / chmChained, dram, headroom, keys, sink & 1);
    }

    static String[] names(int n) {
        String[] names = new String[n];
        for (int i = 0; i < n; i++) {
            names[i] = String.format(Locale.ROOT, "models/bench/shard-%010d.safetensors", i);
        }
        return names;
    }

    static int[] order(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] order = new int[1 << 21];
        for (int i = 0; i < order.length; i++) {
            order[i] = random.nextInt(n);
        }
        return order;
    }

    static byte[] locator(int i) {
        return String.format(Locale.ROOT, "local:objects/%02x/%030d.obj", i & 0xff, i).getBytes(StandardCharsets.UTF_8);
    }

    /** A 16-byte extent locator (namespace offset and length), as a block tier would store it. */
    static byte[] extentLocator(int i) {
        return java.nio.ByteBuffer.allocate(16).putLong(i * 1_048_576L).putLong(1_048_576L).array();
    }

    static SharedRegion build(Path path, String[] names) {
        return build(path, names, ShmLookupBench::locator, 112);
    }

    static SharedRegion build(Path path, String[] names, java.util.function.IntFunction<byte[]> locators, int arenaPerObject) {
        return build(path, names, locators, arenaPerObject, 1.0);
    }

    /** A region sized for {@code headroom} times the keys (max-objects), holding all of them. */
    static SharedRegion build(Path path, String[] names, java.util.function.IntFunction<byte[]> locators, int arenaPerObject,
                              double headroom) {
        long t0 = System.nanoTime();
        SharedRegion region = SharedRegion.create(RegionConfig.builder(path).maxObjects((long) Math.ceil(names.length * headroom))
                .arenaBytesPerObject((int) Math.ceil(arenaPerObject / headroom)).build());
        for (int i = 0; i < names.length; i++) {
            EntryValues v = new EntryValues(SlotState.READY, 0b11, 0, 0, 1_000_000L + i, i, 1, locators.apply(i));
            if (region.table().put(RegionKey.of(names[i]), v, -1) != ObjectTable.PutResult.INSERTED) {
                throw new IllegalStateException("insert " + i + " failed");
            }
        }
        System.out.printf(Locale.ROOT, "region: %,d entries inserted in %.1f s, region file %,d bytes, table load %.2f%n", names.length,
                (System.nanoTime() - t0) / 1e9, region.geometry().regionLength(),
                names.length / (double) region.geometry().slotCount());
        return region;
    }

    /** Median over batches of the mean ns per operation, after warming up. */
    static double measure(String what, Lookup lookup, int[] order) {
        long acc = 0;
        for (int i = 0; i < 3 * order.length; i++) {
            acc += lookup.get(order[i & (order.length - 1)]);
        }
        double[] perOp = new double[BATCHES];
        int pos = 0;
        for (int b = 0; b < BATCHES; b++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < BATCH; i++) {
                acc += lookup.get(order[pos++ & (order.length - 1)]);
            }
            perOp[b] = (System.nanoTime() - t0) / (double) BATCH;
        }
        sink += acc;
        return report(what, perOp);
    }

    /** Prints the percentiles of per-op batch means and returns the median. */
    private static double report(String what, double[] perOp) {
        Arrays.sort(perOp);
        double p50 = perOp[BATCHES / 2];
        System.out.printf(Locale.ROOT, "%-24s p50 %7.1f ns  p90 %7.1f ns  p99 %7.1f ns (per-op means of %d batches of %d)%n",
                what, p50, perOp[BATCHES * 9 / 10], perOp[BATCHES * 99 / 100], BATCHES, BATCH);
        return p50;
    }

    /**
     * As {@link #measure}, but each lookup's key depends on the previous lookup's result (the
     * result's sign bit is added to the position: always 0 for a hit, which the JIT cannot know),
     * so lookups cannot overlap in the CPU: this is the latency of one lookup, where
     * {@link #measure} gives the cost per lookup of a stream of independent ones.
     */
    static double measureChained(String what, Lookup lookup, int[] order) {
        long acc = 0;
        long r = 0;
        int pos = 0;
        for (int i = 0; i < order.length; i++) {
            r = lookup.get(order[(pos += 1 + (int) (r >>> 63)) & (order.length - 1)]);
            acc += r;
        }
        double[] perOp = new double[BATCHES];
        for (int b = 0; b < BATCHES; b++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < BATCH; i++) {
                r = lookup.get(order[(pos += 1 + (int) (r >>> 63)) & (order.length - 1)]);
                acc += r;
            }
            perOp[b] = (System.nanoTime() - t0) / (double) BATCH;
        }
        sink += acc;
        return report(what, perOp);
    }

    /**
     * Nanoseconds per load when each load's address comes from the one before, over {@code bytes}
     * of memory visited one 64-byte line at a time in a random cycle: what a cache miss to DRAM
     * costs on this machine.
     */
    static double dramLoad(int bytes) {
        int lines = bytes / 64;
        long[] memory = new long[lines * 8];
        int[] perm = new int[lines];
        for (int i = 0; i < lines; i++) {
            perm[i] = i;
        }
        java.util.Random random = new java.util.Random(7);
        for (int i = lines - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int x = perm[i];
            perm[i] = perm[j];
            perm[j] = x;
        }
        for (int i = 0; i < lines; i++) {
            memory[perm[i] * 8] = perm[(i + 1) % lines] * 8L;
        }
        long p = 0;
        for (int i = 0; i < lines; i++) {
            p = memory[(int) p];
        }
        double[] perOp = new double[200];
        for (int b = 0; b < perOp.length; b++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < 10_000; i++) {
                p = memory[(int) p];
            }
            perOp[b] = (System.nanoTime() - t0) / 10_000.0;
        }
        sink += p;
        Arrays.sort(perOp);
        System.out.printf(Locale.ROOT, "%-24s p50 %7.1f ns (one dependent load, %d MiB visited at random)%n", "DRAM load",
                perOp[perOp.length / 2], bytes >> 20);
        return perOp[perOp.length / 2];
    }

    /** Per-key cost of {@link ObjectTable#lookupAll} in batches of 32, timed like {@link #measure}. */
    static double batched(ObjectTable t, RegionKey[] rk, int[] order) {
        int batch = 32;
        RegionKey[] keys = new RegionKey[batch];
        EntryView[] views = new EntryView[batch];
        for (int k = 0; k < batch; k++) {
            views[k] = new EntryView(false);
        }
        boolean[] found = new boolean[batch];
        int[] cursor = {0};
        return measure("region lookupAll(32)", ignored -> {
            if (cursor[0] % batch == 0) {
                for (int k = 0; k < batch; k++) {
                    keys[k] = rk[order[(cursor[0] + k) & (order.length - 1)]];
                }
                t.lookupAll(keys, views, found);
            }
            return views[cursor[0]++ % batch].sizeInBytes();
        }, order);
    }

    /** Lookups per second (millions) with two threads, one key at a time and in batches of 32. */
    static double[] twoThreads(ObjectTable t, RegionKey[] rk) throws InterruptedException {
        double[] mops = new double[2];
        for (int mode = 0; mode < 2; mode++) {
            int perThread = 5_000_000;
            boolean batchedMode = mode == 1;
            long[] sums = new long[2];
            Thread[] threads = new Thread[2];
            int[][] orders = {order(rk.length, 100), order(rk.length, 101)}; // drawn before the clock starts
            long t0 = System.nanoTime();
            for (int th = 0; th < 2; th++) {
                int id = th;
                int[] order = orders[th];
                threads[th] = Thread.ofPlatform().start(() -> {
                    long s = 0;
                    if (batchedMode) {
                        RegionKey[] keys = new RegionKey[32];
                        EntryView[] views = new EntryView[32];
                        for (int k = 0; k < 32; k++) {
                            views[k] = new EntryView(false);
                        }
                        boolean[] found = new boolean[32];
                        for (int i = 0; i < perThread; i += 32) {
                            for (int k = 0; k < 32; k++) {
                                keys[k] = rk[order[(i + k) & (order.length - 1)]];
                            }
                            s += t.lookupAll(keys, views, found);
                        }
                    } else {
                        EntryView v = new EntryView(false);
                        for (int i = 0; i < perThread; i++) {
                            if (t.lookup(rk[order[i & (order.length - 1)]], v)) {
                                s += v.sizeInBytes();
                            }
                        }
                    }
                    sums[id] = s;
                });
            }
            for (Thread th : threads) {
                th.join();
            }
            mops[mode] = 2.0 * perThread / ((System.nanoTime() - t0) / 1e9) / 1e6;
            sink += sums[0] + sums[1];
            System.out.printf(Locale.ROOT, "region %s, 2 threads: %.1f M lookups/s%n", batchedMode ? "lookupAll(32)" : "lookup", mops[mode]);
        }
        return mops;
    }

    static double rocks(Path scratch, String[] names, int[] order) throws Exception {
        Path dir = Files.createTempDirectory(scratch, "rocksdb-bench-");
        try (LRUCache cache = new LRUCache(1L << 30);
             Options options = new Options().setCreateIfMissing(true)
                     .setTableFormatConfig(new BlockBasedTableConfig().setBlockCache(cache)
                             .setFilterPolicy(new BloomFilter(10)).setCacheIndexAndFilterBlocks(true));
             RocksDB db = RocksDB.open(options, dir.toString());
             WriteOptions noWal = new WriteOptions().setDisableWAL(true)) {
            byte[][] keys = new byte[names.length][];
            long t0 = System.nanoTime();
            for (int i = 0; i < names.length; i++) {
                keys[i] = names[i].getBytes(StandardCharsets.UTF_8);
                byte[] value = new byte[48];
                System.arraycopy(locator(i), 0, value, 0, Math.min(48, locator(i).length));
                db.put(noWal, keys[i], value);
            }
            try (FlushOptions flush = new FlushOptions().setWaitForFlush(true)) {
                db.flush(flush);
            }
            db.compactRange();
            byte[] buffer = new byte[64];
            for (byte[] k : keys) {
                db.get(k, buffer); // warm the block cache
            }
            System.out.printf(Locale.ROOT, "RocksDB: %,d keys loaded, flushed, compacted and read once in %.1f s%n",
                    names.length, (System.nanoTime() - t0) / 1e9);
            return measure("RocksDB get (warm)", i -> {
                try {
                    return db.get(keys[i], buffer);
                } catch (org.rocksdb.RocksDBException e) {
                    throw new IllegalStateException(e);
                }
            }, order);
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    static double chronicle(Path shm, String[] names, int[] order) {
        Path file = shm.resolve("chronicle-bench-" + ProcessHandle.current().pid());
        try {
            try (net.openhft.chronicle.map.ChronicleMap<CharSequence, byte[]> map =
                         net.openhft.chronicle.map.ChronicleMapBuilder.of(CharSequence.class, byte[].class)
                                 .name("thermocline-bench").entries(names.length)
                                 .averageKey(names[0]).averageValueSize(48).createPersistedTo(file.toFile())) {
                for (int i = 0; i < names.length; i++) {
                    map.put(names[i], Arrays.copyOf(locator(i), 48));
                }
                byte[] using = new byte[48];
                return measure("Chronicle Map getUsing", i -> map.getUsing(names[i], using).length, order);
            }
        } catch (Throwable t) {
            System.out.println("Chronicle Map: not measured: " + t);
            return Double.NaN;
        } finally {
            try {
                Files.deleteIfExists(file);
            } catch (Exception ignored) {
                // best effort
            }
        }
    }

    /**
     * The region at {@code entries}: short keys ({@code m/%08d}) and 16-byte extent locators,
     * 48 arena bytes an object, so that 10 M objects fit in 2 GiB.
     */
    static double scale(Path shm, int entries) throws Exception {
        Path path = shm.resolve("thermocline-bench-scale-" + ProcessHandle.current().pid());
        String[] names = new String[entries];
        for (int i = 0; i < entries; i++) {
            names[i] = String.format(Locale.ROOT, "m/%08d", i);
        }
        try (SharedRegion region = build(path, names, ShmLookupBench::extentLocator, 48)) {
            ObjectTable t = region.table();
            RegionKey[] rk = Arrays.stream(names).map(RegionKey::of).toArray(RegionKey[]::new);
            names = null;
            EntryView view = new EntryView(false);
            return measure("region lookup @" + entries, i -> t.lookup(rk[i], view) ? view.sizeInBytes() : -1, order(entries, 7));
        } finally {
            Files.deleteIfExists(path);
        }
    }
}
