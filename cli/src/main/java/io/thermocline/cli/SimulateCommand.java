package io.thermocline.cli;

import io.thermocline.placement.sim.CachePolicy;
import io.thermocline.placement.sim.SimResult;
import io.thermocline.placement.sim.Simulator;
import io.thermocline.placement.sim.Trace;
import io.thermocline.placement.sim.TraceFormatException;
import io.thermocline.placement.sim.TraceGenerator;
import io.thermocline.placement.sim.TraceParser;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code thermocline simulate}: replays an access trace through the placement policy and the baselines. */
@Command(name = "simulate",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        description = {
            "Replays an access trace through Thermocline's fast-tier policy and three baselines (LRU, "
            + "W-TinyLFU as Caffeine implements it, and Belady's clairvoyant reference) and prints, for each, "
            + "the fast tier's and the backing tier's byte hit ratio and the bytes moved into the fast tier.",
            "",
            "Trace format (CSV, '#' starts a comment): timestamp_ms,key,offset,length,op with op R (read) or "
            + "W (put of the whole object). An object's size is its largest offset+length. Only read bytes count "
            + "towards the hit ratio; a capacity given as a fraction is a share of the total size of all objects "
            + "in the trace, written-only ones included.",
            ""},
        footer = {
            "",
            "Examples:",
            "  thermocline simulate --trace access.csv --fast-capacity 0.1",
            "  thermocline simulate --trace access.csv --fast-capacity 2TiB --json",
            "  thermocline simulate --generate mix --seed 7 --fast-capacity 0.1,0.25",
            "  thermocline simulate --generate model-load --accesses 20000 --out model-load.csv",
            "",
            "Generated kinds: zipf, scan, model-load, checkpoint, mix.",
            "Exit codes: 0 done, 2 usage error (bad option, unreadable or malformed trace)."})
final class SimulateCommand implements Callable<Integer> {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Option(names = "--trace", paramLabel = "FILE", description = "The CSV trace to replay.")
    private Path trace;

    @Option(names = "--generate", paramLabel = "KIND", description = "Generate a synthetic trace instead: zipf, scan, model-load, checkpoint or mix.")
    private String generate;

    @Option(names = "--seed", defaultValue = "1", paramLabel = "N", description = "Seed of the generator (default: ${DEFAULT-VALUE}).")
    private long seed;

    @Option(names = "--accesses", defaultValue = "40000", paramLabel = "N", description = "Accesses to generate (default: ${DEFAULT-VALUE}).")
    private int accesses;

    @Option(names = "--out", paramLabel = "FILE", description = "Write the generated trace to FILE (CSV).")
    private Path out;

    @Option(names = "--fast-capacity", paramLabel = "FRACTION_OR_BYTES", split = ",",
            description = "Fast-tier capacity: a fraction such as 0.1 or 10%% of the trace's objects, or a size such as 64GiB; "
                    + "several, comma-separated, run one after another.")
    private List<String> capacities = new ArrayList<>();

    @Option(names = "--json", description = "Print JSON instead of a table.")
    private boolean json;

