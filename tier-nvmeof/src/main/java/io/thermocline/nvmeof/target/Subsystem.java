package io.thermocline.nvmeof.target;

import io.thermocline.nvmeof.auth.DhchapHostConfig;
import io.thermocline.nvmeof.pdu.Fabrics;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;

/**
 * An NVM subsystem the target exports: its NQN, the identity strings Identify Controller reports,
 * namespaces 1..N, and which hosts may connect. Immutable; build with {@link #builder(String)}.
 *
 * <p><b>Access.</b> A host may connect when its host NQN is in {@link #allowedHosts()}, or when
 * {@link #allowAnyHost()} is on (off by default). Any other host's admin queue Connect fails with
 * Connect Invalid Host (NVMe over Fabrics 1.1, §3.3, Figure 21), and the discovery log page a host
 * reads lists only the subsystems it may connect to.
 *
 * <p><b>Namespace identifiers.</b> NGUID, EUI-64 and UUID are derived from the subsystem NQN and
 * the NSID, so they are unique per namespace and the same across restarts: hosts use them to
 * recognise a namespace again and to tell paths of one namespace from different namespaces.
 *
 * <p><b>Asymmetric Namespace Access.</b> A namespace added with an ANA group ID
 * ({@link Builder#namespace(Namespace, int)}) turns on ANA reporting for the subsystem (NVMe
 * Base 2.0 §8.1): Identify Controller sets CMIC bit 3, Identify Namespace reports the ANAGRPID,
 * and the ANA log page lists the groups. Namespaces added without one are in group 1. The state
 * of each group is a property of each target (port) that serves the subsystem, set with
 * {@link NvmeTcpTarget#anaState(String, int, io.thermocline.nvmeof.pdu.AnaState)}. Without any
 * ANA group the subsystem reports no ANA, as before.
 *
 * <p><b>Tenants.</b> One subsystem may serve several hosts that must not see each other's data.
 * A namespace granted to some hosts ({@link Builder#namespaceHosts}) is attached only to their
 * controllers: to every other admitted host its NSID is inactive (NVMe Base 2.0 §3.2.1.5) — absent
 * from the Active Namespace ID list, a zero-filled Identify Namespace, and I/O to it completes
 * with Invalid Namespace or Format. A namespace granted to no one in particular is attached to
 * every admitted host. Per-host rate limits ({@link Builder#hostRateLimit}) keep one tenant's scan
 * from starving another's reads.
 */
public final class Subsystem {
    private final String nqn;
    private final String serial;
    private final String model;
    private final String firmware;
    private final List<Namespace> namespaces;
    private final Set<String> allowedHosts;
    private final boolean allowAnyHost;
    /** DH-HMAC-CHAP keys by host NQN: those hosts must authenticate (NVMe Base 2.0 §8.13). */
    private final Map<String, DhchapHostConfig> hostAuthentication;
    /** ANAGRPID by NSID - 1; empty when the subsystem does not report ANA. */
    private final List<Integer> anaGroups;
    /** Hosts each namespace is attached to, by NSID; a namespace not here is attached to every admitted host. */
    private final Map<Integer, Set<String>> namespaceHosts;
    private final Map<String, HostRateLimit> hostRateLimits;
    private final HostRateLimit defaultHostRateLimit;

    private Subsystem(Builder b) {
        this.nqn = b.nqn;
        this.serial = b.serial != null ? b.serial : defaultSerial(b.nqn);
        this.model = b.model;
        this.firmware = b.firmware;
        this.namespaces = List.copyOf(b.namespaces);
        this.allowedHosts = Set.copyOf(b.allowedHosts);
        this.allowAnyHost = b.allowAnyHost;
        this.hostAuthentication = Map.copyOf(b.hostAuthentication);
        this.anaGroups = b.anaReporting ? List.copyOf(b.anaGroups) : List.of();
        Map<Integer, Set<String>> hosts = new LinkedHashMap<>();
        b.namespaceHosts.forEach((nsid, set) -> hosts.put(nsid, Set.copyOf(set)));
        this.namespaceHosts = Map.copyOf(hosts);
        this.hostRateLimits = Map.copyOf(b.hostRateLimits);
        this.defaultHostRateLimit = b.defaultHostRateLimit;
    }

    /** A builder for the subsystem named {@code nqn}. */
    public static Builder builder(String nqn) {
        return new Builder(nqn);
    }

    public String nqn() {
        return nqn;
    }

    /** Serial number (Identify Controller SN, 20 ASCII characters at most). */
    public String serial() {
        return serial;
    }

    /** Model number (Identify Controller MN, 40 ASCII characters at most). */
    public String model() {
        return model;
    }

    /** Firmware revision (Identify Controller FR, 8 ASCII characters at most). */
    public String firmware() {
        return firmware;
    }

    /** Namespaces in NSID order: element 0 is NSID 1. */
    public List<Namespace> namespaces() {
        return namespaces;
    }

    /** The namespace with this NSID, or {@code null} when there is none. */
    public Namespace namespace(int nsid) {
        return nsid >= 1 && nsid <= namespaces.size() ? namespaces.get(nsid - 1) : null;
    }

