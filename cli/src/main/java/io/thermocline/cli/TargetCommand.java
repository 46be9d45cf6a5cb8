package io.thermocline.cli;

import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code thermocline target ...}: the software NVMe/TCP target. */
@Command(name = "target",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        description = "A software NVMe/TCP target: exports a file or block device as an NVMe namespace that the Linux "
                + "kernel (nvme discover, nvme connect) and thermocline nvme can reach.",
        subcommands = {TargetCommand.Serve.class})
final class TargetCommand implements Runnable {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** {@code thermocline target serve}: one subsystem with one namespace, until interrupted. */
    @Command(name = "serve",
            mixinStandardHelpOptions = true,
            usageHelpAutoWidth = true,
            description = {
                "Serves --file as namespace 1 of the NVM subsystem --nqn over NVMe/TCP until interrupted (Ctrl-C or "
                + "SIGTERM, which let commands in flight finish). A discovery controller answers on the same port. "
                + "The file is created, sparse, at --size if it does not exist; a block device (/dev/...) is served "
                + "at its own size. Only the hosts named with --allow-host may connect, or any host with --allow-any-host.",
                "",
                "Prints one line when it listens: the address, the NQN and the namespace.",
                ""},
            footer = {
                "",
                "Examples:",
                "  # a 1 GiB namespace for any host on this machine",
                "  thermocline target serve --nqn nqn.2024-01.io.example:disk1 --file /var/tmp/disk1.img --size 1GiB --allow-any-host",
                "",
                "  # on the network, 512-byte blocks, for one host (its NQN is in /etc/nvme/hostnqn on that host)",
                "  thermocline target serve --address 0.0.0.0 --port 4420 --nqn nqn.2024-01.io.example:disk1 \\",
                "      --file /var/tmp/disk1.img --size 10GiB --block-size 512 \\",
                "      --allow-host nqn.2014-08.org.nvmexpress:uuid:2b2f4e5c-0000-4000-8000-000000000001",
                "",
                "  # then, on the Linux host:",
                "  nvme discover -t tcp -a 192.0.2.10 -s 4420",
                "  nvme connect -t tcp -a 192.0.2.10 -s 4420 -n nqn.2024-01.io.example:disk1",
                "",
                "  # or from user space, without the kernel:",
                "  thermocline nvme bench -a 127.0.0.1 -s 4420 -n nqn.2024-01.io.example:disk1 --rw randread --bs 4k --qd 32 --runtime 10"})
    static final class Serve implements Callable<Integer> {

        @CommandLine.Spec
        private CommandLine.Model.CommandSpec spec;

        @Option(names = "--address", defaultValue = "127.0.0.1", paramLabel = "ADDR",
                description = "Address to listen on (default: 127.0.0.1; 0.0.0.0 for every interface).")
        private String address;

        @Option(names = "--port", defaultValue = "4420", paramLabel = "PORT",
                description = "TCP port (default: 4420, NVMe/TCP's; 0 picks a free one, printed at start).")
        private int port;

        @Option(names = "--nqn", required = true, paramLabel = "NQN",
                description = "The subsystem's NQN, e.g. nqn.2024-01.io.example:disk1.")
        private String nqn;

        @Option(names = "--file", required = true, paramLabel = "PATH",
                description = "The file (or block device) holding the namespace's blocks.")
        private Path file;

        @Option(names = "--size", paramLabel = "SIZE", converter = ByteSizeConverter.class,
                description = "Namespace size, e.g. 1GiB: the file is created or extended to it "
                        + "(required when the file does not exist; default: the file's size).")
        private Long size;

        @Option(names = "--block-size", defaultValue = "4096", paramLabel = "BYTES",
                description = "Logical block size, 512 or 4096 (default: 4096).")
        private int blockSize;

        @Option(names = "--allow-host", paramLabel = "HOSTNQN",
                description = "A host NQN that may connect (repeatable).")
        private List<String> allowHosts = List.of();

        @Option(names = "--allow-any-host", description = "Let any host connect.")
        private boolean allowAnyHost;

        @Option(names = "--config", paramLabel = "FILE",
                description = "YAML naming the hosts that may connect, with their DH-HMAC-CHAP secrets and TLS PSKs "
                        + "(hosts: [{nqn, dhchap-key, dhchap-ctrl-key, dhchap-hash, dhchap-dhgroup, tls-key, tls-key-derivation}]); "
                        + "any tls-key makes the port TLS-only.")
        private Path config;

        @Option(names = "--direct-io",
                description = "Open the file with O_DIRECT (needs --block-size 4096); reads then bypass the page cache "
                        + "instead of being sent from it with sendfile.")
        private boolean directIo;

        @Option(names = "--max-connections", paramLabel = "N",
                description = "Connections open at once; more are closed as they arrive (default: 4096; YAML limits.max-connections).")
        private Integer maxConnections;

        @Option(names = "--max-connections-per-address", paramLabel = "N",
                description = "Connections open at once from one source IP address (default: 512).")
        private Integer maxConnectionsPerAddress;

        @Option(names = "--max-unconnected", paramLabel = "N",
                description = "Connections open at once that have not completed a Connect (default: 256).")
        private Integer maxUnconnected;

