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
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(NvmeDiscovery.class);
    private static final int MAX_ATTEMPTS = 5;
    /** Refuse logs that claim more than this many records (each is 1 KiB). */
    private static final long MAX_RECORDS = 4096;

    private NvmeDiscovery() {
    }

    /** The log's records, in log order. */
    public record Log(long generation, List<DiscoveryLogEntry> entries) {
    }

    public static Log discover(NvmeEventLoops loops, String traddr, int trsvcid, HostIdentity identity, Duration timeout) {
        return discover(loops, options(traddr, trsvcid, identity, timeout).build());
    }

    /**
     * Connects with {@code options} (its NQN should be the discovery NQN; I/O queues and
     * keep-alive are turned off, as for a one-shot {@code nvme discover}), reads the log and
     * disconnects.
     */
    public static Log discover(NvmeEventLoops loops, NvmeTcpHostOptions options) {
        NvmeTcpHostOptions oneShot = options.toBuilder().nrIoQueues(0).nrWriteQueues(0).keepAliveTimeout(Duration.ZERO).build();
        try (NvmeTcpController controller = NvmeTcpController.connectAndWait(loops, oneShot)) {
            return readLog(controller);
        }
    }

    /** Options for a discovery controller at {@code traddr:trsvcid}: no I/O queues, no keep-alive. */
    public static NvmeTcpHostOptions.Builder options(String traddr, int trsvcid, HostIdentity identity, Duration timeout) {
        return NvmeTcpHostOptions.builder(traddr, trsvcid, NvmeOpcodes.DISCOVERY_NQN)
                .identity(identity).nrIoQueues(0).keepAliveTimeout(Duration.ZERO)
                .commandTimeout(timeout).connectTimeout(timeout);
    }

    /** How many referral hops {@link #discoverFollowingReferrals} follows unless told otherwise. */
    public static final int DEFAULT_MAX_REFERRAL_DEPTH = 4;

    /**
     * One discovery controller visited while following referrals.
     *
     * @param traddr its address
     * @param trsvcid its port
     * @param depth 0 for the first controller, 1 for one it referred to, and so on
     * @param referredBy the referral entry that led here, or {@code null} for the first controller
     * @param log what it listed, or {@code null} if it could not be read
     * @param failure why it could not be read or was not visited, or {@code null}
     */
    public record Visit(String traddr, int trsvcid, int depth, DiscoveryLogEntry referredBy, Log log, RuntimeException failure) {
        public boolean succeeded() {
            return log != null;
        }
    }

    /**
     * Reads the log of the discovery controller {@code start} names and follows its referrals
     * (entries of subtype 1h, NVMe Base 2.0 Figure 263) breadth first, as {@code nvme connect-all}
     * does: each referred-to controller is read with the same host identity and timeouts. A
     * controller is read once however many referrals name it — referrals that lead back to one
     * already read, including to {@code start}, are not followed, so loops end — and referrals
     * more than {@code maxDepth} hops from {@code start} are not followed. A referral that cannot
     * be read, or names a transport other than TCP, is recorded as a failed visit; it does not stop
     * the others.
     *
     * @param start options for the first controller (see {@link #options})
     * @param maxDepth referral hops to follow, 0..16 (0 reads only {@code start})
     * @return the visits in the order made; the first is {@code start}'s
     * @throws NvmeException if {@code start} itself cannot be read
     */
    public static List<Visit> discoverFollowingReferrals(NvmeEventLoops loops, NvmeTcpHostOptions start, int maxDepth) {
        if (maxDepth < 0 || maxDepth > 16) {
            throw new IllegalArgumentException("referral depth " + maxDepth + " (expected 0..16)");
        }
        List<Visit> visits = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        java.util.ArrayDeque<Visit> queue = new java.util.ArrayDeque<>();
        seen.add(addressKey(start.traddr(), start.trsvcid()));
        Log first = discover(loops, start);
        Visit root = new Visit(start.traddr(), start.trsvcid(), 0, null, first, null);
        visits.add(root);
        queue.add(root);
        while (!queue.isEmpty()) {
            Visit from = queue.poll();
            for (DiscoveryLogEntry e : from.log().entries()) {
                if (e.subtype() != DiscoveryLog.SUBTYPE_REFERRAL) {
                    continue;
                }
                int port;
                try {
                    port = Integer.parseInt(e.trsvcid().trim());
                } catch (NumberFormatException nfe) {
                    port = -1;
                }
                String key = addressKey(e.traddr(), port);
                if (!seen.add(key)) {
                    log.debug("referral from {}:{} to {}:{} leads to a controller read already: not followed",
                            from.traddr(), from.trsvcid(), e.traddr(), e.trsvcid());
                    continue;
                }
                int depth = from.depth() + 1;
                if (depth > maxDepth) {
                    visits.add(new Visit(e.traddr(), port, depth, e, null, new NvmeException("referral from " + from.traddr()
                            + ":" + from.trsvcid() + " to " + e.traddr() + ":" + e.trsvcid() + " is " + depth
                            + " hops deep (expected at most " + maxDepth + "): not followed", NvmeException.Scope.COMMAND, false, null)));
                    continue;
                }
                if (e.trtype() != DiscoveryLog.TRTYPE_TCP || port < 1 || port > 65535) {
                    visits.add(new Visit(e.traddr(), port, depth, e, null, new NvmeException("referral from " + from.traddr()
                            + ":" + from.trsvcid() + " to " + e.trtypeName() + " " + e.traddr() + ":" + e.trsvcid()
                            + " (expected tcp with a port number: only TCP is spoken in user space)",
                            NvmeException.Scope.COMMAND, false, null)));
                    continue;
                }
                try {
                    Log next = discover(loops, start.toBuilder().traddr(e.traddr()).trsvcid(port).build());
                    Visit v = new Visit(e.traddr(), port, depth, e, next, null);
                    visits.add(v);
                    queue.add(v);
                } catch (RuntimeException failure) {
                    log.info("referral from {}:{} to {}:{} cannot be read: {}", from.traddr(), from.trsvcid(), e.traddr(), port,
                            failure.getMessage());
                    visits.add(new Visit(e.traddr(), port, depth, e, null, failure));
                }
            }
        }
        return List.copyOf(visits);
    }

    /** A controller's address as compared for loops: an IP literal in its canonical form, and the port. */
    static String addressKey(String traddr, int trsvcid) {
        String host = traddr.trim().toLowerCase(java.util.Locale.ROOT);
        try {
            host = java.net.InetAddress.ofLiteral(host).getHostAddress();
        } catch (IllegalArgumentException notALiteral) {
            // a name: compared as written
        }
        return host + "|" + trsvcid;
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
