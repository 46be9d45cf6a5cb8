package io.thermocline.nvmeof.discovery;

import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;

/**
 * The discovery controllers an {@code /etc/nvme/discovery.conf}-style file lists, the file
 * {@code nvme discover} reads when given no address: one discovery controller per line, written
 * as the flags of {@code nvme discover} (e.g. {@code -t tcp -a 10.0.0.5 -s 8009 -q nqn...}); blank
 * lines and lines starting with {@code #} are ignored, and a token starting with {@code #} starts
 * a comment to the end of its line.
 *
 * <p>Flags, in nvme-cli's short and long forms ({@code -a ADDR}, {@code -aADDR},
 * {@code --traddr ADDR}, {@code --traddr=ADDR}): {@code -t/--transport} (tcp, rdma, fc, loop;
 * required), {@code -a/--traddr} (required except for loop), {@code -s/--trsvcid},
 * {@code -n/--nqn}, {@code -q/--hostnqn}, {@code -I/--hostid}, {@code -w/--host-traddr},
 * {@code -f/--host-iface}, {@code -k/--keep-alive-tmo}, {@code -c/--reconnect-delay},
 * {@code -l/--ctrl-loss-tmo}, {@code -i/--nr-io-queues}, {@code -W/--nr-write-queues},
 * {@code -Q/--queue-size}, {@code -g/--hdr-digest}, {@code -G/--data-digest},
 * {@code -p/--persistent}. Anything else, a flag given twice, or a value out of range is refused
 * with a {@link DiscoveryConfException} naming the line, the flag and the value.
 *
 * <p>Immutable.
 */
public record DiscoveryConf(String source, List<Entry> entries) {
    /** Where {@code nvme discover} looks: {@code /etc/nvme/discovery.conf}. */
    public static final Path DEFAULT_PATH = Path.of("/etc/nvme/discovery.conf");
    /** The TCP port of a discovery controller when a line names none: 8009, NVMe/TCP's discovery port. */
    public static final int DEFAULT_DISCOVERY_PORT = 8009;

    public DiscoveryConf {
        entries = List.copyOf(entries);
    }

    /**
     * One line: a discovery controller and how to reach it. Unset optional values are
     * {@code null}.
     *
     * @param line the line number, from 1
     * @param transport tcp, rdma, fc or loop
     * @param keepAliveTmoSeconds {@code -k}; for a persistent connection unset means 30 s
     * @param ctrlLossTmoSeconds {@code -l}; -1 reconnects forever
     */
    public record Entry(int line, String transport, String traddr, Integer trsvcid, String nqn, String hostnqn, UUID hostid,
                        String hostTraddr, String hostIface, Integer keepAliveTmoSeconds, Integer reconnectDelaySeconds,
                        Integer ctrlLossTmoSeconds, Integer nrIoQueues, Integer nrWriteQueues, Integer queueSize,
                        boolean hdrDigest, boolean dataDigest, boolean persistent) {

        /** The port to use: {@code -s}, else {@value #DEFAULT_DISCOVERY_PORT}. */
        public int port() {
            return trsvcid != null ? trsvcid : DEFAULT_DISCOVERY_PORT;
        }

        /** The subsystem to ask: {@code -n}, else the discovery NQN. */
        public String subsystemNqn() {
            return nqn != null ? nqn : NvmeOpcodes.DISCOVERY_NQN;
        }

        /**
         * The host identity this line asks for: {@code -q} (with {@code -I}, else the host ID
         * {@link HostIdentity#resolveDefault} gives it), or {@code fallback} when the line names no
         * host NQN.
         */
        public HostIdentity identity(HostIdentity fallback) {
            if (hostnqn == null) {
                return fallback;
            }
            return hostid != null ? new HostIdentity(hostnqn, hostid) : HostIdentity.resolveDefault(hostnqn);
        }

        /** "line N: -t tcp -a ADDR -s PORT", for messages. */
        public String describe() {
            return "line " + line + " (" + transport + " " + (traddr == null ? "" : traddr) + ":" + port() + ")";
        }

        /**
         * Options for the user-space host to reach this line's discovery controller: the
         * transport must be tcp, and {@code -w}/{@code -f} (which pick a local address or
         * interface) are not supported. The keep-alive timeout is {@code -k}, else 30 s for a
         * persistent line and none for the others; {@code -c}, {@code -l}, {@code -g},
         * {@code -G} carry over. The I/O queue flags ({@code -i}, {@code -W}, {@code -Q}) are
         * kept in the entry for the controllers a caller connects from what it discovers; the
         * discovery connection itself has no I/O queues.
         *
         * @throws DiscoveryConfException if the line cannot be reached from user space
         */
        public NvmeTcpHostOptions.Builder hostOptions(String source, HostIdentity fallback, Duration timeout) {
            if (!"tcp".equals(transport)) {
                throw new DiscoveryConfException(source, line, "-t", transport,
                        "tcp: only TCP is spoken in user space; rdma and fc are reached through the kernel's nvme discover");
            }
            if (hostTraddr != null) {
                throw new DiscoveryConfException(source, line, "-w", hostTraddr,
                        "no --host-traddr: the user-space host lets the kernel pick the local address");
            }
            if (hostIface != null) {
                throw new DiscoveryConfException(source, line, "-f", hostIface,
                        "no --host-iface: the user-space host lets the kernel pick the interface");
            }
            NvmeTcpHostOptions.Builder b = NvmeTcpHostOptions.builder(traddr, port(), subsystemNqn())
                    .identity(identity(fallback)).nrIoQueues(0)
                    .keepAliveTimeout(keepAliveTmoSeconds != null ? Duration.ofSeconds(keepAliveTmoSeconds)
                            : persistent ? PersistentDiscovery.DEFAULT_KEEP_ALIVE_TIMEOUT : Duration.ZERO)
                    .headerDigest(hdrDigest).dataDigest(dataDigest)
                    .commandTimeout(timeout).connectTimeout(timeout);
            if (reconnectDelaySeconds != null) {
                b.reconnectDelay(Duration.ofSeconds(reconnectDelaySeconds));
            }
            if (ctrlLossTmoSeconds != null) {
                b.ctrlLossTimeout(Duration.ofSeconds(ctrlLossTmoSeconds));
            } else if (persistent) {
                b.ctrlLossTimeout(NvmeTcpHostOptions.OFF);
            }
            return b;
        }
    }

