package io.thermocline.placement.sim;

/**
 * One policy's outcome on one trace at one fast-tier capacity.
 *
 * @param policy        the policy's name
 * @param capacityBytes the fast tier's capacity
 * @param readBytes     bytes of all reads
 * @param fastHitBytes  bytes of reads served from the fast tier
 * @param bytesMoved    bytes copied into the fast tier
 */
public record SimResult(String policy, long capacityBytes, long readBytes, long fastHitBytes, long bytesMoved) {

    /** Fast-tier byte hit ratio: read bytes served from the fast tier over all read bytes. */
    public double byteHitRatio() {
        return readBytes == 0 ? 0 : (double) fastHitBytes / readBytes;
    }

    /** The backing tier's share of read bytes (1 - {@link #byteHitRatio()} when anything was read). */
    public double backingByteHitRatio() {
        return readBytes == 0 ? 0 : (double) (readBytes - fastHitBytes) / readBytes;
    }
}
