package io.thermocline.nvmeof.kernel;

import io.thermocline.tier.InvalidArgumentException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * How {@link KernelNvmeDevice} asks the Linux kernel to connect to one NVMe over Fabrics
 * subsystem. The names and meanings are nvme-cli's {@code nvme connect} options, which the kernel
 * takes as the option string of {@code /dev/nvme-fabrics} ({@code drivers/nvme/host/fabrics.c}):
 * {@code -t/--transport}, {@code -a/--traddr}, {@code -s/--trsvcid}, {@code -n/--nqn},
 * {@code -q/--hostnqn}, {@code -I/--hostid}, {@code -w/--host-traddr}, {@code -i/--nr-io-queues},
 * {@code -W/--nr-write-queues}, {@code -Q/--queue-size}, {@code -k/--keep-alive-tmo},
 * {@code -c/--reconnect-delay}, {@code -l/--ctrl-loss-tmo}, {@code --fast_io_fail_tmo},
 * {@code -g/--hdr-digest}, {@code -G/--data-digest}. Timeouts are whole seconds, as nvme-cli takes them.
 *
 * <p>The timeout defaults are the kernel's, and are always passed, so that a controller behaves
 * the same whatever {@code /etc/nvme/config.json} says. {@code nr-io-queues} and {@code queue-size}
 * are passed only when set (the kernel's defaults: one I/O queue per CPU, 128 entries).
 *
 * <p>Immutable; build with {@link #builder}, change with {@link #toBuilder()}.
 *
 * @param transport the fabric: {@code tcp}, {@code rdma} (RoCE, InfiniBand, iWARP, Soft-RoCE) or {@code fc}
 * @param traddr the target port's address: an IP literal for tcp and rdma, {@code nn-0x...:pn-0x...} for fc
 * @param trsvcid the target port's service ID (the TCP or RDMA-CM port, 4420 by convention); null for fc
 * @param nqn the subsystem NQN
 * @param hostNqn the host NQN to present; null uses nvme-cli's ({@code /etc/nvme/hostnqn})
 * @param hostId the host identifier (a UUID); null uses nvme-cli's ({@code /etc/nvme/hostid})
 * @param hostTraddr the local address to connect from (an IP for tcp and rdma, the host WWNN:WWPN for fc); null: any
 * @param nsid the namespace to open (default 1)
 * @param nrIoQueues I/O queues; 0 (default) leaves the kernel's choice, one per CPU
 * @param nrWriteQueues extra queues that carry only writes (default 0)
 * @param queueSize entries per I/O queue; 0 (default) leaves the kernel's 128
 * @param keepAliveTimeout the KATO sent in Connect (default 5 s, NVME_DEFAULT_KATO)
 * @param reconnectDelay the wait between attempts to connect again after a loss (default 10 s)
 * @param ctrlLossTimeout how long the kernel keeps trying to reconnect before it removes the
 *        controller and fails I/O; negative ({@link #OFF}): forever (default 600 s)
 * @param fastIoFailTimeout how long after a loss I/O waits before failing while reconnects go on;
 *        negative ({@link #OFF}, the default): I/O waits up to ctrl-loss-tmo
 * @param headerDigest ask for NVMe/TCP header digests (tcp only)
 * @param dataDigest ask for NVMe/TCP data digests (tcp only)
 * @param connectTimeout how long {@code nvme connect} plus the namespace's block device appearing
 *        may take (default 30 s)
 * @param ioThreads platform threads that issue the blocking reads and writes, which is also the
 *        most requests in flight at the device (default 8)
 * @param nvmeCommand the nvme-cli executable: a name looked up on PATH (default {@code nvme}) or a path
 * @param sysfsRoot where sysfs is mounted (default {@code /sys})
 * @param devRoot where device nodes live (default {@code /dev})
 */
public record KernelNvmeOptions(Transport transport, String traddr, String trsvcid, String nqn, String hostNqn,
                                String hostId, String hostTraddr, int nsid, int nrIoQueues, int nrWriteQueues,
                                int queueSize, Duration keepAliveTimeout, Duration reconnectDelay,
                                Duration ctrlLossTimeout, Duration fastIoFailTimeout, boolean headerDigest,
                                boolean dataDigest, Duration connectTimeout, int ioThreads, String nvmeCommand,
                                Path sysfsRoot, Path devRoot) {

    /** The kernel's default keep-alive timeout for I/O controllers (NVME_DEFAULT_KATO). */
    public static final Duration DEFAULT_KEEP_ALIVE_TIMEOUT = Duration.ofSeconds(5);
    /** The kernel's default reconnect delay (NVMF_DEF_RECONNECT_DELAY). */
    public static final Duration DEFAULT_RECONNECT_DELAY = Duration.ofSeconds(10);
    /** The kernel's default controller loss timeout (NVMF_DEF_CTRL_LOSS_TMO). */
    public static final Duration DEFAULT_CTRL_LOSS_TIMEOUT = Duration.ofSeconds(600);
    /** nvme-cli's -1: fast-io-fail-tmo off, ctrl-loss-tmo endless. */
    public static final Duration OFF = Duration.ofSeconds(-1);

    /** The kernel transports {@code nvme connect -t} names, with the host module each needs. */
    public enum Transport {
        TCP("tcp", "nvme-tcp"),
        RDMA("rdma", "nvme-rdma"),
        FC("fc", "nvme-fc");

        private final String cliName;
        private final String hostModule;

        Transport(String cliName, String hostModule) {
            this.cliName = cliName;
            this.hostModule = hostModule;
        }

        /** The name for {@code nvme connect -t} and in sysfs {@code transport}. */
        public String cliName() {
            return cliName;
        }

        /** The kernel module of the host side, as modprobe names it. */
        public String hostModule() {
            return hostModule;
        }

        /** Parses {@code tcp}, {@code rdma} or {@code fc}, in any case. */
        public static Transport of(String name) {
            for (Transport t : values()) {
                if (t.cliName.equals(name.toLowerCase(Locale.ROOT))) {
                    return t;
                }
            }
            throw InvalidArgumentException.of("transport", name, "tcp, rdma or fc");
        }
    }

    public KernelNvmeOptions {
        Objects.requireNonNull(transport, "transport");
        requireText("traddr", traddr);
        requireText("nqn", nqn);
        if (transport != Transport.FC) {
            requireText("trsvcid", trsvcid);
        }
        for (String[] field : new String[][] {{"traddr", traddr}, {"trsvcid", trsvcid}, {"nqn", nqn},
                {"hostnqn", hostNqn}, {"hostid", hostId}, {"host-traddr", hostTraddr}}) {
            if (field[1] != null && !field[1].chars().allMatch(c -> c > ' ' && c < 0x7f && c != ',')) {
                // the kernel splits its option string at commas: a comma would smuggle in an option
                throw InvalidArgumentException.of(field[0], field[1], "printable ASCII without spaces or commas");
            }
        }
        if (nsid < 1) {
            throw InvalidArgumentException.of("nsid", nsid, "a namespace ID, 1 or more");
        }
        check("nr-io-queues", nrIoQueues, 0, 1024);
        check("nr-write-queues", nrWriteQueues, 0, 1024);
        if (queueSize != 0) {
            check("queue-size", queueSize, 16, 1024); // NVMF_MIN_QUEUE_SIZE..NVMF_MAX_QUEUE_SIZE
        }
        wholeSeconds("keep-alive-tmo", keepAliveTimeout, false);
        wholeSeconds("reconnect-delay", reconnectDelay, false);
        wholeSeconds("ctrl-loss-tmo", ctrlLossTimeout, true);
        wholeSeconds("fast-io-fail-tmo", fastIoFailTimeout, true);
        if (reconnectDelay.isZero()) {
            throw InvalidArgumentException.of("reconnect-delay", reconnectDelay, "at least 1 s");
        }
        if ((headerDigest || dataDigest) && transport != Transport.TCP) {
            throw InvalidArgumentException.of("hdr-digest/data-digest", transport.cliName, "tcp, the only transport with digests");
        }
        Objects.requireNonNull(connectTimeout, "connectTimeout");
        if (connectTimeout.isNegative() || connectTimeout.isZero()) {
            throw InvalidArgumentException.of("connectTimeout", connectTimeout, "a positive duration");
        }
        check("ioThreads", ioThreads, 1, 1024);
        requireText("nvmeCommand", nvmeCommand);
        Objects.requireNonNull(sysfsRoot, "sysfsRoot");
        Objects.requireNonNull(devRoot, "devRoot");
    }

    private static void requireText(String name, String value) {
        if (value == null || value.isBlank()) {
            throw InvalidArgumentException.of(name, value, "a non-empty string");
        }
    }

    private static void check(String name, int value, int min, int max) {
        if (value < min || value > max) {
            throw InvalidArgumentException.of(name, value, min + ".." + max);
        }
    }

    private static void wholeSeconds(String name, Duration value, boolean offAllowed) {
        Objects.requireNonNull(value, name);
        if (offAllowed && value.equals(OFF)) {
            return;
        }
        if (value.isNegative() || value.toNanos() % 1_000_000_000L != 0 || value.toSeconds() > Integer.MAX_VALUE) {
            throw InvalidArgumentException.of(name, value, offAllowed ? "whole seconds, or -1 s for off" : "whole seconds");
        }
    }

    /** Options with every default, for subsystem {@code nqn} at {@code traddr}:{@code trsvcid} over {@code transport}. */
    public static Builder builder(Transport transport, String traddr, String trsvcid, String nqn) {
        return new Builder(transport, traddr, trsvcid, nqn);
    }

    public Builder toBuilder() {
        Builder b = new Builder(transport, traddr, trsvcid, nqn);
        b.hostNqn = hostNqn;
        b.hostId = hostId;
        b.hostTraddr = hostTraddr;
        b.nsid = nsid;
        b.nrIoQueues = nrIoQueues;
        b.nrWriteQueues = nrWriteQueues;
        b.queueSize = queueSize;
        b.keepAliveTimeout = keepAliveTimeout;
        b.reconnectDelay = reconnectDelay;
        b.ctrlLossTimeout = ctrlLossTimeout;
        b.fastIoFailTimeout = fastIoFailTimeout;
        b.headerDigest = headerDigest;
        b.dataDigest = dataDigest;
        b.connectTimeout = connectTimeout;
        b.ioThreads = ioThreads;
        b.nvmeCommand = nvmeCommand;
        b.sysfsRoot = sysfsRoot;
        b.devRoot = devRoot;
        return b;
    }

    /**
     * The arguments after {@code nvme connect}. {@code fast_io_fail_tmo} is left out when
     * {@code withFastIoFail} is false: nvme-cli releases before 2.5 lack that flag, and
     * {@link KernelNvmeDevice} then writes the controller's sysfs attribute instead.
     */
    List<String> connectArguments(boolean withFastIoFail) {
        List<String> args = new ArrayList<>(List.of("-t", transport.cliName, "-a", traddr));
        if (trsvcid != null) {
            args.addAll(List.of("-s", trsvcid));
        }
        args.addAll(List.of("-n", nqn));
        if (hostNqn != null) {
            args.addAll(List.of("-q", hostNqn));
        }
        if (hostId != null) {
            args.addAll(List.of("-I", hostId));
        }
        if (hostTraddr != null) {
            args.addAll(List.of("-w", hostTraddr));
        }
        if (nrIoQueues > 0) {
            args.add("--nr-io-queues=" + nrIoQueues);
        }
        if (nrWriteQueues > 0) {
            args.add("--nr-write-queues=" + nrWriteQueues);
        }
        if (queueSize > 0) {
            args.add("--queue-size=" + queueSize);
        }
        args.add("--keep-alive-tmo=" + keepAliveTimeout.toSeconds());
        args.add("--reconnect-delay=" + reconnectDelay.toSeconds());
        args.add("--ctrl-loss-tmo=" + ctrlLossTimeout.toSeconds());
        if (withFastIoFail && !fastIoFailTimeout.equals(OFF)) {
            args.add("--fast_io_fail_tmo=" + fastIoFailTimeout.toSeconds());
        }
        if (headerDigest) {
            args.add("--hdr-digest");
        }
        if (dataDigest) {
            args.add("--data-digest");
        }
        return args;
    }

    /** Builder; every setting has the default documented on {@link KernelNvmeOptions}. */
    public static final class Builder {
        private Transport transport;
        private String traddr;
        private String trsvcid;
        private String nqn;
        private String hostNqn;
        private String hostId;
        private String hostTraddr;
        private int nsid = 1;
        private int nrIoQueues;
        private int nrWriteQueues;
        private int queueSize;
        private Duration keepAliveTimeout = DEFAULT_KEEP_ALIVE_TIMEOUT;
        private Duration reconnectDelay = DEFAULT_RECONNECT_DELAY;
        private Duration ctrlLossTimeout = DEFAULT_CTRL_LOSS_TIMEOUT;
        private Duration fastIoFailTimeout = OFF;
        private boolean headerDigest;
        private boolean dataDigest;
        private Duration connectTimeout = Duration.ofSeconds(30);
        private int ioThreads = 8;
        private String nvmeCommand = "nvme";
        private Path sysfsRoot = Path.of("/sys");
        private Path devRoot = Path.of("/dev");

        private Builder(Transport transport, String traddr, String trsvcid, String nqn) {
            this.transport = transport;
            this.traddr = traddr;
            this.trsvcid = trsvcid;
            this.nqn = nqn;
        }

        public Builder transport(Transport v) {
            transport = v;
            return this;
        }

        public Builder traddr(String v) {
            traddr = v;
            return this;
        }

        public Builder trsvcid(String v) {
            trsvcid = v;
            return this;
        }

        public Builder nqn(String v) {
            nqn = v;
            return this;
        }

        public Builder hostNqn(String v) {
            hostNqn = v;
            return this;
        }

        public Builder hostId(String v) {
            hostId = v;
            return this;
        }

        public Builder hostTraddr(String v) {
            hostTraddr = v;
            return this;
        }

        public Builder nsid(int v) {
            nsid = v;
            return this;
        }

        public Builder nrIoQueues(int v) {
            nrIoQueues = v;
            return this;
        }

        public Builder nrWriteQueues(int v) {
            nrWriteQueues = v;
            return this;
        }

        public Builder queueSize(int v) {
            queueSize = v;
            return this;
        }

        public Builder keepAliveTimeout(Duration v) {
            keepAliveTimeout = v;
            return this;
        }

        public Builder reconnectDelay(Duration v) {
            reconnectDelay = v;
            return this;
        }

        public Builder ctrlLossTimeout(Duration v) {
            ctrlLossTimeout = v;
            return this;
        }

        public Builder fastIoFailTimeout(Duration v) {
            fastIoFailTimeout = v;
            return this;
        }

        public Builder headerDigest(boolean v) {
            headerDigest = v;
            return this;
        }

        public Builder dataDigest(boolean v) {
            dataDigest = v;
            return this;
        }

        public Builder connectTimeout(Duration v) {
            connectTimeout = v;
            return this;
        }

        public Builder ioThreads(int v) {
            ioThreads = v;
            return this;
        }

        public Builder nvmeCommand(String v) {
            nvmeCommand = v;
            return this;
        }

        public Builder sysfsRoot(Path v) {
            sysfsRoot = v;
            return this;
        }

        public Builder devRoot(Path v) {
            devRoot = v;
            return this;
        }

        public KernelNvmeOptions build() {
            return new KernelNvmeOptions(transport, traddr, trsvcid, nqn, hostNqn, hostId, hostTraddr, nsid,
                    nrIoQueues, nrWriteQueues, queueSize, keepAliveTimeout, reconnectDelay, ctrlLossTimeout,
                    fastIoFailTimeout, headerDigest, dataDigest, connectTimeout, ioThreads, nvmeCommand, sysfsRoot,
                    devRoot);
        }
    }
}
