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
 */
record TargetConfig(int maxH2cData, int ioInCapsuleDataSize, int maxQueueSize, int maxIoQueues, int mdts,
                    boolean c2hSuccess, int maxC2hDataPerPdu, int portId, Duration connectTimeout,
                    Duration shutdownTimeout) {

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
