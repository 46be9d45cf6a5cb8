package io.thermocline.nvmeof.host;

import io.thermocline.nvmeof.auth.DhchapSecret;
import io.thermocline.nvmeof.auth.FabricSecurity;
import io.thermocline.nvmeof.auth.TlsPsk;
import java.time.Duration;
import java.util.Objects;

/**
 * How the user-space host connects to one NVMe/TCP subsystem. Names follow nvme-cli's
 * {@code nvme connect} options where one exists ({@code --traddr}, {@code --trsvcid},
 * {@code --nqn}, {@code --hostnqn}, {@code --nr-io-queues}, {@code --queue-size},
 * {@code --keep-alive-tmo}, {@code --reconnect-delay}, {@code --ctrl-loss-tmo},
 * {@code --fast-io-fail-tmo}, {@code --nr-write-queues}, {@code --hdr-digest}, {@code --data-digest}),
 * with the same meanings and, where the kernel has one, the same defaults.
 *
 * <p><b>Losing the path.</b> A connection that ends (a reset, a TermReq, a command past
 * {@code commandTimeout}) or an association gone silent (no PDU on any of its queues for
 * {@code keep-alive-tmo} while a command has been outstanding that long) ends the association. The controller then tries to connect again every
 * {@code reconnect-delay}, the first time one delay after the loss, until {@code ctrl-loss-tmo}
 * has passed since the loss; then it gives up for good. Commands in flight are retried on another
 * path or after the reconnect, and fail only once no path is left: after {@code ctrl-loss-tmo},
 * or after {@code fast-io-fail-tmo} when that is set. These are the kernel's rules
 * ({@code nvmf_should_reconnect}, {@code fast_io_fail_tmo}).
 *
 * <p><b>Presets</b> ({@link Preset}): {@code conservative} is the kernel's defaults and this
 * builder's; {@code latency-sensitive} notices a lost path and gives up on a dead one sooner.
 *
 * <p>Immutable; build with {@link #builder(String, int, String)}, change with {@link #toBuilder()}.
 *
 * @param traddr the target's address (a host name or IP literal)
 * @param trsvcid the target's TCP port (4420 for I/O, 8009 for discovery by convention)
 * @param nqn the subsystem NQN to connect to
 * @param identity the host NQN and host ID presented in Connect
 * @param nrIoQueues I/O queues to open, each on its own connection and event loop (default 2)
 * @param queueSize entries per I/O queue (default 128, nvme-cli's default)
 * @param adminQueueSize entries in the admin queue (default 32)
 * @param keepAliveTimeout KATO sent in Connect; Keep Alive goes out every half of it; zero turns
 *        keep-alive off (default 5 s)
 * @param headerDigest ask for header digests (default off)
 * @param dataDigest ask for data digests (default off)
 * @param commandTimeout how long a command may wait for its completion before the queue is
 *        declared failed (default 30 s)
 * @param connectTimeout TCP connect plus connection initialisation (default 10 s)
 * @param maxTransferSizeInBytes the most data one Read or Write moves; larger requests are split
 *        (default 1 MiB; capped by the controller's MDTS)
 * @param reconnectDelay the wait before each attempt to connect again after the association was
 *        lost (default 10 s, the kernel's)
 * @param ctrlLossTimeout how long after the loss the controller keeps trying to connect again;
 *        then it and the I/O waiting for it fail. Zero: never reconnect; negative: reconnect
 *        forever (nvme-cli's -1). Default 600 s, the kernel's
 * @param fastIoFailTimeout how long after the loss I/O waits for this path before failing, while
 *        reconnect attempts go on; negative turns it off (nvme-cli's -1, the default): I/O then
 *        waits up to {@code ctrl-loss-tmo}
 * @param nrWriteQueues extra I/O queues that carry only writes (default 0: reads and writes share
 *        the {@code nr-io-queues} queues); with N of them, reads go to the {@code nr-io-queues}
 *        queues and writes to these
 * @param security in-band authentication secrets, nvme-cli's {@code --dhchap-secret} and
 *        {@code --dhchap-ctrl-secret} (default none: a controller that requires authentication is
 *        refused), and the TLS PSK, nvme-cli's {@code --tls-key} (default none: cleartext)
 */
