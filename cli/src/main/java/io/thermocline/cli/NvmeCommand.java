package io.thermocline.cli;

import io.thermocline.nvmeof.discovery.DiscoveryConf;
import io.thermocline.nvmeof.discovery.DiscoveryConfException;
import io.thermocline.nvmeof.discovery.DiscoveryListener;
import io.thermocline.nvmeof.discovery.DiscoveryLogChange;
import io.thermocline.nvmeof.discovery.DiscoveryLogEntry;
import io.thermocline.nvmeof.discovery.NvmeDiscovery;
import io.thermocline.nvmeof.discovery.PersistentDiscovery;
import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeTcpBlockDevice;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NamespaceInfo;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.load.BlockLoad;
import io.thermocline.nvmeof.load.LatencyHistogram;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code thermocline nvme ...}: the user-space NVMe/TCP host, with nvme-cli's option names. */
@Command(name = "nvme",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        description = "NVMe over Fabrics (TCP) from user space: discover subsystems, connect to one, and drive load against "
                + "a namespace. Option names are nvme-cli's.",
        subcommands = {NvmeCommand.Discover.class, NvmeCommand.Connect.class, NvmeCommand.Bench.class})
final class NvmeCommand implements Runnable {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /**
     * The options that name one subsystem's controller and how to reach it, as {@code nvme connect}
     * names them; shared by {@code connect}, {@code bench} and {@code thermocline stats}.
     * {@code discover} declares its own address options (the address is optional there, and the
     * port's default is the discovery port) and shares the checks through {@link #check(CommandLine,
     * String, Integer, String)}.
     */
    static final class Transport {
        @Option(names = {"-t", "--transport"}, defaultValue = "tcp", paramLabel = "TYPE",
                description = "Transport type; only tcp is spoken in user space (default: tcp).")
        String transport;

        @Option(names = {"-a", "--traddr"}, required = true, paramLabel = "ADDR", description = "Target address.")
        String traddr;

        @Option(names = {"-s", "--trsvcid"}, paramLabel = "PORT", description = "Target port (default: 4420; 8009 for discover).")
        Integer trsvcid;

        @Option(names = {"-n", "--nqn"}, required = true, paramLabel = "NQN", description = "Subsystem NQN.")
        String nqn;

        @Option(names = {"-q", "--hostnqn"}, paramLabel = "HOSTNQN",
                description = "Host NQN (default: /etc/nvme/hostnqn, else one generated once and kept in ~/.config/thermocline/hostnqn).")
        String hostnqn;

        @Option(names = {"-g", "--hdr-digest"}, description = "Ask for header digests (CRC32C).")
        boolean hdrDigest;

        @Option(names = {"-G", "--data-digest"}, description = "Ask for data digests (CRC32C).")
        boolean dataDigest;

        void check(CommandLine cmd) {
            check(cmd, transport, trsvcid, "nvme connect");
        }

        /**
         * Checks a transport type and port as every subcommand takes them.
         *
         * @param kernelCommand the nvme-cli command that reaches the transports the user-space host
         *     does not speak, named in the message
         */
        static void check(CommandLine cmd, String transport, Integer trsvcid, String kernelCommand) {
            if (!"tcp".equals(transport)) {
                throw new CommandLine.ParameterException(cmd, "--transport: " + transport
                        + " (expected: tcp; rdma and fc namespaces are reached through the kernel's " + kernelCommand + ")");
            }
            if (trsvcid != null && (trsvcid < 1 || trsvcid > 65535)) {
                throw new CommandLine.ParameterException(cmd, "--trsvcid: " + trsvcid + " (expected: 1..65535)");
            }
        }

        int port(int fallback) {
            return trsvcid != null ? trsvcid : fallback;
        }

        /**
         * Builds the host options these options and {@code security} describe (NVMe/TCP port 4420
         * when {@code -s} is not given), after {@code more} has set what the command adds.
         *
         * @param security the authentication and TLS options, or null for a command without them
         * @throws CommandLine.ParameterException for a value the host options refuse, with its message
         */
        NvmeTcpHostOptions hostOptions(CommandLine cmd, FabricSecurityOptions security, Consumer<NvmeTcpHostOptions.Builder> more) {
            try {
                HostIdentity identity = HostIdentity.resolveDefault(hostnqn);
                NvmeTcpHostOptions.Builder b = NvmeTcpHostOptions.builder(traddr, port(4420), nqn)
                        .identity(identity)
                        .headerDigest(hdrDigest).dataDigest(dataDigest);
                if (security != null) {
                    security.apply(cmd, b, identity.hostNqn(), nqn);
                }
                more.accept(b);
                return b.build();
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(cmd, e.getMessage());
            }
        }
    }

