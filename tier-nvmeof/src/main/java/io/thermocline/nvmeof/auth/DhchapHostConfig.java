package io.thermocline.nvmeof.auth;

import java.util.Objects;

/**
 * What a controller requires of one host (the Linux target's configfs
 * {@code hosts/<hostnqn>/dhchap_key}, {@code dhchap_ctrl_key}, {@code dhchap_hash},
 * {@code dhchap_dhgroup}): every queue of that host authenticates with DH-HMAC-CHAP before any
 * other command is served.
 *
 * @param hostSecret the secret the host proves it knows ({@code dhchap_key}); required
 * @param controllerSecret the secret the controller proves it knows when the host asks for
 *        bidirectional authentication ({@code dhchap_ctrl_key}); {@code null} for none, and then
 *        a host that asks is refused
 * @param hash the hash function the controller chooses (default {@link DhchapHash#SHA_256}); a
 *        host that does not offer it is refused with "hash function not usable"
 * @param dhGroup the DH group the controller chooses (default {@link DhGroup#NULL}); a host that
 *        does not offer it is refused with "DH group not usable"
 */
public record DhchapHostConfig(DhchapSecret hostSecret, DhchapSecret controllerSecret, DhchapHash hash, DhGroup dhGroup) {
    public DhchapHostConfig {
        Objects.requireNonNull(hostSecret, "dhchap_key (the host secret)");
        Objects.requireNonNull(hash, "dhchap_hash");
        Objects.requireNonNull(dhGroup, "dhchap_dhgroup");
    }

    /** The host secret only: SHA-256, the null DH group, no controller authentication. */
    public static DhchapHostConfig of(String hostSecret) {
        return new DhchapHostConfig(DhchapSecret.parse(hostSecret), null, DhchapHash.SHA_256, DhGroup.NULL);
    }

    /** Host and controller secrets (the controller secret may be {@code null}), SHA-256, the null DH group. */
    public static DhchapHostConfig of(String hostSecret, String controllerSecret) {
        return new DhchapHostConfig(DhchapSecret.parse(hostSecret),
                controllerSecret == null ? null : DhchapSecret.parse(controllerSecret), DhchapHash.SHA_256, DhGroup.NULL);
    }

    public DhchapHostConfig withHash(DhchapHash h) {
        return new DhchapHostConfig(hostSecret, controllerSecret, h, dhGroup);
    }

    public DhchapHostConfig withDhGroup(DhGroup g) {
        return new DhchapHostConfig(hostSecret, controllerSecret, hash, g);
    }

    @Override
    public String toString() {
        return "DhchapHostConfig[" + hash.hmacName() + ", " + dhGroup.groupName()
                + (controllerSecret != null ? ", bidirectional" : "") + "]";
    }
}
