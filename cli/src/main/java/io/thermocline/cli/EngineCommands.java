package io.thermocline.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.thermocline.engine.ObjectStatus;
import io.thermocline.engine.TierEngine;
import io.thermocline.engine.TierStatus;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectNotFoundException;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.function.Function;
import java.util.function.ToIntFunction;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * The commands that look at and steer one data root through {@link TierEngine}: {@code ls},
 * {@code stat}, {@code heat}, {@code tiers}, {@code pin}, {@code unpin}, {@code evict}. Each opens
 * the engine as {@code prestage} does — the owner if no process owns the data root, else attached
 * to the one that does, whose requests then go through the shared region.
 */
final class EngineCommands {

    private static final ObjectMapper JSON = new ObjectMapper();

    private EngineCommands() {
    }

    static ObjectNode json(ObjectStatus s) {
        ObjectNode n = JSON.createObjectNode();
        n.put("key", s.key().toString());
        n.put("size", s.sizeInBytes());
        n.put("crc32c", String.format("%08x", s.crc32c()));
        n.put("state", s.state().name());
        ArrayNode t = n.putArray("tiers");
        s.tiers().forEach(t::add);
        n.put("epoch", s.epoch());
        n.put("reads", s.reads());
        n.put("heat", Math.round(s.decayedReads() * 1000) / 1000.0);
        if (s.pinUntilMillis() > 0) {
            n.put("pinned_until", Instant.ofEpochMilli(s.pinUntilMillis()).toString());
        } else {
            n.put("pinned_until", s.pinUntilMillis() < 0 ? "unknown" : null);
        }
        return n;
    }

    static String pinText(ObjectStatus s) {
        return s.pinUntilMillis() > 0 ? "until " + Instant.ofEpochMilli(s.pinUntilMillis()) : s.pinUntilMillis() < 0 ? "?" : "";
    }

    static ArrayNode jsonArray(List<ObjectStatus> list) {
        ArrayNode a = JSON.createArrayNode();
        list.forEach(s -> a.add(json(s)));
        return a;
    }

    /** What a command reads from the engine it opened. */
    interface Query<T> {
        T run(TierEngine e);
    }

    /** How a command prints what it read; the engine is still open. */
    interface Printer<T> {
        void print(TierEngine e, T value, PrintWriter out);
    }

    /**
     * What every engine command has: the standard help options, its spec, and the options that
     * say which engine to open. Picocli reads the {@code @Command} attributes and the annotated
     * fields of this class for each subclass, whose own {@code @Command} adds the name,
     * description and footer.
     */
    @Command(mixinStandardHelpOptions = true, usageHelpAutoWidth = true)
    abstract static class EngineCommand implements Callable<Integer> {
        @CommandLine.Spec CommandLine.Model.CommandSpec spec;
        @Mixin EngineOptions engine;

        /**
         * The shape every read-only command shares: open the engine from the options (owner or
         * attached), read once, print JSON with {@code --json} or text otherwise, flush, exit 0.
         * Failures propagate so that the top-level handler maps them to the documented exit codes.
         */
        <T> int show(boolean json, Query<T> query, Function<T, ? extends JsonNode> asJson, Printer<T> asText) {
            try (TierEngine e = engine.open(spec.commandLine())) {
                T value = query.run(e);
                PrintWriter out = spec.commandLine().getOut();
                if (json) {
                    out.println(asJson.apply(value));
                } else {
                    asText.print(e, value, out);
                }
                out.flush();
                return 0;
            }
        }

        /** Opens the engine from the options, runs {@code body} on it and closes it again. */
        int withEngine(ToIntFunction<TierEngine> body) {
            try (TierEngine e = engine.open(spec.commandLine())) {
                return body.applyAsInt(e);
            }
        }

        /** A usage error (exit code 2) naming the option, the value given and what was expected. */
        CommandLine.ParameterException usage(String option, Object value, String expected) {
            return new CommandLine.ParameterException(spec.commandLine(), option + ": " + value + " (expected: " + expected + ")");
        }
    }

