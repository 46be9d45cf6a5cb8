package io.thermocline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The parts of prestage that need no engine: sources, the index, progress lines and tables. */
class PrestageCommandTest {

    @TempDir
    Path dir;

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void shardsOf_listsEachFileOnceInFirstAppearanceOrder() {
        assertEquals(List.of("b.safetensors", "a.safetensors"), PrestageCommand.shardsOf(utf8(
                "{\"metadata\":{},\"weight_map\":{\"x\":\"b.safetensors\",\"y\":\"a.safetensors\",\"z\":\"b.safetensors\"}}"), "idx"));
    }

    @Test
    void shardsOf_malformedIndex_namesTheFileAndWhatIsWrong() {
        var e = assertThrows(PrestageCommand.SourceException.class, () -> PrestageCommand.shardsOf(utf8("{\"weight_map\": {"), "m/idx.json"));
        assertThat(e.getMessage()).startsWith("m/idx.json is not valid JSON").contains("line 1");
        e = assertThrows(PrestageCommand.SourceException.class, () -> PrestageCommand.shardsOf(utf8("[1,2]"), "i"));
        assertThat(e.getMessage()).contains("not a JSON object");
        e = assertThrows(PrestageCommand.SourceException.class, () -> PrestageCommand.shardsOf(utf8("{\"metadata\":{}}"), "i"));
        assertThat(e.getMessage()).contains("weight_map is missing");
        e = assertThrows(PrestageCommand.SourceException.class, () -> PrestageCommand.shardsOf(utf8("{\"weight_map\":{}}"), "i"));
        assertThat(e.getMessage()).contains("weight_map is empty");
        e = assertThrows(PrestageCommand.SourceException.class,
                () -> PrestageCommand.shardsOf(utf8("{\"weight_map\":{\"w\":\"../../etc/passwd\"}}"), "i"));
        assertThat(e.getMessage()).contains("weight_map.w").contains("relative to the index");
        e = assertThrows(PrestageCommand.SourceException.class, () -> PrestageCommand.shardsOf(utf8("{\"weight_map\":{\"w\":3}}"), "i"));
        assertThat(e.getMessage()).contains("weight_map.w is 3");
    }

    @Test
    void sourceParse_tellsS3PrefixesDirectoriesAndIndexesApart_andRefusesTheRest() throws Exception {
        assertEquals(new PrestageCommand.S3Source("models", "tc/llama/"), PrestageCommand.Source.parse("s3://models/tc/llama/", null));
        assertEquals(new PrestageCommand.S3Source("models", ""), PrestageCommand.Source.parse("s3://models", null));
        Path model = Files.createDirectories(dir.resolve("llama"));
        Path index = Files.writeString(model.resolve(PrestageCommand.INDEX_NAME), "{}");
        assertInstanceOf(PrestageCommand.LocalSource.class, PrestageCommand.Source.parse(model.toString(), null));
        assertEquals(new PrestageCommand.LocalSource(model, index, "m/"), PrestageCommand.Source.parse(index.toString(), "m/"));
        for (String bad : List.of("s3://", "s3://a/x", "s3://UPPER/x", "gs://bucket/x", "https://host/x", dir.resolve("nope").toString())) {
            assertThrows(PrestageCommand.SourceException.class, () -> PrestageCommand.Source.parse(bad, null), bad);
        }
        Path notJson = Files.writeString(model.resolve("config.txt"), "x");
        assertThat(assertThrows(PrestageCommand.SourceException.class, () -> PrestageCommand.Source.parse(notJson.toString(), null))
                .getMessage()).contains("is a file");
        assertThat(assertThrows(PrestageCommand.SourceException.class, () -> PrestageCommand.Source.parse("s3://models/x/", "p/"))
                .getMessage()).startsWith("--prefix");
    }

    @Test
    void progressLine_showsBytesPercentRateEtaAndObjects() throws Exception {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        try (Progress p = new Progress(new PrintStream(sink, true, StandardCharsets.UTF_8), "prestage",
                () -> new Progress.Snapshot(512L << 20, 1L << 30, 3, 8), false, 60_000)) {
            Thread.sleep(50);
            String bar = p.line(new Progress.Snapshot(512L << 20, 1L << 30, 3, 8), true);
            assertThat(bar).startsWith("prestage [===============>").contains("512.0 MiB / 1.0 GiB (50%)").contains("/s, ETA ")
                    .endsWith("3/8 objects");
            assertThat(p.line(new Progress.Snapshot(0, 100, 0, 1), false)).contains("0 B / 100 B (0%)").contains("ETA ?")
                    .doesNotContain("[");
        }
        assertThat(sink.toString(StandardCharsets.UTF_8)).as("the final plain line at close")
                .startsWith("prestage 512.0 MiB / 1.0 GiB (50%)");
        assertEquals("59s", Progress.clock(59));
        assertEquals("2m05s", Progress.clock(125));
        assertEquals("1h01m", Progress.clock(3660));
    }

    private int run(StringWriter err, String... args) {
        picocli.CommandLine cl = ThermoclineCommand.newCommandLine();
        cl.setOut(new PrintWriter(new StringWriter(), true));
        cl.setErr(new PrintWriter(err, true));
        return cl.execute(args);
    }

    @Test
    void engineCommands_withoutAConfiguration_orWithABadOverride_areUsageErrors() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getenv("THERMOCLINE_CONFIG") == null,
                "THERMOCLINE_CONFIG is set in this environment, so there is always a configuration");
        String home = System.getProperty("user.home");
        System.setProperty("user.home", dir.toString()); // no ~/.config/thermocline/thermocline.yaml there
        try {
            StringWriter err = new StringWriter();
            assertEquals(2, run(err, "ls"));
            assertThat(err.toString()).contains("no engine configuration: pass --config FILE")
                    .contains("'thermocline ls --help' shows the options").doesNotContain("Usage:");
            err = new StringWriter();
            assertEquals(2, run(err, "tiers", "--config", dir.resolve("missing.yaml").toString()));
            assertThat(err.toString()).contains("missing.yaml (expected: an existing YAML file)");
            Path conf = Files.writeString(dir.resolve("t.yaml"), "data-root: r\ntiers: [{name: l, type: local, path: l, capacity: 1MiB}, "
                    + "{name: s3, type: s3, bucket: b}]\n");
            err = new StringWriter();
            assertEquals(2, run(err, "stat", "k", "--config", conf.toString(), "--set", "stager.parallel-chunks"));
            assertThat(err.toString()).contains("--set: 'stager.parallel-chunks' (expected: KEY=VALUE");
            err = new StringWriter();
            assertEquals(2, run(err, "prestage", dir.toString(), "--to", "s3", "--config", conf.toString()));
            assertThat(err.toString()).contains("--to: 's3' is the backing tier");
            err = new StringWriter();
            assertEquals(2, run(err, "prestage", dir.toString(), "--to", "l", "--parallel", "0", "--config", conf.toString()));
            assertThat(err.toString()).contains("--parallel: 0 (expected: 1..256)");
        } finally {
            System.setProperty("user.home", home);
        }
    }

    @Test
    void table_alignsColumns_numbersToTheRight() {
        StringWriter out = new StringWriter();
        new Table("KEY", ">SIZE", "RESULT").row("a/long-key", "1.0 MiB", "staged").row("b", "12 B", "already").print(new PrintWriter(out));
        assertEquals(String.join("\n",
                "KEY            SIZE  RESULT",
                "a/long-key  1.0 MiB  staged",
                "b              12 B  already", ""), out.toString().replace(System.lineSeparator(), "\n"));
    }
}
