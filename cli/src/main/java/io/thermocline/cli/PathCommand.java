package io.thermocline.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.thermocline.engine.EngineConfig;
import io.thermocline.engine.ObjectStatus;
import io.thermocline.engine.TierDefinition;
import io.thermocline.engine.TierEngine;
import io.thermocline.tier.ObjectKey;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code thermocline path}: where a staged model lies as plain files, for a loader that takes a
 * directory (vLLM, SGLang, transformers, safetensors' {@code safe_open}).
 *
 * <p>The model's objects are those {@code prestage} would stage from the same SOURCE (listed in the
 * backing tier). Each must be on the tier, current (not stale), and have a plain file holding
 * exactly its bytes; then the directory is printed and the exit code is 0. Otherwise nothing is
 * printed on stdout, stderr names every object that is not (yet) there and why, and the exit
 * code is 1.
 */
@Command(name = "path",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        description = {
            "Prints the directory where a staged model lies as plain files on a tier, for a loader that takes a path.",
            "",
            "SOURCE is one of (as for prestage):",
            "  s3://BUCKET/PREFIX/      the objects under a prefix of the backing S3 tier",
            "  .../model.safetensors.index.json   (s3:// or a key) the index and the shards its weight_map names",
            "  KEY_PREFIX/              a key prefix, such as models/llama-3-8b/ (keys as the engine names them)",
            "",
            "The model's objects are those prestage selects from SOURCE (every object of the prefix by default; "
            + "--index-only, --include and --exclude as for prestage).",
            "The path is printed only when every object of the model is on the tier as a plain file that holds exactly "
            + "the object's bytes (staged, current, not changed behind the engine's back, and with a key that can be a "
            + "plain path). Otherwise stdout stays empty and stderr names each object that is not (yet) there and why: "
            + "run 'thermocline prestage SOURCE --to TIER' to stage them.",
            "",
            "The files are read-only. An evicted file disappears from the directory, but a process that has it open or "
            + "memory-mapped keeps reading it.",
            ""},
        footer = {
            "",
            "Examples:",
            "  thermocline path s3://models/thermocline/llama-3-8b/ --config /etc/thermocline.yaml",
            "  thermocline path models/llama-3-8b/ --tier local --json",
            "  thermocline path s3://models/thermocline/llama-3-8b/ --exclude '*.bin'   (the selection prestage was given)",
            "  vllm serve \"$(thermocline path s3://models/thermocline/llama-3-8b/)\"",
            "  python -c 'from safetensors import safe_open; ...' \"$(thermocline path models/llama-3-8b/)\"",
            "",
            "Exit codes: 0 every object is there (the path is on stdout); 1 some are not (stderr names them); "
            + "2 usage error (bad option, source or configuration); 3 a tier is unavailable."})
final class PathCommand implements Callable<Integer> {

    private static final ObjectMapper JSON = new ObjectMapper();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Mixin
    EngineOptions engineOptions;

    @Parameters(index = "0", paramLabel = "SOURCE",
            description = "s3://BUCKET/PREFIX/, a model.safetensors.index.json (s3:// or key), or a key prefix.")
    String source;

    @Option(names = "--tier", defaultValue = "local", paramLabel = "TIER",
            description = "The tier whose plain files to look at (default: ${DEFAULT-VALUE}).")
    String tier;

    /** The same selection as prestage's (--index-only, --include, --exclude), so that path checks what prestage staged. */
    @Mixin
    ModelSelection.Options selectionOptions;

    @Option(names = "--json", description = "Print one JSON object on stdout: path (null unless every object is there), objects, missing.")
    boolean json;

    /** An object of the model that is not on the tier as a plain file, and why. */
    record Missing(ObjectKey key, String reason) {
    }

    /**
     * Where a model's objects lie as plain files.
     *
     * @param path the directory (or, for one object, the file); null unless {@code missing} is empty
     * @param objects how many objects the model has
     * @param missing the objects that are not there
     */
    record Located(Path path, int objects, List<Missing> missing) {
        boolean complete() {
            return missing.isEmpty() && path != null;
        }
    }

    @Override
    public Integer call() throws Exception {
        CommandLine cmd = spec.commandLine();
        EngineConfig config = engineOptions.load(cmd);
        List<String> names = config.tiers().stream().map(TierDefinition::name).toList();
        if (!names.contains(tier) || tier.equals(names.getLast())) {
            throw new CommandLine.ParameterException(cmd, "--tier: '" + tier + "' (expected: one of the fast tiers "
                    + names.subList(0, names.size() - 1) + ")");
        }
        PrestageCommand.Source src;
        try {
            src = PrestageCommand.Source.parse(asS3Source(source, config), null);
            if (!(src instanceof PrestageCommand.S3Source)) {
                throw new PrestageCommand.SourceException("SOURCE: '" + source + "' (expected: s3://BUCKET/PREFIX/, an index, "
                        + "or a key prefix of the engine; a local directory is prestage's source, not a staged model)");
            }
        } catch (PrestageCommand.SourceException e) {
            throw new CommandLine.ParameterException(cmd, e.getMessage());
        }
        try (TierEngine engine = TierEngine.open(config)) {
            if (!engine.keepsPlainFiles(tier)) {
                throw new CommandLine.ParameterException(cmd, "--tier: '" + tier + "' keeps no plain files (expected: a local tier"
                        + (engine.isOwner() ? "" : " that this process can open beside the owner") + ")");
            }
            PrestageCommand.Plan plan;
            try {
                plan = src.resolve(engine, config, selectionOptions.selection());
            } catch (PrestageCommand.SourceException e) {
                throw new CommandLine.ParameterException(cmd, e.getMessage());
            }
            List<ObjectKey> keys = plan.items().stream().map(PrestageCommand.Item::key).toList();
            Located where = locate(engine, tier, keys, !source.endsWith("/") && keys.size() == 1 && !isIndex(keys.getFirst()));
            PrintWriter out = cmd.getOut();
            if (json) {
                out.println(toJson(source, tier, where));
                out.flush();
            } else if (where.complete()) {
                out.println(where.path());
                out.flush();
            }
            if (!where.complete()) {
                reportMissing(cmd.getErr(), plan.description(), tier, where);
                return 1;
            }
            return 0;
        }
    }

