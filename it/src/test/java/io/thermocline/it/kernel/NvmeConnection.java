package io.thermocline.it.kernel;

import java.util.List;

/**
 * A controller that the guest kernel's NVMe/TCP host (nvme-tcp) connected, with the namespaces it
 * shows as block devices.
 *
 * @param nqn        the subsystem NQN
 * @param controller the controller's name, e.g. {@code nvme0}
 * @param namespaces its namespaces, by namespace ID
 */
public record NvmeConnection(String nqn, String controller, List<Namespace> namespaces) {

    public NvmeConnection {
        namespaces = List.copyOf(namespaces);
    }

    /** The block device of the first namespace, e.g. {@code /dev/nvme0n1}. */
    public String device() {
        return namespaces.getFirst().device();
    }

    /**
     * One namespace as the guest sees it.
     *
     * @param device           its block device, e.g. {@code /dev/nvme0n1}
     * @param nsid             its namespace ID
     * @param logicalBlockSize its logical block size in bytes
     * @param sizeBytes        its size in bytes
     */
    public record Namespace(String device, int nsid, int logicalBlockSize, long sizeBytes) {
    }
}