    @Override
    public Integer call() throws IOException {
        CommandLine cl = spec.commandLine();
        if ((trace == null) == (generate == null)) {
            throw new CommandLine.ParameterException(cl, "--trace, --generate: give exactly one (expected: --trace FILE or --generate KIND)");
        }
        if (generate != null && !TraceGenerator.KINDS.contains(generate)) {
            throw new CommandLine.ParameterException(cl, "--generate: '" + generate + "' (expected: one of " + String.join(", ", TraceGenerator.KINDS) + ")");
        }
        if (accesses < 1000 || accesses > 100_000_000) {
            throw new CommandLine.ParameterException(cl, "--accesses: " + accesses + " (expected: 1000..100000000)");
        }
        if (capacities.isEmpty() && out == null) {
            throw new CommandLine.ParameterException(cl, "--fast-capacity: missing (expected: a fraction such as 0.1 or a size such as 64GiB)");
        }
        if (out != null && generate == null) {
            throw new CommandLine.ParameterException(cl, "--out: only with --generate (expected: --generate KIND --out FILE)");
        }
        Trace t = load(cl);
        String source = trace != null ? trace.toString() : "generated " + generate + " (seed " + seed + ", " + accesses + " accesses)";
        List<long[]> caps = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        for (String c : capacities) {
            double fraction = fraction(c);
            long bytes;
            if (fraction > 0) {
                bytes = Simulator.capacityOf(t, fraction);
                labels.add(java.math.BigDecimal.valueOf(fraction).stripTrailingZeros().toPlainString());
            } else {
                try {
                    bytes = ByteSizeConverter.parse(c);
                } catch (CommandLine.TypeConversionException e) {
                    throw new CommandLine.ParameterException(cl, "--fast-capacity: '" + c + "' (expected: a fraction in (0, 1] such as 0.1 or 10%, or a size such as 64GiB)");
                }
                if (bytes <= 0) {
                    throw new CommandLine.ParameterException(cl, "--fast-capacity: '" + c + "' (expected: a positive size)");
                }
                labels.add(Long.toString(bytes));
            }
            caps.add(new long[] {bytes});
        }
        PrintWriter pw = cl.getOut();
        if (out != null) {
            Files.writeString(out, TraceGenerator.toCsv(t, source), StandardCharsets.UTF_8);
            if (!json) {
                pw.println("wrote " + t.length() + " accesses to " + out);
            }
        }
        List<List<SimResult>> results = new ArrayList<>();
        for (long[] cap : caps) {
            List<CachePolicy> policies = Simulator.standardPolicies();
            results.add(Simulator.runAll(t, cap[0], policies));
        }
        if (json) {
            pw.println(json(source, t, labels, results));
        } else if (!caps.isEmpty()) {
            pw.printf(Locale.ROOT, "trace: %s: %d accesses, %d objects, %s in all, %s read%n", source, t.length(), t.keys().size(),
                    ByteSizeConverter.format(t.totalBytes()), ByteSizeConverter.format(t.readBytes()));
            for (int i = 0; i < caps.size(); i++) {
                pw.printf(Locale.ROOT, "%nfast capacity %s = %s%n", labels.get(i), ByteSizeConverter.format(caps.get(i)[0]));
                pw.printf(Locale.ROOT, "%-12s %14s %12s %16s%n", "policy", "fast byte-hit", "s3 byte-hit", "bytes moved");
                for (SimResult r : results.get(i)) {
                    pw.printf(Locale.ROOT, "%-12s %14.4f %12.4f %16s%n", r.policy(), r.byteHitRatio(), r.backingByteHitRatio(),
                            ByteSizeConverter.format(r.bytesMoved()));
                }
            }
        }
        pw.flush();
        return 0;
    }

    private Trace load(CommandLine cl) throws IOException {
        if (generate != null) {
            return TraceGenerator.generate(generate, seed, accesses);
        }
        try (Reader r = Files.newBufferedReader(trace, StandardCharsets.UTF_8)) {
            Trace t = TraceParser.parse(r);
            if (t.length() == 0) {
                throw new CommandLine.ParameterException(cl, "--trace: '" + trace + "' has no accesses (expected: lines timestamp_ms,key,offset,length,op)");
            }
            return t;
        } catch (NoSuchFileException e) {
            throw new CommandLine.ParameterException(cl, "--trace: '" + trace + "' does not exist (expected: a readable CSV trace)");
        } catch (TraceFormatException e) {
            throw new CommandLine.ParameterException(cl, "--trace: " + trace + ": " + e.getMessage());
        }
    }

    /** The fraction {@code s} names (0.1, 10%), or -1 when it is a size. */
    static double fraction(String s) {
        String t = s.trim();
        try {
            if (t.endsWith("%")) {
                double p = Double.parseDouble(t.substring(0, t.length() - 1)) / 100;
                return p > 0 && p <= 1 ? p : -1;
            }
            if (t.contains(".") && !t.matches(".*[a-zA-Z].*")) {
                double f = Double.parseDouble(t);
                return f > 0 && f <= 1 ? f : -1;
            }
        } catch (NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    private static String json(String source, Trace t, List<String> labels, List<List<SimResult>> results) {
        StringBuilder b = new StringBuilder("{");
        Json.field(b, "trace", source).append(",\"accesses\":").append(t.length()).append(",\"objects\":").append(t.keys().size())
                .append(",\"total_bytes\":").append(t.totalBytes()).append(",\"read_bytes\":").append(t.readBytes()).append(",\"runs\":[");
        for (int i = 0; i < results.size(); i++) {
            if (i > 0) {
                b.append(',');
            }
            b.append('{');
            Json.field(b, "fast_capacity", labels.get(i)).append(",\"capacity_bytes\":").append(results.get(i).getFirst().capacityBytes())
                    .append(",\"policies\":[");
            List<SimResult> rs = results.get(i);
            for (int j = 0; j < rs.size(); j++) {
                SimResult r = rs.get(j);
                if (j > 0) {
                    b.append(',');
                }
                b.append('{');
                Json.field(b, "policy", r.policy());
                b.append(String.format(Locale.ROOT, ",\"byte_hit_ratio\":%.6f,\"tiers\":{\"fast\":{\"byte_hit_ratio\":%.6f,\"read_bytes\":%d},"
                                + "\"backing\":{\"byte_hit_ratio\":%.6f,\"read_bytes\":%d}},\"bytes_moved\":%d}",
                        r.byteHitRatio(), r.byteHitRatio(), r.fastHitBytes(), r.backingByteHitRatio(), r.readBytes() - r.fastHitBytes(), r.bytesMoved()));
            }
            b.append("]}");
        }
        return b.append("]}").toString();
    }
}
