package io.thermocline.region;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.SplittableRandom;

/**
 * Child process for {@link MultiProcessRegionTest}.
 *
 * <pre>
 * mixed PATH WORKER OPS HEAT_ADDS N  waits for N workers, then random puts/updates/deletes of its own keys, lookups
 *                                   of everyone's, HEAT_ADDS heat adds on "shared/hot"; prints FINAL lines; fails on a torn read
 * torn PATH KEY                     starts an update of KEY under the writer lock, says READY, waits to be killed
 * lease PATH KEY                    takes the lease on KEY for an hour, says READY, waits to be killed
 * </pre>
 */
public final class RegionWorker {

    static final int KEYS_PER_WORKER = 200;

    public static void main(String[] args) throws Exception {
        RegionConfig config = RegionConfig.builder(Path.of(args[1])).maxObjects(10_000).build();
        try (SharedRegion region = SharedRegion.attach(config)) {
            switch (args[0]) {
                case "mixed" -> {
                    awaitAll(region, Integer.parseInt(args[5]));
                    mixed(region, Integer.parseInt(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4]));
                }
                case "torn" -> {
                    region.table().beginTornUpdateForTest(RegionKey.of(args[2]), 999_999);
                    ready();
                }
                case "lease" -> {
                    region.leases().acquire(LeaseTable.resourceOf(RegionKey.of(args[2])), Duration.ofHours(1)).orElseThrow();
                    ready();
                }
                default -> throw new IllegalArgumentException(args[0]);
            }
        }
    }

    /** Start line: every worker checks in on tier 7's object counter, then all start together. */
    private static void awaitAll(SharedRegion region, int workers) throws InterruptedException {
        region.tiers().add(7, 0, 0, 1);
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (region.tiers().get(7).objectCount() < workers && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
    }

    private static void ready() throws InterruptedException {
        System.out.println("READY");
        System.out.flush();
        Thread.sleep(120_000);
        System.exit(9);
    }

    /** The values a worker stores for key k at version v: every field derivable from (k, v). */
    static EntryValues valuesFor(String key, long version) {
        return new EntryValues(SlotState.READY, (int) (version & 0x7f), (int) (version % 8), 0, version,
                (key + "#" + version).hashCode(), version, (key + "@" + version).getBytes(StandardCharsets.UTF_8));
    }

    /** Throws if the view is not exactly {@link #valuesFor}(key, its own version). */
    static void checkConsistent(String key, EntryView v) {
        long version = v.sizeInBytes();
        String locator = new String(v.locator(), StandardCharsets.UTF_8);
        if (v.epoch() != version || v.crc32c() != (key + "#" + version).hashCode() || !locator.equals(key + "@" + version)
            || v.tiers() != (int) (version & 0x7f) || v.state() != SlotState.READY) {
            throw new IllegalStateException("torn read of " + key + ": " + v + " locator " + locator);
        }
    }

    private static void mixed(SharedRegion region, int worker, int ops, int heatAdds) {
        ObjectTable t = region.table();
        SplittableRandom random = new SplittableRandom(worker * 7919L);
        long[] version = new long[KEYS_PER_WORKER]; // 0 = absent
        EntryView view = new EntryView();
        RegionKey hot = RegionKey.of("shared/hot");
        int heatDone = 0;
        for (int op = 0; op < ops; op++) {
            int n = random.nextInt(KEYS_PER_WORKER);
            String key = "w" + worker + "/k" + n;
            RegionKey rk = RegionKey.of(key);
            int dice = random.nextInt(10);
            if (dice < 4) {
                long next = version[n] + 1;
                ObjectTable.PutResult r = t.put(rk, valuesFor(key, next), version[n] == 0 ? -1 : version[n]);
                if (r != ObjectTable.PutResult.INSERTED && r != ObjectTable.PutResult.UPDATED) {
                    throw new IllegalStateException("put " + key + " v" + next + ": " + r);
                }
                version[n] = next;
            } else if (dice < 5) {
                boolean deleted = t.delete(rk, -1);
                if (deleted != (version[n] != 0)) {
                    throw new IllegalStateException("delete " + key + " returned " + deleted + " at version " + version[n]);
                }
                version[n] = 0;
            } else {
                // read someone's key, maybe our own
                int other = random.nextInt(4);
                String k = "w" + other + "/k" + random.nextInt(KEYS_PER_WORKER);
                if (t.lookup(RegionKey.of(k), view)) {
                    checkConsistent(k, view);
                }
                if (other == worker) {
                    int m = Integer.parseInt(k.substring(k.indexOf("/k") + 2));
                    boolean present = t.lookup(RegionKey.of(k), view);
                    if (present != (version[m] != 0) || present && view.sizeInBytes() != version[m]) {
                        throw new IllegalStateException("own key " + k + " reads " + (present ? view : "absent")
                                + ", expected version " + version[m]);
                    }
                }
            }
            if (heatDone < heatAdds && op % Math.max(1, ops / heatAdds) == 0) {
                while (heatDone < heatAdds && (heatDone + 1) * (long) ops <= (op + 1L) * heatAdds) {
                    t.addHeat(hot, 10);
                    heatDone++;
                }
            }
        }
        while (heatDone < heatAdds) {
            t.addHeat(hot, 10);
            heatDone++;
        }
        StringBuilder out = new StringBuilder();
        for (int n = 0; n < KEYS_PER_WORKER; n++) {
            out.append("FINAL w").append(worker).append("/k").append(n).append(' ').append(version[n]).append('\n');
        }
        System.out.print(out);
        System.out.flush();
    }
}