    static ObjectStatus require(TierEngine e, String key) {
        Optional<ObjectStatus> s = e.stat(ObjectKey.of(key)).join();
        if (s.isEmpty()) {
            throw new ObjectNotFoundException("the engine", ObjectKey.of(key));
        }
        return s.get();
    }

    @Command(name = "ls",
            description = {"Lists the objects the engine knows whose key starts with PREFIX: size, state, tiers, heat.", ""},
            footer = {"", "Examples:",
                "  thermocline ls --config thermocline.yaml",
                "  thermocline ls models/llama-3-8b/ --json",
                "", "Exit codes: 0 listed, 2 usage error, 3 a tier is unavailable."})
    static final class Ls extends EngineCommand {
        @Parameters(index = "0", arity = "0..1", defaultValue = "", paramLabel = "PREFIX", description = "Key prefix (default: every object).")
        String prefix;
        @Option(names = "--json", description = "Print a JSON array.") boolean json;

        @Override
        public Integer call() {
            return show(json, e -> e.list(prefix), EngineCommands::jsonArray, (e, list, out) -> {
                Table t = new Table("KEY", ">SIZE", "STATE", "TIERS", ">READS", ">HEAT", "PINNED");
                for (ObjectStatus s : list) {
                    t.row(s.key(), ByteSizeConverter.format(s.sizeInBytes()), s.state(), String.join(",", s.tiers()), s.reads(),
                            String.format(Locale.ROOT, "%.2f", s.decayedReads()), pinText(s));
                }
                t.print(out);
                out.printf("%d objects, %s%n", list.size(), ByteSizeConverter.format(list.stream().mapToLong(ObjectStatus::sizeInBytes).sum()));
            });
        }
    }

    @Command(name = "stat",
            description = {"Prints what the engine knows of one object: size, CRC32C, state, tiers, epoch, heat, pin.", ""},
            footer = {"", "Examples:",
                "  thermocline stat models/llama-3-8b/model-00001-of-00004.safetensors",
                "  thermocline stat models/llama-3-8b/config.json --json",
                "", "Exit codes: 0 printed, 1 no such object, 2 usage error, 3 a tier is unavailable."})
    static final class Stat extends EngineCommand {
        @Parameters(index = "0", paramLabel = "KEY") String key;
        @Option(names = "--json", description = "Print one JSON object.") boolean json;

        @Override
        public Integer call() {
            return show(json, e -> require(e, key), EngineCommands::json, (e, s, out) ->
                    out.printf("key:     %s%nsize:    %d (%s)%ncrc32c:  %08x%nstate:   %s%ntiers:   %s%nepoch:   %d%nreads:   %d%nheat:    %.3f%npinned:  %s%n",
                            s.key(), s.sizeInBytes(), ByteSizeConverter.format(s.sizeInBytes()), s.crc32c(), s.state(),
                            String.join(", ", s.tiers()), s.epoch(), s.reads(), s.decayedReads(), pinText(s).isEmpty() ? "no" : pinText(s)));
        }
    }

    @Command(name = "heat",
            description = {"Lists the hottest objects by decayed read heat (reads per half-life, kept in the shared region).", ""},
            footer = {"", "Examples:",
                "  thermocline heat --top 20",
                "  thermocline heat --prefix models/ --json",
                "", "Exit codes: 0 printed, 2 usage error, 3 a tier is unavailable."})
    static final class Heat extends EngineCommand {
        @Option(names = "--top", defaultValue = "10", paramLabel = "N", description = "Objects to list (default: ${DEFAULT-VALUE}).") int top;
        @Option(names = "--prefix", defaultValue = "", paramLabel = "PREFIX", description = "Only keys starting with PREFIX.") String prefix;
        @Option(names = "--json", description = "Print a JSON array.") boolean json;

