package io.thermocline.cli;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.TierUsage;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.local.LocalTier;
import io.thermocline.tier.local.LocalTierConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The end-to-end demo on embedded defaults. Today it exercises the LOCAL tier: it writes a
 * synthetic sharded model, publishes each shard atomically with its checksums, reads every shard
 * back verified, and prints a placement table with timings.
 */
@Command(name = "demo",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        description = {
            "Writes a synthetic sharded model to a local tier, publishing each shard atomically with its "
            + "CRC32C checksums, reads every shard back verified, and prints a placement table with timings. "
            + "Needs no configuration and starts no servers.",
            ""},
        footer = {
            "",
            "Examples:",
            "  thermocline demo",
            "  thermocline demo --shards 8 --shard-size 128MiB --direct-io",
            "  thermocline demo --data-dir /mnt/nvme/thermocline --keep"})
final class DemoCommand implements Callable<Integer> {

    private static final int BUFFER_SIZE = 8 << 20;

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Option(names = "--data-dir", paramLabel = "DIR",
            description = "Where the local tier lives (default: a new temporary directory, removed afterwards).")
    private Path dataDir;

    @Option(names = "--shards", defaultValue = "4", paramLabel = "N",
            description = "Number of model shards (default: ${DEFAULT-VALUE}).")
    private int shards;

    @Option(names = "--shard-size", defaultValue = "64MiB", paramLabel = "SIZE", converter = ByteSizeConverter.class,
            description = "Size of each shard, e.g. 64MiB, 1GiB (default: ${DEFAULT-VALUE}).")
    private long shardSize;

    @Option(names = "--direct-io", description = "Read and write with O_DIRECT, bypassing the page cache.")
    private boolean directIo;

    @Option(names = "--keep", description = "Keep the data directory afterwards.")
    private boolean keep;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (shards < 1 || shards > 10_000) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--shards: " + shards + " (expected: 1..10000)");
        }
        if (shardSize < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--shard-size: " + shardSize + " (expected: >= 0)");
        }
        boolean temporary = dataDir == null;
        Path root = temporary ? Files.createTempDirectory("thermocline-demo-") : dataDir;
        out.printf("Local tier at %s%s%n", root, directIo ? " (O_DIRECT)" : "");
        List<Row> rows = new ArrayList<>();
        try (LocalTier tier = LocalTier.open(LocalTierConfig.builder(root.resolve("local")).directIo(directIo).build())) {
            ByteBuffer buffer = java.lang.foreign.Arena.ofAuto().allocate(BUFFER_SIZE, 4096).asByteBuffer();
            for (int i = 0; i < shards; i++) {
                ObjectKey key = ObjectKey.of(String.format(Locale.ROOT, "demo-model/model-%05d-of-%05d.safetensors", i + 1, shards));
                long t0 = System.nanoTime();
                ObjectInfo info;
                try (ObjectWriter writer = tier.create(WriteRequest.of(key, shardSize)).join()) {
                    for (long pos = 0; pos < shardSize; pos += BUFFER_SIZE) {
                        int n = (int) Math.min(BUFFER_SIZE, shardSize - pos);
                        fill(buffer.clear().limit(n), i, pos);
                        writer.write(pos, buffer).join();
                        progress(out, "write", key, pos + n, shardSize);
                    }
                    info = writer.commit().join();
                }
                long t1 = System.nanoTime();
                try (ObjectReader reader = tier.openReader(key).join()) {
                    for (long pos = 0; pos < shardSize; pos += BUFFER_SIZE) {
                        int n = reader.read(pos, buffer.clear()).join();
                        progress(out, "verify", key, pos + n, shardSize);
                    }
                }
                long t2 = System.nanoTime();
                if (TERMINAL) {
                    out.print("\r\033[K");
                }
                rows.add(new Row(key, info, t1 - t0, t2 - t1));
            }
            printTable(out, rows, tier.name(), tier.usage());
        } finally {
            if (temporary && !keep) {
                deleteTree(root);
            } else {
                out.printf("Data kept in %s%n", root);
            }
        }
        return 0;
    }

    private static void fill(ByteBuffer b, int shard, long position) {
        long x = shard * 0x9E3779B97F4A7C15L + position;
        while (b.remaining() >= 8) {
            x += 0x9E3779B97F4A7C15L;
            long z = (x ^ (x >>> 30)) * 0xBF58476D1CE4E5B9L;
            b.putLong(z ^ (z >>> 27));
        }
        while (b.hasRemaining()) {
            b.put((byte) x);
        }
        b.flip();
    }

    private static final boolean TERMINAL = System.console() != null && System.console().isTerminal();

    /** A redrawn bar on a terminal; elsewhere one plain line when a step finishes. */
    private static void progress(PrintWriter out, String what, ObjectKey key, long done, long total) {
        if (!TERMINAL) {
            if (done == total) {
                out.printf("%-6s %-45s %s done%n", what, key, ByteSizeConverter.format(total));
                out.flush();
            }
            return;
        }
        int width = 30;
        int filled = total == 0 ? width : (int) (width * done / total);
        out.printf("\r%-6s %-45s [%s%s] %s / %s", what, key, "#".repeat(filled), " ".repeat(width - filled),
                ByteSizeConverter.format(done), ByteSizeConverter.format(total));
        out.flush();
    }

    private static void printTable(PrintWriter out, List<Row> rows, String tierName, TierUsage usage) {
        out.printf("%-45s %-6s %10s %12s %12s %12s%n", "object", "tier", "size", "crc32c", "write MB/s", "read MB/s");
        for (Row r : rows) {
            out.printf("%-45s %-6s %10s %12s %12.0f %12.0f%n", r.key, tierName, ByteSizeConverter.format(r.info.sizeInBytes()),
                    Crc32c.hex(r.info.crc32c()), mbps(r.info.sizeInBytes(), r.writeNanos), mbps(r.info.sizeInBytes(), r.readNanos));
        }
        out.printf("tier %s: %d objects, %s used of %s%n", tierName, usage.objectCount(),
                ByteSizeConverter.format(usage.usedInBytes()), ByteSizeConverter.format(usage.capacityInBytes()));
    }

    private static double mbps(long bytes, long nanos) {
        return nanos == 0 ? 0 : bytes / 1e6 / (nanos / 1e9);
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private record Row(ObjectKey key, ObjectInfo info, long writeNanos, long readNanos) {
    }
}
