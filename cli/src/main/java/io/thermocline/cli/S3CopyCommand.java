package io.thermocline.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ListPage;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.s3.S3Tier;
import io.thermocline.tier.s3.S3TierConfig;
import io.thermocline.tier.support.ContainedPaths;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;

/** {@code thermocline s3 cp}: verified downloads and uploads of a whole prefix. */
@Command(name = "cp",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        description = {
            "Copies every object under an S3 prefix into a directory (parallel ranged GETs, each chunk "
            + "checked against its CRC32C; a file appears only complete and verified), or every file of a "
            + "directory to an S3 prefix (multipart, with Thermocline's checksums). Works with AWS and any "
            + "S3-compatible endpoint; credentials come from the SDK's usual chain unless given.",
            ""},
        footer = {
            "",
            "Examples:",
            "  thermocline s3 cp s3://models/llama-3-8b/ /mnt/nvme/llama-3-8b --parallel 16",
            "  thermocline s3 cp ./llama-3-8b s3://models/llama-3-8b/ --endpoint http://127.0.0.1:9000",
            "  thermocline s3 cp s3://models/llama-3-8b/ /mnt/nvme/llama-3-8b --json | jq '.objects[] | {key, crc32c}'",
            "",
            "Exit codes: 0 all copied, 1 some failed, 2 usage error, 3 the endpoint or bucket is unavailable."})
final class S3CopyCommand implements Callable<Integer> {

