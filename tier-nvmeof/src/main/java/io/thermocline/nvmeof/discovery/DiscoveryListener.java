package io.thermocline.nvmeof.discovery;

import io.thermocline.nvmeof.host.NvmeTcpController;

/**
 * Hears what a {@link PersistentDiscovery} learns. Called on the discovery connection's own
 * thread, one call at a time and in order; a call may block (the next read waits for it), and an
 * exception it throws is logged and otherwise ignored. {@link PersistentDiscovery#close()} may be
 * called from a callback; it then does not wait for that thread to finish.
 */
public interface DiscoveryListener {

    /** The log was read and differs from the last read (always called for the first read). */
    void logChanged(DiscoveryLogChange change);

    /**
     * Auto-connect brought a controller up for a subsystem entry. The controller belongs to the
     * {@link PersistentDiscovery} (it closes it on close); open namespaces with
     * {@link NvmeTcpController#openNamespace(int)}.
     */
    default void connected(DiscoveryLogEntry entry, NvmeTcpController controller) {
    }

    /** Auto-connect could not connect to a subsystem entry; it tries again after the next change of the log. */
    default void connectFailed(DiscoveryLogEntry entry, Throwable cause) {
    }

    /**
     * The connection to the discovery controller is gone for good (ctrl-loss-tmo passed without a
     * new association): no more changes will be heard.
     */
    default void discoveryLost(Throwable cause) {
    }
}
