package io.thermocline.nvmeof.discovery;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeException;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.pdu.IdentifyLayout.DiscoveryLog;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a discovery controller's log, as {@code nvme discover} does: connect to
 * {@value NvmeOpcodes#DISCOVERY_NQN} (no I/O queues, no keep-alive), read the Discovery Log
 * Page header for the number of records, read the records, and read the header again — if the
 * generation counter moved, the log changed meanwhile and is read again (NVMe Base 2.0
 * §5.16.1.23: "GENCTR ... incremented each time the log changes").
 */
public final class NvmeDiscovery {
    private static final int MAX_ATTEMPTS = 5;
    /** Refuse logs that claim more than this many records (each is 1 KiB). */
    private static final long MAX_RECORDS = 4096;

    private NvmeDiscovery() {
    }

    /** The log's records, in log order. */
    public record Log(long generation, List<DiscoveryLogEntry> entries) {
    }

    public static Log discover(NvmeEventLoops loops, String traddr, int trsvcid, HostIdentity identity, Duration timeout) {
        NvmeTcpHostOptions options = NvmeTcpHostOptions.builder(traddr, trsvcid, NvmeOpcodes.DISCOVERY_NQN)
                .identity(identity).nrIoQueues(0).keepAliveTimeout(Duration.ZERO)
                .commandTimeout(timeout).connectTimeout(timeout).build();
        try (NvmeTcpController controller = NvmeTcpController.connectAndWait(loops, options)) {
            return readLog(controller);
        }
    }

    /** Reads the log through a connected discovery controller. */
    public static Log readLog(NvmeTcpController controller) {
        for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
            ByteBuffer header = ByteBuffer.allocate(DiscoveryLog.HEADER_LENGTH);
            join(controller.getLogPage(NvmeOpcodes.LOG_DISCOVERY, 0, header));
            ByteBuf h = Unpooled.wrappedBuffer(header.array());
            long generation = h.getLongLE(DiscoveryLog.GENCTR);
            long records = h.getLongLE(DiscoveryLog.NUMREC);
            if (records < 0 || records > MAX_RECORDS) {
                throw new NvmeException("discovery log of " + controller.options().traddr() + ":" + controller.options().trsvcid()
                        + " claims " + records + " records (expected at most " + MAX_RECORDS + ")", NvmeException.Scope.COMMAND, false, null);
            }
            List<DiscoveryLogEntry> entries = new ArrayList<>();
            if (records > 0) {
                ByteBuffer body = ByteBuffer.allocate((int) records * DiscoveryLog.ENTRY_LENGTH);
                join(controller.getLogPage(NvmeOpcodes.LOG_DISCOVERY, DiscoveryLog.HEADER_LENGTH, body));
                ByteBuf b = Unpooled.wrappedBuffer(body.array());
                for (int i = 0; i < records; i++) {
                    entries.add(DiscoveryLogEntry.parse(b, i * DiscoveryLog.ENTRY_LENGTH));
                }
            }
            ByteBuffer again = ByteBuffer.allocate(16);
            join(controller.getLogPage(NvmeOpcodes.LOG_DISCOVERY, 0, again));
            if (Unpooled.wrappedBuffer(again.array()).getLongLE(DiscoveryLog.GENCTR) == generation) {
                return new Log(generation, List.copyOf(entries));
            }
        }
        throw new NvmeException("discovery log of " + controller.options().traddr() + " kept changing while it was read ("
                + MAX_ATTEMPTS + " attempts)", NvmeException.Scope.COMMAND, true, null);
    }

    private static void join(java.util.concurrent.CompletableFuture<?> f) {
        try {
            f.join();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw e;
        }
    }
}
