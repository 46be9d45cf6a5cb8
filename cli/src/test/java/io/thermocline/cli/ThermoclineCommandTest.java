package io.thermocline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.thermocline.tier.testkit.TestTimeouts;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class ThermoclineCommandTest {

    @TempDir
    Path dir;

    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        CommandLine cl = ThermoclineCommand.newCommandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        return cl.execute(args);
    }

    @Test
    void version_printsTheProjectVersionAndJava() {
        assertEquals(0, run("--version"));
        assertThat(out.toString()).startsWith("thermocline 0.").contains("Java 25");
    }

    @Test
    void help_listsCommandsAndExamples() {
        assertEquals(0, run("--help"));
        assertThat(out.toString()).contains("demo").contains("Examples:").contains("Exit codes");
    }

    @Test
    void badInput_exitsWithTwoAndNamesTheValue() {
        assertEquals(2, run("demo", "--size", "lots"));
        assertThat(err.toString()).contains("'lots' is not a size");
        assertEquals(2, run("demo", "--shards", "0"));
        assertThat(err.toString()).contains("--shards: 0 (expected: 1..1000)");
        assertEquals(2, run("no-such-command"));
    }

    @Test
    void region_printsALiveRegion_andNamesTheFieldOfAnInvalidOne() throws Exception {
        Path file = dir.resolve("region");
        try (var region = io.thermocline.region.SharedRegion.create(
                io.thermocline.region.RegionConfig.builder(file).maxObjects(100).build())) {
            region.table().put(io.thermocline.region.RegionKey.of("a/b"), new io.thermocline.region.EntryValues(
                    io.thermocline.region.SlotState.READY, 1, 0, 0, 42, 7, 1, new byte[0]), -1);
        }
        assertEquals(0, run("region", "--path", file.toString()));
        assertThat(out.toString()).contains("1 live").contains("a/b");
        out.getBuffer().setLength(0);
        assertEquals(0, run("region", "--path", file.toString(), "--json"));
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.toString());
        assertEquals(1, json.get("objects").asInt());
        assertEquals("a/b", json.get("hottest").get(0).get("key").asText());
        assertEquals(42, json.get("hottest").get(0).get("size").asLong());
        assertEquals("[0]", json.get("hottest").get(0).get("tiers").toString());
        assertEquals(file.toString(), json.get("path").asText());
        try (var f = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            f.write(new byte[8]);
        }
        assertEquals(1, run("region", "--path", file.toString()));
        assertThat(err.toString()).contains("magic");
        assertEquals(2, run("region"));
    }

    @Test
    void s3Serve_startsAServerThatTheSdkCanUse_andStops() throws Exception {
        S3Command.Serve serve = new S3Command.Serve();
        CommandLine cl = new CommandLine(serve);
        StringWriter serveOut = new StringWriter();
        cl.setOut(new PrintWriter(serveOut, true));
        Thread running = Thread.ofPlatform().start(() -> cl.execute("--dir", dir.resolve("s3").toString(),
                "--access-key", "demo", "--secret-key", "demo-secret", "--bucket", "models"));
        long deadline = System.nanoTime() + TestTimeouts.seconds(30).toNanos();
        while (!serveOut.toString().contains("Serving until") && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        String printed = serveOut.toString();
        assertThat(printed).contains("endpoint    http://127.0.0.1:").contains("access key  demo");
        String endpoint = printed.substring(printed.indexOf("http://"), printed.indexOf(" (path-style)"));
        try (var s3 = software.amazon.awssdk.services.s3.S3Client.builder()
                .endpointOverride(java.net.URI.create(endpoint)).forcePathStyle(true)
                .region(software.amazon.awssdk.regions.Region.US_EAST_1)
                .credentialsProvider(software.amazon.awssdk.auth.credentials.StaticCredentialsProvider.create(
                        software.amazon.awssdk.auth.credentials.AwsBasicCredentials.create("demo", "demo-secret")))
                .build()) {
            s3.putObject(b -> b.bucket("models").key("a.txt"), software.amazon.awssdk.core.sync.RequestBody.fromString("hi"));
            assertEquals("hi", s3.getObjectAsBytes(b -> b.bucket("models").key("a.txt")).asUtf8String());
        } finally {
            serve.stop.countDown();
            running.join(TestTimeouts.millis(30));
        }
        assertThat(running.isAlive()).isFalse();
    }

    @Test
    void s3Cp_uploadsADirectory_andDownloadsItBackVerified() throws Exception {
        Path model = dir.resolve("model");
        Files.createDirectories(model.resolve("sub"));
        byte[] shard = new byte[(3 << 20) + 17];
        new java.util.Random(1).nextBytes(shard);
        Files.write(model.resolve("model-00001.safetensors"), shard);
        Files.writeString(model.resolve("sub/config.json"), "{\"layers\": 2}");
        try (var server = io.thermocline.tier.s3.EmbeddedS3Server.start(dir.resolve("s3"))) {
            server.createBucket("models");
            String[] auth = {"--endpoint", server.endpoint().toString(), "--access-key", server.accessKey(),
                "--secret-key", server.secretKey()};
            String[] up = java.util.stream.Stream.concat(java.util.stream.Stream.of("s3", "cp", model.toString(), "s3://models/m/"),
                    java.util.Arrays.stream(auth)).toArray(String[]::new);
            assertEquals(0, run(up), err.toString());
            assertThat(out.toString()).contains("2 of 2 objects");
            Path back = dir.resolve("back");
            String[] down = java.util.stream.Stream.concat(java.util.stream.Stream.of("s3", "cp", "s3://models/m/", back.toString(),
                    "--parallel", "3", "--range-size", "1MiB"), java.util.Arrays.stream(auth)).toArray(String[]::new);
            assertEquals(0, run(down), err.toString());
            org.junit.jupiter.api.Assertions.assertArrayEquals(shard, Files.readAllBytes(back.resolve("model-00001.safetensors")));
            assertEquals("{\"layers\": 2}", Files.readString(back.resolve("sub/config.json")));
            // --json: one object, every key with its CRC32C
            out.getBuffer().setLength(0);
            Path again = dir.resolve("again");
            String[] json = java.util.stream.Stream.concat(java.util.stream.Stream.of("s3", "cp", "s3://models/m/", again.toString(),
                    "--json"), java.util.Arrays.stream(auth)).toArray(String[]::new);
            assertEquals(0, run(json), err.toString());
            var result = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.toString());
            assertEquals(2, result.get("copied").asInt());
            assertEquals(0, result.get("failed").asInt());
            assertEquals("m/model-00001.safetensors", result.get("objects").get(0).get("key").asText());
            java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
            crc.update(shard);
            assertEquals(String.format("%08x", (int) crc.getValue()), result.get("objects").get(0).get("crc32c").asText());
            assertEquals(shard.length, result.get("objects").get(0).get("size").asLong());
            assertEquals(1, run("s3", "cp", "s3://models/nothing/", back.toString(), auth[0], auth[1], auth[2], auth[3], auth[4], auth[5]));
            assertEquals(2, run("s3", "cp", back.toString(), dir.toString()));
        }
    }

    @Test
    void byteSizes_parseBinaryAndDecimalUnits() {
        assertEquals(4096, ByteSizeConverter.parse("4096"));
        assertEquals(64L << 10, ByteSizeConverter.parse("64KiB"));
        assertEquals(3L << 29, ByteSizeConverter.parse("1.5GiB"));
        assertEquals(10_000_000, ByteSizeConverter.parse("10MB"));
        assertEquals(1L << 20, ByteSizeConverter.parse("1m"));
    }
}
