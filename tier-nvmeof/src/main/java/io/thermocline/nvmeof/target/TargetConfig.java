package io.thermocline.nvmeof.target;

import java.time.Duration;

/**
 * The settings every queue and controller of one target reads; built by {@link NvmeTcpTarget.Builder}.
 *
 * @param maxH2cData MAXH2CDATA in ICResp (NVMe/TCP 1.0 §3.6.2.3): the most data bytes one H2CData
 *        PDU may carry, and the most one R2T asks for
 * @param ioInCapsuleDataSize the most in-capsule data an I/O queue command may carry (IOCCSZ)
 * @param maxQueueSize CAP.MQES + 1: the most entries an I/O submission queue may have
 * @param maxIoQueues the most I/O queues a controller may create
 * @param mdts MDTS: the largest transfer is 2^mdts pages of 4 KiB
 * @param c2hSuccess send SUCCESS in the last C2HData instead of a CapsuleResp when the queue's SQ
 *        flow control is disabled (NVMe/TCP 1.0 §3.6.2.9)
 * @param maxC2hDataPerPdu the most data bytes one C2HData PDU carries; longer reads are split
 * @param portId PORTID reported in discovery log entries
 * @param connectTimeout how long a new connection may take to send ICReq and a Connect that succeeds
 * @param shutdownTimeout how long {@link NvmeTcpTarget#close()} waits for in-flight commands
 * @param maxUnsentBytes the high water mark of a connection's unsent responses: above it the
 *        connection reads no more commands until what is queued has gone out (below half of it)
 * @param h2cDataTimeout how long a connection may leave an R2T unanswered (no H2CData arriving)
 *        before it is ended
 * @param maxR2tBytesPerController the most bytes of Write buffers one controller's queues hold
 *        for data asked for with R2T and not yet arrived; further Writes wait for their R2T
 * @param maxConnections the most connections the target keeps open at once
 * @param maxConnectionsPerAddress the most connections from one source IP address
 * @param maxUnconnected the most connections that have not yet completed a Connect
 * @param maxControllersPerHost the most controllers (discovery ones included) one host NQN may hold
 */
record TargetConfig(int maxH2cData, int ioInCapsuleDataSize, int maxQueueSize, int maxIoQueues, int mdts,
                    boolean c2hSuccess, int maxC2hDataPerPdu, int portId, Duration connectTimeout,
                    Duration shutdownTimeout, int maxUnsentBytes, Duration h2cDataTimeout,
                    long maxR2tBytesPerController, int maxConnections, int maxConnectionsPerAddress,
                    int maxUnconnected, int maxControllersPerHost) {

    /**
     * KATO a discovery controller gets when its Connect asks for none (0): 120 s, as Linux's nvmet
     * (NVMET_DISC_KATO_MS), so that a discovery association a host abandons does not live forever.
     */
    static final int DISCOVERY_KATO_MILLIS = 120_000;

    /** In-capsule data an admin queue command may carry: the kernel host's NVME_TCP_ADMIN_CCSZ, 8 KiB. */
    static final int ADMIN_IN_CAPSULE_DATA_SIZE = 8192;
    /** Entries of an admin submission queue: ASQSZ in discovery log entries (NVMe Base 2.0 Figure 263). */
    static final int ADMIN_QUEUE_SIZE = 32;
    /** AERL, 0's based: at most four Asynchronous Event Requests outstanding. */
    static final int AERL = 3;
    /** ACL, 0's based. */
    static final int ACL = 3;
    /** KAS: keep-alive granularity in units of 100 ms. */
    static final int KAS = 1;
    /** Outstanding R2Ts per command this target issues at most, whatever the host's MAXR2T allows. */
    static final int MAX_R2T_PER_COMMAND = 4;

    /** The largest transfer MDTS allows, in bytes. */
    long maxTransferBytes() {
        return 4096L << mdts;
    }
}