    private static final ObjectMapper JSON = new ObjectMapper();

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "SOURCE", description = "s3://BUCKET/PREFIX or a directory.")
    private String source;

    @Parameters(index = "1", paramLabel = "DEST", description = "A directory, or s3://BUCKET/PREFIX.")
    private String destination;

    @Option(names = "--json", description = "Print the result as one JSON object: every object (key, file, size, CRC32C, "
            + "or the reason it failed) and the totals.")
    private boolean json;

    /** Per object, for --json. */
    private final List<ObjectNode> results = new ArrayList<>();

    @Option(names = "--endpoint", paramLabel = "URL", description = "Endpoint of an S3-compatible server (default: AWS).")
    private URI endpoint;

    @Option(names = "--region", defaultValue = "us-east-1", paramLabel = "REGION", description = "Signing region (default: ${DEFAULT-VALUE}).")
    private String region;

    /** Objects downloaded at once. */
    private static final int OBJECTS_IN_FLIGHT = 2;

    @Option(names = "--parallel", defaultValue = "16", paramLabel = "N",
            description = "Ranged GETs (download) or part uploads (upload) in flight (default: ${DEFAULT-VALUE}).")
    private int parallel;

    @Option(names = "--range-size", defaultValue = "16MiB", paramLabel = "SIZE", converter = ByteSizeConverter.class,
            description = "Bytes per ranged GET (default: ${DEFAULT-VALUE}).")
    private long rangeSize;

    @Option(names = "--access-key", paramLabel = "KEY", description = "Access key (default: the SDK's credential chain).")
    private String accessKey;

    @Option(names = "--secret-key", paramLabel = "SECRET", description = "Secret key, with --access-key.")
    private String secretKey;

    private record S3Location(String bucket, String prefix) {
        static S3Location parse(String text) {
            String rest = text.substring("s3://".length());
            int slash = rest.indexOf('/');
            return slash < 0 ? new S3Location(rest, "") : new S3Location(rest.substring(0, slash), rest.substring(slash + 1));
        }
    }

    @Override
    public Integer call() throws Exception {
        if (parallel < 1 || parallel > 1024) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--parallel: " + parallel + " (expected: 1..1024)");
        }
        if ((accessKey == null) != (secretKey == null)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--access-key and --secret-key: give both or neither");
        }
        boolean download = source.startsWith("s3://");
        if (download == destination.startsWith("s3://")) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "SOURCE and DEST: '" + source + "' and '" + destination + "' (expected: one s3://BUCKET/PREFIX and one directory)");
        }
        S3Location where = S3Location.parse(download ? source : destination);
        S3TierConfig.Builder config = S3TierConfig.builder(where.bucket()).endpoint(endpoint).region(region)
                .maxConcurrency(Math.max(parallel, 2) * 2).trackUsage(false);
        if (accessKey != null) {
            config.credentials(StaticCredentialsProvider.create(AwsBasicCredentials.create(accessKey, secretKey)));
        }
        try (S3Tier tier = S3Tier.open(config.build())) {
            return download ? download(tier, where, Path.of(destination)) : upload(tier, Path.of(source), where);
        } catch (TierUnavailableException e) {
            spec.commandLine().getErr().println("thermocline: " + e.getMessage());
            return 3;
        }
    }

    private int download(S3Tier tier, S3Location from, Path dir) throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        // the source is a directory: s3://b/model means the keys under model/, not model-instruct/...
        String under = from.prefix().isEmpty() || from.prefix().endsWith("/") ? from.prefix() : from.prefix() + "/";
        List<ObjectKey> keys = new ArrayList<>();
        ObjectKey after = null;
        do {
            ListPage page = tier.list(under, after, 1000).join();
            keys.addAll(page.keys());
            after = page.nextStartAfter().orElse(null);
        } while (after != null);
        if (keys.isEmpty()) {
            spec.commandLine().getErr().println("thermocline: nothing under s3://" + from.bucket() + "/" + under);
            return 1;
        }
        long t0 = System.nanoTime();
        AtomicLong bytes = new AtomicLong();
        AtomicInteger failures = new AtomicInteger();
        // Two objects at a time: one object's tail (last ranges, fsync, rename) overlaps the next one's first GETs.
        Semaphore objects = new Semaphore(OBJECTS_IN_FLIGHT);
        List<CompletableFuture<Void>> all = new ArrayList<>();
        int markers = 0;
        for (ObjectKey key : keys) {
            String relative = key.value().substring(under.length());
            if (relative.isEmpty() || relative.endsWith("/")) {
                markers++; // a "folder" marker (a zero-byte object named like a directory) is no file
                continue;
            }
            Path target;
            try {
                // no key may land outside the destination: not "/x", "a/../..", "a//b", nor a NUL
                target = ContainedPaths.resolve(dir, relative, "object key " + key + ", relative name");
            } catch (InvalidArgumentException e) {
                synchronized (out) {
                    failures.incrementAndGet();
                    spec.commandLine().getErr().println("thermocline: " + key + ": " + e.getMessage());
                    result(key.value(), dir, -1, 0, e.getMessage());
                }
                continue;
            }
            objects.acquire();
            all.add(tier.download(key, target, parallel, rangeSize, bytes::addAndGet).handle((info, t) -> {
                synchronized (out) {
                    if (t != null) {
                        failures.incrementAndGet();
                        String why = TierException.unwrap(t).getMessage();
                        spec.commandLine().getErr().println("thermocline: " + key + ": " + why);
                        result(key.value(), target, -1, 0, why);
                    } else {
                        result(key.value(), target, info.sizeInBytes(), info.crc32c(), null);
                        if (!json) {
                            out.printf(Locale.ROOT, "downloaded %s -> %s (%s, crc32c %08x)%n", key, target,
                                    ByteSizeConverter.format(info.sizeInBytes()), info.crc32c());
                        }
                    }
                    out.flush();
                }
                objects.release();
                return null;
            }));
        }
        CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).join();
        int failed = failures.get();
        if (markers > 0) {
            spec.commandLine().getErr().println("thermocline: skipped " + markers + " folder marker(s) (keys ending in '/')");
        }
        summary(out, "download", keys.size() - markers - failed, keys.size() - markers, bytes.get(), t0);
        return failed == 0 ? 0 : 1;
    }

    private int upload(S3Tier tier, Path dir, S3Location to) throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        if (!Files.isDirectory(dir)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "SOURCE: " + dir + " (expected: a directory)");
        }
        List<Path> files;
        try (Stream<Path> walk = Files.walk(dir)) {
            files = walk.filter(Files::isRegularFile).sorted().toList();
        }
        long t0 = System.nanoTime();
        long bytes = 0;
        int failed = 0;
        ByteBuffer buffer = ByteBuffer.allocateDirect(8 << 20);
        for (Path file : files) {
            String relative = dir.relativize(file).toString().replace(file.getFileSystem().getSeparator(), "/");
            ObjectKey key = ObjectKey.of(to.prefix() + relative);
            try (FileChannel ch = FileChannel.open(file);
                 ObjectWriter w = tier.create(WriteRequest.of(key, ch.size())).join()) {
                long size = ch.size();
                for (long p = 0; p < size; ) {
                    buffer.clear();
                    int n = ch.read(buffer, p);
                    if (n < 0) {
                        throw new IOException(file + " shrank while being read");
                    }
                    w.write(p, buffer.flip()).join();
                    p += n;
                }
                ObjectInfo info = w.commit().join();
                bytes += size;
                result(key.value(), file, size, info.crc32c(), null);
                if (!json) {
                    out.printf(Locale.ROOT, "uploaded %s -> s3://%s/%s (%s, crc32c %08x)%n", file, to.bucket(), key,
                            ByteSizeConverter.format(size), info.crc32c());
                }
            } catch (RuntimeException | IOException e) {
                failed++;
                String why = TierException.unwrap(e).getMessage();
                spec.commandLine().getErr().println("thermocline: " + file + ": " + why);
                result(key.value(), file, -1, 0, why);
            }
            out.flush();
        }
        summary(out, "upload", files.size() - failed, files.size(), bytes, t0);
        return failed == 0 ? 0 : 1;
    }

    private void result(String key, Path file, long size, int crc32c, String failure) {
        ObjectNode o = JSON.createObjectNode();
        o.put("key", key);
        o.put("file", file.toString());
        if (failure == null) {
            o.put("size", size);
            o.put("crc32c", String.format("%08x", crc32c));
        } else {
            o.put("failed", failure);
        }
        synchronized (results) {
            results.add(o);
        }
    }

    private void summary(PrintWriter out, String direction, int done, int total, long bytes, long t0) {
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (json) {
            ObjectNode root = JSON.createObjectNode();
            root.put("direction", direction);
            root.put("source", source);
            root.put("destination", destination);
            ArrayNode list = root.putArray("objects");
            synchronized (results) {
                results.stream().sorted(java.util.Comparator.comparing(o -> o.get("key").asText())).forEach(list::add);
            }
            root.put("copied", done);
            root.put("failed", total - done);
            root.put("bytes", bytes);
            root.put("seconds", Math.round(seconds * 1000) / 1000.0);
            out.println(root.toString());
            out.flush();
            return;
        }
        out.printf(Locale.ROOT, "%d of %d objects, %s in %.2f s (%.1f MiB/s)%n", done, total, ByteSizeConverter.format(bytes),
                seconds, bytes / 1048576.0 / Math.max(seconds, 1e-9));
        out.flush();
    }
}