    /** Whether the subsystem reports Asymmetric Namespace Access (some namespace was given an ANA group). */
    public boolean reportsAna() {
        return !anaGroups.isEmpty();
    }

    /** The ANA group of a namespace (1 when the subsystem has ANA but the namespace was not given one), or 0 without ANA. */
    public int anaGroupId(int nsid) {
        return anaGroups.isEmpty() || nsid < 1 || nsid > anaGroups.size() ? 0 : anaGroups.get(nsid - 1);
    }

    /** The ANA groups of the subsystem, ascending (empty without ANA). */
    public java.util.SortedSet<Integer> anaGroupIds() {
        return java.util.Collections.unmodifiableSortedSet(new java.util.TreeSet<>(anaGroups));
    }

    /** NANAGRPID and ANAGRPMAX: the largest group ID in use (0 without ANA). */
    int maxAnaGroupId() {
        int max = 0;
        for (int g : anaGroups) {
            max = Math.max(max, g);
        }
        return max;
    }

    public Set<String> allowedHosts() {
        return allowedHosts;
    }

    public boolean allowAnyHost() {
        return allowAnyHost;
    }

    /**
     * The DH-HMAC-CHAP keys of this host, or {@code null} when it connects without in-band
     * authentication. Every queue of a host with keys authenticates right after its Connect.
     */
    public DhchapHostConfig hostAuthentication(String hostNqn) {
        return hostAuthentication.get(hostNqn);
    }

    /** Whether a host with this NQN may connect. */
    public boolean allows(String hostNqn) {
        return allowAnyHost || allowedHosts.contains(hostNqn);
    }

    /**
     * Whether namespace {@code nsid} is attached to the controllers of host {@code hostNqn}: it
     * exists, and it was granted to no host in particular or to this one.
     */
    public boolean attached(int nsid, String hostNqn) {
        if (namespace(nsid) == null) {
            return false;
        }
        Set<String> hosts = namespaceHosts.get(nsid);
        return hosts == null || hosts.contains(hostNqn);
    }

    /** The hosts namespace {@code nsid} was granted to, or an empty set when it is attached to every admitted host. */
    public Set<String> namespaceHosts(int nsid) {
        return namespaceHosts.getOrDefault(nsid, Set.of());
    }

    /** The rate limit of host {@code hostNqn} on this subsystem, or {@code null} when it is not limited. */
    public HostRateLimit hostRateLimit(String hostNqn) {
        HostRateLimit own = hostRateLimits.get(hostNqn);
        return own != null ? own : defaultHostRateLimit;
    }

    /** The namespace's NGUID (16 bytes). */
    byte[] nguid(int nsid) {
        return digest("nguid", nsid, 16);
    }

    /** The namespace's IEEE EUI-64, marked locally administered (U/L bit set, group bit clear). */
    byte[] eui64(int nsid) {
        byte[] eui = digest("eui64", nsid, 8);
        eui[0] = (byte) ((eui[0] & 0xFC) | 0x02);
        return eui;
    }

    /** The namespace's UUID (name-based). */
    UUID uuid(int nsid) {
        return UUID.nameUUIDFromBytes((nqn + "/namespace/" + nsid).getBytes(StandardCharsets.UTF_8));
    }

    private byte[] digest(String kind, int nsid, int length) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256")
                    .digest((kind + ":" + nqn + ":" + nsid).getBytes(StandardCharsets.UTF_8));
            byte[] out = new byte[length];
            System.arraycopy(d, 0, out, 0, length);
            return out;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    private static String defaultSerial(String nqn) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(nqn.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 10);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    @Override
    public String toString() {
        return "Subsystem[" + nqn + ", " + namespaces.size() + " namespace(s)"
                + (allowAnyHost ? ", any host" : ", hosts " + allowedHosts) + "]";
    }

    /** Checks an NQN (NVMe Base 2.0 §4.5): "nqn." then a name, at most 223 bytes of UTF-8. */
    static String checkNqn(String what, String nqn) {
        Objects.requireNonNull(nqn, what);
        int bytes = nqn.getBytes(StandardCharsets.UTF_8).length;
        if (!nqn.startsWith("nqn.") || bytes <= 4 || bytes > Fabrics.MAX_NQN_LENGTH) {
            throw new IllegalArgumentException(what + ": '" + nqn + "' (expected an NQN such as "
                    + "nqn.2024-01.io.example:name, \"nqn.\" and at most " + Fabrics.MAX_NQN_LENGTH + " bytes)");
        }
        return nqn;
    }

    private static String checkAscii(String what, String value, int max) {
        Objects.requireNonNull(value, what);
        if (value.isEmpty() || value.length() > max || !value.chars().allMatch(c -> c >= 0x20 && c < 0x7F)
                || value.startsWith(" ")) {
            throw new IllegalArgumentException(what + ": '" + value + "' (expected 1.." + max
                    + " printable ASCII characters, not starting with a space)");
        }
        return value;
    }

