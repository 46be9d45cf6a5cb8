package io.thermocline.nvmeof.auth;

/**
 * Reason code explanations of AUTH_Failure1 and AUTH_Failure2 (NVMe Base 2.0 §8.13.5.4, Figure
 * 195; the Linux kernel's {@code NVME_AUTH_DHCHAP_FAILURE_*}). Both messages carry reason code 01h
 * "authentication failure" and one of these as the explanation.
 */
public enum DhchapFailure {
    FAILED(0x01, "authentication failed"),
    PROTOCOL_NOT_USABLE(0x02, "authentication protocol not usable"),
    CONCATENATION_MISMATCH(0x03, "secure channel concatenation mismatch"),
    HASH_UNUSABLE(0x04, "hash function not usable"),
    DH_GROUP_UNUSABLE(0x05, "DH group not usable"),
    INCORRECT_PAYLOAD(0x06, "incorrect payload"),
    INCORRECT_PROTOCOL_MESSAGE(0x07, "incorrect protocol message");

    /** The reason code both failure messages carry: 01h, authentication failure. */
    public static final int REASON_AUTHENTICATION_FAILURE = 0x01;

    private final int code;
    private final String description;

    DhchapFailure(int code, String description) {
        this.code = code;
        this.description = description;
    }

    /** The reason code explanation on the wire. */
    public int code() {
        return code;
    }

    public String description() {
        return description;
    }

    /** The explanation with this code, or {@code null}. */
    public static DhchapFailure byCode(int code) {
        for (DhchapFailure f : values()) {
            if (f.code == code) {
                return f;
            }
        }
        return null;
    }

    /** "DH group not usable (05h)", or the bare code for one this side does not know. */
    public static String describe(int code) {
        DhchapFailure f = byCode(code);
        return (f == null ? "reason code explanation" : f.description) + String.format(" (%02xh)", code);
    }
}
