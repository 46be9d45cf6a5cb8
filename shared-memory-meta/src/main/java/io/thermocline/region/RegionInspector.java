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

    /** One object among the hottest: its key, state, tiers (bit i = tier i), size and heat. */
    public record HotObject(String key, SlotState state, int tiers, long sizeInBytes, ObjectTable.Heat heat) {
    }

    /** A lease and whether it still holds (its holder alive and its deadline ahead). */
    public record LeaseState(LeaseTable.Lease lease, boolean valid) {
    }

    /**
     * What a region holds at one moment, as the inspector reports it.
     *
     * @param tiers the counters of every tier, by tier index
     */
    public record Report(Path path, int majorVersion, int minorVersion, long regionLength, Instant createdAt,
                         long ownerToken, long ownerEpoch, boolean ownerAlive, long ownerDeadlineMillis, long writerToken,
                         long objects, long tombstones, long slots, long arenaUsed, long arenaLength,
                         long requestsWaiting, long requestSlots, List<TierCounters.Counts> tiers,
                         List<HotObject> hottest, List<LeaseState> leases) {
    }

    /** Reads the report of {@code region}, with the {@code top} hottest objects. */
    public static Report report(SharedRegion region, int top) {
        RegionLayout.Geometry g = region.geometry();
        ObjectTable t = region.table();
        long owner = region.ownerToken();
        List<TierCounters.Counts> tiers = new ArrayList<>();
        for (int i = 0; i < g.tierCount(); i++) {
            tiers.add(region.tiers().get(i));
        }
        List<HotObject> hottest = new ArrayList<>();
        Comparator<HotObject> byHeat = Comparator.<HotObject>comparingDouble(h -> h.heat().decayedReads()).reversed();
        t.forEach((key, view) -> {
            hottest.add(new HotObject(key.toString(), view.state(), view.tiers(), view.sizeInBytes(), t.heat(view.slot())));
            if (hottest.size() > top * 4 + 100) {
                hottest.sort(byHeat);
                hottest.subList(top, hottest.size()).clear();
            }
        });
        hottest.sort(byHeat);
        List<LeaseState> leases = region.leases().all().stream().map(l -> new LeaseState(l, region.leases().isValid(l))).toList();
        return new Report(region.path(), RegionLayout.MAJOR_VERSION, RegionLayout.MINOR_VERSION, g.regionLength(), region.createdAt(),
                owner, region.ownerEpoch(), owner != 0 && ProcessToken.isAlive(owner), region.ownerDeadlineMillis(), t.writerToken(),
                t.size(), t.tombstones(), g.slotCount(), t.arenaTop(), t.arenaLength(), region.ring().depth(), region.ring().capacity(),
                List.copyOf(tiers), List.copyOf(hottest.subList(0, Math.min(top, hottest.size()))), leases);
    }

    /** Writes the report for {@code region} to {@code out}, listing the {@code top} hottest objects. */
    public static void print(SharedRegion region, PrintStream out, int top) {
        print(report(region, top), out);
    }

    /** Writes {@code r} as text. */
    public static void print(Report r, PrintStream out) {
        out.printf(Locale.ROOT, "region      %s%n", r.path());
        out.printf(Locale.ROOT, "layout      version %d.%d, %,d bytes, created %s%n", r.majorVersion(), r.minorVersion(),
                r.regionLength(), r.createdAt());
        out.printf(Locale.ROOT, "owner       %s, epoch %d%s%n", ProcessToken.describe(r.ownerToken()), r.ownerEpoch(),
                r.ownerToken() == 0 ? "" : (r.ownerAlive() ? ", alive" : ", DEAD") + ", deadline "
                        + Instant.ofEpochMilli(r.ownerDeadlineMillis()));
        out.printf(Locale.ROOT, "writer lock %s%n", ProcessToken.describe(r.writerToken()));
        out.printf(Locale.ROOT, "objects     %,d live, %,d tombstones, %,d slots (%.1f%% used)%n", r.objects(), r.tombstones(),
                r.slots(), 100.0 * (r.objects() + r.tombstones()) / r.slots());
        out.printf(Locale.ROOT, "arena       %,d of %,d bytes handed out (%.1f%%)%n", r.arenaUsed(), r.arenaLength(),
                100.0 * r.arenaUsed() / r.arenaLength());
        out.printf(Locale.ROOT, "requests    %d waiting of %d slots%n", r.requestsWaiting(), r.requestSlots());
        out.println();
        out.println("tier   used bytes        reserved bytes    objects");
        for (int i = 0; i < r.tiers().size(); i++) {
            TierCounters.Counts c = r.tiers().get(i);
            if (c.usedInBytes() != 0 || c.reservedInBytes() != 0 || c.objectCount() != 0) {
                out.printf(Locale.ROOT, "%-6d %,-17d %,-17d %,d%n", i, c.usedInBytes(), c.reservedInBytes(), c.objectCount());
            }
        }
        out.println();
        out.printf(Locale.ROOT, "hottest %d%n", r.hottest().size());
        out.println("decayed reads  reads        bytes read       state     tiers     size             key");
        for (HotObject h : r.hottest()) {
            out.printf(Locale.ROOT, "%-14.1f %-12d %-16d %-9s %-9s %-16d %s%n", h.heat().decayedReads(), h.heat().reads(),
                    h.heat().bytes(), h.state(), Integer.toBinaryString(h.tiers()), h.sizeInBytes(), h.key());
        }
        out.println();
        out.printf(Locale.ROOT, "leases %d%n", r.leases().size());
        for (LeaseState l : r.leases()) {
            out.printf(Locale.ROOT, "  %s%s%n", l.lease(), l.valid() ? "" : "  (lapsed: holder dead or deadline passed)");
        }
    }
}
