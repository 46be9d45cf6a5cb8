package io.thermocline.cli;

import io.thermocline.region.RegionConfig;
import io.thermocline.region.RegionCorruptException;
import io.thermocline.region.RegionInspector;
import io.thermocline.region.SharedRegion;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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
                var bytes = new java.io.ByteArrayOutputStream();
                RegionInspector.print(region, new PrintStream(bytes, true, StandardCharsets.UTF_8), top);
                spec.commandLine().getOut().print(bytes.toString(StandardCharsets.UTF_8));
                spec.commandLine().getOut().flush();
            }
            return 0;
        } catch (RegionCorruptException e) {
            spec.commandLine().getErr().println("thermocline: " + e.getMessage());
            return 1;
        }
    }
}
