package io.thermocline.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.thermocline.region.ProcessToken;
import io.thermocline.region.RegionConfig;
import io.thermocline.region.RegionCorruptException;
import io.thermocline.region.RegionInspector;
import io.thermocline.region.SharedRegion;
import io.thermocline.region.TierCounters;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code thermocline region}: the shared-region inspector. */
@Command(name = "region",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        description = {
            "Prints what a live shared region holds: header and geometry, the owner, occupancy, arena use, "
            + "tier counters, the hottest objects and the leases. Only reads.",
            ""},
        footer = {
            "",
            "Examples:",
            "  thermocline region --data-root /mnt/nvme/thermocline",
            "  thermocline region --path /dev/shm/thermocline-0123456789abcdef --top 20",
            "  thermocline region --data-root /mnt/nvme/thermocline --json | jq '.hottest[].key'",
            "",
            "Exit codes: 0 printed, 1 the region is invalid (the message names the field), 2 usage error."})
final class RegionCommand implements Callable<Integer> {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "1")
    private Where where;

    static final class Where {
        @Option(names = "--path", paramLabel = "FILE", description = "The region file (or DAX device).")
        Path path;

        @Option(names = "--data-root", paramLabel = "DIR",
                description = "A data root; its region is /dev/shm/thermocline-<hash of DIR>.")
        Path dataRoot;
    }

    @Option(names = "--top", defaultValue = "10", paramLabel = "N", description = "Hottest objects to list (default: ${DEFAULT-VALUE}).")
    private int top;

    @Option(names = "--json", description = "Print the report as one JSON object.")
    private boolean json;

    @Override
    public Integer call() {
        if (top < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--top: " + top + " (expected: >= 0)");
        }
        Path path = where.path != null ? where.path : RegionConfig.defaultPath(where.dataRoot);
        if (!Files.exists(path)) {
            spec.commandLine().getErr().println("thermocline: no shared region at " + path);
            return 1;
        }
        try {
            SharedRegion.validate(path);
            try (SharedRegion region = SharedRegion.attach(RegionConfig.builder(path).build())) {
                RegionInspector.Report report = RegionInspector.report(region, top);
                if (json) {
                    spec.commandLine().getOut().println(toJson(report));
                } else {
                    var bytes = new java.io.ByteArrayOutputStream();
                    RegionInspector.print(report, new PrintStream(bytes, true, StandardCharsets.UTF_8));
                    spec.commandLine().getOut().print(bytes.toString(StandardCharsets.UTF_8));
                }
                spec.commandLine().getOut().flush();
            }
            return 0;
        } catch (RegionCorruptException e) {
            spec.commandLine().getErr().println("thermocline: " + e.getMessage());
            return 1;
        }
    }

    /** The report as JSON: tokens as "pid N" descriptions, tiers by index, times in ISO-8601. */
    static String toJson(RegionInspector.Report r) {
        ObjectNode root = JSON.createObjectNode();
        root.put("path", r.path().toString());
        root.put("layout_version", r.majorVersion() + "." + r.minorVersion());
        root.put("region_bytes", r.regionLength());
        root.put("created", r.createdAt().toString());
        ObjectNode owner = root.putObject("owner");
        owner.put("holder", ProcessToken.describe(r.ownerToken()));
        owner.put("epoch", r.ownerEpoch());
        owner.put("alive", r.ownerAlive());
        if (r.ownerToken() != 0) {
            owner.put("deadline", Instant.ofEpochMilli(r.ownerDeadlineMillis()).toString());
        }
        root.put("writer_lock", ProcessToken.describe(r.writerToken()));
        root.put("objects", r.objects());
        root.put("tombstones", r.tombstones());
        root.put("slots", r.slots());
        root.put("arena_used_bytes", r.arenaUsed());
        root.put("arena_bytes", r.arenaLength());
        root.put("requests_waiting", r.requestsWaiting());
        root.put("request_slots", r.requestSlots());
        ArrayNode tiers = root.putArray("tiers");
        for (int i = 0; i < r.tiers().size(); i++) {
            TierCounters.Counts c = r.tiers().get(i);
            ObjectNode t = tiers.addObject();
            t.put("index", i);
            t.put("used_bytes", c.usedInBytes());
            t.put("reserved_bytes", c.reservedInBytes());
            t.put("objects", c.objectCount());
        }
        ArrayNode hottest = root.putArray("hottest");
        for (RegionInspector.HotObject h : r.hottest()) {
            ObjectNode o = hottest.addObject();
            o.put("key", h.key());
            o.put("state", h.state().toString());
            ArrayNode on = o.putArray("tiers");
            for (int i = 0; i < Integer.SIZE; i++) {
                if ((h.tiers() & (1 << i)) != 0) {
                    on.add(i);
                }
            }
            o.put("size", h.sizeInBytes());
            o.put("reads", h.heat().reads());
            o.put("bytes_read", h.heat().bytes());
            o.put("decayed_reads", h.heat().decayedReads());
        }
        ArrayNode leases = root.putArray("leases");
        for (RegionInspector.LeaseState l : r.leases()) {
            ObjectNode o = leases.addObject();
            o.put("resource", Long.toHexString(l.lease().resource()));
            o.put("holder", ProcessToken.describe(l.lease().holder()));
            o.put("epoch", l.lease().epoch());
            o.put("deadline", Instant.ofEpochMilli(l.lease().deadlineMillis()).toString());
            o.put("valid", l.valid());
        }
        return root.toString();
    }

    private static final ObjectMapper JSON = new ObjectMapper();
}
