package io.thermocline.nvmeof.host;

/**
 * How I/O is spread over the usable paths of a namespace with the best ANA state (the optimized
 * ones, else the non-optimized ones). Names as the kernel's {@code iopolicy} values.
 */
public enum IoPolicy {
    /** Each command to the next path in turn. */
    ROUND_ROBIN("round-robin"),
    /** Each command to the path with the fewest commands outstanding: a slow or congested path gets less. */
    QUEUE_DEPTH("queue-depth");

    private final String cliName;

    IoPolicy(String cliName) {
        this.cliName = cliName;
    }

    public String cliName() {
        return cliName;
    }

    public static IoPolicy of(String name) {
        for (IoPolicy p : values()) {
            if (p.cliName.equals(name)) {
                return p;
            }
        }
        throw new IllegalArgumentException("I/O policy: '" + name + "' (expected round-robin or queue-depth)");
    }
}