        @Override
        public Integer call() {
            if (top < 1) {
                throw usage("--top", top, "1 or more");
            }
            return show(json,
                    e -> e.list(prefix).stream()
                            .sorted(Comparator.comparingDouble(ObjectStatus::decayedReads).reversed().thenComparing(ObjectStatus::key))
                            .limit(top).toList(),
                    EngineCommands::jsonArray, (e, list, out) -> {
                        Table t = new Table(">HEAT", ">READS", "KEY", ">SIZE", "TIERS");
                        for (ObjectStatus s : list) {
                            t.row(String.format(Locale.ROOT, "%.2f", s.decayedReads()), s.reads(), s.key(),
                                    ByteSizeConverter.format(s.sizeInBytes()), String.join(",", s.tiers()));
                        }
                        t.print(out);
                    });
        }
    }

    @Command(name = "tiers",
            description = {"Lists the tiers, fastest first: class, capacity, used space, object count, health.", ""},
            footer = {"", "Examples:",
                "  thermocline tiers --config thermocline.yaml",
                "  thermocline tiers --json",
                "", "Exit codes: 0 printed, 2 usage error, 3 a tier is unavailable."})
    static final class Tiers extends EngineCommand {
        @Option(names = "--json", description = "Print a JSON array.") boolean json;

        @Override
        public Integer call() {
            return show(json, TierEngine::tiers, Tiers::jsonTiers, (e, tiers, out) -> {
                Table tb = new Table("TIER", "CLASS", ">CAPACITY", ">USED", ">USED%", ">OBJECTS", "HEALTH", "WHERE");
                for (TierStatus t : tiers) {
                    boolean unlimited = t.capacityBytes() == Long.MAX_VALUE;
                    tb.row(t.name(), t.tierClass() != null ? t.tierClass() : "-",
                            unlimited ? "unlimited" : ByteSizeConverter.format(t.capacityBytes()),
                            t.usedBytes() < 0 ? "-" : ByteSizeConverter.format(t.usedBytes()),
                            t.usedBytes() < 0 || unlimited ? "-" : String.format(Locale.ROOT, "%.1f", 100.0 * t.usedBytes() / t.capacityBytes()),
                            t.objectCount(), t.health() != null ? t.health().status() : "not opened here", t.description());
                }
                tb.print(out);
                if (!e.isOwner()) {
                    out.println("(attached to the owner of " + e.dataRoot() + "; tiers only the owner opens show '-')");
                }
            });
        }

        static ArrayNode jsonTiers(List<TierStatus> tiers) {
            ArrayNode a = JSON.createArrayNode();
            for (TierStatus t : tiers) {
                ObjectNode n = a.addObject();
                n.put("id", t.id());
                n.put("name", t.name());
                n.put("class", t.tierClass() != null ? t.tierClass().name() : null);
                n.put("capacity", t.capacityBytes() == Long.MAX_VALUE ? null : (Long) t.capacityBytes());
                n.put("used", t.usedBytes() < 0 ? null : (Long) t.usedBytes());
                n.put("objects", t.objectCount());
                n.put("health", t.health() != null ? t.health().status().name() : null);
                n.put("health_detail", t.health() != null ? t.health().detail() : null);
                n.put("where", t.description());
            }
            return a;
        }
    }

    /** What a {@link KeysCommand} does to one key; a failure is reported for that key alone. */
    interface KeyAction {
        void run(String key) throws Exception;
    }

    /**
     * A command that acts on each key it is given ({@code pin}, {@code unpin}, {@code evict}) and
     * reports on each: a line of text, or one JSON object per key with the object's status after
     * the action, or the error.
     */
    abstract static class KeysCommand extends EngineCommand {
        @Parameters(arity = "1..*", paramLabel = "KEY") List<String> keys;
        @Option(names = "--json", description = "Print one JSON object per key.") boolean json;

