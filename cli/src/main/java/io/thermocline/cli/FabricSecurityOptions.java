package io.thermocline.cli;

import io.thermocline.nvmeof.auth.TlsPsk;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * nvme-cli's in-band authentication and TLS options of {@code nvme connect} (nvme-cli 2.x):
 * {@code -S/--dhchap-secret}, {@code -C/--dhchap-ctrl-secret}, {@code --tls}, {@code --tls-key},
 * {@code --tls-key-identity}, and Thermocline's {@code --tls-key-derivation}. The user-space host
 * has no kernel keyring: a TLS key is given as such, in the PSK interchange format, never by key
 * ID or keyring ({@code --keyring}, a key ID in {@code --tls-key} and {@code --tls} alone are
 * refused, saying so).
 */
final class FabricSecurityOptions {
    @Option(names = {"-S", "--dhchap-secret"}, paramLabel = "DHHC-1:xx:...:",
            description = "The host's DH-HMAC-CHAP secret (nvme gen-dhchap-key): used when the controller asks for authentication.")
    String dhchapSecret;

    @Option(names = {"-C", "--dhchap-ctrl-secret"}, paramLabel = "DHHC-1:xx:...:",
            description = "The controller's DH-HMAC-CHAP secret: the controller must prove it (bidirectional authentication).")
    String dhchapCtrlSecret;

    @Option(names = "--tls", description = "TLS 1.3 with a pre-shared key on every queue (needs --tls-key).")
    boolean tls;

    @Option(names = "--tls-key", paramLabel = "NVMeTLSkey-1:hh:...:",
            description = "The configured TLS PSK in the interchange format (nvme gen-tls-key); implies --tls.")
    String tlsKey;

    @Option(names = "--tls-key-identity", paramLabel = "IDENTITY",
            description = "The PSK identity to offer: NVMe0Rhh <hostnqn> <subnqn> (the default) or NVMe1Rhh <hostnqn> <subnqn> "
                    + "<digest>; must be the one the key gives for these NQNs.")
    String tlsKeyIdentity;

    @Option(names = "--tls-key-derivation", paramLabel = "KIND",
            description = "rfc8446 (the specification's, default) or nvme-cli-compat (the derivation of nvme-cli 2.13 and "
                    + "older, for keys such an nvme-cli put in a Linux target's keyring).")
    String tlsKeyDerivation;

    @Option(names = "--keyring", paramLabel = "KEYRING", hidden = true)
    String keyring;

    /**
     * Applies the options to {@code b}.
     *
     * @throws CommandLine.ParameterException naming the option, for a bad or unsupported value
     */
    void apply(CommandLine cmd, NvmeTcpHostOptions.Builder b, String hostNqn, String subsystemNqn) {
        if (keyring != null) {
            throw new CommandLine.ParameterException(cmd, "--keyring: " + keyring + " (the user-space host reads no kernel "
                    + "keyring; expected: --tls-key NVMeTLSkey-1:hh:...:)");
        }
        if (tls && tlsKey == null) {
            throw new CommandLine.ParameterException(cmd, "--tls without --tls-key (the user-space host reads no kernel "
                    + "keyring; expected: --tls-key NVMeTLSkey-1:hh:...:)");
        }
        if (tlsKey == null && (tlsKeyIdentity != null || tlsKeyDerivation != null)) {
            throw new CommandLine.ParameterException(cmd, (tlsKeyIdentity != null ? "--tls-key-identity" : "--tls-key-derivation")
                    + " without --tls-key (expected: a key to go with it)");
        }
        try {
            b.dhchapSecret(dhchapSecret).dhchapCtrlSecret(dhchapCtrlSecret);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, (dhchapCtrlSecret != null && dhchapSecret == null
                    ? "--dhchap-ctrl-secret: " : "--dhchap-secret/--dhchap-ctrl-secret: ") + e.getMessage());
        }
        if (tlsKey == null) {
            return;
        }
        if (tlsKey.matches("(0x)?[0-9a-fA-F]+")) {
            throw new CommandLine.ParameterException(cmd, "--tls-key: " + tlsKey + " looks like a key ID (the user-space host "
                    + "reads no kernel keyring; expected: the key itself, NVMeTLSkey-1:hh:...:)");
        }
        TlsPsk key;
        try {
            key = TlsPsk.parse(tlsKey);
            if (tlsKeyDerivation != null) {
                key = key.withDerivation(TlsPsk.Derivation.parse(tlsKeyDerivation));
            }
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, (tlsKeyDerivation != null && e.getMessage().contains("derivation")
                    ? "--tls-key-derivation: " : "--tls-key: ") + e.getMessage());
        }
        if (tlsKeyIdentity != null) {
            String id = tlsKeyIdentity.strip();
            int version = id.startsWith("NVMe1") ? 1 : 0;
            String expected = key.identity(hostNqn, subsystemNqn, version);
            if (!id.equals(expected)) {
                throw new CommandLine.ParameterException(cmd, "--tls-key-identity: '" + id + "' (expected: the identity this key "
                        + "gives for host " + hostNqn + " and subsystem " + subsystemNqn + ", '" + key.identity(hostNqn, subsystemNqn, 0)
                        + "' or '" + key.identity(hostNqn, subsystemNqn, 1) + "')");
            }
            key = key.withIdentityVersion(version);
        }
        b.tlsKey(key);
    }
}
