package io.thermocline.region;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * Prints what a live region holds: header and geometry, owner, occupancy, arena use, tier
 * counters, the hottest objects, leases and the request ring. Read-only apart from mapping the
 * file. {@code java io.thermocline.region.RegionInspector PATH [--top N]}
 */
public final class RegionInspector {

    private RegionInspector() {
    }

    public static void main(String[] args) {
        if (args.length < 1 || args[0].startsWith("-")) {
            System.err.println("usage: RegionInspector PATH [--top N]");
            System.exit(2);
        }
        int top = 10;
        if (args.length >= 3 && args[1].equals("--top")) {
            top = Integer.parseInt(args[2]);
        }
        Path path = Path.of(args[0]);
        try (SharedRegion region = SharedRegion.attach(RegionConfig.builder(path).build())) {
            print(region, System.out, top);
        } catch (RegionCorruptException e) {
            System.err.println(e.getMessage());
            System.exit(1);
        }
    }

    /** Writes the report for {@code region} to {@code out}, listing the {@code top} hottest objects. */
    public static void print(SharedRegion region, PrintStream out, int top) {
        RegionLayout.Geometry g = region.geometry();
        ObjectTable t = region.table();
        out.printf(Locale.ROOT, "region      %s%n", region.path());
        out.printf(Locale.ROOT, "layout      version %d.%d, %,d bytes, created %s%n", RegionLayout.MAJOR_VERSION,
                RegionLayout.MINOR_VERSION, g.regionLength(), region.createdAt());
        long owner = region.ownerToken();
        out.printf(Locale.ROOT, "owner       %s, epoch %d%s%n", ProcessToken.describe(owner), region.ownerEpoch(),
                owner == 0 ? "" : (ProcessToken.isAlive(owner) ? ", alive" : ", DEAD") + ", deadline "
                        + Instant.ofEpochMilli(region.ownerDeadlineMillis()));
        out.printf(Locale.ROOT, "writer lock %s%n", ProcessToken.describe(t.writerToken()));
        out.printf(Locale.ROOT, "objects     %,d live, %,d tombstones, %,d slots (%.1f%% used)%n", t.size(), t.tombstones(),
                g.slotCount(), 100.0 * (t.size() + t.tombstones()) / g.slotCount());
        out.printf(Locale.ROOT, "arena       %,d of %,d bytes handed out (%.1f%%)%n", t.arenaTop(), t.arenaLength(),
                100.0 * t.arenaTop() / t.arenaLength());
        out.printf(Locale.ROOT, "requests    %d waiting of %d slots%n", region.ring().depth(), region.ring().capacity());
        out.println();
        out.println("tier   used bytes        reserved bytes    objects");
        for (int i = 0; i < g.tierCount(); i++) {
            TierCounters.Counts c = region.tiers().get(i);
            if (c.usedInBytes() != 0 || c.reservedInBytes() != 0 || c.objectCount() != 0) {
                out.printf(Locale.ROOT, "%-6d %,-17d %,-17d %,d%n", i, c.usedInBytes(), c.reservedInBytes(), c.objectCount());
            }
        }
        out.println();
        record Hot(String key, EntryView view, ObjectTable.Heat heat) {
        }
        List<Hot> hottest = new ArrayList<>();
        Comparator<Hot> byHeat = Comparator.comparingDouble(h -> h.heat().decayedReads());
        t.forEach((key, view) -> {
            EntryView copy = new EntryView();
            copy.slot = view.slot;
            copy.state = view.state;
            copy.tiers = view.tiers;
            copy.preferredTier = view.preferredTier;
            copy.sizeInBytes = view.sizeInBytes;
            copy.epoch = view.epoch;
            hottest.add(new Hot(key.toString(), copy, t.heat(view.slot())));
            if (hottest.size() > top * 4 + 100) {
                hottest.sort(byHeat.reversed());
                hottest.subList(top, hottest.size()).clear();
            }
        });
        hottest.sort(byHeat.reversed());
        out.printf(Locale.ROOT, "hottest %d%n", Math.min(top, hottest.size()));
        out.println("decayed reads  reads        bytes read       state     tiers     size             key");
        for (Hot h : hottest.subList(0, Math.min(top, hottest.size()))) {
            out.printf(Locale.ROOT, "%-14.1f %-12d %-16d %-9s %-9s %-16d %s%n", h.heat().decayedReads(), h.heat().reads(),
                    h.heat().bytes(), h.view().state(), Integer.toBinaryString(h.view().tiers()), h.view().sizeInBytes(), h.key());
        }
        out.println();
        List<LeaseTable.Lease> leases = region.leases().all();
        out.printf(Locale.ROOT, "leases %d%n", leases.size());
        for (LeaseTable.Lease l : leases) {
            out.printf(Locale.ROOT, "  %s%s%n", l, region.leases().isValid(l) ? "" : "  (lapsed: holder dead or deadline passed)");
        }
    }
}
