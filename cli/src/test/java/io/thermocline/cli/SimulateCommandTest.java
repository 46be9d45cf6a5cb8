package io.thermocline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class SimulateCommandTest {

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
    void trace_printsEveryPolicysRatios() throws Exception {
        // a (1 KiB) read three times, a 3 KiB write-only object: capacity 0.25 of 4 KiB fits a alone
        Path t = dir.resolve("t.csv");
        Files.writeString(t, "# tiny\n1,a,0,1024,R\n2,ckpt,0,3072,W\n3,a,0,1024,R\n4,a,0,1024,R\n");
        assertEquals(0, run("simulate", "--trace", t.toString(), "--fast-capacity", "0.25"));
        String s = out.toString();
        assertThat(s).contains("4 accesses, 2 objects").contains("fast capacity 0.25 = 1.0 KiB");
        // LRU: a misses once, hits twice; the write of ckpt does not fit
        assertThat(s).containsPattern("lru\\s+0\\.6667\\s+0\\.3333\\s+1\\.0 KiB");
        assertThat(s).containsPattern("belady\\s+0\\.6667\\s+0\\.3333\\s+1\\.0 KiB");
        assertThat(s).contains("thermocline").contains("w-tinylfu");
    }

    @Test
    void json_hasEveryPolicyAndTier() throws Exception {
        Path t = dir.resolve("t.csv");
        Files.writeString(t, "1,a,0,1024,R\n2,a,0,1024,R\n");
        assertEquals(0, run("simulate", "--trace", t.toString(), "--fast-capacity", "1KiB", "--json"));
        String s = out.toString().strip();
        assertThat(s).startsWith("{\"trace\":").endsWith("]}]}").contains("\"capacity_bytes\":1024")
                .contains("{\"policy\":\"lru\",\"byte_hit_ratio\":0.500000,\"tiers\":{\"fast\":{\"byte_hit_ratio\":0.500000,\"read_bytes\":1024},"
                        + "\"backing\":{\"byte_hit_ratio\":0.500000,\"read_bytes\":1024}},\"bytes_moved\":1024}")
                .contains("\"policy\":\"thermocline\"").contains("\"policy\":\"w-tinylfu\"").contains("\"policy\":\"belady\"");
    }

    @Test
    void generate_isDeterministic_andWritesTheTrace() throws Exception {
        Path f = dir.resolve("g.csv");
        assertEquals(0, run("simulate", "--generate", "scan", "--seed", "3", "--accesses", "2000", "--fast-capacity", "0.1,25%", "--out", f.toString()));
        String first = out.toString();
        assertThat(first).contains("generated scan (seed 3, 2000 accesses)").contains("fast capacity 0.1 =").contains("fast capacity 0.25 =");
        out.getBuffer().setLength(0);
        assertEquals(0, run("simulate", "--trace", f.toString(), "--fast-capacity", "0.1,0.25"));
        // the written trace replays to the same figures (W-TinyLFU aside: Caffeine's admission has a random element)
        String replay = out.toString();
        for (String policy : new String[] {"thermocline", "lru", "belady"}) {
            assertThat(lines(replay, policy)).isEqualTo(lines(first, policy));
        }
    }

    private static String lines(String s, String policy) {
        return s.lines().filter(l -> l.startsWith(policy + " ")).reduce("", (a, b) -> a + b + "\n");
    }

    @Test
    void badInput_exitsTwoNamingTheOption() throws Exception {
        assertEquals(2, run("simulate", "--fast-capacity", "0.1"));
        assertThat(err.toString()).contains("--trace, --generate: give exactly one");
        assertEquals(2, run("simulate", "--generate", "nope", "--fast-capacity", "0.1"));
        assertThat(err.toString()).contains("--generate: 'nope' (expected: one of zipf, scan, model-load, checkpoint, mix)");
        assertEquals(2, run("simulate", "--generate", "zipf", "--fast-capacity", "lots"));
        assertThat(err.toString()).contains("--fast-capacity: 'lots'");
        assertEquals(2, run("simulate", "--generate", "zipf"));
        assertThat(err.toString()).contains("--fast-capacity: missing");
        assertEquals(2, run("simulate", "--trace", dir.resolve("none.csv").toString(), "--fast-capacity", "0.1"));
        assertThat(err.toString()).contains("--trace: '" + dir.resolve("none.csv") + "' does not exist");
        Path bad = dir.resolve("bad.csv");
        Files.writeString(bad, "# header\n1,a,0,10,R\n2,a,0,10,Q\n");
        assertEquals(2, run("simulate", "--trace", bad.toString(), "--fast-capacity", "0.5"));
        assertThat(err.toString()).contains("--trace: " + bad + ": line 3: op 'Q' is neither R nor W");
    }
}