    private static boolean isIndex(ObjectKey key) {
        return key.toString().endsWith(".json");
    }

    /**
     * A key prefix or index key becomes the s3:// source under the backing tier's bucket and
     * prefix; an s3:// source is kept.
     */
    static String asS3Source(String arg, EngineConfig config) {
        if (arg.startsWith("s3://")) {
            return arg;
        }
        if (arg.isEmpty() || arg.startsWith("/") || arg.matches("^[a-zA-Z][a-zA-Z0-9+.-]*://.*")) {
            throw new PrestageCommand.SourceException("SOURCE: '" + arg + "' (expected: s3://BUCKET/PREFIX/, an index, or a key prefix "
                    + "such as models/llama-3-8b/)");
        }
        String where = config.tiers().getLast().description();
        if (!where.startsWith("s3://")) {
            throw new PrestageCommand.SourceException("SOURCE: '" + arg + "' is a key prefix, but the backing tier is not S3 ("
                    + where + ")");
        }
        String loc = where.substring(5).split(" ", 2)[0];
        return "s3://" + loc + (loc.endsWith("/") || loc.indexOf('/') < 0 ? "" : "/") + arg;
    }

    /**
     * Checks each key on {@code tier}: in the catalog on that tier, with a plain file of the
     * object's size. The directory is that of the keys' longest common directory prefix; with
     * {@code single}, the one object's file.
     */
    static Located locate(TierEngine engine, String tier, List<ObjectKey> keys, boolean single) throws IOException {
        List<Missing> missing = new ArrayList<>();
        Path root = null;
        for (ObjectKey key : keys) {
            Optional<ObjectStatus> st = engine.stat(key).join();
            if (st.isEmpty()) {
                missing.add(new Missing(key, "not staged (the engine does not know it)"));
                continue;
            }
            if (!st.get().tiers().contains(tier)) {
                missing.add(new Missing(key, "not on " + tier + (st.get().tiers().isEmpty() ? "" : " (on " + String.join(", ", st.get().tiers()) + ")")));
                continue;
            }
            Optional<Path> p = engine.plainPath(key, tier);
            if (p.isEmpty()) {
                missing.add(new Missing(key, "on " + tier + " without a plain file: its key has an escaped name, or its file was "
                        + "changed behind the engine's back"));
                continue;
            }
            long size = Files.size(p.get());
            if (size != st.get().sizeInBytes()) {
                missing.add(new Missing(key, p.get() + " has " + size + " bytes (expected: " + st.get().sizeInBytes() + ")"));
                continue;
            }
            if (root == null) {
                root = rootOf(p.get(), key);
            }
        }
        if (!missing.isEmpty() || root == null) {
            return new Located(null, keys.size(), missing);
        }
        if (single) {
            return new Located(root.resolve(keys.getFirst().toString()), keys.size(), missing);
        }
        return new Located(commonDirectory(keys).isEmpty() ? root : root.resolve(commonDirectory(keys)), keys.size(), missing);
    }

    /** The files root a plain path lies under: the path less the key's segments. */
    private static Path rootOf(Path plain, ObjectKey key) {
        int segments = key.toString().split("/", -1).length;
        Path r = plain;
        for (int i = 0; i < segments; i++) {
            r = r.getParent();
        }
        return r;
    }

    /** The longest directory ("a/b/", without its slash) every key lies in; "" for the root. */
    static String commonDirectory(List<ObjectKey> keys) {
        String common = null;
        for (ObjectKey k : keys) {
            String s = k.toString();
            String dir = s.contains("/") ? s.substring(0, s.lastIndexOf('/') + 1) : "";
            if (common == null) {
                common = dir;
            } else {
                int n = 0;
                int max = Math.min(common.length(), dir.length());
                while (n < max && common.charAt(n) == dir.charAt(n)) {
                    n++;
                }
                common = common.substring(0, common.lastIndexOf('/', n - 1) + 1);
            }
        }
        return common == null || common.isEmpty() ? "" : common.substring(0, common.length() - 1);
    }

    static ObjectNode toJson(String source, String tier, Located where) {
        ObjectNode root = JSON.createObjectNode();
        root.put("source", source);
        root.put("tier", tier);
        root.put("path", where.complete() ? where.path().toString() : null);
        root.put("objects", where.objects());
        ArrayNode m = root.putArray("missing");
        for (Missing x : where.missing()) {
            m.addObject().put("key", x.key().toString()).put("reason", x.reason());
        }
        return root;
    }

    static void reportMissing(PrintWriter err, String what, String tier, Located where) {
        err.printf("thermocline: %d of %d objects of %s are not on %s as plain files:%n", where.missing().size(), where.objects(),
                what, tier);
        for (Missing m : where.missing()) {
            err.println("  " + m.key() + ": " + m.reason());
        }
        err.println("thermocline: run 'thermocline prestage " + what + " --to " + tier + "' to stage them");
        err.flush();
    }
}