    /** Reads and parses {@code file}; I/O errors are thrown as they are. */
    public static DiscoveryConf read(Path file) throws IOException {
        return parse(file.toString(), Files.readAllLines(file, StandardCharsets.UTF_8));
    }

    /**
     * Parses lines of a discovery.conf-style file.
     *
     * @param source what the lines come from, for messages (a path)
     * @throws DiscoveryConfException on the first line that is not a valid discovery controller
     */
    public static DiscoveryConf parse(String source, List<String> lines) {
        List<Entry> entries = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            Entry e = parseLine(source, i + 1, lines.get(i));
            if (e != null) {
                entries.add(e);
            }
        }
        return new DiscoveryConf(source, entries);
    }

    /** One flag: its short and long names and whether it takes a value. */
    private record Flag(char shortName, String longName, boolean takesValue) {
    }

    private static final List<Flag> FLAGS = List.of(
            new Flag('t', "transport", true),
            new Flag('a', "traddr", true),
            new Flag('s', "trsvcid", true),
            new Flag('n', "nqn", true),
            new Flag('q', "hostnqn", true),
            new Flag('I', "hostid", true),
            new Flag('w', "host-traddr", true),
            new Flag('f', "host-iface", true),
            new Flag('k', "keep-alive-tmo", true),
            new Flag('c', "reconnect-delay", true),
            new Flag('l', "ctrl-loss-tmo", true),
            new Flag('i', "nr-io-queues", true),
            new Flag('W', "nr-write-queues", true),
            new Flag('Q', "queue-size", true),
            new Flag('g', "hdr-digest", false),
            new Flag('G', "data-digest", false),
            new Flag('p', "persistent", false));

    private static Flag byShort(char c) {
        for (Flag f : FLAGS) {
            if (f.shortName() == c) {
                return f;
            }
        }
        return null;
    }

    private static Flag byLong(String name) {
        for (Flag f : FLAGS) {
            if (f.longName().equals(name)) {
                return f;
            }
        }
        return null;
    }

    private static String known() {
        StringBuilder b = new StringBuilder();
        for (Flag f : FLAGS) {
            if (!b.isEmpty()) {
                b.append(", ");
            }
            b.append('-').append(f.shortName()).append("/--").append(f.longName());
        }
        return b.toString();
    }

    /** The entry on one line, or {@code null} for a blank or comment line. */
    static Entry parseLine(String source, int line, String text) {
        String[] tokens = text.trim().split("\\s+");
        Map<Flag, String> values = new LinkedHashMap<>();
        Map<Character, String> spelled = new java.util.HashMap<>();
        for (int i = 0; i < tokens.length; i++) {
            String token = tokens[i];
            if (token.isEmpty()) {
                continue;
            }
            if (token.startsWith("#")) {
                break;
            }
            Flag flag;
            String value = null;
            String as;
            if (token.startsWith("--")) {
                int eq = token.indexOf('=');
                String name = eq < 0 ? token.substring(2) : token.substring(2, eq);
                flag = byLong(name);
                as = "--" + name;
                if (flag == null) {
                    throw DiscoveryConfException.unknownFlag(source, line, as, eq < 0 ? null : token.substring(eq + 1), known());
                }
                if (eq >= 0) {
                    value = token.substring(eq + 1);
                    if (!flag.takesValue()) {
                        throw new DiscoveryConfException(source, line, as, value, "no value: " + as + " is a switch");
                    }
                }
            } else if (token.startsWith("-") && token.length() >= 2) {
                flag = byShort(token.charAt(1));
                as = token.substring(0, 2);
                if (flag == null) {
                    throw DiscoveryConfException.unknownFlag(source, line, as, token.length() > 2 ? token.substring(2) : null, known());
                }
                if (token.length() > 2) {
                    if (!flag.takesValue()) {
                        throw new DiscoveryConfException(source, line, as, token.substring(2), "no value: " + as + " is a switch "
                                + "(give each switch as its own word)");
                    }
                    value = token.substring(2);
                }
            } else {
                throw new DiscoveryConfException(source, line, null, token, "a flag such as -t, -a or -s before each value");
            }
            if (flag.takesValue() && value == null) {
                if (i + 1 >= tokens.length || tokens[i + 1].startsWith("#")) {
                    throw new DiscoveryConfException(source, line, as, null, "a value after " + as);
                }
                value = tokens[++i];
            }
            if (values.containsKey(flag)) {
                throw new DiscoveryConfException(source, line, as, value, "each flag once; -" + flag.shortName() + "/--"
                        + flag.longName() + " is given twice");
            }
            values.put(flag, flag.takesValue() ? value : "");
            spelled.put(flag.shortName(), as);
        }
        if (values.isEmpty()) {
            return null;
        }
        String transport = get(values, 't');
        if (transport == null) {
            throw new DiscoveryConfException(source, line, "-t", null, "a transport: -t tcp, rdma, fc or loop");
        }
        transport = transport.toLowerCase(Locale.ROOT);
        if (!List.of("tcp", "rdma", "fc", "loop").contains(transport)) {
            throw new DiscoveryConfException(source, line, spelled.get('t'), get(values, 't'), "tcp, rdma, fc or loop");
        }
        String traddr = get(values, 'a');
        if (traddr == null && !"loop".equals(transport)) {
            throw new DiscoveryConfException(source, line, "-a", null, "the discovery controller's address (-a/--traddr)");
        }
        Integer trsvcid = null;
        String s = get(values, 's');
        if (s != null) {
            if ("tcp".equals(transport) || "rdma".equals(transport)) {
                trsvcid = integer(source, line, spelled.get('s'), s, 1, 65535, "a port number 1..65535");
            } else {
                throw new DiscoveryConfException(source, line, spelled.get('s'), s, "no --trsvcid for " + transport + " (it has no ports)");
            }
        }
        String nqn = get(values, 'n');
        if (nqn != null) {
            checkNqn(source, line, spelled.get('n'), nqn);
        }
        String hostnqn = get(values, 'q');
        if (hostnqn != null) {
            checkNqn(source, line, spelled.get('q'), hostnqn);
        }
        UUID hostid = null;
        String id = get(values, 'I');
        if (id != null) {
            try {
                hostid = UUID.fromString(id);
                if (!hostid.toString().equalsIgnoreCase(id)) {
                    throw new IllegalArgumentException(id);
                }
            } catch (IllegalArgumentException e) {
                throw new DiscoveryConfException(source, line, spelled.get('I'), id, "a UUID such as 0f2c1a3e-8e2b-4c5d-9a6f-1b2c3d4e5f60");
            }
        }
        return new Entry(line, transport, traddr, trsvcid, nqn, hostnqn, hostid, get(values, 'w'), get(values, 'f'),
                optionalInt(values, spelled, source, line, 'k', 0, 65535, "seconds 0..65535"),
                optionalInt(values, spelled, source, line, 'c', 1, 86400, "seconds 1..86400"),
                optionalInt(values, spelled, source, line, 'l', -1, Integer.MAX_VALUE, "seconds, or -1 to reconnect forever"),
                optionalInt(values, spelled, source, line, 'i', 1, 1024, "a queue count 1..1024"),
                optionalInt(values, spelled, source, line, 'W', 0, 1024, "a queue count 0..1024"),
                optionalInt(values, spelled, source, line, 'Q', 2, 1024, "entries 2..1024"),
                values.containsKey(byShort('g')), values.containsKey(byShort('G')), values.containsKey(byShort('p')));
    }

    private static String get(Map<Flag, String> values, char shortName) {
        return values.get(byShort(shortName));
    }

    private static Integer optionalInt(Map<Flag, String> values, Map<Character, String> spelled, String source, int line,
                                       char shortName, int min, int max, String expected) {
        String v = get(values, shortName);
        return v == null ? null : integer(source, line, spelled.get(shortName), v, min, max, expected);
    }

    private static int integer(String source, int line, String flag, String value, int min, int max, String expected) {
        try {
            int n = Integer.parseInt(value);
            if (n >= min && n <= max) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new DiscoveryConfException(source, line, flag, value, expected);
    }

    private static void checkNqn(String source, int line, String flag, String nqn) {
        if (!nqn.startsWith("nqn.") || nqn.getBytes(StandardCharsets.UTF_8).length > 223) {
            throw new DiscoveryConfException(source, line, flag, nqn, "an NQN starting with 'nqn.' of at most 223 bytes");
        }
    }
}
