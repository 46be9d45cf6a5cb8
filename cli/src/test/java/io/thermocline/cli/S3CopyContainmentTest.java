package io.thermocline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.thermocline.tier.s3.EmbeddedS3Server;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/** {@code s3 cp} downloads land inside the destination directory, whatever the source prefix looks like. */
class S3CopyContainmentTest {

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
    void aPrefixWithoutTrailingSlash_isADirectory_notTheRootAndNotItsSiblings() throws Exception {
        Path dest = Files.createDirectories(dir.resolve("out/dest"));
        try (EmbeddedS3Server server = EmbeddedS3Server.start(dir.resolve("s3"));
             S3Client s3 = S3Client.builder().endpointOverride(server.endpoint()).forcePathStyle(true)
                     .region(Region.of(server.region())).credentialsProvider(StaticCredentialsProvider.create(
                             AwsBasicCredentials.create(server.accessKey(), server.secretKey()))).build()) {
            server.createBucket("models");
            s3.putObject(b -> b.bucket("models").key("model/config.json"), RequestBody.fromString("{\"a\":1}"));
            s3.putObject(b -> b.bucket("models").key("model/sub/w.bin"), RequestBody.fromString("weights"));
            s3.putObject(b -> b.bucket("models").key("model/"), RequestBody.empty()); // a console's folder marker
            s3.putObject(b -> b.bucket("models").key("model-instruct/config.json"), RequestBody.fromString("{\"b\":2}"));
            String[] args = Stream.concat(Stream.of("s3", "cp", "s3://models/model", dest.toString()),
                    Stream.of("--endpoint", server.endpoint().toString(), "--access-key", server.accessKey(),
                            "--secret-key", server.secretKey())).toArray(String[]::new);

            assertEquals(0, run(args), err.toString());
        }
        assertEquals("{\"a\":1}", Files.readString(dest.resolve("config.json")));
        assertEquals("weights", Files.readString(dest.resolve("sub/w.bin")));
        assertThat(out.toString()).contains("2 of 2 objects");
        assertThat(err.toString()).contains("skipped 1 folder marker");
        try (Stream<Path> all = Files.walk(dir.resolve("out"))) {
            assertThat(all.filter(Files::isRegularFile).map(p -> dir.resolve("out").relativize(p).toString()))
                    .as("files written: only under dest, none of model-instruct")
                    .containsExactlyInAnyOrder("dest/config.json", "dest/sub/w.bin");
        }
        assertThat(Files.exists(Path.of("/config.json"))).as("nothing at the file system's root").isFalse();
    }
}