        @Option(names = "--max-controllers-per-host", paramLabel = "N",
                description = "Controllers one host NQN may hold, discovery ones included; more Connects get "
                        + "Controller Busy (default: 128).")
        private Integer maxControllersPerHost;

        @Option(names = "--max-unsent-bytes", paramLabel = "SIZE", converter = ByteSizeConverter.class,
                description = "Queued responses above which a connection stops reading commands (default: 4MiB).")
        private Long maxUnsentBytes;

        @Option(names = "--max-r2t-bytes-per-controller", paramLabel = "SIZE", converter = ByteSizeConverter.class,
                description = "Write buffers one controller holds for data asked for with R2T (default: 64MiB).")
        private Long maxR2tBytesPerController;

        @Option(names = "--h2c-data-timeout", paramLabel = "DURATION", converter = DurationConverter.class,
                description = "An R2T left unanswered this long ends its connection (default: 30s).")
        private java.time.Duration h2cDataTimeout;

        /** Counted down to stop serving (by the shutdown hook, or by tests). */
        final CountDownLatch stop = new CountDownLatch(1);
        /** Counted down once the target is closed. */
        final CountDownLatch stopped = new CountDownLatch(1);

        @Override
        public Integer call() throws Exception {
            CommandLine cmd = spec.commandLine();
            if (port < 0 || port > 65535) {
                throw new CommandLine.ParameterException(cmd, "--port: " + port + " (expected: 0..65535)");
            }
            if (blockSize != 512 && blockSize != 4096) {
                throw new CommandLine.ParameterException(cmd, "--block-size: " + blockSize + " (expected: 512 or 4096)");
            }
            if (directIo && blockSize != 4096) {
                throw new CommandLine.ParameterException(cmd, "--direct-io with --block-size " + blockSize
                        + " (expected: --block-size 4096, the alignment O_DIRECT needs)");
            }
            if (size == null && !Files.exists(file)) {
                throw new CommandLine.ParameterException(cmd, "--file " + file + " does not exist (expected: an existing file, "
                        + "or --size to create it)");
            }
            if (size != null && (size <= 0 || size % blockSize != 0)) {
                throw new CommandLine.ParameterException(cmd, "--size: " + size + " bytes (expected: a positive multiple of the "
                        + blockSize + "-byte block size)");
            }
            TargetHostsConfig hosts = null;
            if (config != null) {
                try {
                    hosts = TargetHostsConfig.load(config);
                } catch (IllegalArgumentException e) {
                    throw new CommandLine.ParameterException(cmd, "--config " + e.getMessage());
                } catch (java.io.IOException e) {
                    throw new CommandLine.ParameterException(cmd, "--config " + config + ": cannot be read (" + e + ")");
                }
            }
            if (allowHosts.isEmpty() && !allowAnyHost && (hosts == null || hosts.hosts().isEmpty())) {
                throw new CommandLine.ParameterException(cmd, "no host may connect (expected: --allow-host HOSTNQN, "
                        + "repeatable, --allow-any-host, or hosts in --config)");
            }
            Subsystem.Builder subsystem;
            NvmeTcpTarget.Builder builder;
            try {
                subsystem = Subsystem.builder(nqn).allowAnyHost(allowAnyHost);
                allowHosts.forEach(subsystem::allowHost);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(cmd, e.getMessage());
            }
            try {
                builder = NvmeTcpTarget.builder().bindAddress(address).port(port);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(cmd, "--address: " + e.getMessage());
            }
            if (hosts != null) {
                try {
                    hosts.apply(subsystem, builder);
                } catch (IllegalArgumentException e) {
                    throw new CommandLine.ParameterException(cmd, "--config " + config + ": " + e.getMessage());
                }
            }
            TargetLimits limits = (hosts == null ? TargetLimits.NONE : hosts.limits()).overriddenBy(new TargetLimits(
                    maxConnections, maxConnectionsPerAddress, maxUnconnected, maxControllersPerHost, maxUnsentBytes,
                    maxR2tBytesPerController, h2cDataTimeout));
            try {
                limits.apply(builder);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(cmd, "target limits: " + e.getMessage());
            }
            Namespace namespace = Namespace.openFile(file, size == null ? -1 : size, blockSize, directIo);
            NvmeTcpTarget target = builder.subsystem(subsystem.namespace(namespace).build()).build();
            Thread hook = new Thread(() -> {
                stop.countDown();
                try {
                    stopped.await(15, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "target-serve-shutdown");
            try (target) {
                InetSocketAddress at = target.start();
                Runtime.getRuntime().addShutdownHook(hook);
                PrintWriter out = cmd.getOut();
                out.printf("listening on %s:%d nqn=%s namespace 1: %s (%d bytes, %d-byte blocks)%n",
                        at.getAddress().getHostAddress(), at.getPort(), nqn, file, namespace.device().sizeInBytes(), blockSize);
                out.flush();
                stop.await();
            } finally {
                stopped.countDown();
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException | IllegalArgumentException notRegisteredOrExiting) {
                    // the JVM is exiting (the hook has run), or start() failed before it was added
                }
            }
            return 0;
        }
    }
}
