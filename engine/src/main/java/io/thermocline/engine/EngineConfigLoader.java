package io.thermocline.engine;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeTcpBlockDevice;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.kernel.KernelNvmeDevice;
import io.thermocline.nvmeof.kernel.KernelNvmeOptions;
import io.thermocline.placement.ConfigException;
import io.thermocline.placement.PolicyConfig;
import io.thermocline.placement.PolicyConfigLoader;
import io.thermocline.placement.TierSpec;
import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.TierException;
import io.thermocline.tier.s3.S3TierConfig;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * Reads an {@link EngineConfig} from one YAML file: where the engine keeps its state, the shared
 * region, the stager, ownership, the tiers (fastest first, the last one durable) and the placement
 * policy.
 *
 * <p><b>Split of the keys.</b> The engine's own keys ({@code data-root}, {@code region.*},
 * {@code stager.*}, {@code ownership.*}, and per tier {@code type} with that type's settings) are
 * read here. Everything the placement policy knows ({@code heat}, {@code admission}, {@code rules},
 * and per tier {@code capacity}, the watermarks, {@code max-concurrent-moves} and
 * {@code bandwidth}) is handed, as YAML, to {@link PolicyConfigLoader}, so the policy's keys and
 * checks live in one place. Its errors come back as {@link EngineConfigException}s with the same
 * key path.
 *
 * <p><b>Overrides.</b> {@link #load(Path, Map)} takes a map of dotted keys to values that replace
 * (or add to) the file's: {@code data-root}, {@code stager.parallel-chunks},
 * {@code tiers.local.path} (a tier by name) or {@code tiers[0].path} (by position). Values are read
 * as YAML scalars, so {@code 8} is a number and {@code true} a boolean. {@link #environment(Map)}
 * turns {@code THERMOCLINE_*} variables into such a map: {@code THERMOCLINE_DATA_ROOT},
 * {@code THERMOCLINE_STAGER_PARALLEL_CHUNKS}, {@code THERMOCLINE_TIERS_LOCAL_PATH} (tier names
 * upper-cased, {@code -} as {@code _}).
 *
 * <p><b>Errors.</b> An unknown key, a value of the wrong type or out of range, or a missing
 * required key raises an {@link EngineConfigException} naming the full key path (such as
 * {@code tiers[1].trsvcid}), the value and what was expected. Nothing is opened or connected at
 * load time: tiers are opened by {@link TierEngine#open}.
 *
 * <p>Relative paths are resolved against the directory of the file (or, for {@link #parse}, the
 * given base directory). AWS credentials are never read from this file: the S3 tier uses the AWS
 * SDK's default chain (environment, profile, container, instance).
 */
public final class EngineConfigLoader {

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final String DURATION_EXPECTED = "a duration such as 500ms, 30s, 5m, 6h or PT1H";

    /** The tier keys the placement policy reads. */
    private static final Set<String> POLICY_TIER_KEYS = Set.of("name", "capacity", "high-watermark", "low-watermark",
            "max-concurrent-moves", "bandwidth");
    private static final Set<String> LOCAL_KEYS = Set.of("path", "direct-io");
    private static final Set<String> BLOCK_KEYS = Set.of("file", "direct-io", "catalog", "host-nqn", "transport", "initiator",
            "traddr", "trsvcid", "nqn", "nsid", "hostnqn", "hostid", "host-traddr", "nr-io-queues", "nr-write-queues",
            "queue-size", "keep-alive-tmo", "reconnect-delay", "ctrl-loss-tmo", "fast-io-fail-tmo", "hdr-digest",
            "data-digest", "connect-timeout", "nvme-command");
    private static final Set<String> S3_KEYS = Set.of("bucket", "prefix", "endpoint", "region", "path-style", "part-size",
            "max-concurrency", "track-usage", "max-attempts", "request-deadline", "idle-timeout", "abandoned-upload-age");
    private static final Set<String> TOP_KEYS = Set.of("data-root", "region", "stager", "ownership", "tiers", "heat",
            "admission", "rules");
    private static final Map<String, Set<String>> SECTIONS = Map.of(
            "region", Set.of("path", "max-objects", "group"),
            "stager", Set.of("parallel-chunks", "planner-interval", "drain-grace"),
            "ownership", Set.of("check-interval", "request-timeout"),
            "heat", Set.of("half-life"),
            "admission", Set.of("sketch-keys"));
    /** Environment variables of the launcher and the tools, not configuration keys. */
    private static final Set<String> NOT_CONFIG = Set.of("THERMOCLINE_CONFIG", "THERMOCLINE_JAVA_OPTS", "THERMOCLINE_REBUILD");

    private EngineConfigLoader() {
    }

    /** Loads {@code file}. */
    public static EngineConfig load(Path file) {
        return load(file, Map.of());
    }

    /** Loads {@code file} with {@code overrides} (dotted keys, see the class comment) applied on top. */
    public static EngineConfig load(Path file, Map<String, String> overrides) {
        return builder(file, overrides).build();
    }

    /**
     * Loads {@code file} (which may be null: then only {@code overrides} count) and returns the
     * builder, so that a caller can still set what YAML cannot hold (clock, meter registry).
     */
    public static EngineConfig.Builder builder(Path file, Map<String, String> overrides) {
        String text = "";
        Path base = Path.of("").toAbsolutePath();
        if (file != null) {
            try {
                text = Files.readString(file);
            } catch (IOException e) {
                throw new EngineConfigException("(file)", file.toString(), "a readable YAML file (" + e + ")");
            }
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                base = parent;
            }
        }
        return builder(text, base, overrides);
    }

    /** Parses {@code yaml}, resolving relative paths against {@code baseDirectory}. */
    public static EngineConfig parse(String yaml, Path baseDirectory, Map<String, String> overrides) {
        return builder(yaml, baseDirectory, overrides).build();
    }

    private static EngineConfig.Builder builder(String yaml, Path base, Map<String, String> overrides) {
        JsonNode parsed;
        try {
            parsed = YAML.readTree(yaml);
        } catch (JacksonException e) {
            throw new EngineConfigException("(document)", e.getOriginalMessage(), "valid YAML");
        }
        ObjectNode root;
        if (parsed == null || parsed.isMissingNode() || parsed.isNull()) {
            root = JsonNodeFactory.instance.objectNode();
        } else if (parsed instanceof ObjectNode o) {
            root = o;
        } else {
            throw new EngineConfigException("(document)", parsed.toString(), "a mapping with keys " + new TreeSet<>(TOP_KEYS));
        }
        for (Map.Entry<String, String> e : overrides.entrySet()) {
            override(root, e.getKey(), e.getValue());
        }
        return read(root, base);
    }

    /**
     * The overrides that {@code THERMOCLINE_*} variables of {@code environment} give: every known
     * key upper-cased with {@code .}, {@code -} and {@code [}/{@code ]} as {@code _}. Tier keys are
     * {@code THERMOCLINE_TIERS_<NAME>_<KEY>}; which tier names exist is only known once the file is
     * read, so those are returned as {@code tiers.<name>.<key>} with the name in lower case and
     * {@code _} standing for {@code -} or {@code _} (matched when applied). Variables that name no
     * key are ignored (the launcher has its own, such as {@code THERMOCLINE_JAVA_OPTS}).
     */
    public static Map<String, String> environment(Map<String, String> environment) {
        Map<String, String> out = new LinkedHashMap<>();
        Map<String, String> scalarKeys = new LinkedHashMap<>();
        scalarKeys.put(envName("data-root"), "data-root");
        SECTIONS.forEach((section, keys) -> keys.forEach(k -> scalarKeys.put(envName(section + "." + k), section + "." + k)));
        Set<String> tierKeys = new TreeSet<>();
        tierKeys.addAll(POLICY_TIER_KEYS);
        tierKeys.addAll(LOCAL_KEYS);
        tierKeys.addAll(BLOCK_KEYS);
        tierKeys.addAll(S3_KEYS);
        tierKeys.add("type");
        for (Map.Entry<String, String> e : new java.util.TreeMap<>(environment).entrySet()) {
            String name = e.getKey();
            if (!name.startsWith("THERMOCLINE_") || NOT_CONFIG.contains(name)) {
                continue;
            }
            String key = scalarKeys.get(name);
            if (key != null) {
                out.put(key, e.getValue());
                continue;
            }
            if (name.startsWith("THERMOCLINE_TIERS_")) {
                String rest = name.substring("THERMOCLINE_TIERS_".length());
                // the longest key suffix wins: THERMOCLINE_TIERS_LOCAL_DIRECT_IO is tier "local", key "direct-io"
                String best = null;
                for (String k : tierKeys) {
                    String suffix = "_" + envPart(k);
                    if (rest.endsWith(suffix) && rest.length() > suffix.length() && (best == null || k.length() > best.length())) {
                        best = k;
                    }
                }
                if (best != null) {
                    String tier = rest.substring(0, rest.length() - envPart(best).length() - 1).toLowerCase(Locale.ROOT);
                    out.put("tiers." + ENV_TIER + tier + "." + best, e.getValue());
                }
            }
        }
        return out;
    }

    /** Marks a tier name that came from an environment variable ({@code _} matches {@code -} too). */
    private static final String ENV_TIER = "\u0000env:";

    private static String envName(String key) {
        return "THERMOCLINE_" + envPart(key);
    }

    private static String envPart(String key) {
        return key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    // ------------------------------------------------------------------ overrides

    private static void override(ObjectNode root, String key, String value) {
        JsonNode v;
        try {
            v = value.isEmpty() ? JsonNodeFactory.instance.textNode("") : YAML.readTree(value);
            if (v == null || v.isContainerNode()) {
                v = JsonNodeFactory.instance.textNode(value);
            }
        } catch (JacksonException e) {
            v = JsonNodeFactory.instance.textNode(value);
        }
        if (key.equals("data-root")) {
            root.set(key, v);
            return;
        }
        int dot = key.indexOf('.');
        String head = dot < 0 ? key : key.substring(0, dot);
        if (SECTIONS.containsKey(head) && dot > 0) {
            String field = key.substring(dot + 1);
            if (!SECTIONS.get(head).contains(field)) {
                throw new EngineConfigException(key, value, "a known key: one of " + known());
            }
            JsonNode section = root.get(head);
            if (section == null || section.isNull()) {
                section = root.putObject(head);
            }
            if (!(section instanceof ObjectNode o)) {
                throw new EngineConfigException(head, section.toString(), "a mapping");
            }
            o.set(field, v);
            return;
        }
        if (key.startsWith("tiers.") || key.startsWith("tiers[")) {
            overrideTier(root, key, value, v);
            return;
        }
        throw new EngineConfigException(key, value, "a known key: one of " + known());
    }

    private static void overrideTier(ObjectNode root, String key, String value, JsonNode v) {
        JsonNode tiers = root.get("tiers");
        if (!(tiers instanceof ArrayNode list)) {
            throw new EngineConfigException(key, value, "a key of a tier the configuration file defines (it defines no tiers)");
        }
        String selector;
        String field;
        if (key.startsWith("tiers[")) {
            int close = key.indexOf(']');
            if (close < 0 || close + 1 >= key.length() || key.charAt(close + 1) != '.') {
                throw new EngineConfigException(key, value, "tiers[<index>].<key>");
            }
            selector = key.substring(6, close);
            field = key.substring(close + 2);
        } else {
            int dot = key.lastIndexOf('.');
            selector = key.substring(6, Math.max(6, dot));
            field = dot > 6 ? key.substring(dot + 1) : "";
        }
        ObjectNode tier = null;
        List<String> names = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            JsonNode t = list.get(i);
            String name = t.path("name").asText("");
            names.add(name);
            boolean match;
            if (key.startsWith("tiers[")) {
                match = selector.equals(Integer.toString(i));
            } else if (selector.startsWith(ENV_TIER)) {
                String wanted = selector.substring(ENV_TIER.length());
                match = name.toLowerCase(Locale.ROOT).replace('-', '_').equals(wanted);
            } else {
                match = name.equals(selector);
            }
            if (match && t instanceof ObjectNode o) {
                tier = o;
                break;
            }
        }
        String shown = key.replace(ENV_TIER, "");
        if (tier == null) {
            throw new EngineConfigException(shown, value, "a tier the configuration file defines: " + names);
        }
        if (field.isEmpty()) {
            throw new EngineConfigException(shown, value, "tiers.<name>.<key>");
        }
        tier.set(field, v); // checked with the tier's other keys
    }

    private static List<String> known() {
        List<String> keys = new ArrayList<>();
        keys.add("data-root");
        new TreeSet<>(SECTIONS.keySet()).forEach(s -> new TreeSet<>(SECTIONS.get(s)).forEach(k -> keys.add(s + "." + k)));
        keys.add("tiers.<name>.<key>");
        return keys;
    }

    // ------------------------------------------------------------------ reading

    private static EngineConfig.Builder read(ObjectNode root, Path base) {
        object(root, "(document)", TOP_KEYS);
        JsonNode dataRootNode = root.get("data-root");
        if (dataRootNode == null || dataRootNode.isNull()) {
            throw new EngineConfigException("data-root", "(missing)",
                    "the directory of the catalog and the owner lock, e.g. data-root: /var/lib/thermocline");
        }
        Path dataRoot = path(dataRootNode, "data-root", base);
        EngineConfig.Builder b = EngineConfig.builder(dataRoot);

        JsonNode region = section(root, "region");
        if (region != null) {
            if (region.has("path")) {
                b.regionPath(path(region.get("path"), "region.path", base));
            }
            if (region.has("max-objects")) {
                b.regionMaxObjects(integer(region.get("max-objects"), "region.max-objects", 16, Integer.MAX_VALUE));
            }
            if (region.has("group")) {
                b.regionGroup(text(region.get("group"), "region.group"));
            }
        }
        JsonNode stager = section(root, "stager");
        if (stager != null) {
            if (stager.has("parallel-chunks")) {
                b.parallelChunks((int) integer(stager.get("parallel-chunks"), "stager.parallel-chunks", 1, 256));
            }
            if (stager.has("planner-interval")) {
                b.plannerInterval(duration(stager.get("planner-interval"), "stager.planner-interval"));
            }
            if (stager.has("drain-grace")) {
                b.drainGrace(duration(stager.get("drain-grace"), "stager.drain-grace"));
            }
        }
        JsonNode ownership = section(root, "ownership");
        if (ownership != null) {
            if (ownership.has("check-interval")) {
                b.ownershipInterval(duration(ownership.get("check-interval"), "ownership.check-interval"));
            }
            if (ownership.has("request-timeout")) {
                b.requestTimeout(duration(ownership.get("request-timeout"), "ownership.request-timeout"));
            }
        }
        section(root, "heat");
        section(root, "admission");

        JsonNode tiers = root.get("tiers");
        if (tiers == null || tiers.isNull()) {
            throw new EngineConfigException("tiers", "(missing)",
                    "a list of 2 to 8 tiers, fastest first, the last one durable (type local, block or s3)");
        }
        if (!tiers.isArray()) {
            throw new EngineConfigException("tiers", tiers.toString(), "a list of tiers");
        }
        // what the placement policy reads: heat, admission, rules, and each tier's limits
        ObjectNode policyTree = JsonNodeFactory.instance.objectNode();
        for (String k : List.of("heat", "admission", "rules")) {
            if (root.has(k)) {
                policyTree.set(k, root.get(k));
            }
        }
        ArrayNode policyTiers = policyTree.putArray("tiers");
        List<ObjectNode> tierNodes = new ArrayList<>();
        for (int i = 0; i < tiers.size(); i++) {
            String at = "tiers[" + i + "]";
            JsonNode t = tiers.get(i);
            if (!(t instanceof ObjectNode tn)) {
                throw new EngineConfigException(at, t.toString(), "a mapping with name, type and the type's settings");
            }
            String type = text(required(tn, "type", at), at + ".type");
            Set<String> typeKeys = switch (type) {
                case "local" -> LOCAL_KEYS;
                case "block" -> BLOCK_KEYS;
                case "s3" -> S3_KEYS;
                default -> throw new EngineConfigException(at + ".type", type, "one of local, block, s3");
            };
            Set<String> allowed = new TreeSet<>(POLICY_TIER_KEYS);
            allowed.addAll(typeKeys);
            allowed.add("type");
            object(tn, at, allowed);
            ObjectNode spec = JsonNodeFactory.instance.objectNode();
            for (String k : POLICY_TIER_KEYS) {
                if (tn.has(k)) {
                    spec.set(k, tn.get(k));
                }
            }
            if (!spec.has("capacity") && type.equals("s3")) {
                spec.put("capacity", Long.MAX_VALUE); // a bucket has no fixed size
            }
            policyTiers.add(spec);
            tierNodes.add(tn);
        }
        PolicyConfig policy;
        try {
            policy = PolicyConfigLoader.parse(YAML.writeValueAsString(policyTree));
        } catch (ConfigException e) {
            throw new EngineConfigException(e.key(), new Rendered(renderedValue(e)), e.expected());
        } catch (IOException e) {
            throw new IllegalStateException("cannot render the policy keys as YAML", e);
        }
        for (int i = 0; i < tierNodes.size(); i++) {
            b.tier(tier(tierNodes.get(i), "tiers[" + i + "]", policy.tiers().get(i), dataRoot, base));
        }
        return b.policy(policy);
    }

    /** A value that is already rendered as the message should show it. */
    private record Rendered(String text) {
        @Override
        public String toString() {
            return text;
        }
    }

    /** A value as a message shows it: text quoted, numbers, booleans and structures as they are. */
    private static Object shown(JsonNode n) {
        return n.isTextual() ? n.asText() : new Rendered(n.toString());
    }

    private static String renderedValue(ConfigException e) {
        String m = e.getMessage();
        int start = e.key().length() + 2;
        int end = m.lastIndexOf(" (expected: ");
        return start <= end ? m.substring(start, end) : "?";
    }

    private static TierDefinition tier(ObjectNode n, String at, TierSpec spec, Path dataRoot, Path base) {
        String type = n.get("type").asText();
        return switch (type) {
            case "local" -> StandardTiers.local(spec, path(required(n, "path", at), at + ".path", base),
                    bool(n, "direct-io", at, false));
            case "s3" -> StandardTiers.s3(spec, s3(n, at));
            default -> block(n, at, spec, dataRoot, base);
        };
    }

    private static S3TierConfig s3(ObjectNode n, String at) {
        S3TierConfig.Builder b = S3TierConfig.builder(text(required(n, "bucket", at), at + ".bucket"));
        try {
            if (n.has("prefix")) {
                b.prefix(n.get("prefix").isNull() ? "" : n.get("prefix").asText());
            }
            if (n.has("endpoint")) {
                String s = text(n.get("endpoint"), at + ".endpoint");
                URI uri;
                try {
                    uri = new URI(s);
                } catch (URISyntaxException e) {
                    uri = null;
                }
                if (uri == null || uri.getHost() == null || !("http".equals(uri.getScheme()) || "https".equals(uri.getScheme()))) {
                    throw new EngineConfigException(at + ".endpoint", s, "an http:// or https:// URL such as http://127.0.0.1:9000");
                }
                b.endpoint(uri);
            }
            if (n.has("region")) {
                b.region(text(n.get("region"), at + ".region"));
            }
            if (n.has("path-style")) {
                b.pathStyle(bool(n, "path-style", at, false));
            }
            if (n.has("part-size")) {
                b.partSizeInBytes((int) size(n.get("part-size"), at + ".part-size", S3TierConfig.MIN_PART_SIZE_IN_BYTES, 1L << 30));
            }
            if (n.has("max-concurrency")) {
                b.maxConcurrency((int) integer(n.get("max-concurrency"), at + ".max-concurrency", 1, 1024));
            }
            if (n.has("track-usage")) {
                b.trackUsage(bool(n, "track-usage", at, true));
            }
            if (n.has("max-attempts")) {
                b.maxAttempts((int) integer(n.get("max-attempts"), at + ".max-attempts", 1, 100));
            }
            if (n.has("request-deadline")) {
                b.requestDeadline(duration(n.get("request-deadline"), at + ".request-deadline"));
            }
            if (n.has("idle-timeout")) {
                b.idleTimeout(duration(n.get("idle-timeout"), at + ".idle-timeout"));
            }
            if (n.has("abandoned-upload-age")) {
                b.abandonedUploadAge(duration(n.get("abandoned-upload-age"), at + ".abandoned-upload-age"));
            }
            return b.build();
        } catch (TierException e) {
            throw new EngineConfigException(at, n.toString(), e.getMessage());
        }
    }

    /**
     * A block tier: on a file ({@code file}), or on an NVMe-oF namespace ({@code transport} with
     * nvme-cli's connect options), through the Java NVMe/TCP host ({@code initiator: java}, tcp
     * only) or through the kernel ({@code initiator: kernel}, which {@code rdma} and {@code fc}
     * need).
     */
    private static TierDefinition block(ObjectNode n, String at, TierSpec spec, Path dataRoot, Path base) {
        Path catalog = n.has("catalog") ? path(n.get("catalog"), at + ".catalog", base)
                : dataRoot.resolve("tiers").resolve(spec.name());
        String explicitHostNqn = n.has("hostnqn") ? text(n.get("hostnqn"), at + ".hostnqn") : null;
        String hostNqnForTier = n.has("host-nqn") ? text(n.get("host-nqn"), at + ".host-nqn") : explicitHostNqn;
        boolean hasFile = n.has("file");
        boolean hasTransport = n.has("transport");
        if (hasFile == hasTransport) {
            throw new EngineConfigException(at, hasFile ? "file and transport" : "neither file nor transport",
                    "either file: PATH (a file or block device) or transport: tcp|rdma|fc with traddr, trsvcid and nqn");
        }
        boolean directIo = bool(n, "direct-io", at, false);
        if (hasFile) {
            for (String k : List.of("initiator", "traddr", "trsvcid", "nqn", "nsid", "host-traddr", "hostid", "nr-io-queues",
                    "nr-write-queues", "queue-size", "keep-alive-tmo", "reconnect-delay", "ctrl-loss-tmo", "fast-io-fail-tmo",
                    "hdr-digest", "data-digest", "connect-timeout", "nvme-command")) {
                if (n.has(k)) {
                    throw new EngineConfigException(at + "." + k, n.get(k).asText(), "no " + k + " with file: (it is an NVMe-oF option; "
                            + "use transport: instead of file:)");
                }
            }
            Path file = path(n.get("file"), at + ".file", base);
            return new TierDefinition(spec, () -> StandardTiers.blockOnFile(spec, file, catalog,
                    hostNqn(hostNqnForTier), directIo).opener().open(), false, "extents on " + file);
        }
        String transport = text(n.get("transport"), at + ".transport").toLowerCase(Locale.ROOT);
        if (!List.of("tcp", "rdma", "fc").contains(transport)) {
            throw new EngineConfigException(at + ".transport", transport, "tcp, rdma or fc (nvme-cli's -t)");
        }
        String initiator = n.has("initiator") ? text(n.get("initiator"), at + ".initiator")
                : transport.equals("tcp") ? "java" : "kernel";
        if (!initiator.equals("java") && !initiator.equals("kernel")) {
            throw new EngineConfigException(at + ".initiator", initiator,
                    "java (the user-space NVMe/TCP host) or kernel (nvme connect through nvme-cli)");
        }
        if (initiator.equals("java") && !transport.equals("tcp")) {
            throw new EngineConfigException(at + ".initiator", initiator, "kernel for transport " + transport
                    + " (the Java host speaks only tcp)");
        }
        String traddr = text(required(n, "traddr", at), at + ".traddr");
        String trsvcid = n.has("trsvcid") ? n.get("trsvcid").asText() : transport.equals("fc") ? null : "4420";
        if (trsvcid != null && (!trsvcid.matches("\\d{1,5}") || Integer.parseInt(trsvcid) < 1 || Integer.parseInt(trsvcid) > 65535)) {
            throw new EngineConfigException(at + ".trsvcid", n.get("trsvcid").asText(), "a port number 1..65535 (nvme-cli's -s)");
        }
        String nqn = text(required(n, "nqn", at), at + ".nqn");
        int nsid = n.has("nsid") ? (int) integer(n.get("nsid"), at + ".nsid", 1, 0xFFFF_FFFEL) : 1;
        Integer ioQueues = n.has("nr-io-queues") ? (int) integer(n.get("nr-io-queues"), at + ".nr-io-queues", 1, 1024) : null;
        Integer writeQueues = n.has("nr-write-queues") ? (int) integer(n.get("nr-write-queues"), at + ".nr-write-queues", 0, 1024) : null;
        Integer queueSize = n.has("queue-size") ? (int) integer(n.get("queue-size"), at + ".queue-size", 2, 65535) : null;
        Duration kato = n.has("keep-alive-tmo") ? seconds(n.get("keep-alive-tmo"), at + ".keep-alive-tmo", false) : null;
        Duration reconnect = n.has("reconnect-delay") ? seconds(n.get("reconnect-delay"), at + ".reconnect-delay", false) : null;
        Duration ctrlLoss = n.has("ctrl-loss-tmo") ? seconds(n.get("ctrl-loss-tmo"), at + ".ctrl-loss-tmo", true) : null;
        Duration fastFail = n.has("fast-io-fail-tmo") ? seconds(n.get("fast-io-fail-tmo"), at + ".fast-io-fail-tmo", true) : null;
        boolean hdr = bool(n, "hdr-digest", at, false);
        boolean data = bool(n, "data-digest", at, false);
        Duration connectTimeout = n.has("connect-timeout") ? duration(n.get("connect-timeout"), at + ".connect-timeout") : null;
        String where = "nvme-" + transport + "://" + traddr + (trsvcid != null ? ":" + trsvcid : "") + "/" + nqn + "/ns" + nsid;
        if (initiator.equals("kernel")) {
            for (String k : List.of("direct-io")) {
                if (n.has(k)) {
                    throw new EngineConfigException(at + "." + k, n.get(k).asText(), "no " + k + " with initiator kernel (it always uses O_DIRECT)");
                }
            }
            KernelNvmeOptions options;
            try {
                KernelNvmeOptions.Builder kb = KernelNvmeOptions.builder(KernelNvmeOptions.Transport.of(transport), traddr, trsvcid, nqn)
                        .nsid(nsid).headerDigest(hdr).dataDigest(data);
                if (explicitHostNqn != null) {
                    kb.hostNqn(explicitHostNqn);
                }
                if (n.has("hostid")) {
                    kb.hostId(text(n.get("hostid"), at + ".hostid"));
                }
                if (n.has("host-traddr")) {
                    kb.hostTraddr(text(n.get("host-traddr"), at + ".host-traddr"));
                }
                if (ioQueues != null) {
                    kb.nrIoQueues(ioQueues);
                }
                if (writeQueues != null) {
                    kb.nrWriteQueues(writeQueues);
                }
                if (queueSize != null) {
                    kb.queueSize(queueSize);
                }
                if (kato != null) {
                    kb.keepAliveTimeout(kato);
                }
                if (reconnect != null) {
                    kb.reconnectDelay(reconnect);
                }
                if (ctrlLoss != null) {
                    kb.ctrlLossTimeout(ctrlLoss);
                }
                if (fastFail != null) {
                    kb.fastIoFailTimeout(fastFail);
                }
                if (connectTimeout != null) {
                    kb.connectTimeout(connectTimeout);
                }
                if (n.has("nvme-command")) {
                    kb.nvmeCommand(text(n.get("nvme-command"), at + ".nvme-command"));
                }
                options = kb.build();
            } catch (TierException e) {
                throw new EngineConfigException(at, where, e.getMessage());
            }
            return lazyBlock(spec, () -> KernelNvmeDevice.connect(options), catalog, hostNqnForTier, where + " through the kernel");
        }
        for (String k : List.of("hostid", "host-traddr", "nvme-command")) {
            if (n.has(k)) {
                throw new EngineConfigException(at + "." + k, n.get(k).asText(), "no " + k + " with initiator java (kernel only)");
            }
        }
        if (directIo) {
            throw new EngineConfigException(at + ".direct-io", "true", "false with an NVMe-oF namespace (direct-io is for file:)");
        }
        int port = Integer.parseInt(trsvcid);
        Supplier<BlockDevice> device = () -> {
            NvmeTcpHostOptions.Builder hb = NvmeTcpHostOptions.builder(traddr, port, nqn)
                    .identity(HostIdentity.resolveDefault(explicitHostNqn)).headerDigest(hdr).dataDigest(data);
            if (ioQueues != null) {
                hb.nrIoQueues(ioQueues);
            }
            if (writeQueues != null) {
                hb.nrWriteQueues(writeQueues);
            }
            if (queueSize != null) {
                hb.queueSize(queueSize);
            }
            if (kato != null) {
                hb.keepAliveTimeout(kato);
            }
            if (reconnect != null) {
                hb.reconnectDelay(reconnect);
            }
            if (ctrlLoss != null) {
                hb.ctrlLossTimeout(ctrlLoss.isNegative() ? NvmeTcpHostOptions.OFF : ctrlLoss);
            }
            if (fastFail != null) {
                hb.fastIoFailTimeout(fastFail.isNegative() ? NvmeTcpHostOptions.OFF : fastFail);
            }
            if (connectTimeout != null) {
                hb.connectTimeout(connectTimeout);
            }
            NvmeTcpHostOptions options = hb.build();
            NvmeEventLoops loops = new NvmeEventLoops(Math.max(1, options.nrIoQueues()));
            NvmeTcpController controller = null;
            try {
                controller = NvmeTcpController.connectAndWait(loops, options);
                if (!controller.activeNamespaces().contains(nsid)) {
                    throw new EngineException(where + ": the subsystem has no active namespace " + nsid + " (it has "
                            + controller.activeNamespaces() + "); set nsid: to one of them");
                }
                return new HostOwningDevice(controller.openNamespace(nsid), controller, loops);
            } catch (RuntimeException e) {
                if (controller != null) {
                    controller.close();
                }
                loops.close();
                throw e;
            }
        };
        return lazyBlock(spec, device, catalog, hostNqnForTier, where + " through the Java NVMe/TCP host");
    }

    /** A block tier whose host NQN (when not configured) is looked up only when the tier opens. */
    private static TierDefinition lazyBlock(TierSpec spec, Supplier<BlockDevice> device, Path catalog, String hostNqn,
                                            String description) {
        return new TierDefinition(spec, () -> StandardTiers.block(spec, device, catalog, hostNqn(hostNqn), description)
                .opener().open(), false, description);
    }

    /** The NQN recorded on a block tier's superblock: the configured one, or this host's default (resolved when the tier opens). */
    private static String hostNqn(String configured) {
        return configured != null ? configured : HostIdentity.resolveDefault(null).hostNqn();
    }

    /** The namespace device of the Java host, which also ends the controller and its event loops on close. */
    private record HostOwningDevice(NvmeTcpBlockDevice device, NvmeTcpController controller, NvmeEventLoops loops) implements BlockDevice {
        @Override public String name() { return device.name(); }
        @Override public long sizeInBytes() { return device.sizeInBytes(); }
        @Override public int blockSizeInBytes() { return device.blockSizeInBytes(); }
        @Override public CompletableFuture<Void> read(long offset, ByteBuffer dst) { return device.read(offset, dst); }
        @Override public CompletableFuture<Void> write(long offset, ByteBuffer src) { return device.write(offset, src); }
        @Override public CompletableFuture<Void> flush() { return device.flush(); }
        @Override public CompletableFuture<Void> trim(long offset, long lengthInBytes) { return device.trim(offset, lengthInBytes); }
        @Override public CompletableFuture<Void> writeZeroes(long offset, long lengthInBytes) { return device.writeZeroes(offset, lengthInBytes); }

        @Override
        public void close() {
            try {
                device.close();
            } finally {
                try {
                    controller.close();
                } finally {
                    loops.close();
                }
            }
        }
    }

    // ------------------------------------------------------------------ scalar readers

    private static JsonNode section(ObjectNode root, String name) {
        JsonNode n = root.get(name);
        if (n == null || n.isNull()) {
            return null;
        }
        object(n, name, SECTIONS.get(name));
        return n;
    }

    private static void object(JsonNode n, String at, Set<String> allowed) {
        if (!n.isObject()) {
            throw new EngineConfigException(at, n.toString(), "a mapping with keys " + new TreeSet<>(allowed));
        }
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!allowed.contains(k)) {
                String key = at.equals("(document)") ? k : at + "." + k;
                throw new EngineConfigException(key, n.get(k).isValueNode() ? n.get(k).asText() : n.get(k).toString(),
                        "a known key: one of " + new TreeSet<>(allowed));
            }
        }
    }

    private static JsonNode required(JsonNode n, String field, String at) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            throw new EngineConfigException(at + "." + field, "(missing)", "a value; this key is required");
        }
        return v;
    }

    private static String text(JsonNode n, String at) {
        if (!n.isValueNode() || n.isNull() || n.asText().isEmpty()) {
            throw new EngineConfigException(at, n.toString(), "a non-empty string");
        }
        return n.asText();
    }

    private static Path path(JsonNode n, String at, Path base) {
        String s = text(n, at);
        if (s.startsWith("~/")) {
            s = System.getProperty("user.home") + s.substring(1);
        }
        try {
            return base.resolve(s).normalize();
        } catch (java.nio.file.InvalidPathException e) {
            throw new EngineConfigException(at, s, "a file system path");
        }
    }

    private static long integer(JsonNode n, String at, long min, long max) {
        if (!n.isIntegralNumber() || n.asLong() < min || n.asLong() > max) {
            throw new EngineConfigException(at, shown(n), "an integer in " + min + ".." + max);
        }
        return n.asLong();
    }

    private static boolean bool(JsonNode n, String field, String at, boolean dflt) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw new EngineConfigException(at + "." + field, shown(v), "true or false");
        }
        return v.asBoolean();
    }

    private static long size(JsonNode n, String at, long min, long max) {
        long v = n.isIntegralNumber() ? n.asLong() : n.isTextual() ? PolicyConfigLoader.parseSize(n.asText()) : -1;
        if (v < min || v > max) {
            throw new EngineConfigException(at, shown(n),
                    "a size from " + min + " to " + max + " bytes, such as 8MiB");
        }
        return v;
    }

    private static Duration duration(JsonNode n, String at) {
        Duration d = n.isTextual() ? PolicyConfigLoader.parseDuration(n.asText())
                : n.isIntegralNumber() && n.asLong() == 0 ? Duration.ZERO : null;
        if (d == null || d.isNegative()) {
            throw new EngineConfigException(at, shown(n), DURATION_EXPECTED);
        }
        return d;
    }

    /** nvme-cli's whole seconds; -1 means off where {@code offAllowed}. */
    private static Duration seconds(JsonNode n, String at, boolean offAllowed) {
        if (!n.isIntegralNumber() || n.asLong() < (offAllowed ? -1 : 0) || n.asLong() > 86_400 * 365L) {
            throw new EngineConfigException(at, shown(n),
                    "whole seconds as nvme-cli takes them" + (offAllowed ? ", or -1 for off" : ""));
        }
        return Duration.ofSeconds(n.asLong());
    }
}
