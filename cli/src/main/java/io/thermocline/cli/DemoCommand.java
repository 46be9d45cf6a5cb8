package io.thermocline.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.thermocline.engine.EngineReader;
import io.thermocline.engine.ObjectStatus;
import io.thermocline.engine.PutOptions;
import io.thermocline.engine.StageHandle;
import io.thermocline.engine.TierEngine;
import io.thermocline.engine.TierStatus;
import io.thermocline.placement.Rule;
import io.thermocline.placement.WriteMode;
import io.thermocline.region.SlotState;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The end-to-end demo on embedded defaults: the engine over local files, a Java NVMe/TCP namespace
 * and an embedded S3 server, all in this process on 127.0.0.1.
 *
 * <p>The story, in order: a synthetic safetensors model lands in S3; it is prestaged to the fabric
 * tier; a serving-like loader reads it (header, then every tensor by range), and more traffic on
 * some shards heats them until the planner promotes them to local; a checkpoint is written back to
 * local, persisted to S3 by the engine in the background and then demoted (its local copy freed);
 * it is restored from S3. Every byte read is checked against the object's CRC32C. The demo ends
 * with where each object is, the tiers' usage, and the throughput of each step on each tier.
 *
 * <p>Heat is counted per read call. A full load of a shard takes about {@code C} calls (one per
 * window of {@link #WINDOW_BYTES}, plus the header's); the model's rule promotes at {@code 2 C}, and
 * hot shards get {@code 3 C} more small reads, so hot shards cross the line and the others do not.
 */
@Command(name = "demo",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        description = {
            "Shows the engine at work on embedded servers: starts an S3-compatible server and a Java NVMe/TCP "
            + "target on 127.0.0.1 (the namespace is a file in the data directory), puts a synthetic "
            + "safetensors model in S3, prestages it to the fabric tier, loads it like a model server, heats some "
            + "shards until they are promoted to local, writes a checkpoint back to local that the engine "
            + "persists to S3 and demotes, restores it, and prints where everything is with timings per tier. "
            + "Needs no configuration; stops everything it started.",
            ""},
        footer = {
            "",
            "Examples:",
            "  thermocline demo                          a 64 MiB model in 4 shards, in a temporary directory",
            "  thermocline demo --size 1GiB --shards 8   a bigger model",
            "  thermocline demo --data-dir /mnt/nvme/thermocline-demo --keep   keep the tiers' files afterwards",
            "  thermocline demo --json 2>/dev/null | jq '.objects[] | {key, tiers}'   the final placement, as JSON"})
final class DemoCommand implements Callable<Integer> {

    static final String MODEL_PREFIX = "demo-model/";
    static final String CHECKPOINT_PREFIX = "demo-checkpoints/";
    /** The loader reads tensors in windows of this size, as a server filling device memory would. */
    static final int WINDOW_BYTES = 1 << 20;
    /** Size of each read of the serving traffic on hot shards. */
    private static final int TRAFFIC_READ_BYTES = 64 << 10;
    private static final Duration WAIT = Duration.ofSeconds(120);

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Option(names = "--data-dir", paramLabel = "DIR",
            description = "Where the tiers, the S3 server's buckets and the NVMe/TCP namespace file live "
                    + "(default: a new temporary directory, removed afterwards).")
    private Path dataDir;

    @Option(names = "--size", defaultValue = "64MiB", paramLabel = "SIZE", converter = ByteSizeConverter.class,
            description = "Size of the synthetic model, e.g. 64MiB, 2GiB (default: ${DEFAULT-VALUE}).")
    private long size;

    @Option(names = "--shards", defaultValue = "4", paramLabel = "N",
            description = "Number of safetensors shards (default: ${DEFAULT-VALUE}).")
    private int shards;

    @Option(names = "--keep", description = "Keep the data directory afterwards.")
    private boolean keep;

    @Option(names = "--json", description = "Print the final placement, tiers and timings as one JSON object on stdout; "
            + "the steps and progress go to stderr.")
    private boolean json;

    /** The narrative: stdout, or stderr with --json. */
    private PrintWriter out;
    private ObjectNode result;
    private final List<Timing> timings = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        out = json ? spec.commandLine().getErr() : spec.commandLine().getOut();
        if (shards < 1 || shards > 1000) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--shards: " + shards + " (expected: 1..1000)");
        }
        long minimum = (long) shards * DemoModel.TENSORS_PER_SHARD * DemoModel.ROW_BYTES;
        if (size < minimum || size > (1L << 40)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--size: " + ByteSizeConverter.format(size)
                    + " (expected: " + ByteSizeConverter.format(minimum) + " to 1TiB for " + shards + " shards)");
        }
        boolean temporary = dataDir == null;
        Path root = temporary ? Files.createTempDirectory("thermocline-demo-") : dataDir.toAbsolutePath();
        Files.createDirectories(root);
        try {
            run(root);
        } finally {
            if (temporary && !keep) {
                deleteTree(root);
            } else {
                out.printf("Data kept in %s%n", root);
                out.flush();
            }
        }
        if (json) {
            result.put("data_dir", root.toString());
            result.put("kept", !temporary || keep);
            PrintWriter stdout = spec.commandLine().getOut();
            stdout.println(result.toString());
            stdout.flush();
        }
        return 0;
    }

    private void run(Path root) throws Exception {
        DemoModel model = DemoModel.generate(size, shards);
        List<DemoModel.Shard> all = model.shards();
        int hotCount = Math.max(1, shards / 2);
        List<DemoModel.Shard> hot = all.subList(0, hotCount);
        long shardBytes = all.getFirst().sizeInBytes();
        long callsPerLoad = (shardBytes + WINDOW_BYTES - 1) / WINDOW_BYTES + DemoModel.TENSORS_PER_SHARD + 2;
        DemoModel.Shard checkpoint = DemoModel.single("model.safetensors", 1_000_003, Math.max(1 << 20, model.sizeInBytes() / 4));
        String checkpointKey = CHECKPOINT_PREFIX + "step-000100/" + checkpoint.fileName();

        List<Rule> rules = List.of(
                Rule.builder(MODEL_PREFIX + "**").minHeatToPromote(2.0 * callsPerLoad).build(),
                // checkpoints are written back to local, and belong in S3: once persisted and idle, the planner frees the local copy
                Rule.builder(CHECKPOINT_PREFIX + "**").writeMode(WriteMode.WRITE_BACK).preferredTiers(List.of("s3"))
                        .maxIdleBeforeDemotion(Duration.ofMillis(500)).minHeatToPromote(Double.MAX_VALUE).build());
        long hotBytes = hot.stream().mapToLong(DemoModel.Shard::sizeInBytes).sum();
        long localBytes = 2 * (hotBytes + checkpoint.sizeInBytes()) + (64L << 20);
        long fabricBytes = 2 * model.sizeInBytes() + (64L << 20);

        out.printf("Thermocline demo in %s%n", root);
        try (DemoSandbox sandbox = DemoSandbox.start(root, localBytes, fabricBytes, rules)) {
            TierEngine engine = sandbox.engine();
            out.printf("  s3      embedded S3 server at %s, bucket %s%n", sandbox.s3().endpoint(), DemoSandbox.BUCKET);
            out.printf("  fabric  Java NVMe/TCP target at 127.0.0.1:%d, %s namespace 1: %s file %s%n", sandbox.targetAddress().getPort(),
                    DemoSandbox.NQN, ByteSizeConverter.format(sandbox.namespaceBytes()), root.resolve("fabric-namespace.img"));
            out.printf("  local   files under %s%n", root.resolve("local"));
            out.printf("Model: %d safetensors shards of %s, %d BF16 tensors each, and model.safetensors.index.json%n",
                    shards, ByteSizeConverter.format(shardBytes), DemoModel.TENSORS_PER_SHARD);

            step("1. Put the model in S3");
            long t0 = System.nanoTime();
            long[] written = new long[1];
            Bar bar = new Bar("put s3", model.sizeInBytes(), true);
            for (DemoModel.Shard s : all) {
                engine.put(ObjectKey.of(MODEL_PREFIX + s.fileName()), counting(s.channel(), written, bar), s.sizeInBytes(),
                        PutOptions.defaults().withTier("s3").withContentType("application/octet-stream")).join();
            }
            byte[] index = model.indexJson();
            engine.put(ObjectKey.of(MODEL_PREFIX + "model.safetensors.index.json"),
                    Channels.newChannel(new java.io.ByteArrayInputStream(index)), index.length,
                    PutOptions.defaults().withTier("s3").withContentType("application/json")).join();
            bar.finish(model.sizeInBytes());
            timings.add(new Timing("put model (write-through)", "s3", model.sizeInBytes(), System.nanoTime() - t0));

            step("2. Prestage the model to the fabric tier");
            t0 = System.nanoTime();
            StageHandle h = engine.stage(MODEL_PREFIX, "fabric", Duration.ZERO);
            StageHandle.Result staged = follow(h);
            if (!staged.complete()) {
                throw new IllegalStateException("prestage to fabric failed for " + staged.failed());
            }
            timings.add(new Timing("prestage s3 -> fabric", "fabric", staged.bytes(), System.nanoTime() - t0));

            step("3. Load the model like a model server (index, headers, every tensor by range)");
            byte[] indexRead = readAll(engine, MODEL_PREFIX + "model.safetensors.index.json");
            Map<String, List<String>> byFile = DemoModel.parseIndex(indexRead);
            load(engine, all, byFile, "load model");

            step("4. Serving traffic on " + hotCount + " of " + shards + " shards; the planner promotes them to local");
            t0 = System.nanoTime();
            traffic(engine, hot, 3 * callsPerLoad);
            Bar promoted = new Bar("promote", hotCount, false);
            waitFor("promotion of the hot shards to local", () -> {
                long n = hot.stream().filter(s -> tiersOf(engine, MODEL_PREFIX + s.fileName()).contains("local")).count();
                promoted.update(n);
                return n == hotCount;
            });
            promoted.finish(hotCount);
            timings.add(new Timing("promotion fabric -> local", "local", hotBytes, System.nanoTime() - t0));
            for (DemoModel.Shard s : all.subList(hotCount, all.size())) {
                List<String> tiers = tiersOf(engine, MODEL_PREFIX + s.fileName());
                if (tiers.contains("local")) {
                    throw new IllegalStateException(s.fileName() + " was promoted without traffic (on " + tiers + ")");
                }
            }
            load(engine, hot, byFile, "load hot shards");

            step("5. Write a checkpoint back to local; the engine persists it to S3, then demotes it");
            t0 = System.nanoTime();
            long[] ck = new long[1];
            Bar put = new Bar("put local", checkpoint.sizeInBytes(), true);
            ObjectInfo info = engine.put(ObjectKey.of(checkpointKey), counting(checkpoint.channel(), ck, put), checkpoint.sizeInBytes(),
                    PutOptions.defaults().withTier("local")).join();
            put.finish(checkpoint.sizeInBytes());
            long putNanos = System.nanoTime() - t0;
            timings.add(new Timing("checkpoint put (write-back)", "local", info.sizeInBytes(), putNanos));
            out.printf("  put returned after %.0f ms; the checkpoint is on %s only (state %s) until its upload commits%n",
                    putNanos / 1e6, tiersOf(engine, checkpointKey), state(engine, checkpointKey));
            t0 = System.nanoTime();
            Bar persist = new Bar("persist", 1, false);
            waitFor("the checkpoint's upload to S3", () -> {
                Optional<ObjectStatus> s = engine.stat(ObjectKey.of(checkpointKey)).join();
                return s.isPresent() && s.get().state() == SlotState.READY && s.get().tiers().contains("s3");
            });
            persist.finish(1);
            timings.add(new Timing("persist local -> s3", "s3", info.sizeInBytes(), System.nanoTime() - t0));
            Bar demote = new Bar("demote", 1, false);
            waitFor("the checkpoint's demotion to S3", () -> tiersOf(engine, checkpointKey).equals(List.of("s3")));
            demote.finish(1);

            step("6. Restore the checkpoint from S3");
            load(engine, List.of(checkpoint), Map.of(checkpoint.fileName(), List.of()), "restore checkpoint", CHECKPOINT_PREFIX + "step-000100/");

            step("Placement");
            placement(engine);
            step("Timings per tier");
            printTimings();
        }
    }

    // ------------------------------------------------------------------ steps

    /** Loads each shard: header, then every tensor in windows into off-heap memory, checked against the object's CRC32C. */
    private void load(TierEngine engine, List<DemoModel.Shard> shardList, Map<String, List<String>> byFile, String what) throws IOException {
        load(engine, shardList, byFile, what, MODEL_PREFIX);
    }

    private void load(TierEngine engine, List<DemoModel.Shard> shardList, Map<String, List<String>> byFile, String what, String prefix)
            throws IOException {
        long total = shardList.stream().mapToLong(DemoModel.Shard::sizeInBytes).sum();
        Map<String, long[]> perTier = new LinkedHashMap<>(); // tier -> bytes, nanos
        Bar bar = new Bar(what, total, true);
        long done = 0;
        try (Arena arena = Arena.ofShared()) { // shared: tiers fill it from their own threads
            ByteBuffer window = arena.allocate(WINDOW_BYTES, 4096).asByteBuffer();
            for (DemoModel.Shard s : shardList) {
                if (!byFile.containsKey(s.fileName())) {
                    throw new IOException("the index names no tensor in " + s.fileName());
                }
                long t0 = System.nanoTime();
                CRC32C crc = new CRC32C();
                int[] calls = new int[1];
                String tier;
                try (EngineReader r = engine.read(ObjectKey.of(prefix + s.fileName())).join()) {
                    tier = r.tier();
                    long[] dataStart = new long[1];
                    List<DemoModel.Tensor> tensors = DemoModel.readHeader(r, dataStart, calls, crc);
                    long expectedEnd = 0;
                    for (DemoModel.Tensor t : tensors) {
                        if (t.begin() != expectedEnd) {
                            throw new IOException(s.fileName() + ": tensor " + t.name() + " starts at " + t.begin()
                                    + " (expected: " + expectedEnd + ", right after the previous one)");
                        }
                        for (long pos = t.begin(); pos < t.end(); pos += WINDOW_BYTES) {
                            int n = (int) Math.min(WINDOW_BYTES, t.end() - pos);
                            DemoModel.readFully(r, dataStart[0] + pos, window.clear().limit(n), calls);
                            crc.update(window.flip());
                            done += n;
                            bar.update(done);
                        }
                        expectedEnd = t.end();
                    }
                    if ((int) crc.getValue() != r.info().crc32c()) {
                        throw new IOException(s.fileName() + ": CRC32C of the bytes read is " + Integer.toHexString((int) crc.getValue())
                                + " (expected: " + Integer.toHexString(r.info().crc32c()) + ")");
                    }
                }
                long[] acc = perTier.computeIfAbsent(tier, k -> new long[2]);
                acc[0] += s.sizeInBytes();
                acc[1] += System.nanoTime() - t0;
            }
        }
        bar.finish(total);
        for (Map.Entry<String, long[]> e : perTier.entrySet()) {
            timings.add(new Timing(what, e.getKey(), e.getValue()[0], e.getValue()[1]));
        }
    }

    /** Small random reads on each shard of {@code hot}, {@code reads} per shard. */
    private void traffic(TierEngine engine, List<DemoModel.Shard> hot, long reads) throws IOException {
        Bar bar = new Bar("serve", reads * hot.size(), false);
        SplittableRandom random = new SplittableRandom(42);
        ByteBuffer buf = ByteBuffer.allocateDirect(TRAFFIC_READ_BYTES);
        long done = 0;
        for (DemoModel.Shard s : hot) {
            try (EngineReader r = engine.read(ObjectKey.of(MODEL_PREFIX + s.fileName())).join()) {
                long span = Math.max(1, r.info().sizeInBytes() - TRAFFIC_READ_BYTES);
                int[] calls = new int[1];
                for (long i = 0; i < reads; i++) {
                    long at = random.nextLong(span);
                    int n = (int) Math.min(TRAFFIC_READ_BYTES, r.info().sizeInBytes() - at);
                    DemoModel.readFully(r, at, buf.clear().limit(n), calls);
                    bar.update(++done);
                }
            }
        }
        bar.finish(reads * hot.size());
    }

    private StageHandle.Result follow(StageHandle h) throws Exception {
        Bar bar = null;
        while (!h.future().isDone()) {
            StageHandle.Progress p = h.progress();
            if (bar == null && p.bytesTotal() > 0) {
                bar = new Bar("stage " + h.tier(), p.bytesTotal(), true);
            }
            if (bar != null) {
                bar.total = Math.max(bar.total, p.bytesTotal());
                bar.update(p.bytesDone());
            }
            Thread.sleep(100);
        }
        StageHandle.Result r = h.future().get();
        if (bar == null) {
            bar = new Bar("stage " + h.tier(), r.bytes(), true);
        }
        bar.finish(r.bytes());
        out.printf("  %d objects staged, %d already there, %d failed%n", r.staged().size(), r.already().size(), r.failed().size());
        return r;
    }

    private void waitFor(String what, java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("timed out after " + WAIT.toSeconds() + " s waiting for " + what);
            }
            Thread.sleep(50);
        }
    }

    private static byte[] readAll(TierEngine engine, String key) throws IOException {
        try (EngineReader r = engine.read(ObjectKey.of(key)).join()) {
            ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(r.info().sizeInBytes()));
            DemoModel.readFully(r, 0, b, new int[1]);
            return b.array();
        }
    }

    private static List<String> tiersOf(TierEngine engine, String key) {
        return engine.stat(ObjectKey.of(key)).join().map(ObjectStatus::tiers).orElse(List.of());
    }

    private static String state(TierEngine engine, String key) {
        return engine.stat(ObjectKey.of(key)).join().map(s -> s.state().toString()).orElse("unknown");
    }

    // ------------------------------------------------------------------ output

    private void step(String title) {
        out.printf("%n%s%n", title);
        out.flush();
    }

    private void placement(TierEngine engine) {
        // read once, so that the text and the JSON show the same moment
        List<ObjectStatus> objects = engine.list("");
        List<TierStatus> tiers = engine.tiers();
        if (json) {
            // the shapes of `ls --json` and `tiers --json`
            result = JSON.createObjectNode();
            result.set("objects", EngineCommands.jsonArray(objects));
            result.set("tiers", EngineCommands.Tiers.jsonTiers(tiers));
        }
        out.printf("%-58s %10s %-6s %-20s %8s%n", "object", "size", "state", "tiers", "reads");
        for (ObjectStatus s : objects) {
            out.printf("%-58s %10s %-6s %-20s %8d%n", s.key(), ByteSizeConverter.format(s.sizeInBytes()), s.state(),
                    String.join(",", s.tiers()), s.reads());
        }
        out.println();
        out.printf("%-7s %-7s %10s %10s %8s  %s%n", "tier", "class", "capacity", "used", "objects", "where");
        for (TierStatus t : tiers) {
            out.printf("%-7s %-7s %10s %10s %8d  %s%n", t.name(), t.tierClass(), ByteSizeConverter.format(t.capacityBytes()),
                    t.usedBytes() < 0 ? "-" : ByteSizeConverter.format(t.usedBytes()), t.objectCount(), t.description());
        }
    }

    private void printTimings() {
        if (json) {
            ArrayNode list = result.putArray("timings");
            for (Timing t : timings) {
                ObjectNode o = list.addObject();
                o.put("step", t.step);
                o.put("tier", t.tier);
                o.put("bytes", t.bytes);
                o.put("seconds", t.nanos / 1e9);
                o.put("mib_per_second", t.nanos == 0 ? 0 : t.bytes / (double) (1 << 20) / (t.nanos / 1e9));
            }
        }
        out.printf("%-30s %-7s %10s %9s %10s%n", "step", "tier", "bytes", "seconds", "MiB/s");
        for (Timing t : timings) {
            out.printf(Locale.ROOT, "%-30s %-7s %10s %9.3f %10.0f%n", t.step, t.tier, ByteSizeConverter.format(t.bytes),
                    t.nanos / 1e9, t.nanos == 0 ? 0 : t.bytes / (double) (1 << 20) / (t.nanos / 1e9));
        }
        out.flush();
    }

    private java.nio.channels.ReadableByteChannel counting(java.nio.channels.ReadableByteChannel in, long[] count, Bar bar) {
        return new java.nio.channels.ReadableByteChannel() {
            @Override
            public int read(ByteBuffer dst) throws IOException {
                int n = in.read(dst);
                if (n > 0) {
                    count[0] += n;
                    bar.update(count[0]);
                }
                return n;
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

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private record Timing(String step, String tier, long bytes, long nanos) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final boolean TERMINAL = System.console() != null && System.console().isTerminal();

    /**
     * A progress bar redrawn in place on a terminal (at most ten times a second); elsewhere one
     * plain line when the step finishes, so logs stay readable.
     */
    private final class Bar {
        private final String label;
        private final boolean bytes;
        private final long started = System.nanoTime();
        long total;
        private long lastDraw;

        Bar(String label, long total, boolean bytes) {
            this.label = label;
            this.total = total;
            this.bytes = bytes;
        }

        void update(long done) {
            if (!TERMINAL) {
                return;
            }
            long now = System.nanoTime();
            if (now - lastDraw < 100_000_000L) {
                return;
            }
            lastDraw = now;
            draw(done, now);
        }

        private void draw(long done, long now) {
            int width = 30;
            int filled = total <= 0 ? width : (int) Math.min(width, width * done / total);
            double seconds = Math.max(1e-9, (now - started) / 1e9);
            String rate = bytes ? String.format(Locale.ROOT, "%.0f MiB/s", done / (double) (1 << 20) / seconds) : "";
            out.printf("\r  %-18s [%s%s] %s / %s %s\033[K", label, "#".repeat(filled), " ".repeat(width - filled),
                    amount(done), amount(total), rate);
            out.flush();
        }

        void finish(long done) {
            long now = System.nanoTime();
            if (TERMINAL) {
                draw(done, now);
                out.println();
            }
            double seconds = (now - started) / 1e9;
            out.printf(Locale.ROOT, "  %-18s %s done in %.2f s%s%n", label, amount(done), seconds,
                    bytes && seconds > 0 ? String.format(Locale.ROOT, " (%.0f MiB/s)", done / (double) (1 << 20) / seconds) : "");
            out.flush();
        }

        private String amount(long n) {
            return bytes ? ByteSizeConverter.format(n) : Long.toString(n);
        }
    }
}