    @Command(name = "discover",
            mixinStandardHelpOptions = true,
            usageHelpAutoWidth = true,
            description = {"Reads the discovery log of a discovery controller and prints its entries the way nvme discover does.",
                "",
                "Without -a, as nvme discover does, it reads the discovery controllers listed in /etc/nvme/discovery.conf "
                + "(or the file --discovery-conf names): one per line, written as nvme discover's flags; # starts a comment.",
                "With -p it keeps the connection (keep-alive, Asynchronous Event Request outstanding) and prints the entries "
                + "that appear or go each time the controller announces a Discovery Log Page Change, until interrupted or "
                + "--exit-after has passed.", ""},
            footer = {"", "Examples:",
                "  thermocline nvme discover -t tcp -a 127.0.0.1 -s 4420",
                "  thermocline nvme discover -a 10.0.0.5 -s 8009 -q nqn.2014-08.org.nvmexpress:uuid:0f2c...",
                "  thermocline nvme discover -a 127.0.0.1 -s 4420 --json",
                "  thermocline nvme discover                      (every line of /etc/nvme/discovery.conf)",
                "  thermocline nvme discover --discovery-conf ./discovery.conf --follow-referrals",
                "  thermocline nvme discover -a 10.0.0.5 -s 8009 -p"})
    static final class Discover implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Option(names = {"-t", "--transport"}, defaultValue = "tcp", paramLabel = "TYPE",
                description = "Transport type; only tcp is spoken in user space (default: tcp).")
        String transport;

        @Option(names = {"-a", "--traddr"}, paramLabel = "ADDR",
                description = "Discovery controller address (default: the controllers listed in the discovery.conf file).")
        String traddr;

        @Option(names = {"-s", "--trsvcid"}, paramLabel = "PORT", description = "Discovery controller port (default: 8009).")
        Integer trsvcid;

        @Option(names = {"-q", "--hostnqn"}, paramLabel = "HOSTNQN",
                description = "Host NQN (default: /etc/nvme/hostnqn, else one generated once and kept in ~/.config/thermocline/hostnqn); "
                        + "a -q on a discovery.conf line wins for that line.")
        String hostnqn;

        @Option(names = {"-g", "--hdr-digest"}, description = "Ask for header digests (CRC32C).")
        boolean hdrDigest;

        @Option(names = {"-G", "--data-digest"}, description = "Ask for data digests (CRC32C).")
        boolean dataDigest;

        @Option(names = "--discovery-conf", paramLabel = "FILE",
                description = "The discovery.conf-style file to read when -a is not given (default: /etc/nvme/discovery.conf).")
        java.nio.file.Path discoveryConf;

        @Option(names = "--follow-referrals", arity = "0..1", fallbackValue = "" + NvmeDiscovery.DEFAULT_MAX_REFERRAL_DEPTH,
                paramLabel = "DEPTH",
                description = "Also read the discovery controllers that referral entries name, at most DEPTH hops away (default when "
                        + "given without a value: " + NvmeDiscovery.DEFAULT_MAX_REFERRAL_DEPTH + "); each controller is read once.")
        Integer followReferrals;

        @Option(names = {"-p", "--persistent"},
                description = "Keep the connection and print log changes as the controller announces them (one controller: needs -a "
                        + "or a discovery.conf of one line).")
        boolean persistent;

        @Option(names = {"-k", "--keep-alive-tmo"}, paramLabel = "SECONDS",
                description = "Keep-alive timeout of a persistent connection (default: 30, nvme-cli's for discovery).")
        Integer keepAliveTmo;

        @Option(names = "--exit-after", paramLabel = "DURATION", converter = DurationConverter.class,
                description = "With -p: stop after this long (default: run until interrupted).")
        Duration exitAfter;

