package io.thermocline.placement;

/** How a rule's writes reach S3. */
public enum WriteMode {
    /** The write completes once the object is in S3 as well (YAML {@code write-through}; the default). */
    WRITE_THROUGH("write-through"),
    /** The write completes locally; persisting to S3 happens within the rule's maximum dirty age ({@code write-back}). */
    WRITE_BACK("write-back"),
    /** The object never leaves the local tiers ({@code local-only}). */
    LOCAL_ONLY("local-only");

    private final String yaml;

    WriteMode(String yaml) {
        this.yaml = yaml;
    }

    /** The spelling in YAML. */
    public String yaml() {
        return yaml;
    }

    /** The mode spelled {@code s} in YAML, or null. */
    public static WriteMode fromYaml(String s) {
        for (WriteMode m : values()) {
            if (m.yaml.equals(s)) {
                return m;
            }
        }
        return null;
    }
}
