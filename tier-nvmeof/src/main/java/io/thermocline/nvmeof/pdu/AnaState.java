package io.thermocline.nvmeof.pdu;

/**
 * Asymmetric Namespace Access states (NVMe Base 2.0 §8.1.3, "ANA states"; codes from the ANA
 * log page's group descriptor, Figure 223): how usable a namespace is through one controller.
 */
public enum AnaState {
    /** The preferred path: I/O goes here first. */
    OPTIMIZED(0x1),
    /** Usable, but slower or costlier than an optimized path: I/O goes here when no optimized path is left. */
    NON_OPTIMIZED(0x2),
    /** Not usable now; may become usable again. Commands complete with Asymmetric Access Inaccessible. */
    INACCESSIBLE(0x3),
    /** Not usable, and will not become usable again through this controller. */
    PERSISTENT_LOSS(0x4),
    /** In transition between states (at most ANATT seconds). Commands complete with Asymmetric Access Transition. */
    CHANGE(0xF);

    private final int code;

    AnaState(int code) {
        this.code = code;
    }

    /** The 4-bit code in the log page. */
    public int code() {
        return code;
    }

    /** Whether I/O may be sent through a controller in this state. */
    public boolean usable() {
        return this == OPTIMIZED || this == NON_OPTIMIZED;
    }

    /** The state for a log page code. */
    public static AnaState of(int code) {
        for (AnaState s : values()) {
            if (s.code == (code & 0xF)) {
                return s;
            }
        }
        throw new IllegalArgumentException("ANA state code 0x" + Integer.toHexString(code)
                + " (expected 1, 2, 3, 4 or Fh)");
    }

    /** The path-related status a controller completes commands with in this state, or null when usable. */
    public NvmeStatus pathStatus() {
        return switch (this) {
            case OPTIMIZED, NON_OPTIMIZED -> null;
            case INACCESSIBLE -> NvmeStatus.ANA_INACCESSIBLE;
            case PERSISTENT_LOSS -> NvmeStatus.ANA_PERSISTENT_LOSS;
            case CHANGE -> NvmeStatus.ANA_TRANSITION;
        };
    }
}