        @Option(names = "--json", description = "Print JSON instead of nvme-cli's text layout.")
        boolean json;

        @Option(names = "--timeout", defaultValue = "10s", paramLabel = "DURATION", converter = DurationConverter.class,
                description = "Connect and command timeout (default: 10s).")
        Duration timeout;

        /** One discovery controller to read, and where it came from. */
        private record Target(NvmeTcpHostOptions options, String origin) {
        }

        @Override
        public Integer call() throws InterruptedException {
            CommandLine cmd = spec.commandLine();
            PrintWriter out = cmd.getOut();
            Transport.check(cmd, transport, trsvcid, "nvme discover");
            if (followReferrals != null && (followReferrals < 0 || followReferrals > 16)) {
                throw new CommandLine.ParameterException(cmd, "--follow-referrals: " + followReferrals + " (expected: 0..16)");
            }
            if (keepAliveTmo != null && (keepAliveTmo < 1 || keepAliveTmo > 65535)) {
                throw new CommandLine.ParameterException(cmd, "--keep-alive-tmo: " + keepAliveTmo + " (expected: 1..65535 seconds)");
            }
            if (traddr != null && discoveryConf != null) {
                throw new CommandLine.ParameterException(cmd, "--discovery-conf " + discoveryConf
                        + " with -a " + traddr + " (expected one of them: the file lists the controllers -a would name)");
            }
            if (persistent && followReferrals != null) {
                throw new CommandLine.ParameterException(cmd, "--follow-referrals with --persistent (expected one of them: "
                        + "a persistent connection is kept to one controller)");
            }
            List<Target> targets;
            try {
                targets = targets();
            } catch (DiscoveryConfException e) {
                cmd.getErr().println("thermocline: " + e.getMessage());
                return 2;
            } catch (java.nio.file.NoSuchFileException e) {
                cmd.getErr().println("thermocline: " + e.getFile() + " does not exist (expected a discovery.conf file listing "
                        + "discovery controllers, or -a with the address of one)");
                return 2;
            } catch (java.io.IOException e) {
                cmd.getErr().println("thermocline: cannot read " + confPath() + ": " + e);
                return 2;
            }
            if (targets.isEmpty()) {
                cmd.getErr().println("thermocline: " + confPath() + " lists no discovery controller (expected at least one line "
                        + "such as -t tcp -a 10.0.0.5 -s 8009)");
                return 2;
            }
            if (persistent) {
                if (targets.size() != 1) {
                    throw new CommandLine.ParameterException(cmd, "--persistent with " + targets.size() + " discovery controllers in "
                            + confPath() + " (expected one: use -a, or a file of one line)");
                }
                return persistent(out, targets.getFirst());
            }
            boolean single = traddr != null && followReferrals == null;  // nvme-cli's layout for one controller named by -a
            int failures = 0;
            int unreachable = 0;
            RuntimeException lastFailure = null;
            List<String> jsons = new ArrayList<>();
            try (NvmeEventLoops loops = new NvmeEventLoops(1)) {
                for (Target t : targets) {
                    List<NvmeDiscovery.Visit> visits;
                    try {
                        if (followReferrals != null) {
                            visits = NvmeDiscovery.discoverFollowingReferrals(loops, t.options(), followReferrals);
                        } else {
                            visits = List.of(new NvmeDiscovery.Visit(t.options().traddr(), t.options().trsvcid(), 0, null,
                                    NvmeDiscovery.discover(loops, t.options()), null));
                        }
                    } catch (RuntimeException e) {
                        if (single) {
                            throw e;
                        }
                        failures++;
                        unreachable++;
                        lastFailure = e;
                        cmd.getErr().println("thermocline: " + t.origin() + ": " + e.getMessage());
                        continue;
                    }
                    for (NvmeDiscovery.Visit v : visits) {
                        if (!v.succeeded()) {
                            failures++;
                            cmd.getErr().println("thermocline: referral to " + v.traddr() + ":" + v.trsvcid() + ": " + v.failure().getMessage());
                            continue;
                        }
                        String origin = v.referredBy() == null ? t.origin() : "referral from " + t.origin() + ", " + v.depth() + " hop(s)";
                        if (json) {
                            jsons.add(single ? logJson(v.log()) : "{\"traddr\":" + Json.string(new StringBuilder(), v.traddr()) + ",\"trsvcid\":" + v.trsvcid()
                                    + ",\"origin\":" + Json.string(new StringBuilder(), origin) + ",\"log\":" + logJson(v.log()) + "}");
                        } else {
                            if (!single) {
                                out.printf("%nDiscovery controller %s:%d (%s)%n", v.traddr(), v.trsvcid(), origin);
                            }
                            printText(out, v.log());
                        }
                    }
                }
            }
            if (json) {
                out.println(single ? jsons.getFirst() : "{\"controllers\":[" + String.join(",", jsons) + "]}");
            }
            out.flush();
            if (unreachable == targets.size()) {
                throw lastFailure;  // nothing could be read: fail as a single controller would
            }
            return failures > 0 ? 1 : 0;
        }

