package io.thermocline.nvmeof.host;

import java.time.Duration;
import java.util.Objects;

/**
 * How the user-space host connects to one NVMe/TCP subsystem. Names follow nvme-cli's
 * {@code nvme connect} options where one exists ({@code --traddr}, {@code --trsvcid},
 * {@code --nqn}, {@code --hostnqn}, {@code --nr-io-queues}, {@code --queue-size},
 * {@code --keep-alive-tmo}, {@code --hdr-digest}, {@code --data-digest}).
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
 */
public record NvmeTcpHostOptions(String traddr, int trsvcid, String nqn, HostIdentity identity, int nrIoQueues,
                                 int queueSize, int adminQueueSize, Duration keepAliveTimeout, boolean headerDigest,
                                 boolean dataDigest, Duration commandTimeout, Duration connectTimeout,
                                 int maxTransferSizeInBytes) {

    public NvmeTcpHostOptions {
        Objects.requireNonNull(traddr, "traddr");
        Objects.requireNonNull(nqn, "nqn");
        Objects.requireNonNull(identity, "identity");
        check("trsvcid", trsvcid, 1, 65535);
        check("nr-io-queues", nrIoQueues, 0, 1024);
        check("queue-size", queueSize, 2, 4096);
        check("admin queue size", adminQueueSize, 2, 4096);
        check("max transfer size", maxTransferSizeInBytes, 4096, 64 << 20);
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
        private Duration keepAliveTimeout = Duration.ofSeconds(5);
        private boolean headerDigest;
        private boolean dataDigest;
        private Duration commandTimeout = Duration.ofSeconds(30);
        private Duration connectTimeout = Duration.ofSeconds(10);
        private int maxTransferSizeInBytes = 1 << 20;

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

        /** Builds; the identity defaults to {@link HostIdentity#resolveDefault(String)}. */
        public NvmeTcpHostOptions build() {
            return new NvmeTcpHostOptions(traddr, trsvcid, nqn, identity != null ? identity : HostIdentity.resolveDefault(null),
                    nrIoQueues, queueSize, adminQueueSize, keepAliveTimeout, headerDigest, dataDigest, commandTimeout,
                    connectTimeout, maxTransferSizeInBytes);
        }
    }
}
