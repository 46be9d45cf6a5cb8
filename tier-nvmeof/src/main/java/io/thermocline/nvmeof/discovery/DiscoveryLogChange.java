package io.thermocline.nvmeof.discovery;

import java.util.List;

/**
 * What changed in a discovery controller's log between two reads: the entries that appeared and
 * those that went, compared field by field (an entry whose address, port, PORTID or security
 * changed is one removed and one added).
 *
 * @param previousGeneration GENCTR of the log read before, 0 for the first read
 * @param generation GENCTR of the log read now (NVMe Base 2.0 §5.16.1.23)
 * @param entries every entry of the log read now, in log order
 * @param added entries in {@code entries} that the previous read did not list; every entry on the first read
 * @param removed entries the previous read listed that are gone
 */
public record DiscoveryLogChange(long previousGeneration, long generation, List<DiscoveryLogEntry> entries,
                                 List<DiscoveryLogEntry> added, List<DiscoveryLogEntry> removed) {

    public DiscoveryLogChange {
        entries = List.copyOf(entries);
        added = List.copyOf(added);
        removed = List.copyOf(removed);
    }

    /** Whether this is the first read of the connection (nothing was known before). */
    public boolean initial() {
        return previousGeneration == 0;
    }
}