public record NvmeTcpHostOptions(String traddr, int trsvcid, String nqn, HostIdentity identity, int nrIoQueues,
                                 int queueSize, int adminQueueSize, Duration keepAliveTimeout, boolean headerDigest,
                                 boolean dataDigest, Duration commandTimeout, Duration connectTimeout,
                                 int maxTransferSizeInBytes, Duration reconnectDelay, Duration ctrlLossTimeout,
                                 Duration fastIoFailTimeout, int nrWriteQueues, FabricSecurity security) {

    /** The kernel's default keep-alive timeout for I/O controllers (NVME_DEFAULT_KATO). */
    public static final Duration DEFAULT_KEEP_ALIVE_TIMEOUT = Duration.ofSeconds(5);
    /** The kernel's default reconnect delay (NVMF_DEF_RECONNECT_DELAY). */
    public static final Duration DEFAULT_RECONNECT_DELAY = Duration.ofSeconds(10);
    /** The kernel's default controller loss timeout (NVMF_DEF_CTRL_LOSS_TMO). */
    public static final Duration DEFAULT_CTRL_LOSS_TIMEOUT = Duration.ofSeconds(600);
    /** The value that turns {@code fast-io-fail-tmo} off and makes {@code ctrl-loss-tmo} endless, as nvme-cli's -1. */
    public static final Duration OFF = Duration.ofSeconds(-1);

    /**
     * Named sets of the timeout options, for {@link Builder#preset(Preset)} and the CLI's
     * {@code --preset}.
     */
    public enum Preset {
        /**
         * keep-alive-tmo 5 s, reconnect-delay 2 s, ctrl-loss-tmo 30 s. For serving paths where a
         * request stuck behind a dead path costs more than a reconnect: with two paths, a reset
         * path fails over at once and a silent one within keep-alive-tmo; a path that comes back
         * is used again within 2 s; a path gone for 30 s is given up, so I/O with no path left
         * fails after 30 s instead of hanging for 10 minutes.
         */
        LATENCY_SENSITIVE("latency-sensitive", Duration.ofSeconds(5), Duration.ofSeconds(2), Duration.ofSeconds(30)),
        /**
         * The kernel's defaults: keep-alive-tmo 5 s, reconnect-delay 10 s, ctrl-loss-tmo 600 s.
         * For batch and background work, where riding out a target reboot or a switch failover
         * of several minutes matters more than failing fast, and where reconnect attempts every
         * 10 s keep the load a recovering target sees low.
         */
        CONSERVATIVE("conservative", DEFAULT_KEEP_ALIVE_TIMEOUT, DEFAULT_RECONNECT_DELAY, DEFAULT_CTRL_LOSS_TIMEOUT);

        private final String cliName;
        private final Duration keepAliveTimeout;
        private final Duration reconnectDelay;
        private final Duration ctrlLossTimeout;

        Preset(String cliName, Duration keepAliveTimeout, Duration reconnectDelay, Duration ctrlLossTimeout) {
            this.cliName = cliName;
            this.keepAliveTimeout = keepAliveTimeout;
            this.reconnectDelay = reconnectDelay;
            this.ctrlLossTimeout = ctrlLossTimeout;
        }

        /** The name on the command line and in configuration: "latency-sensitive" or "conservative". */
        public String cliName() {
            return cliName;
        }

        public Duration keepAliveTimeout() {
            return keepAliveTimeout;
        }

        public Duration reconnectDelay() {
            return reconnectDelay;
        }

        public Duration ctrlLossTimeout() {
            return ctrlLossTimeout;
        }

        /** The preset named {@code name}. */
        public static Preset of(String name) {
            for (Preset p : values()) {
                if (p.cliName.equals(name)) {
                    return p;
                }
            }
            throw new IllegalArgumentException("preset: '" + name + "' (expected latency-sensitive or conservative)");
        }
    }

    public NvmeTcpHostOptions {
        Objects.requireNonNull(traddr, "traddr");
        Objects.requireNonNull(nqn, "nqn");
        Objects.requireNonNull(identity, "identity");
        Objects.requireNonNull(security, "security");
        check("trsvcid", trsvcid, 1, 65535);
        check("nr-io-queues", nrIoQueues, 0, 1024);
        check("queue-size", queueSize, 2, 4096);
        check("admin queue size", adminQueueSize, 2, 4096);
        check("max transfer size", maxTransferSizeInBytes, 4096, 64 << 20);
        check("nr-write-queues", nrWriteQueues, 0, 1024);
        Objects.requireNonNull(reconnectDelay, "reconnect-delay");
        Objects.requireNonNull(ctrlLossTimeout, "ctrl-loss-tmo");
        Objects.requireNonNull(fastIoFailTimeout, "fast-io-fail-tmo");
        if (reconnectDelay.isNegative() || reconnectDelay.isZero()) {
            throw new IllegalArgumentException("reconnect-delay: " + reconnectDelay + " (expected a positive duration)");
        }
        if (nrIoQueues == 0 && nrWriteQueues > 0) {
            throw new IllegalArgumentException("nr-write-queues: " + nrWriteQueues + " with nr-io-queues 0 (expected 0, "
                    + "or nr-io-queues of at least 1 for the reads)");
        }
        if (keepAliveTimeout.isNegative() || keepAliveTimeout.toMillis() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("keep-alive-tmo: " + keepAliveTimeout + " (expected 0 or a positive duration)");
        }
        if (commandTimeout.isNegative() || commandTimeout.isZero()) {
            throw new IllegalArgumentException("command timeout: " + commandTimeout + " (expected a positive duration)");
        }
        if (connectTimeout.isNegative() || connectTimeout.isZero()) {
            throw new IllegalArgumentException("connect timeout: " + connectTimeout + " (expected a positive duration)");
        }
    }

    private static void check(String name, int value, int min, int max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(name + ": " + value + " (expected: " + min + ".." + max + ")");
        }
    }

    public static Builder builder(String traddr, int trsvcid, String nqn) {
        return new Builder(traddr, trsvcid, nqn);
    }

    public Builder toBuilder() {
        Builder b = new Builder(traddr, trsvcid, nqn);
        b.identity = identity;
        b.nrIoQueues = nrIoQueues;
        b.queueSize = queueSize;
        b.adminQueueSize = adminQueueSize;
        b.keepAliveTimeout = keepAliveTimeout;
        b.headerDigest = headerDigest;
        b.dataDigest = dataDigest;
        b.commandTimeout = commandTimeout;
        b.connectTimeout = connectTimeout;
        b.maxTransferSizeInBytes = maxTransferSizeInBytes;
        b.reconnectDelay = reconnectDelay;
        b.ctrlLossTimeout = ctrlLossTimeout;
        b.fastIoFailTimeout = fastIoFailTimeout;
        b.nrWriteQueues = nrWriteQueues;
        b.security = security;
        return b;
    }

    /** Builder; every setting has the default documented on {@link NvmeTcpHostOptions}. */
    public static final class Builder {
        private String traddr;
        private int trsvcid;
        private String nqn;
        private HostIdentity identity;
        private int nrIoQueues = 2;
        private int queueSize = 128;
        private int adminQueueSize = 32;
        private Duration keepAliveTimeout = DEFAULT_KEEP_ALIVE_TIMEOUT;
        private boolean headerDigest;
        private boolean dataDigest;
        private Duration commandTimeout = Duration.ofSeconds(30);
        private Duration connectTimeout = Duration.ofSeconds(10);
        private int maxTransferSizeInBytes = 1 << 20;
        private Duration reconnectDelay = DEFAULT_RECONNECT_DELAY;
        private Duration ctrlLossTimeout = DEFAULT_CTRL_LOSS_TIMEOUT;
        private Duration fastIoFailTimeout = OFF;
        private int nrWriteQueues;
        private FabricSecurity security = FabricSecurity.NONE;

        private Builder(String traddr, int trsvcid, String nqn) {
            this.traddr = traddr;
            this.trsvcid = trsvcid;
            this.nqn = nqn;
        }

        public Builder traddr(String v) {
            traddr = v;
            return this;
        }

        public Builder trsvcid(int v) {
            trsvcid = v;
            return this;
        }

        public Builder nqn(String v) {
            nqn = v;
            return this;
        }

        public Builder identity(HostIdentity v) {
            identity = v;
            return this;
        }

        public Builder nrIoQueues(int v) {
            nrIoQueues = v;
            return this;
        }

        public Builder queueSize(int v) {
            queueSize = v;
            return this;
        }

        public Builder adminQueueSize(int v) {
            adminQueueSize = v;
            return this;
        }

        public Builder keepAliveTimeout(Duration v) {
            keepAliveTimeout = v;
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

        public Builder commandTimeout(Duration v) {
            commandTimeout = v;
            return this;
        }

        public Builder connectTimeout(Duration v) {
            connectTimeout = v;
            return this;
        }

        public Builder maxTransferSizeInBytes(int v) {
            maxTransferSizeInBytes = v;
            return this;
        }

        /** {@code --reconnect-delay}. */
        public Builder reconnectDelay(Duration v) {
            reconnectDelay = v;
            return this;
        }

        /** {@code --ctrl-loss-tmo}; {@link #OFF} (negative) reconnects forever, zero never. */
        public Builder ctrlLossTimeout(Duration v) {
            ctrlLossTimeout = v;
            return this;
        }

        /** {@code --fast-io-fail-tmo}; {@link #OFF} (negative) turns it off. */
        public Builder fastIoFailTimeout(Duration v) {
            fastIoFailTimeout = v;
            return this;
        }

        /** {@code --nr-write-queues}. */
        public Builder nrWriteQueues(int v) {
            nrWriteQueues = v;
            return this;
        }

        /** nvme-cli's {@code --dhchap-secret}: the host's {@code DHHC-1:xx:...:} secret, or {@code null} for none. */
        public Builder dhchapSecret(String v) {
            security = security.withDhchapSecret(v == null ? null : DhchapSecret.parse(v));
            return this;
        }

        /** nvme-cli's {@code --dhchap-ctrl-secret}: the controller's secret, for bidirectional authentication. */
        public Builder dhchapCtrlSecret(String v) {
            security = security.withDhchapCtrlSecret(v == null ? null : DhchapSecret.parse(v));
            return this;
        }

        /**
         * nvme-cli's {@code --tls-key}: a configured TLS PSK in the interchange format
         * ({@code NVMeTLSkey-1:01:...:}); every queue's connection then starts with TLS 1.3, or
         * {@code null} for cleartext (the default).
         */
        public Builder tlsKey(String v) {
            security = security.withTlsKey(v == null ? null : TlsPsk.parse(v));
            return this;
        }

        /**
         * Like {@link #tlsKey(String)}, with the key's derivation and identity version as given
         * ({@link TlsPsk#withDerivation}, {@link TlsPsk#withIdentityVersion}); {@code null} for cleartext.
         */
        public Builder tlsKey(TlsPsk v) {
            security = security.withTlsKey(v);
            return this;
        }

        /** All security settings at once. */
        public Builder security(FabricSecurity v) {
            security = Objects.requireNonNull(v, "security");
            return this;
        }

        /** Sets keep-alive-tmo, reconnect-delay and ctrl-loss-tmo from a preset; later setters override. */
        public Builder preset(Preset preset) {
            keepAliveTimeout = preset.keepAliveTimeout();
            reconnectDelay = preset.reconnectDelay();
            ctrlLossTimeout = preset.ctrlLossTimeout();
            return this;
        }

        /** Builds; the identity defaults to {@link HostIdentity#resolveDefault(String)}. */
        public NvmeTcpHostOptions build() {
            return new NvmeTcpHostOptions(traddr, trsvcid, nqn, identity != null ? identity : HostIdentity.resolveDefault(null),
                    nrIoQueues, queueSize, adminQueueSize, keepAliveTimeout, headerDigest, dataDigest, commandTimeout,
                    connectTimeout, maxTransferSizeInBytes, reconnectDelay, ctrlLossTimeout, fastIoFailTimeout, nrWriteQueues,
                    security);
        }
    }
}