    /** Builds a {@link Subsystem}. Not thread-safe. */
    public static final class Builder {
        private final String nqn;
        private String serial;
        private String model = "Thermocline";
        private String firmware = "0.1";
        private final List<Namespace> namespaces = new ArrayList<>();
        private final Set<String> allowedHosts = new LinkedHashSet<>();
        private boolean allowAnyHost;
        private final Map<String, DhchapHostConfig> hostAuthentication = new LinkedHashMap<>();
        private final List<Integer> anaGroups = new ArrayList<>();
        private boolean anaReporting;
        private final Map<Integer, Set<String>> namespaceHosts = new LinkedHashMap<>();
        private final Map<String, HostRateLimit> hostRateLimits = new LinkedHashMap<>();
        private HostRateLimit defaultHostRateLimit;

        private Builder(String nqn) {
            this.nqn = checkNqn("subsystem NQN", nqn);
            if (NvmeOpcodes.DISCOVERY_NQN.equals(nqn)) {
                throw new IllegalArgumentException("subsystem NQN: '" + nqn
                        + "' is the discovery NQN, which the target serves itself (expected an NVM subsystem's NQN)");
            }
        }

        /** Serial number; default: 20 hex digits derived from the NQN. */
        public Builder serial(String serial) {
            this.serial = checkAscii("serial", serial, 20);
            return this;
        }

        /** Model number; default "Thermocline". */
        public Builder model(String model) {
            this.model = checkAscii("model", model, 40);
            return this;
        }

        /** Firmware revision; default "0.1". */
        public Builder firmware(String firmware) {
            this.firmware = checkAscii("firmware", firmware, 8);
            return this;
        }

        /** Adds the next namespace: the first added is NSID 1. */
        public Builder namespace(Namespace namespace) {
            namespaces.add(Objects.requireNonNull(namespace, "namespace"));
            anaGroups.add(1);
            return this;
        }

        /**
         * Adds the next namespace in ANA group {@code anaGroupId} (1..1024), and turns ANA
         * reporting on for the subsystem.
         */
        public Builder namespace(Namespace namespace, int anaGroupId) {
            if (anaGroupId < 1 || anaGroupId > 1024) {
                throw new IllegalArgumentException("ANA group ID: " + anaGroupId + " (expected 1..1024)");
            }
            namespaces.add(Objects.requireNonNull(namespace, "namespace"));
            anaGroups.add(anaGroupId);
            anaReporting = true;
            return this;
        }

        /** Lets the host with this NQN connect (repeatable). */
        public Builder allowHost(String hostNqn) {
            allowedHosts.add(checkNqn("host NQN", hostNqn));
            return this;
        }

        /**
         * Lets the host with this NQN connect after it authenticates with DH-HMAC-CHAP, with the
         * keys, hash and DH group of {@code auth} (the Linux target's {@code hosts/<nqn>/dhchap_*}).
         */
        public Builder allowHost(String hostNqn, DhchapHostConfig auth) {
            allowHost(hostNqn);
            hostAuthentication.put(hostNqn, Objects.requireNonNull(auth, "auth"));
            return this;
        }

        /** Lets every host connect; off by default. */
        public Builder allowAnyHost(boolean allowAnyHost) {
            this.allowAnyHost = allowAnyHost;
            return this;
        }

        /**
         * Attaches namespace {@code nsid} only to these hosts (repeatable: the sets add up). Each
         * must also be admitted ({@link #allowHost} or {@link #allowAnyHost}); every other host
         * sees the NSID as inactive. Without this call the namespace is attached to every
         * admitted host.
         */
        public Builder namespaceHosts(int nsid, java.util.Collection<String> hostNqns) {
            if (nsid < 1) {
                throw new IllegalArgumentException("NSID " + nsid + " (expected 1 or more)");
            }
            Objects.requireNonNull(hostNqns, "hostNqns");
            Set<String> set = namespaceHosts.computeIfAbsent(nsid, k -> new LinkedHashSet<>());
            for (String h : hostNqns) {
                set.add(checkNqn("host NQN of namespace " + nsid, h));
            }
            return this;
        }

        /** Limits the I/O host {@code hostNqn} may issue to this subsystem (replaces the default for it). */
        public Builder hostRateLimit(String hostNqn, HostRateLimit limit) {
            hostRateLimits.put(checkNqn("host NQN", hostNqn), Objects.requireNonNull(limit, "limit"));
            return this;
        }

        /** Limits every host that has no limit of its own; default: none. */
        public Builder defaultHostRateLimit(HostRateLimit limit) {
            this.defaultHostRateLimit = Objects.requireNonNull(limit, "limit");
            return this;
        }

        public Subsystem build() {
            if (namespaces.isEmpty()) {
                throw new IllegalStateException("subsystem " + nqn + " has no namespaces (expected at least one)");
            }
            for (int nsid : namespaceHosts.keySet()) {
                if (nsid > namespaces.size()) {
                    throw new IllegalStateException("hosts granted namespace " + nsid + " of " + nqn + ", which has "
                            + namespaces.size() + " namespace(s) (expected an NSID of 1.." + namespaces.size() + ")");
                }
            }
            return new Subsystem(this);
        }
    }
}