        private java.nio.file.Path confPath() {
            return discoveryConf != null ? discoveryConf : DiscoveryConf.DEFAULT_PATH;
        }

        private List<Target> targets() throws java.io.IOException {
            HostIdentity identity = HostIdentity.resolveDefault(hostnqn);
            if (traddr != null) {
                NvmeTcpHostOptions.Builder b = NvmeDiscovery.options(traddr, trsvcid != null ? trsvcid : DiscoveryConf.DEFAULT_DISCOVERY_PORT,
                        identity, timeout).headerDigest(hdrDigest).dataDigest(dataDigest);
                return List.of(new Target(b.build(), traddr + ":" + (trsvcid != null ? trsvcid : DiscoveryConf.DEFAULT_DISCOVERY_PORT)));
            }
            DiscoveryConf conf = DiscoveryConf.read(confPath());
            List<Target> targets = new ArrayList<>();
            for (DiscoveryConf.Entry e : conf.entries()) {
                NvmeTcpHostOptions.Builder b = e.hostOptions(conf.source(), identity, timeout);
                if (hdrDigest) {
                    b.headerDigest(true);
                }
                if (dataDigest) {
                    b.dataDigest(true);
                }
                // a file of one persistent line asks for what -p asks for
                persistent |= e.persistent() && conf.entries().size() == 1 && followReferrals == null;
                targets.add(new Target(b.build(), conf.source() + " line " + e.line()));
            }
            return targets;
        }

