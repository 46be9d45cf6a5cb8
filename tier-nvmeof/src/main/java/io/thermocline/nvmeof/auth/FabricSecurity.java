package io.thermocline.nvmeof.auth;

/**
 * A host's security settings for one subsystem, with nvme-cli's names: {@code --dhchap-secret}
 * (the host's DH-HMAC-CHAP secret, used when the controller asks for authentication) and
 * {@code --dhchap-ctrl-secret} (the secret the controller must prove it knows: bidirectional
 * authentication).
 *
 * @param dhchapSecret the host secret, or {@code null}: then a controller that requires
 *        authentication is refused by the host before any other command
 * @param dhchapCtrlSecret the controller secret, or {@code null} for unidirectional authentication;
 *        requires {@code dhchapSecret}
 */
public record FabricSecurity(DhchapSecret dhchapSecret, DhchapSecret dhchapCtrlSecret) {
    /** No authentication. */
    public static final FabricSecurity NONE = new FabricSecurity(null, null);

    public FabricSecurity {
        if (dhchapCtrlSecret != null && dhchapSecret == null) {
            throw new IllegalArgumentException("dhchap-ctrl-secret without dhchap-secret (expected both, or the host secret "
                    + "alone: the controller is authenticated only after the host is)");
        }
    }

    public FabricSecurity withDhchapSecret(DhchapSecret s) {
        return new FabricSecurity(s, dhchapCtrlSecret);
    }

    public FabricSecurity withDhchapCtrlSecret(DhchapSecret s) {
        return new FabricSecurity(dhchapSecret, s);
    }

    @Override
    public String toString() {
        return "FabricSecurity[dhchap " + (dhchapSecret == null ? "off" : dhchapCtrlSecret == null ? "host" : "bidirectional")
                + "]";
    }
}
