package io.thermocline.it.kernel;

/**
 * An NVMe subsystem that the guest kernel's nvmet exports over NVMe/TCP, backed by a memory-backed
 * null_blk device, reachable from the host at {@code 127.0.0.1:}{@link KernelGuest#targetPort()}.
 *
 * @param nqn            the subsystem NQN
 * @param nsid           the namespace ID of its single namespace
 * @param backingDevice  the guest block device behind the namespace, e.g. {@code /dev/kgt1}
 * @param lbaSize        the namespace's logical block size in bytes
 * @param sizeBytes      the namespace's size in bytes
 */
public record NvmetSubsystem(String nqn, int nsid, String backingDevice, int lbaSize, long sizeBytes) {
}