        /** Keeps a persistent connection and prints each change; returns when interrupted or after --exit-after. */
        private int persistent(PrintWriter out, Target t) throws InterruptedException {
            NvmeTcpHostOptions options = t.options().toBuilder()
                    .keepAliveTimeout(keepAliveTmo != null ? Duration.ofSeconds(keepAliveTmo)
                            : t.options().keepAliveTimeout().isZero() ? PersistentDiscovery.DEFAULT_KEEP_ALIVE_TIMEOUT
                            : t.options().keepAliveTimeout())
                    .ctrlLossTimeout(NvmeTcpHostOptions.OFF).build();
            java.util.concurrent.CountDownLatch stop = new java.util.concurrent.CountDownLatch(1);
            DiscoveryListener listener = new DiscoveryListener() {
                @Override
                public void logChanged(DiscoveryLogChange change) {
                    synchronized (out) {
                        if (json) {
                            out.println(changeJson(change));
                        } else if (change.initial()) {
                            printText(out, new NvmeDiscovery.Log(change.generation(), change.entries()));
                        } else {
                            out.printf("%nDiscovery Log Page Change: generation %d -> %d, %d new, %d gone%n", change.previousGeneration(),
                                    change.generation(), change.added().size(), change.removed().size());
                            for (DiscoveryLogEntry e : change.added()) {
                                out.printf("+ %s %s %s:%s%n", e.subtypeName(), e.subnqn(), e.traddr(), e.trsvcid());
                            }
                            for (DiscoveryLogEntry e : change.removed()) {
                                out.printf("- %s %s %s:%s%n", e.subtypeName(), e.subnqn(), e.traddr(), e.trsvcid());
                            }
                        }
                        out.flush();
                    }
                }

                @Override
                public void discoveryLost(Throwable cause) {
                    synchronized (out) {
                        spec.commandLine().getErr().println("thermocline: discovery controller " + t.origin() + " lost: " + cause.getMessage());
                    }
                    stop.countDown();
                }
            };
            try (NvmeEventLoops loops = new NvmeEventLoops(1);
                 PersistentDiscovery d = PersistentDiscovery.builder(loops, options).listener(listener).open()) {
                if (exitAfter != null) {
                    stop.await(exitAfter.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
                } else {
                    stop.await();
                }
                return d.discoveryController().state() == NvmeTcpController.State.DELETED ? 3 : 0;
            }
        }

        private static void printText(PrintWriter out, NvmeDiscovery.Log log) {
            out.printf("%nDiscovery Log Number of Records %d, Generation counter %d%n", log.entries().size(), log.generation());
            int i = 0;
            for (DiscoveryLogEntry e : log.entries()) {
                out.printf("=====Discovery Log Entry %d======%n", i++);
                out.printf("trtype:  %s%n", e.trtypeName());
                out.printf("adrfam:  %s%n", e.adrfamName());
                out.printf("subtype: %s%n", e.subtypeName());
                out.printf("treq:    %s%n", e.treqName());
                out.printf("portid:  %d%n", e.portId());
                out.printf("trsvcid: %s%n", e.trsvcid());
                out.printf("subnqn:  %s%n", e.subnqn());
                out.printf("traddr:  %s%n", e.traddr());
                out.printf("eflags:  %s%n", e.eflags() == 0 ? "none" : "0x" + Integer.toHexString(e.eflags()));
                out.printf("sectype: %s%n", e.sectypeName());
            }
        }

        private static String logJson(NvmeDiscovery.Log log) {
            return "{\"genctr\":" + log.generation() + ",\"records\":" + entriesJson(log.entries()) + "}";
        }

        private static String changeJson(DiscoveryLogChange c) {
            return "{\"genctr\":" + c.generation() + ",\"previous_genctr\":" + c.previousGeneration() + ",\"added\":"
                    + entriesJson(c.added()) + ",\"removed\":" + entriesJson(c.removed()) + "}";
        }

        private static String entriesJson(List<DiscoveryLogEntry> entries) {
            StringBuilder b = new StringBuilder("[");
            String sep = "";
            for (DiscoveryLogEntry e : entries) {
                b.append(sep).append('{');
                Json.field(b, "trtype", e.trtypeName()).append(',');
                Json.field(b, "adrfam", e.adrfamName()).append(',');
                Json.field(b, "subtype", e.subtypeName()).append(',');
                Json.field(b, "treq", e.treqName()).append(',');
                b.append("\"portid\":").append(e.portId()).append(',');
                Json.field(b, "trsvcid", e.trsvcid()).append(',');
                Json.field(b, "subnqn", e.subnqn()).append(',');
                Json.field(b, "traddr", e.traddr()).append(',');
                b.append("\"eflags\":").append(e.eflags()).append(',');
                Json.field(b, "sectype", e.sectypeName());
                b.append('}');
                sep = ",";
            }
            return b.append(']').toString();
        }
    }

    @Command(name = "connect",
            mixinStandardHelpOptions = true,
            usageHelpAutoWidth = true,
            description = {
                "Connects the user-space host to a subsystem the way nvme connect does (with its option names and "
                + "meanings), prints the controller and its namespaces, and disconnects. Use it to check that a target "
                + "is reachable with a given configuration; the library keeps the connection (and reconnects) for as "
                + "long as a program holds it.", ""},
            footer = {"", "Time options are in seconds, as in nvme-cli; -1 turns fast-io-fail-tmo off and makes ctrl-loss-tmo "
                + "endless. --preset sets keep-alive-tmo, reconnect-delay and ctrl-loss-tmo; options given explicitly win.",
                "", "Examples:",
                "  thermocline nvme connect -t tcp -a 127.0.0.1 -s 4420 -n nqn.2026-11.io.thermocline:jbof",
                "  thermocline nvme connect -a 10.0.0.5 -n NQN --preset latency-sensitive -i 4 -W 2 --json",
                "  thermocline nvme connect -a 10.0.0.5 -n NQN -k 5 -c 2 -l 30 --fast-io-fail-tmo 10",
                "  thermocline nvme connect -a 10.0.0.5 -n NQN -S DHHC-1:01:...: -C DHHC-1:03:...:",
                "  thermocline nvme connect -a 10.0.0.5 -n NQN --tls --tls-key NVMeTLSkey-1:01:...:"})
    static final class Connect implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Mixin
        Transport transport;

