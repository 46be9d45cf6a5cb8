package io.thermocline.cli;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.thermocline.nvmeof.auth.DhGroup;
import io.thermocline.nvmeof.auth.DhchapHash;
import io.thermocline.nvmeof.auth.DhchapHostConfig;
import io.thermocline.nvmeof.auth.DhchapSecret;
import io.thermocline.nvmeof.auth.TlsPsk;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * The hosts of {@code thermocline target serve --config FILE}: a YAML file whose {@code hosts} list
 * names each host that may connect, with its DH-HMAC-CHAP secrets and TLS PSK. The keys follow
 * nvmet's configfs attributes ({@code hosts/<nqn>/dhchap_key} and so on), with dashes:
 *
 * <pre>
 * hosts:
 *   - nqn: nqn.2014-08.org.nvmexpress:uuid:...   # required
 *     dhchap-key: "DHHC-1:01:...:"                # DH-HMAC-CHAP required of this host; default none
 *     dhchap-ctrl-key: "DHHC-1:03:...:"           # the controller proves itself to a host that asks; default none
 *     dhchap-hash: hmac(sha256)                   # default hmac(sha256); needs dhchap-key
 *     dhchap-dhgroup: ffdhe2048                   # default null (no DH exchange); needs dhchap-key
 *     tls-key: "NVMeTLSkey-1:01:...:"             # TLS 1.3 PSK; any tls-key makes the port TLS-only
 *     tls-key-derivation: rfc8446                 # or nvme-cli-compat; default rfc8446
 * limits:                                         # optional: see {@link TargetLimits}
 *   max-connections-per-address: 64
 * </pre>
 *
 * <p>Immutable once loaded.
 */
record TargetHostsConfig(List<Host> hosts, TargetLimits limits) {
    private static final Set<String> HOST_KEYS = Set.of("nqn", "dhchap-key", "dhchap-ctrl-key", "dhchap-hash",
            "dhchap-dhgroup", "tls-key", "tls-key-derivation");

    /** One host: its NQN, DH-HMAC-CHAP settings ({@code null}: none) and TLS PSK ({@code null}: none). */
    record Host(String nqn, DhchapHostConfig dhchap, TlsPsk tlsKey) {
    }

    TargetHostsConfig {
        hosts = List.copyOf(hosts);
        limits = limits == null ? TargetLimits.NONE : limits;
    }

    TargetHostsConfig(List<Host> hosts) {
        this(hosts, TargetLimits.NONE);
    }

    /**
     * Reads {@code file}.
     *
     * @throws IllegalArgumentException naming the file, the host entry and the key that is wrong
     * @throws IOException if the file cannot be read
     */
    static TargetHostsConfig load(Path file) throws IOException {
        JsonNode root;
        try {
            root = new ObjectMapper(new YAMLFactory()).readTree(file.toFile());
        } catch (JacksonException e) {
            throw new IllegalArgumentException(file + ": not YAML: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(file + ": expected a mapping with a 'hosts' list");
        }
        for (Iterator<String> names = root.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!name.equals("hosts") && !name.equals("limits")) {
                throw new IllegalArgumentException(file + ": unknown key '" + name + "' (expected: hosts, limits)");
            }
        }
        JsonNode list = root.path("hosts");
        if (!list.isArray()) {
            throw new IllegalArgumentException(file + ": 'hosts' is not a list (expected: a list of host entries)");
        }
        List<Host> hosts = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            hosts.add(host(file + ": hosts[" + i + "]", list.get(i)));
        }
        return new TargetHostsConfig(hosts, TargetLimits.parse(file + ": limits", root.get("limits")));
    }

    private static Host host(String where, JsonNode n) {
        if (!n.isObject()) {
            throw new IllegalArgumentException(where + ": expected a mapping with at least 'nqn'");
        }
        for (Iterator<String> names = n.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!HOST_KEYS.contains(name)) {
                throw new IllegalArgumentException(where + ": unknown key '" + name + "' (expected: " + String.join(", ",
                        List.of("nqn", "dhchap-key", "dhchap-ctrl-key", "dhchap-hash", "dhchap-dhgroup", "tls-key",
                                "tls-key-derivation")) + ")");
            }
        }
        String nqn = text(where, n, "nqn");
        if (nqn == null) {
            throw new IllegalArgumentException(where + ": no 'nqn' (expected: the host's NQN)");
        }
        String key = text(where, n, "dhchap-key");
        String ctrlKey = text(where, n, "dhchap-ctrl-key");
        String hash = text(where, n, "dhchap-hash");
        String group = text(where, n, "dhchap-dhgroup");
        DhchapHostConfig dhchap = null;
        if (key == null) {
            String stray = ctrlKey != null ? "dhchap-ctrl-key" : hash != null ? "dhchap-hash" : group != null ? "dhchap-dhgroup" : null;
            if (stray != null) {
                throw new IllegalArgumentException(where + " (" + nqn + "): '" + stray + "' without 'dhchap-key' "
                        + "(expected: the host's secret too)");
            }
        } else {
            try {
                dhchap = new DhchapHostConfig(DhchapSecret.parse(key), ctrlKey == null ? null : DhchapSecret.parse(ctrlKey),
                        hash == null ? DhchapHash.SHA_256 : DhchapHash.parse(hash), group == null ? DhGroup.NULL : DhGroup.parse(group));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + " (" + nqn + "): " + e.getMessage());
            }
        }
        String tls = text(where, n, "tls-key");
        String derivation = text(where, n, "tls-key-derivation");
        TlsPsk tlsKey = null;
        if (tls == null && derivation != null) {
            throw new IllegalArgumentException(where + " (" + nqn + "): 'tls-key-derivation' without 'tls-key'");
        }
        if (tls != null) {
            try {
                tlsKey = TlsPsk.parse(tls);
                if (derivation != null) {
                    tlsKey = tlsKey.withDerivation(TlsPsk.Derivation.parse(derivation));
                }
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + " (" + nqn + "): " + e.getMessage());
            }
        }
        return new Host(nqn, dhchap, tlsKey);
    }

    private static String text(String where, JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isValueNode() || v.asText().isBlank()) {
            throw new IllegalArgumentException(where + ": '" + key + "' is " + (v.isValueNode() ? "empty" : "not a single value")
                    + " (expected: text)");
        }
        return v.asText();
    }

    /** Lets every host in, with its secrets, and makes the port TLS-only if any host has a TLS key. */
    void apply(Subsystem.Builder subsystem, NvmeTcpTarget.Builder target) {
        for (Host h : hosts) {
            if (h.dhchap() != null) {
                subsystem.allowHost(h.nqn(), h.dhchap());
            } else {
                subsystem.allowHost(h.nqn());
            }
            if (h.tlsKey() != null) {
                target.tlsKey(h.nqn(), h.tlsKey());
            }
        }
    }
}