        /**
         * Runs {@code action} for every key that the engine knows, reporting each; an unknown key
         * or a failed action is reported and the others still run.
         *
         * @param done what the text report says of a key the action succeeded on
         * @return 0, or 1 if any key was unknown or its action failed
         */
        int each(TierEngine e, String done, KeyAction action) {
            PrintWriter out = spec.commandLine().getOut();
            PrintWriter err = spec.commandLine().getErr();
            int code = 0;
            for (String k : keys) {
                String error = null;
                try {
                    require(e, k);
                    action.run(k);
                } catch (Exception ex) {
                    Throwable c = io.thermocline.tier.TierException.unwrap(ex);
                    error = c.getMessage() != null ? c.getMessage() : c.toString();
                    code = 1;
                }
                if (json) {
                    ObjectNode n = JSON.createObjectNode();
                    n.put("key", k);
                    n.put("ok", error == null);
                    if (error != null) {
                        n.put("error", error);
                    } else {
                        e.stat(ObjectKey.of(k)).join().ifPresent(s -> n.set("status", json(s)));
                    }
                    out.println(n);
                } else if (error == null) {
                    out.println(k + ": " + done);
                } else {
                    err.println("thermocline: " + k + ": " + error);
                }
            }
            out.flush();
            err.flush();
            return code;
        }
    }

    @Command(name = "pin",
            description = {"Pins objects on their fastest tier for a while: the planner does not demote or evict them.", ""},
            footer = {"", "Examples:",
                "  thermocline pin models/llama-3-8b/model-00001-of-00004.safetensors --for 6h",
                "  thermocline pin KEY1 KEY2 --for 30m --json",
                "", "Exit codes: 0 pinned, 1 some object unknown, 2 usage error, 3 a tier is unavailable."})
    static final class Pin extends KeysCommand {
        @Option(names = "--for", required = true, paramLabel = "DURATION", converter = DurationConverter.class,
                description = "How long, e.g. 30m, 6h, 2d.") Duration ttl;

        @Override
        public Integer call() {
            if (ttl.isNegative() || ttl.isZero()) {
                throw usage("--for", ttl, "a positive duration");
            }
            return withEngine(e -> each(e, "pinned for " + ttl.toString().substring(2).toLowerCase(Locale.ROOT),
                    k -> e.pin(ObjectKey.of(k), ttl).join()));
        }
    }

    @Command(name = "unpin",
            description = {"Removes the pin of objects: the planner may move them again.", ""},
            footer = {"", "Examples:", "  thermocline unpin models/llama-3-8b/model-00001-of-00004.safetensors",
                "", "Exit codes: 0 unpinned, 1 some object unknown, 2 usage error, 3 a tier is unavailable."})
    static final class Unpin extends KeysCommand {
        @Override
        public Integer call() {
            return withEngine(e -> each(e, "unpinned", k -> e.unpin(ObjectKey.of(k)).join()));
        }
    }

    @Command(name = "evict",
            description = {"Frees the copies of objects on one tier. Refused for an object's only copy, a dirty object "
                + "(not yet persisted to the backing tier) and a pinned one.", ""},
            footer = {"", "Examples:",
                "  thermocline evict models/llama-3-8b/model-00001-of-00004.safetensors --tier local",
                "  thermocline evict KEY1 KEY2 --tier fabric --json",
                "", "Exit codes: 0 evicted, 1 some object unknown or refused, 2 usage error, 3 a tier is unavailable."})
    static final class Evict extends KeysCommand {
        @Option(names = "--tier", required = true, paramLabel = "TIER", description = "The tier to free the copies on.") String tier;

        @Override
        public Integer call() {
            return withEngine(e -> {
                if (e.tiers().stream().noneMatch(t -> t.name().equals(tier))) {
                    throw usage("--tier", "'" + tier + "'", "one of " + e.tiers().stream().map(TierStatus::name).toList());
                }
                return each(e, "evicted from " + tier, k -> {
                    if (!e.evict(ObjectKey.of(k), tier).join()) {
                        throw new IllegalStateException("tier " + tier + " held no copy of " + k);
                    }
                });
            });
        }
    }
}