        @Option(names = {"-i", "--nr-io-queues"}, paramLabel = "N", description = "I/O queues (default: 2).")
        Integer nrIoQueues;

        @Option(names = {"-W", "--nr-write-queues"}, paramLabel = "N",
                description = "Extra I/O queues for writes only (default: 0, reads and writes share).")
        Integer nrWriteQueues;

        @Option(names = {"-Q", "--queue-size"}, paramLabel = "N", description = "Entries per I/O queue (default: 128).")
        Integer queueSize;

        @Option(names = {"-k", "--keep-alive-tmo"}, paramLabel = "SECONDS", description = "Keep-alive timeout (default: 5).")
        Integer keepAliveTmo;

        @Option(names = {"-c", "--reconnect-delay"}, paramLabel = "SECONDS",
                description = "Wait between attempts to connect again after the path was lost (default: 10).")
        Integer reconnectDelay;

        @Option(names = {"-l", "--ctrl-loss-tmo"}, paramLabel = "SECONDS",
                description = "How long to keep trying to connect again before giving the controller up; -1: forever (default: 600).")
        Integer ctrlLossTmo;

        @Option(names = {"--fast-io-fail-tmo", "--fast_io_fail_tmo"}, paramLabel = "SECONDS",
                description = "Fail I/O waiting for a lost path after this long, while reconnecting goes on; -1: off (default: off).")
        Integer fastIoFailTmo;

        @Option(names = "--preset", paramLabel = "NAME",
                description = "latency-sensitive (keep-alive-tmo 5, reconnect-delay 2, ctrl-loss-tmo 30) or conservative (the kernel's "
                        + "defaults: 5, 10, 600).")
        String preset;

        @Option(names = "--json", description = "Print one JSON object instead of text.")
        boolean json;

        @Mixin
        FabricSecurityOptions security;

        @Override
        public Integer call() {
            CommandLine cmd = spec.commandLine();
            transport.check(cmd);
            NvmeTcpHostOptions options = transport.hostOptions(cmd, security, b -> {
                if (preset != null) {
                    b.preset(NvmeTcpHostOptions.Preset.of(preset));
                }
                if (nrIoQueues != null) {
                    b.nrIoQueues(nrIoQueues);
                }
                if (nrWriteQueues != null) {
                    b.nrWriteQueues(nrWriteQueues);
                }
                if (queueSize != null) {
                    b.queueSize(queueSize);
                }
                if (keepAliveTmo != null) {
                    b.keepAliveTimeout(seconds("--keep-alive-tmo", keepAliveTmo, false));
                }
                if (reconnectDelay != null) {
                    b.reconnectDelay(seconds("--reconnect-delay", reconnectDelay, false));
                }
                if (ctrlLossTmo != null) {
                    b.ctrlLossTimeout(seconds("--ctrl-loss-tmo", ctrlLossTmo, true));
                }
                if (fastIoFailTmo != null) {
                    b.fastIoFailTimeout(seconds("--fast-io-fail-tmo", fastIoFailTmo, true));
                }
            });
            PrintWriter out = cmd.getOut();
            try (NvmeEventLoops loops = new NvmeEventLoops(1);
                 NvmeTcpController controller = NvmeTcpController.connectAndWait(loops, options)) {
                List<NamespaceInfo> namespaces = new java.util.ArrayList<>();
                for (int id : controller.activeNamespaces()) {
                    namespaces.add(controller.identifyNamespace(id).join());
                }
                if (json) {
                    printJson(out, controller, namespaces);
                } else {
                    out.printf("connected to %s at %s: controller %d (%s %s), %d I/O queue(s); keep-alive-tmo %s, reconnect-delay %s, "
                                    + "ctrl-loss-tmo %s, fast-io-fail-tmo %s%n", options.nqn(), controller.address(), controller.controllerId(),
                            controller.info().modelNumber(), controller.info().firmwareRevision(), controller.ioQueueCount(),
                            secs(options.keepAliveTimeout()), secs(options.reconnectDelay()), secs(options.ctrlLossTimeout()),
                            secs(options.fastIoFailTimeout()));
                    for (NamespaceInfo ns : namespaces) {
                        out.printf("namespace %d: %d bytes, %d x %d-byte blocks, nguid %s%s%n", ns.nsid(), ns.sizeInBytes(),
                                ns.sizeInBlocks(), ns.blockSizeInBytes(), ns.nguid(),
                                controller.info().reportsAna() ? ", ANA group " + ns.anaGroupId() + " " + controller.anaState(ns) : "");
                    }
                }
                out.flush();
            }
            return 0;
        }

