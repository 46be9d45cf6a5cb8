package io.thermocline.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.thermocline.engine.EngineConfig;
import io.thermocline.engine.EngineReader;
import io.thermocline.engine.ObjectStatus;
import io.thermocline.engine.PutOptions;
import io.thermocline.engine.StageHandle;
import io.thermocline.engine.TierDefinition;
import io.thermocline.engine.TierEngine;
import io.thermocline.engine.TierStatus;
import io.thermocline.tier.ListPage;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.support.ContainedPaths;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.Tier;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierHealth;
import io.thermocline.tier.TierUnavailableException;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.regex.Pattern;
import java.util.zip.CRC32C;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code thermocline prestage}: copies a model's files to a fast tier before they are loaded.
 *
 * <p>The source is a prefix of the backing S3 tier, a local directory, or a
 * {@code model.safetensors.index.json} (local or in S3), whose {@code weight_map} names the shards
 * to stage. Objects already in the backing tier are staged by the engine's verified copy
 * (journaled, chunk CRC32Cs checked, published atomically); local files are first put into the
 * engine under {@code --prefix}. Up to {@code --parallel} objects move at once.
 *
 * <p><b>Resume.</b> Objects already on the target tier are not copied again; a copy that was cut
 * off (Ctrl-C, kill) continues from the chunks the engine had already received and verified (see
 * the engine's resumable copies), so running the same command again finishes the job.
 */
@Command(name = "prestage",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        description = {
            "Stages a model's files on a fast tier (local or fabric) before they are loaded, with verified copies.",
            "",
            "SOURCE is one of:",
            "  s3://BUCKET/PREFIX/      objects under a prefix of the backing S3 tier (BUCKET must be its bucket)",
            "  DIRECTORY                local files, put into the engine under --prefix, then staged",
            "  .../model.safetensors.index.json   (local or s3://) the index and the shards its weight_map names",
            "A prefix or directory is staged whole: the index with its shards, config.json, the tokenizer files and "
            + "every other file (--index-only, --include and --exclude narrow it: see Selection).",
            "",
            "When another process owns the data root (a serving process), prestage attaches to it and its "
            + "requests go through the shared region; the owner does the copies.",
            "Interrupted (Ctrl-C, kill)? Run the same command again: objects already staged are skipped and a "
            + "cut-off copy resumes from its verified chunks.",
            ""},
        footer = {
            "",
            "Examples:",
            "  thermocline prestage s3://models/thermocline/llama-3-8b/ --to local --config /etc/thermocline.yaml",
            "  thermocline prestage s3://models/thermocline/llama-3-8b/model.safetensors.index.json --to fabric --pin 6h",
            "  thermocline prestage /data/llama-3-8b --prefix models/llama-3-8b/ --to local --parallel 8 --verify",
            "  thermocline prestage s3://models/thermocline/llama-3-8b/ --to local --dry-run --order size",
            "  thermocline prestage s3://models/thermocline/llama-3-8b/ --to local --json > result.json",
            "  thermocline prestage s3://models/thermocline/llama-3-8b/ --to local --exclude '*.bin' --exclude 'original/*'",
            "  vllm serve \"$(thermocline prestage s3://models/thermocline/llama-3-8b/ --to local --print-path)\"",
            "",
            "Exit codes: 0 every object is on the tier; 1 partly done (the table says which failed and why); "
            + "2 usage error (bad option, source, configuration or index JSON; nothing was staged); "
            + "3 a tier is unavailable (cannot be opened or reached, at the start or while staging; what was staged stays "
            + "staged: run the same command again once the tier is back)."})
final class PrestageCommand implements Callable<Integer> {

    static final String INDEX_NAME = "model.safetensors.index.json";
    private static final long MAX_INDEX_BYTES = 64L << 20;
    private static final Pattern BUCKET = Pattern.compile("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]");
    private static final ObjectMapper JSON = new ObjectMapper();

    enum Order { index, size, name }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Mixin
    EngineOptions engineOptions;

    @Parameters(index = "0", paramLabel = "SOURCE", description = "s3://BUCKET/PREFIX, a directory, or a model.safetensors.index.json.")
    String source;

    @Option(names = "--to", required = true, paramLabel = "TIER", description = "The tier to stage to, by name: local, fabric, ...")
    String to;

    @Option(names = "--pin", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Pin the staged objects on the tier for this long (e.g. 6h): the planner will not demote them.")
    Duration pin;

    @Option(names = "--parallel", defaultValue = "4", paramLabel = "N", description = "Objects copied at once (default: ${DEFAULT-VALUE}).")
    int parallel;

    @Option(names = "--verify", description = "Read every object back through the engine afterwards and check its whole-object CRC32C.")
    boolean verify;

    @Option(names = "--dry-run", description = "Print what would be staged, and change nothing.")
    boolean dryRun;

    @Option(names = "--order", defaultValue = "index", paramLabel = "ORDER",
            description = "index (the index's order, then names), size (largest first) or name (default: ${DEFAULT-VALUE}).")
    Order order;

    @Option(names = "--prefix", paramLabel = "KEY_PREFIX",
            description = "Key prefix for files of a local directory (default: the directory's name and '/').")
    String keyPrefix;

    @CommandLine.Mixin
    ModelSelection.Options selectionOptions;

    @Option(names = "--json", description = "Print the result as one JSON object on stdout (progress stays on stderr).")
    boolean json;

    @Option(names = "--print-path", description = "Print only the directory where the staged model lies as plain files on stdout "
            + "(the table goes to stderr), for a loader: vllm serve \"$(thermocline prestage SOURCE --to local --print-path)\". "
            + "Nothing is printed on stdout unless every object is there (exit 1 then, naming those that are not).")
    boolean printPath;

    @Option(names = "--progress-interval", defaultValue = "5s", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "When stderr is not a terminal, print a progress line this often (default: ${DEFAULT-VALUE}).")
    Duration progressInterval;

    /** One object to stage. {@code file} is null for objects already in the backing tier. */
    record Item(ObjectKey key, long size, Path file, int indexPosition) {
    }

    /** What the source resolves to. */
    record Plan(String description, List<Item> items, String index, int notInIndex) {
    }

    /** The outcome of one object; {@code unavailable}: it failed because a tier could not be reached. */
    record Outcome(Item item, String result, String reason, List<String> tiers, double seconds, String verified, boolean unavailable) {
        Outcome(Item item, String result, String reason, List<String> tiers, double seconds, String verified) {
            this(item, result, reason, tiers, seconds, verified, false);
        }
    }

    /** A bad source or index: a usage error (exit 2), raised before anything is written. */
    static final class SourceException extends RuntimeException {
        SourceException(String message) {
            super(message);
        }
    }

    @Override
    public Integer call() throws Exception {
        CommandLine cmd = spec.commandLine();
        if (parallel < 1 || parallel > 256) {
            throw new CommandLine.ParameterException(cmd, "--parallel: " + parallel + " (expected: 1..256)");
        }
        if (pin != null && (pin.isNegative() || pin.isZero())) {
            throw new CommandLine.ParameterException(cmd, "--pin: " + pin + " (expected: a positive duration such as 6h)");
        }
        if (progressInterval.isNegative() || progressInterval.isZero()) {
            throw new CommandLine.ParameterException(cmd, "--progress-interval: " + progressInterval + " (expected: a positive duration)");
        }
        Source src;
        try {
            src = Source.parse(source, keyPrefix);
        } catch (SourceException e) {
            throw new CommandLine.ParameterException(cmd, e.getMessage());
        }
        ModelSelection selection = selectionOptions.selection();
        EngineConfig config = engineOptions.load(cmd);
        List<String> names = config.tiers().stream().map(TierDefinition::name).toList();
        if (!names.contains(to)) {
            throw new CommandLine.ParameterException(cmd, "--to: '" + to + "' (expected: one of the fast tiers " + names.subList(0, names.size() - 1) + ")");
        }
        if (to.equals(names.getLast())) {
            throw new CommandLine.ParameterException(cmd, "--to: '" + to + "' is the backing tier, where objects are already "
                    + "(expected: one of " + names.subList(0, names.size() - 1) + ")");
        }
        if (printPath && (json || dryRun)) {
            throw new CommandLine.ParameterException(cmd, "--print-path: with " + (json ? "--json" : "--dry-run")
                    + " (expected: one of them; --json has the path as \"path\")");
        }
        // with --print-path, stdout carries only the path, so that a shell can pass it on
        PrintWriter out = printPath ? cmd.getErr() : cmd.getOut();
        PrintStream err = System.err;
        TierEngine engine;
        try {
            engine = TierEngine.open(config);
        } catch (TierUnavailableException e) {
            err.println("thermocline: " + e.getMessage());
            err.println("thermocline: check that the tier is reachable (endpoint, network, credentials), then run the same command again");
            return 3;
        }
        Thread hook = Thread.ofPlatform().unstarted(() -> {
            err.println();
            err.println("thermocline: interrupted; copies under way are abandoned and resume from their verified chunks when you run the same command again");
            engine.close();
        });
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            Optional<TierStatus> target = engine.tiers().stream().filter(t -> t.name().equals(to)).findFirst();
            if (target.isPresent() && target.get().health() != null && target.get().health().status() == TierHealth.Status.DOWN) {
                err.println("thermocline: tier " + to + " (" + target.get().description() + ") is down: " + target.get().health().detail());
                return 3;
            }
            Plan plan;
            try {
                plan = src.resolve(engine, config, selection);
            } catch (SourceException e) {
                throw new CommandLine.ParameterException(cmd, e.getMessage());
            }
            List<Item> items = sorted(plan.items());
            if (!json) {
                out.printf("prestage %s -> %s: %d objects, %s%s%s%n", plan.description(), to, items.size(),
                        ByteSizeConverter.format(items.stream().mapToLong(Item::size).sum()),
                        plan.index() != null ? ", from " + plan.index() : "",
                        plan.notInIndex() > 0 ? " (" + plan.notInIndex() + " other objects left out by " + selection.describe() + ")" : "");
                out.println(engine.isOwner() ? "this process owns " + engine.dataRoot() + " and copies itself"
                        : "attached to the owner of " + engine.dataRoot() + ": requests go through the shared region");
                out.flush();
            }
            if (dryRun) {
                return dryRun(engine, plan, items, out);
            }
            long t0 = System.nanoTime();
            List<Outcome> outcomes = run(engine, items, err);
            double seconds = (System.nanoTime() - t0) / 1e9;
            if (verify) {
                outcomes = verifyAll(engine, outcomes);
            }
            int failed = (int) outcomes.stream().filter(o -> o.result().equals("failed")).count();
            // a tier that went away while staging is exit 3 (as one that is down at the start): the
            // remedy is the tier, not the objects; any other failure leaves the run partly done (1)
            int code = failed == 0 ? 0 : outcomes.stream().anyMatch(Outcome::unavailable) ? 3 : 1;
            PathCommand.Located where = null;
            if (engine.keepsPlainFiles(to)) {
                List<ObjectKey> keys = plan.items().stream().map(Item::key).toList();
                where = PathCommand.locate(engine, to, keys, false);
            } else if (printPath) {
                throw new CommandLine.ParameterException(cmd, "--print-path: tier " + to + " keeps no plain files (expected: --to a local tier)");
            }
            print(plan, outcomes, seconds, code, out, engine.isOwner(), where);
            if (printPath) {
                if (where.complete()) {
                    cmd.getOut().println(where.path());
                    cmd.getOut().flush();
                } else {
                    PathCommand.reportMissing(cmd.getErr(), plan.description(), to, where);
                    code = code == 0 ? 1 : code;
                }
            }
            return code;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
                engine.close();
            } catch (IllegalStateException shuttingDown) {
                // the hook closes it
            }
        }
    }

    private List<Item> sorted(List<Item> items) {
        List<Item> list = new ArrayList<>(items);
        Comparator<Item> byName = Comparator.comparing(Item::key);
        list.sort(switch (order) {
            case index -> Comparator.comparingInt(Item::indexPosition).thenComparing(byName);
            case size -> Comparator.comparingLong(Item::size).reversed().thenComparing(byName);
            case name -> byName;
        });
        return list;
    }

    private int dryRun(TierEngine engine, Plan plan, List<Item> items, PrintWriter out) {
        List<Outcome> outcomes = new ArrayList<>();
        for (Item it : items) {
            Optional<ObjectStatus> st = engine.stat(it.key()).join();
            List<String> tiers = st.map(ObjectStatus::tiers).orElse(List.of());
            String result = tiers.contains(to) ? "already" : it.file() != null && st.isEmpty() ? "would put" : "would stage";
            outcomes.add(new Outcome(it, result, "", tiers, 0, ""));
        }
        print(plan, outcomes, 0, 0, out, engine.isOwner(), null);
        return 0;
    }

    // ------------------------------------------------------------------ staging

    private List<Outcome> run(TierEngine engine, List<Item> items, PrintStream err) throws Exception {
        Map<ObjectKey, LongSupplier> live = new ConcurrentHashMap<>();
        AtomicLong finishedBytes = new AtomicLong();
        AtomicLong finishedObjects = new AtomicLong();
        long total = items.stream().mapToLong(Item::size).sum();
        Progress.Snapshot[] last = new Progress.Snapshot[1];
        java.util.function.Supplier<Progress.Snapshot> snapshot = () -> {
            long b = finishedBytes.get();
            for (LongSupplier s : live.values()) {
                b += s.getAsLong();
            }
            Progress.Snapshot s = new Progress.Snapshot(Math.min(b, total), total, finishedObjects.get(), items.size());
            last[0] = s;
            return s;
        };
        Semaphore slots = new Semaphore(parallel);
        List<Future<Outcome>> futures = new ArrayList<>();
        try (Progress ignored = new Progress(err, "prestage", snapshot, Progress.stderrIsTerminal(), progressInterval.toMillis());
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (Item it : items) {
                slots.acquire();
                futures.add(pool.submit(() -> {
                    long t0 = System.nanoTime();
                    Outcome o = null;
                    try {
                        o = one(engine, it, live);
                        return o;
                    } catch (Throwable t) {
                        Throwable c = TierException.unwrap(t);
                        o = new Outcome(it, "failed", c.getMessage() != null ? c.getMessage() : c.toString(), List.of(),
                                (System.nanoTime() - t0) / 1e9, "", c instanceof TierUnavailableException);
                        return o;
                    } finally {
                        live.remove(it.key());
                        if (o != null && !o.result().equals("failed")) {
                            finishedBytes.addAndGet(it.size()); // a failed object's bytes were not staged
                        }
                        finishedObjects.incrementAndGet();
                        slots.release();
                    }
                }));
            }
            List<Outcome> outcomes = new ArrayList<>();
            for (Future<Outcome> f : futures) {
                outcomes.add(f.get());
            }
            return outcomes;
        }
    }

    private Outcome one(TierEngine engine, Item it, Map<ObjectKey, LongSupplier> live) throws Exception {
        long t0 = System.nanoTime();
        Duration pinTtl = pin != null ? pin : Duration.ZERO;
        if (it.file() != null) {
            Optional<ObjectStatus> st = engine.stat(it.key()).join();
            if (st.isPresent() && (st.get().sizeInBytes() != it.size() || crc32cOf(it.file()) != st.get().crc32c())) {
                return new Outcome(it, "failed", "the engine already holds " + it.key() + " with other content ("
                        + st.get().sizeInBytes() + " bytes, CRC32C " + String.format("%08x", st.get().crc32c()) + ") than " + it.file()
                        + "; objects are immutable: choose another --prefix", st.get().tiers(), 0, "");
            }
            if (st.isEmpty()) {
                AtomicLong sent = new AtomicLong();
                live.put(it.key(), sent::get);
                try (FileChannel ch = FileChannel.open(it.file(), StandardOpenOption.READ)) {
                    // the file's path, size and modification time name the source of a put that a kill cut off,
                    // so that the next prestage of it takes up what the tiers kept (each kept chunk re-checked)
                    // (as a file: URI, whose escapes keep any character of a file name on one line)
                    String resumeId = it.file().toAbsolutePath().toUri() + " " + it.size() + " "
                            + Files.getLastModifiedTime(it.file()).toInstant();
                    engine.put(it.key(), counting(ch, sent), it.size(), PutOptions.defaults().withTier(to).withResumeId(resumeId)).join();
                }
                List<String> tiers = engine.stat(it.key()).join().map(ObjectStatus::tiers).orElse(List.of());
                if (tiers.contains(to)) {
                    if (pin != null) {
                        engine.pin(it.key(), pin).join();
                    }
                    return new Outcome(it, "put", "", tiers, (System.nanoTime() - t0) / 1e9, "");
                }
            }
        }
        StageHandle h = engine.stage(List.of(it.key()), to, pinTtl);
        live.put(it.key(), () -> h.progress().bytesDone());
        StageHandle.Result r = h.future().join();
        double seconds = (System.nanoTime() - t0) / 1e9;
        List<String> tiers = engine.stat(it.key()).join().map(ObjectStatus::tiers).orElse(List.of());
        if (!r.failed().isEmpty()) {
            return new Outcome(it, "failed", explain(r.failed().values().iterator().next()), tiers, seconds, "",
                    !r.unavailable().isEmpty());
        }
        if (pin != null && !r.already().isEmpty()) {
            engine.pin(it.key(), pin).join(); // stage pins what it copies; an object that was there already is pinned here
        }
        return new Outcome(it, r.already().isEmpty() ? "staged" : "already", "", tiers, seconds, "");
    }

    /** The engine's reason, with what to do where the cause is a common one. */
    private String explain(String reason) {
        String r = reason == null ? "unknown" : reason;
        String lower = r.toLowerCase(Locale.ROOT);
        if (lower.contains("full") || lower.contains("no room") || lower.contains("capacity")) {
            return r + " (free room on " + to + " with 'thermocline evict', or raise tiers." + to + ".capacity)";
        }
        return r;
    }

    /** The whole-file CRC32C, to tell whether an object the engine holds is this file. */
    private static int crc32cOf(Path file) throws IOException {
        CRC32C crc = new CRC32C();
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (ch.read(buf.clear()) >= 0) {
                crc.update(buf.flip());
            }
        }
        return (int) crc.getValue();
    }

    /**
     * The file as a seekable channel (so that the engine can resume a cut-off put of it) that
     * reports, as progress, the furthest byte read.
     */
    private static SeekableByteChannel counting(FileChannel in, AtomicLong furthest) {
        return new SeekableByteChannel() {
            @Override
            public int read(ByteBuffer dst) throws IOException {
                int n = in.read(dst);
                if (n > 0) {
                    furthest.accumulateAndGet(in.position(), Math::max);
                }
                return n;
            }

            @Override
            public int write(ByteBuffer src) throws IOException {
                throw new java.nio.channels.NonWritableChannelException();
            }

            @Override
            public long position() throws IOException {
                return in.position();
            }

            @Override
            public SeekableByteChannel position(long newPosition) throws IOException {
                in.position(newPosition);
                return this;
            }

            @Override
            public long size() throws IOException {
                return in.size();
            }

            @Override
            public SeekableByteChannel truncate(long size) {
                throw new java.nio.channels.NonWritableChannelException();
            }

            @Override
            public boolean isOpen() {
                return in.isOpen();
            }

            @Override
            public void close() throws IOException {
                in.close();
            }
        };
    }

    private List<Outcome> verifyAll(TierEngine engine, List<Outcome> outcomes) {
        List<Outcome> out = new ArrayList<>();
        for (Outcome o : outcomes) {
            if (o.result().equals("failed")) {
                out.add(o);
                continue;
            }
            try {
                int expected = engine.stat(o.item().key()).join().orElseThrow().crc32c();
                CRC32C crc = new CRC32C();
                String tier;
                try (EngineReader r = engine.read(o.item().key()).join()) {
                    tier = r.tier();
                    ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
                    long pos = 0;
                    while (pos < r.info().sizeInBytes()) {
                        buf.clear();
                        int n = r.read(pos, buf).join();
                        if (n < 0) {
                            break;
                        }
                        buf.flip();
                        crc.update(buf);
                        pos += n;
                    }
                }
                if ((int) crc.getValue() != expected) {
                    out.add(new Outcome(o.item(), "failed", String.format("read back from %s with CRC32C %08x, expected %08x", tier,
                            (int) crc.getValue(), expected), o.tiers(), o.seconds(), "bad"));
                } else {
                    out.add(new Outcome(o.item(), o.result(), o.reason(), o.tiers(), o.seconds(), "ok (" + tier + ")"));
                }
            } catch (RuntimeException e) {
                Throwable c = TierException.unwrap(e);
                out.add(new Outcome(o.item(), "failed", "verify: " + c.getMessage(), o.tiers(), o.seconds(), "bad"));
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ output

    private void print(Plan plan, List<Outcome> outcomes, double seconds, int code, PrintWriter out, boolean owner,
                       PathCommand.Located where) {
        long bytes = outcomes.stream().filter(o -> o.result().equals("staged") || o.result().equals("put"))
                .mapToLong(o -> o.item().size()).sum();
        if (json) {
            ObjectNode root = JSON.createObjectNode();
            root.put("source", plan.description());
            root.put("to", to);
            root.put("index", plan.index());
            root.put("dry_run", dryRun);
            root.put("owner", owner);
            ArrayNode list = root.putArray("objects");
            for (Outcome o : outcomes) {
                ObjectNode n = list.addObject();
                n.put("key", o.item().key().toString());
                n.put("size", o.item().size());
                n.put("result", o.result());
                if (!o.reason().isEmpty()) {
                    n.put("reason", o.reason());
                }
                ArrayNode t = n.putArray("tiers");
                o.tiers().forEach(t::add);
                n.put("seconds", Math.round(o.seconds() * 1000) / 1000.0);
                if (!o.verified().isEmpty()) {
                    n.put("verified", o.verified());
                }
            }
            for (String r : List.of("staged", "put", "already", "failed")) {
                root.put(r, outcomes.stream().filter(o -> o.result().equals(r)).count());
            }
            root.put("bytes_copied", bytes);
            root.put("seconds", Math.round(seconds * 1000) / 1000.0);
            root.put("exit_code", code);
            if (where != null) {
                // the directory where the model lies as plain files; null unless every object is there
                root.put("path", where.complete() ? where.path().toString() : null);
            }
            out.println(root.toString());
            out.flush();
            return;
        }
        Table t = verify ? new Table("KEY", ">SIZE", "RESULT", "TIERS", ">SECONDS", "VERIFIED", "REASON")
                : new Table("KEY", ">SIZE", "RESULT", "TIERS", ">SECONDS", "REASON");
        for (Outcome o : outcomes) {
            String secs = dryRun ? "" : String.format(Locale.ROOT, "%.2f", o.seconds());
            if (verify) {
                t.row(o.item().key(), ByteSizeConverter.format(o.item().size()), o.result(), String.join(",", o.tiers()), secs,
                        o.verified(), o.reason());
            } else {
                t.row(o.item().key(), ByteSizeConverter.format(o.item().size()), o.result(), String.join(",", o.tiers()), secs, o.reason());
            }
        }
        out.println();
        t.print(out);
        if (!dryRun) {
            long staged = outcomes.stream().filter(o -> o.result().equals("staged") || o.result().equals("put")).count();
            long already = outcomes.stream().filter(o -> o.result().equals("already")).count();
            long failed = outcomes.stream().filter(o -> o.result().equals("failed")).count();
            out.printf("%n%d staged, %d already on %s, %d failed; %s copied in %.2f s (%s/s)%n", staged, already, to, failed,
                    ByteSizeConverter.format(bytes), seconds, ByteSizeConverter.format((long) (bytes / Math.max(seconds, 1e-3))));
            if (outcomes.stream().anyMatch(Outcome::unavailable)) {
                out.println("a tier could not be reached: check it (endpoint, network, credentials), then run the same command again;"
                        + " what was staged stays staged and copies resume from their verified chunks");
            } else if (failed > 0) {
                out.println("run the same command again to retry the failed objects; what was staged stays staged");
            }
        }
        out.flush();
    }

    // ------------------------------------------------------------------ sources

    /** A parsed SOURCE argument; resolving it needs the engine (to list and stat). */
    sealed interface Source {

        Plan resolve(TierEngine engine, EngineConfig config, ModelSelection selection) throws Exception;

        static Source parse(String arg, String keyPrefix) {
            if (arg.startsWith("s3://")) {
                String rest = arg.substring(5);
                int slash = rest.indexOf('/');
                String bucket = slash < 0 ? rest : rest.substring(0, slash);
                String path = slash < 0 ? "" : rest.substring(slash + 1);
                if (!BUCKET.matcher(bucket).matches()) {
                    throw new SourceException("SOURCE: '" + arg + "' (expected: s3://BUCKET/PREFIX with a bucket name of 3 to 63 "
                            + "lower-case letters, digits, '.' and '-')");
                }
                if (keyPrefix != null) {
                    throw new SourceException("--prefix: only for a local directory or index; objects in S3 keep their keys");
                }
                return new S3Source(bucket, path);
            }
            if (arg.matches("^[a-zA-Z][a-zA-Z0-9+.-]*://.*")) {
                throw new SourceException("SOURCE: '" + arg + "' (expected: s3://BUCKET/PREFIX, a directory, or a "
                        + INDEX_NAME + "; other URI schemes are not supported)");
            }
            Path p = Path.of(arg).toAbsolutePath().normalize();
            if (Files.isDirectory(p)) {
                return new LocalSource(p, null, keyPrefix);
            }
            if (Files.isRegularFile(p)) {
                if (!p.getFileName().toString().endsWith(".json")) {
                    throw new SourceException("SOURCE: '" + arg + "' is a file (expected: a directory, a " + INDEX_NAME
                            + " or s3://BUCKET/PREFIX)");
                }
                return new LocalSource(p.getParent(), p, keyPrefix);
            }
            throw new SourceException("SOURCE: '" + arg + "' does not exist (expected: s3://BUCKET/PREFIX, a directory, or a "
                    + INDEX_NAME + ")");
        }
    }

    /** The shard file names an index's weight_map names, in first-appearance order. */
    static List<String> shardsOf(byte[] json, String where) {
        com.fasterxml.jackson.databind.JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (IOException e) {
            String m = e instanceof com.fasterxml.jackson.core.JsonProcessingException jp ? jp.getOriginalMessage()
                    + (jp.getLocation() != null ? " at line " + jp.getLocation().getLineNr() + ", column " + jp.getLocation().getColumnNr() : "")
                    : e.getMessage();
            throw new SourceException(where + " is not valid JSON: " + m + " (expected: a safetensors index with a weight_map)");
        }
        if (root == null || !root.isObject()) {
            throw new SourceException(where + ": not a JSON object (expected: {\"metadata\": {...}, \"weight_map\": {\"tensor\": \"file\"}})");
        }
        com.fasterxml.jackson.databind.JsonNode map = root.get("weight_map");
        if (map == null || !map.isObject() || map.isEmpty()) {
            throw new SourceException(where + ": weight_map is " + (map == null ? "missing" : map.isObject() ? "empty" : "not an object")
                    + " (expected: an object from tensor names to shard file names)");
        }
        java.util.LinkedHashSet<String> files = new java.util.LinkedHashSet<>();
        for (var it = map.fields(); it.hasNext(); ) {
            var e = it.next();
            String f = e.getValue().isTextual() ? e.getValue().asText() : "";
            java.util.Optional<String> rule = e.getValue().isTextual() ? ContainedPaths.invalidBecause(f) : java.util.Optional.of("not a string");
            if (rule.isPresent() || f.contains("\\")) {
                throw new SourceException(where + ": weight_map." + e.getKey() + " is " + e.getValue() + ": "
                        + rule.orElse("it contains '\\'") + " (expected: a shard file name relative to the index, such as "
                        + "model-00001-of-00004.safetensors)");
            }
            files.add(f);
        }
        return List.copyOf(files);
    }

    /** Objects in the backing S3 tier. */
    record S3Source(String bucket, String path) implements Source {

        @Override
        public Plan resolve(TierEngine engine, EngineConfig config, ModelSelection selection) throws Exception {
            TierDefinition backing = config.tiers().getLast();
            String where = backing.description();
            if (!where.startsWith("s3://")) {
                throw new SourceException("SOURCE: s3://" + bucket + "/" + path + " but the backing tier " + backing.name()
                        + " is not S3 (" + where + "); stage a directory or index instead");
            }
            String loc = where.substring(5).split(" ", 2)[0];
            int slash = loc.indexOf('/');
            String tierBucket = loc.substring(0, slash);
            String tierPrefix = loc.substring(slash + 1);
            if (!tierBucket.equals(bucket)) {
                throw new SourceException("SOURCE: bucket '" + bucket + "' (expected: the backing tier's bucket '" + tierBucket
                        + "', s3://" + tierBucket + "/" + tierPrefix + "...)");
            }
            if (!path.startsWith(tierPrefix) && !(path + "/").equals(tierPrefix)) {
                throw new SourceException("SOURCE: s3://" + bucket + "/" + path + " is outside the backing tier's prefix (expected: "
                        + "s3://" + bucket + "/" + tierPrefix + "...)");
            }
            String rel = path.length() >= tierPrefix.length() ? path.substring(tierPrefix.length()) : "";
            try (Tier tier = backing.opener().open()) {
                if (rel.endsWith(".json")) {
                    ObjectKey indexKey = ObjectKey.of(rel);
                    String dir = rel.contains("/") ? rel.substring(0, rel.lastIndexOf('/') + 1) : "";
                    byte[] bytes = readSmall(tier, indexKey, "s3://" + bucket + "/" + path);
                    List<String> shards = shardsOf(bytes, "s3://" + bucket + "/" + path);
                    List<Item> items = new ArrayList<>();
                    if (selection.accepts(rel.substring(dir.length()))) {
                        items.add(new Item(indexKey, bytes.length, null, -1));
                    }
                    List<ObjectKey> keys = shards.stream().filter(selection::accepts).map(f -> ObjectKey.of(dir + f)).toList();
                    long[] sizes = sizes(tier, keys, "named by " + rel);
                    for (int i = 0; i < keys.size(); i++) {
                        items.add(new Item(keys.get(i), sizes[i], null, i));
                    }
                    return new Plan("s3://" + bucket + "/" + path, items, rel, 1 + shards.size() - items.size());
                }
                String prefix = rel.isEmpty() || rel.endsWith("/") ? rel : rel + "/";
                List<ObjectKey> keys = new ArrayList<>();
                ObjectKey after = null;
                while (true) {
                    ListPage page = tier.list(prefix, after, 1000).join();
                    keys.addAll(page.keys());
                    if (page.nextStartAfter().isEmpty()) {
                        break;
                    }
                    after = page.nextStartAfter().get();
                }
                if (keys.isEmpty()) {
                    throw new SourceException("SOURCE: no objects under s3://" + bucket + "/" + tierPrefix + prefix);
                }
                ObjectKey indexKey = ObjectKey.of(prefix + INDEX_NAME);
                // the index's order first (index, then its shards), then the other objects
                java.util.Map<ObjectKey, Integer> positions = new java.util.HashMap<>();
                String indexName = null;
                if (keys.contains(indexKey)) {
                    byte[] bytes = readSmall(tier, indexKey, "s3://" + bucket + "/" + tierPrefix + indexKey);
                    List<String> shards = shardsOf(bytes, "s3://" + bucket + "/" + tierPrefix + indexKey);
                    positions.put(indexKey, -1);
                    for (int i = 0; i < shards.size(); i++) {
                        ObjectKey shard = ObjectKey.of(prefix + shards.get(i));
                        if (!keys.contains(shard)) {
                            throw new SourceException(shard + " (named by " + indexKey + ") is not in the backing tier; nothing was staged");
                        }
                        positions.putIfAbsent(shard, i);
                    }
                    indexName = indexKey.toString();
                }
                List<ObjectKey> chosen = keys.stream()
                        .filter(k -> !selection.indexOnly() || positions.isEmpty() || positions.containsKey(k))
                        .filter(k -> selection.accepts(k.value().substring(prefix.length())))
                        .toList();
                List<Item> items = new ArrayList<>();
                long[] sizes = sizes(tier, chosen, "listed");
                for (int i = 0; i < chosen.size(); i++) {
                    items.add(new Item(chosen.get(i), sizes[i], null, positions.getOrDefault(chosen.get(i), Integer.MAX_VALUE)));
                }
                if (items.isEmpty()) {
                    throw new SourceException("SOURCE: " + selection.describe() + " selects none of the " + keys.size()
                            + " objects under s3://" + bucket + "/" + tierPrefix + prefix);
                }
                return new Plan("s3://" + bucket + "/" + tierPrefix + prefix, items, indexName, keys.size() - items.size());
            }
        }

        /**
         * The sizes of {@code keys}, asked for all at once (the S3 client bounds the requests in
         * flight); from S3Tier.describe (a HEAD), which unlike stat does not read another tool's
         * objects to make their checksums.
         */
        private static long[] sizes(Tier tier, List<ObjectKey> keys, String why) {
            List<CompletableFuture<Optional<Long>>> stats = keys.stream().map(k -> tier instanceof io.thermocline.tier.s3.S3Tier s3
                    ? s3.describe(k).thenApply(d -> d.map(io.thermocline.tier.s3.S3ObjectDescription::sizeInBytes))
                    : tier.stat(k).thenApply(i -> i.map(ObjectInfo::sizeInBytes))).toList();
            long[] out = new long[keys.size()];
            for (int i = 0; i < out.length; i++) {
                Optional<Long> size = stats.get(i).join();
                if (size.isEmpty()) {
                    throw new SourceException(keys.get(i) + " (" + why + ") is not in the backing tier; nothing was staged");
                }
                out[i] = size.get();
            }
            return out;
        }

        private static byte[] readSmall(Tier tier, ObjectKey key, String where) {
            try (ObjectReader r = tier.openReader(key).join()) {
                long size = r.info().sizeInBytes();
                if (size > MAX_INDEX_BYTES) {
                    throw new SourceException(where + ": " + size + " bytes (expected: an index of at most " + MAX_INDEX_BYTES + " bytes)");
                }
                ByteBuffer buf = ByteBuffer.allocate((int) size);
                while (buf.hasRemaining()) {
                    int n = r.read(buf.position(), buf).join();
                    if (n < 0) {
                        break;
                    }
                }
                return buf.array();
            } catch (java.util.concurrent.CompletionException e) {
                Throwable c = TierException.unwrap(e);
                if (c instanceof io.thermocline.tier.ObjectNotFoundException) {
                    throw new SourceException("SOURCE: " + where + " does not exist (" + c.getMessage() + ")");
                }
                throw e;
            }
        }
    }

    /** Local files: a directory, or an index file and its directory. */
    record LocalSource(Path dir, Path index, String keyPrefix) implements Source {

        @Override
        public Plan resolve(TierEngine engine, EngineConfig config, ModelSelection selection) throws Exception {
            String prefix = keyPrefix != null ? keyPrefix : dir.getFileName() + "/";
            if (!prefix.isEmpty() && !prefix.endsWith("/")) {
                prefix = prefix + "/";
            }
            Path idx = index != null ? index : selection.indexOnly() ? dir.resolve(INDEX_NAME) : null;
            if (idx != null && Files.isRegularFile(idx)) {
                if (Files.size(idx) > MAX_INDEX_BYTES) {
                    throw new SourceException(idx + ": " + Files.size(idx) + " bytes (expected: an index of at most " + MAX_INDEX_BYTES + " bytes)");
                }
                List<String> shards = shardsOf(Files.readAllBytes(idx), idx.toString());
                List<Item> items = new ArrayList<>();
                if (selection.accepts(idx.getFileName().toString())) {
                    items.add(new Item(ObjectKey.of(prefix + idx.getFileName()), Files.size(idx), idx, -1));
                }
                for (int i = 0; i < shards.size(); i++) {
                    Path f = ContainedPaths.resolve(dir, shards.get(i), idx + ": shard");
                    if (!Files.isRegularFile(f)) {
                        throw new SourceException(idx + " names " + shards.get(i) + ", but " + f + " does not exist (expected: "
                                + "every shard of the weight_map beside the index); nothing was staged");
                    }
                    if (selection.accepts(shards.get(i))) {
                        items.add(new Item(ObjectKey.of(prefix + shards.get(i)), Files.size(f), f, i));
                    }
                }
                long others;
                try (var files = Files.walk(dir)) {
                    others = files.filter(Files::isRegularFile).count() - items.size();
                }
                return new Plan(index != null ? index.toString() : dir.toString(), items, idx.toString(), (int) Math.max(0, others));
            }
            List<Item> items = new ArrayList<>();
            java.util.Map<String, Integer> positions = new java.util.HashMap<>();
            Path beside = dir.resolve(INDEX_NAME);
            if (Files.isRegularFile(beside) && Files.size(beside) <= MAX_INDEX_BYTES) {
                positions.put(INDEX_NAME, -1);
                List<String> shards = shardsOf(Files.readAllBytes(beside), beside.toString());
                for (int i = 0; i < shards.size(); i++) {
                    positions.putIfAbsent(shards.get(i), i);
                }
            }
            int all = 0;
            try (var files = Files.walk(dir)) {
                for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                    String rel = dir.relativize(f).toString().replace('\\', '/');
                    ContainedPaths.resolve(dir, rel, "file name"); // a key that maps back inside a directory
                    all++;
                    if (selection.accepts(rel)) {
                        items.add(new Item(ObjectKey.of(prefix + rel), Files.size(f), f, positions.getOrDefault(rel, Integer.MAX_VALUE)));
                    }
                }
            }
            if (all == 0) {
                throw new SourceException("SOURCE: " + dir + " holds no files");
            }
            if (items.isEmpty()) {
                throw new SourceException("SOURCE: " + selection.describe() + " selects none of the " + all + " files of " + dir);
            }
            return new Plan(dir.toString(), items, positions.isEmpty() ? null : beside.toString(), all - items.size());
        }
    }
}
