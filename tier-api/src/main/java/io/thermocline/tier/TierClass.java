package io.thermocline.tier;

/**
 * The latency class of a tier, fastest first. Placement moves hot objects toward the start of
 * this list and cold ones toward its end; {@link #OBJECT} is where objects become durable.
 */
public enum TierClass {
    /** Memory-mapped shared region (/dev/shm, a DAX device): metadata only, about 0.1-0.3 us. */
    SHARED_MEMORY,
    /** Files on a local NVMe file system: hot objects and the write-back landing zone, about 10 us. */
    LOCAL,
    /** A remote namespace over NVMe over Fabrics (TCP, RDMA, FC): warm objects, 15-80 us. */
    FABRIC,
    /** S3 or an S3-compatible server: the durable source of truth, milliseconds. */
    OBJECT
}