        private static Duration seconds(String option, int value, boolean minusOneMeansOff) {
            if (value == -1 && minusOneMeansOff) {
                return NvmeTcpHostOptions.OFF;
            }
            if (value < 0) {
                throw new IllegalArgumentException(option + ": " + value + " (expected 0 or more seconds"
                        + (minusOneMeansOff ? ", or -1)" : ")"));
            }
            return Duration.ofSeconds(value);
        }

        private static String secs(Duration d) {
            return d.isNegative() ? "off" : d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
        }

        private static void printJson(PrintWriter out, NvmeTcpController c, List<NamespaceInfo> namespaces) {
            NvmeTcpHostOptions o = c.options();
            StringBuilder b = new StringBuilder("{");
            Json.field(b, "subnqn", o.nqn()).append(',');
            Json.field(b, "address", c.address()).append(',');
            b.append("\"cntlid\":").append(c.controllerId()).append(',');
            Json.field(b, "model", c.info().modelNumber()).append(',');
            b.append("\"io_queues\":").append(c.ioQueueCount())
                    .append(",\"keep_alive_tmo\":").append(o.keepAliveTimeout().toSeconds())
                    .append(",\"reconnect_delay\":").append(o.reconnectDelay().toSeconds())
                    .append(",\"ctrl_loss_tmo\":").append(o.ctrlLossTimeout().isNegative() ? -1 : o.ctrlLossTimeout().toSeconds())
                    .append(",\"fast_io_fail_tmo\":").append(o.fastIoFailTimeout().isNegative() ? -1 : o.fastIoFailTimeout().toSeconds())
                    .append(",\"namespaces\":[");
            String sep = "";
            for (NamespaceInfo ns : namespaces) {
                b.append(sep).append("{\"nsid\":").append(ns.nsid()).append(",\"size_bytes\":").append(ns.sizeInBytes())
                        .append(",\"block_size\":").append(ns.blockSizeInBytes()).append(',');
                Json.field(b, "nguid", ns.nguid());
                if (c.info().reportsAna()) {
                    b.append(",\"ana_group\":").append(ns.anaGroupId()).append(',');
                    Json.field(b, "ana_state", c.anaState(ns).name().toLowerCase(Locale.ROOT).replace('_', '-'));
                }
                b.append('}');
                sep = ",";
            }
            out.println(b.append("]}"));
        }
    }

    @Command(name = "bench",
            mixinStandardHelpOptions = true,
            usageHelpAutoWidth = true,
            description = {
                "A fio-like load generator over the user-space NVMe/TCP host: keeps --qd I/Os of --bs bytes in flight for "
                + "--runtime seconds and prints IOPS, MiB/s and latency percentiles. Works against any NVMe/TCP target, "
                + "the Linux kernel's nvmet included. With --verify it first writes a pattern over the region, and checks "
                + "every byte it reads back (after a write run, it reads the whole region back).",
                "",
                "WARNING: write modes and --verify overwrite the namespace's data in the region.", ""},
            footer = {"", "Examples:",
                "  thermocline nvme bench -a 127.0.0.1 -s 4420 -n nqn.2026-11.io.thermocline:jbof --rw randread --bs 4k --qd 32 --runtime 10",
                "  thermocline nvme bench -a 127.0.0.1 -s 4420 -n NQN --rw write --bs 128k --qd 16 --runtime 5 --verify",
                "  thermocline nvme bench -a 127.0.0.1 -s 4420 -n NQN --rw randread --bs 4k --qd 1 --runtime 10 --json"})
    static final class Bench implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Mixin
        Transport transport;

        @Option(names = "--rw", required = true, paramLabel = "MODE", description = "read, write, randread or randwrite.")
        String rw;

        @Mixin
        LoadOptions load;

        @Option(names = "--runtime", defaultValue = "10", paramLabel = "SECONDS", description = "How long to run (default: 10).")
        double runtime;

        @Option(names = "--verify", description = "Write a pattern first and check every byte read back.")
        boolean verify;

        @Option(names = {"-i", "--nr-io-queues"}, defaultValue = "2", paramLabel = "N", description = "I/O queues (default: 2).")
        int nrIoQueues;

        @Option(names = {"-Q", "--queue-size"}, defaultValue = "128", paramLabel = "N", description = "Entries per I/O queue (default: 128).")
        int queueSize;

        @Option(names = "--json", description = "Print one JSON object instead of text.")
        boolean json;

        @Mixin
        FabricSecurityOptions security;

        @Override
        public Integer call() throws Exception {
            CommandLine cmd = spec.commandLine();
            transport.check(cmd);
            BlockLoad.Mode mode;
            try {
                mode = BlockLoad.Mode.parse(rw);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(cmd, "--rw: " + rw + " (expected: read, write, randread or randwrite)");
            }
            load.check(cmd, runtime);
            NvmeTcpHostOptions options = transport.hostOptions(cmd, security, b -> load.size(b, nrIoQueues).queueSize(queueSize));
            PrintWriter out = cmd.getOut();
            try (LoadOptions.Target target = load.open(cmd, options)) {
                NvmeTcpBlockDevice device = target.device();
                if (!json) {
                    out.printf("%s: %s, %d x %d-byte blocks; %d I/O queue(s) over %s; %s bs=%d qd=%d runtime=%ss%s%n",
                            device.name(), target.controller().info().modelNumber(), device.namespace().sizeInBlocks(),
                            device.blockSizeInBytes(), target.controller().ioQueueCount(), target.loops().transport(), mode.fioName(),
                            load.bs, load.qd, fmt(runtime), verify ? " verify" : "");
                    out.flush();
                }
                print(out, BlockLoad.run(device, load.spec(target, mode, runtime, verify)));
            }
            return 0;
        }

        private void print(PrintWriter out, BlockLoad.Result r) {
            LatencyHistogram h = r.latency();
            if (json) {
                StringBuilder b = new StringBuilder("{");
                Json.field(b, "rw", r.mode().fioName()).append(',');
                b.append("\"bs\":").append(r.blockSize()).append(",\"qd\":").append(r.queueDepth())
                        .append(",\"ios\":").append(r.ios()).append(",\"bytes\":").append(r.bytes())
                        .append(",\"elapsed_s\":").append(fmt(r.elapsedNanos() / 1e9))
                        .append(",\"iops\":").append(fmt(r.iops()))
                        .append(",\"mib_per_s\":").append(fmt(r.mibPerSecond()))
                        .append(",\"lat_us\":{\"mean\":").append(fmt(h.meanNanos() / 1e3))
                        .append(",\"p50\":").append(fmt(h.quantileNanos(0.50) / 1e3))
                        .append(",\"p99\":").append(fmt(h.quantileNanos(0.99) / 1e3))
                        .append(",\"p99.9\":").append(fmt(h.quantileNanos(0.999) / 1e3))
                        .append(",\"max\":").append(fmt(h.maxNanos() / 1e3)).append('}')
                        .append(",\"verified_bytes\":").append(r.verifiedBytes()).append('}');
                out.println(b);
            } else {
                out.printf("%s: IOPS=%s, BW=%s MiB/s, ios=%d in %.2fs%n", r.mode().fioName(), fmt(r.iops()), fmt(r.mibPerSecond()),
                        r.ios(), r.elapsedNanos() / 1e9);
                out.printf("  lat (usec): mean=%s, p50=%s, p99=%s, p99.9=%s, max=%s%n", fmt(h.meanNanos() / 1e3),
                        fmt(h.quantileNanos(0.50) / 1e3), fmt(h.quantileNanos(0.99) / 1e3), fmt(h.quantileNanos(0.999) / 1e3),
                        fmt(h.maxNanos() / 1e3));
                if (verify) {
                    out.printf("  verify: %d bytes read back, all as written%n", r.verifiedBytes());
                }
            }
            out.flush();
        }
    }

    static String fmt(double v) {
        return v >= 100 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.2f", v);
    }
}
