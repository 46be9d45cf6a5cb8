package io.thermocline.nvmeof.auth;

/**
 * A host's security settings for one subsystem, with nvme-cli's names: {@code --dhchap-secret}
 * (the host's DH-HMAC-CHAP secret, used when the controller asks for authentication),
 * {@code --dhchap-ctrl-secret} (the secret the controller must prove it knows: bidirectional
 * authentication) and {@code --tls-key} (a configured TLS PSK: every queue's connection starts
 * with TLS 1.3, as nvme-cli's {@code --tls}).
 *
 * @param dhchapSecret the host secret, or {@code null}: then a controller that requires
 *        authentication is refused by the host before any other command
 * @param dhchapCtrlSecret the controller secret, or {@code null} for unidirectional authentication;
 *        requires {@code dhchapSecret}
 * @param tlsKey the configured TLS PSK, or {@code null} for a cleartext connection
 */
public record FabricSecurity(DhchapSecret dhchapSecret, DhchapSecret dhchapCtrlSecret, TlsPsk tlsKey) {
    /** No authentication, no TLS. */
    public static final FabricSecurity NONE = new FabricSecurity(null, null, null);

    public FabricSecurity {
        if (dhchapCtrlSecret != null && dhchapSecret == null) {
            throw new IllegalArgumentException("dhchap-ctrl-secret without dhchap-secret (expected both, or the host secret "
                    + "alone: the controller is authenticated only after the host is)");
        }
    }

    /** DH-HMAC-CHAP secrets, no TLS. */
    public FabricSecurity(DhchapSecret dhchapSecret, DhchapSecret dhchapCtrlSecret) {
        this(dhchapSecret, dhchapCtrlSecret, null);
    }

    public FabricSecurity withDhchapSecret(DhchapSecret s) {
        return new FabricSecurity(s, dhchapCtrlSecret, tlsKey);
    }

    public FabricSecurity withDhchapCtrlSecret(DhchapSecret s) {
        return new FabricSecurity(dhchapSecret, s, tlsKey);
    }

    public FabricSecurity withTlsKey(TlsPsk k) {
        return new FabricSecurity(dhchapSecret, dhchapCtrlSecret, k);
    }

    @Override
    public String toString() {
        return "FabricSecurity[dhchap " + (dhchapSecret == null ? "off" : dhchapCtrlSecret == null ? "host" : "bidirectional")
                + ", tls " + (tlsKey == null ? "off" : "psk") + "]";
    }
}
