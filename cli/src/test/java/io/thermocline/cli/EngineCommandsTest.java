package io.thermocline.cli;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.thermocline.engine.EngineConfigLoader;
import io.thermocline.engine.PutOptions;
import io.thermocline.engine.TierEngine;
import io.thermocline.tier.ObjectKey;
import java.io.ByteArrayInputStream;
import java.io.StringWriter;
import java.nio.channels.Channels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ls, stat, heat, tiers, pin, unpin and evict in this process, against an engine over two file
 * tiers that owns its data root while each command runs: their text and JSON, and their exit codes.
 */
@ScaledTimeout(120)
class EngineCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String KEY = "m/a.bin";

    @TempDir
    Path dir;
    private Path config;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    @BeforeEach
    void engineWithOneObject() throws Exception {
        config = Files.writeString(dir.resolve("thermocline.yaml"), """
                data-root: %s
                region: {path: region, max-objects: 256}
                stager: {planner-interval: 1h, drain-grace: 10ms}
                tiers:
                  - {name: local, type: local, path: local, capacity: 64MiB}
                  - {name: fabric, type: block, file: fabric.img, capacity: 64MiB}
                """.formatted(dir.resolve("root")));
        try (TierEngine e = TierEngine.open(EngineConfigLoader.load(config, Map.of()))) {
            byte[] data = new byte[100_000];
            e.put(ObjectKey.of(KEY), Channels.newChannel(new ByteArrayInputStream(data)), data.length, PutOptions.defaults()).join();
        }
    }

    private int run(String... args) {
        out.getBuffer().setLength(0);
        err.getBuffer().setLength(0);
        String[] withConfig = java.util.Arrays.copyOf(args, args.length + 2);
        withConfig[args.length] = "--config";
        withConfig[args.length + 1] = config.toString();
        return CliRun.run(out, err, withConfig);
    }

    @Test
    void readOnlyCommands_printTextAndJson() throws Exception {
        assertEquals(0, run("ls", "m/"), err.toString());
        assertThat(out.toString()).contains("KEY").contains(KEY).contains("1 objects, ");
        assertEquals(0, run("ls", "m/", "--json"), err.toString());
        JsonNode list = JSON.readTree(out.toString());
        assertEquals(1, list.size());
        assertEquals(KEY, list.get(0).get("key").asText());
        assertEquals(100_000, list.get(0).get("size").asLong());

        assertEquals(0, run("stat", KEY), err.toString());
        assertThat(out.toString()).contains("key:     " + KEY).contains("size:    100000").contains("pinned:  no");
        assertEquals(0, run("stat", KEY, "--json"), err.toString());
        assertThat(JSON.readTree(out.toString()).get("pinned_until").isNull()).isTrue();

        assertEquals(0, run("heat", "--top", "5"), err.toString());
        assertThat(out.toString()).contains("HEAT").contains(KEY);
        assertEquals(0, run("tiers", "--json"), err.toString());
        JsonNode tiers = JSON.readTree(out.toString());
        assertEquals("local", tiers.get(0).get("name").asText());
        assertEquals("fabric", tiers.get(1).get("name").asText());
        assertEquals(0, run("tiers"), err.toString());
        assertThat(out.toString()).contains("TIER").contains("CAPACITY").contains("local").contains("fabric");
    }

    @Test
    void usageErrorsAndUnknownKeys_haveTheirExitCodes() {
        assertEquals(1, run("stat", "m/nope"));
        assertThat(err.toString()).contains("m/nope");
        assertEquals(2, run("heat", "--top", "0"));
        assertThat(err.toString()).contains("--top: 0 (expected: 1 or more)");
        assertEquals(2, run("pin", KEY, "--for", "0s"));
        assertThat(err.toString()).contains("--for: PT0S (expected: a positive duration)");
        assertEquals(2, run("evict", KEY, "--tier", "nowhere"));
        assertThat(err.toString()).contains("--tier: 'nowhere' (expected: one of [local, fabric])");
        assertEquals(2, run("unpin"));
    }

    @Test
    void keyCommands_reportEachKey_andFailOnlyForTheBadOnes() throws Exception {
        assertEquals(0, run("pin", KEY, "--for", "30m"), err.toString());
        assertEquals(KEY + ": pinned for 30m", out.toString().strip());
        assertEquals(0, run("stat", KEY, "--json"), err.toString());
        assertThat(JSON.readTree(out.toString()).get("pinned_until").isNull()).isFalse();

        assertEquals(1, run("unpin", KEY, "m/nope", "--json"));
        String[] lines = out.toString().strip().split("\n");
        assertEquals(2, lines.length, out.toString());
        JsonNode done = JSON.readTree(lines[0]);
        assertThat(done.get("ok").asBoolean()).isTrue();
        assertThat(done.get("status").get("pinned_until").isNull()).isTrue();
        JsonNode unknown = JSON.readTree(lines[1]);
        assertEquals("m/nope", unknown.get("key").asText());
        assertThat(unknown.get("ok").asBoolean()).isFalse();
        assertThat(unknown.get("error").asText()).contains("m/nope");

        assertEquals(0, run("unpin", KEY), err.toString());
        assertEquals(KEY + ": unpinned", out.toString().strip());
        assertEquals(1, run("evict", "m/nope", "--tier", "local"));
        assertThat(err.toString()).startsWith("thermocline: m/nope: ");
    }
}
