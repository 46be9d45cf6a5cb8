package io.thermocline.cli;

import io.thermocline.nvmeof.host.FabricReadLatency;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.load.BlockLoad;
import io.thermocline.nvmeof.load.LatencyHistogram;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code thermocline stats}: runs a short read load against an NVMe/TCP subsystem with the
 * user-space host and prints where each read's time went — host processing, fabric transit and
 * the target's service time — as the controller's {@link FabricReadLatency} recorded it.
 */
@Command(name = "stats",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        description = {
            "Runs a short random-read load against an NVMe/TCP subsystem from user space and prints the latency split "
            + "of its reads, p50 and p99 of each part:",
            "  host       submission to the command leaving the socket, plus copying the data into the caller's buffer",
            "  round trip command sent to completion received (less the copy)",
            "  transit    the round trip less the target's service time: network, TCP stacks, decoding",
            "  target     the target's own time for the command, capsule in to data out",
            "The target's service time comes only from a Thermocline target, which advertises it in Identify "
            + "Controller's vendor specific area and sends it in the completions of hosts that opt in (Set Features C0h); "
            + "against any other target the split is host and round trip only.",
            ""},
        footer = {
            "",
            "Examples:",
            "  thermocline stats -a 127.0.0.1 -s 4420 -n nqn.2024-01.io.example:disk1",
            "  thermocline stats -a 192.0.2.10 -n nqn.2024-01.io.example:disk1 --bs 128k --qd 8 --runtime 10 --json"})
final class StatsCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Mixin
    NvmeCommand.Transport transport;

    @Mixin
    LoadOptions load;

    @Option(names = "--runtime", defaultValue = "3", paramLabel = "SECONDS", description = "How long to read (default: 3).")
    double runtime;

    @Option(names = {"-i", "--nr-io-queues"}, defaultValue = "1", paramLabel = "N", description = "I/O queues (default: 1).")
    int nrIoQueues;

    @Option(names = "--json", description = "Print one JSON object instead of text.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        CommandLine cmd = spec.commandLine();
        transport.check(cmd);
        load.check(cmd, runtime);
        NvmeTcpHostOptions options = transport.hostOptions(cmd, null, b -> load.size(b, nrIoQueues));
        PrintWriter out = cmd.getOut();
        try (LoadOptions.Target target = load.open(cmd, options)) {
            BlockLoad.Result r = BlockLoad.run(target.device(), load.spec(target, BlockLoad.Mode.RANDREAD, runtime, false));
            FabricReadLatency.Snapshot s = target.controller().readLatency().snapshot();
            if (json) {
                out.println(json(target.controller(), target.nsid(), r, s));
            } else {
                text(out, target.controller(), target.nsid(), r, s);
            }
        }
        return 0;
    }

    private void text(PrintWriter out, NvmeTcpController controller, int id, BlockLoad.Result r, FabricReadLatency.Snapshot s) {
        out.printf("%s at %s, controller %d, namespace %d: %d reads of %d bytes at qd %d in %.2fs (IOPS=%s)%n", transport.nqn,
                controller.address(), controller.controllerId(), id, s.reads(), r.blockSize(), r.queueDepth(),
                r.elapsedNanos() / 1e9, NvmeCommand.fmt(r.iops()));
        out.printf("target service time: %s%n", s.targetReported() ? "reported by the target"
                : "not reported (the target does not offer it): host and round trip only");
        out.printf("%-12s %10s %10s %10s%n", "latency", "p50 (us)", "p99 (us)", "mean (us)");
        row(out, "total", r.latency());
        row(out, "host", s.host());
        row(out, "round trip", s.roundTrip());
        if (s.targetReported()) {
            row(out, "  transit", s.transit());
            row(out, "  target", s.target());
        }
    }

    private static void row(PrintWriter out, String name, LatencyHistogram h) {
        out.printf("%-12s %10s %10s %10s%n", name, us(h.quantileNanos(0.50)), us(h.quantileNanos(0.99)), us((long) h.meanNanos()));
    }

    private String json(NvmeTcpController controller, int id, BlockLoad.Result r, FabricReadLatency.Snapshot s) {
        StringBuilder b = new StringBuilder("{");
        Json.field(b, "nqn", transport.nqn).append(',');
        Json.field(b, "address", controller.address()).append(',');
        b.append("\"cntlid\":").append(controller.controllerId()).append(",\"nsid\":").append(id)
                .append(",\"bs\":").append(r.blockSize()).append(",\"qd\":").append(r.queueDepth())
                .append(",\"reads\":").append(s.reads())
                .append(",\"elapsed_s\":").append(NvmeCommand.fmt(r.elapsedNanos() / 1e9))
                .append(",\"iops\":").append(NvmeCommand.fmt(r.iops()))
                .append(",\"target_reported\":").append(s.targetReported());
        component(b, "total", r.latency());
        component(b, "host", s.host());
        component(b, "round_trip", s.roundTrip());
        component(b, "transit", s.targetReported() ? s.transit() : null);
        component(b, "target", s.targetReported() ? s.target() : null);
        return b.append('}').toString();
    }

    private static void component(StringBuilder b, String name, LatencyHistogram h) {
        b.append(",\"").append(name).append("\":");
        if (h == null) {
            b.append("null");
            return;
        }
        b.append("{\"p50_us\":").append(us(h.quantileNanos(0.50))).append(",\"p99_us\":").append(us(h.quantileNanos(0.99)))
                .append(",\"mean_us\":").append(us((long) h.meanNanos())).append(",\"count\":").append(h.count()).append('}');
    }

    private static String us(long nanos) {
        return String.format(Locale.ROOT, "%.1f", nanos / 1e3);
    }
}
