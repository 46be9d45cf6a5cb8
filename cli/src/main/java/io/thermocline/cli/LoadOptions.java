package io.thermocline.cli;

import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeTcpBlockDevice;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.load.BlockLoad;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * The options of a {@link BlockLoad} over one namespace, and the set-up they imply: which
 * namespace, how large each I/O is, how many are in flight, and how much of the namespace they
 * cover. {@code thermocline nvme bench} and {@code thermocline stats} drive the same load (stats a
 * random read of it) and so share these options, their checks and the way the namespace is
 * opened. How long to run and how many I/O queues to use stay with each command: their defaults
 * differ (a benchmark runs longer than a look at the latency split).
 */
final class LoadOptions {

    /** The largest region used when {@code --size} is not given, so that a run stays short. */
    static final long DEFAULT_REGION_BYTES = 1L << 30;

    @Option(names = "--nsid", paramLabel = "ID", description = "Namespace ID (default: the first active namespace).")
    Integer nsid;

    @Option(names = "--bs", defaultValue = "4k", paramLabel = "SIZE", converter = ByteSizeConverter.class,
            description = "I/O size, a multiple of the namespace's block size (default: 4k).")
    long bs;

    @Option(names = "--qd", defaultValue = "1", paramLabel = "N", description = "I/Os in flight (default: 1).")
    int qd;

    @Option(names = "--size", paramLabel = "SIZE", converter = ByteSizeConverter.class,
            description = "Bytes of the namespace to use from offset 0 (default: the whole namespace, at most 1GiB).")
    Long size;

    /**
     * Checks what can be checked before connecting; the block size of the namespace is known only
     * after, and {@link #open} checks it.
     *
     * @throws CommandLine.ParameterException naming the option, the value and what was expected
     */
    void check(CommandLine cmd, double runtimeSeconds) {
        if (qd < 1 || qd > 65536) {
            throw new CommandLine.ParameterException(cmd, "--qd: " + qd + " (expected: 1..65536)");
        }
        if (runtimeSeconds <= 0) {
            throw new CommandLine.ParameterException(cmd, "--runtime: " + runtimeSeconds + " (expected: a positive number of seconds)");
        }
        if (bs <= 0 || bs > (64 << 20)) {
            throw new CommandLine.ParameterException(cmd, "--bs: " + bs + " (expected: 1..64MiB, a multiple of the block size)");
        }
    }

    /**
     * Sets what the load needs of a connection on {@code b}: the I/O queues, and a maximum
     * transfer of at least one I/O (1 MiB when I/Os are smaller, as {@code nvme connect} would).
     */
    NvmeTcpHostOptions.Builder size(NvmeTcpHostOptions.Builder b, int nrIoQueues) {
        return b.nrIoQueues(nrIoQueues).maxTransferSizeInBytes((int) Math.max(bs, 1 << 20));
    }

    /**
     * Connects with {@code options} (one event loop per I/O queue, at most one per processor) and
     * opens the namespace the load runs over.
     *
     * @throws CommandLine.ParameterException when {@code --bs} is not a multiple of the namespace's
     *     block size or {@code --size} does not fit in the namespace; the connection is closed again
     */
    Target open(CommandLine cmd, NvmeTcpHostOptions options) {
        NvmeEventLoops loops = new NvmeEventLoops(Math.max(1, Math.min(options.nrIoQueues(), Runtime.getRuntime().availableProcessors())));
        NvmeTcpController controller = null;
        boolean opened = false;
        try {
            controller = NvmeTcpController.connectAndWait(loops, options);
            List<Integer> namespaces = controller.activeNamespaces();
            int id = nsid != null ? nsid : namespaces.isEmpty() ? 1 : namespaces.getFirst();
            NvmeTcpBlockDevice device = controller.openNamespace(id);
            long region = size != null ? size : Math.min(device.sizeInBytes(), DEFAULT_REGION_BYTES);
            region = region / bs * bs;
            if (bs % device.blockSizeInBytes() != 0 || region < bs || region > device.sizeInBytes()) {
                throw new CommandLine.ParameterException(cmd, "--bs " + bs + " / --size " + region + " (expected a multiple of the "
                        + device.blockSizeInBytes() + "-byte block size, and a region within the namespace's "
                        + device.sizeInBytes() + " bytes)");
            }
            Target target = new Target(loops, controller, device, id, region);
            opened = true;
            return target;
        } finally {
            if (!opened) {
                try (loops) {
                    if (controller != null) {
                        controller.close();
                    }
                }
            }
        }
    }

    /** The load these options describe over {@code target}'s region, from offset 0, with a fresh seed. */
    BlockLoad.Spec spec(Target target, BlockLoad.Mode mode, double runtimeSeconds, boolean verify) {
        return new BlockLoad.Spec(mode, (int) bs, qd, Duration.ofNanos((long) (runtimeSeconds * 1e9)), 0, target.regionBytes(),
                verify, ThreadLocalRandom.current().nextLong());
    }

    /**
     * A connected controller and the namespace a load runs over; closing it disconnects and stops
     * the event loops, in that order.
     */
    record Target(NvmeEventLoops loops, NvmeTcpController controller, NvmeTcpBlockDevice device, int nsid, long regionBytes)
            implements AutoCloseable {
        @Override
        public void close() {
            try (loops) {
                controller.close();
            }
        }
    }
}
