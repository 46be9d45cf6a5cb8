package io.thermocline.cli;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@ScaledTimeout(60)
class StatsCommandTest {
    private static final String NQN = "nqn.2026-11.io.thermocline:stats-test";
    private static final String HOST = "nqn.2014-08.org.nvmexpress:uuid:2b7c1d9e-0c55-4e0b-a1a4-7f3f5a9d6c02";

    @TempDir
    Path dir;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private NvmeTcpTarget target(boolean serviceTime) {
        return NvmeTcpTarget.builder().port(0).serviceTimeReporting(serviceTime)
                .subsystem(Subsystem.builder(NQN).allowHost(HOST).namespace(Namespace.openFile(dir.resolve("ns"), 4 << 20, 4096, false)).build())
                .build();
    }

    private int run(String... args) {
        return CliRun.run(out, err, args);
    }

    @Test
    void stats_thermoclineTarget_printsHostTransitAndTargetRows() {
        try (NvmeTcpTarget t = target(true)) {
            String port = Integer.toString(t.start().getPort());
            assertEquals(0, run("stats", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", HOST, "--runtime", "0.3", "--qd", "2"),
                    err.toString());
        }
        assertThat(out.toString()).contains("target service time: reported by the target")
                .contains("p50 (us)").contains("p99 (us)")
                .containsPattern("(?m)^host +\\d").containsPattern("(?m)^round trip +\\d")
                .containsPattern("(?m)^  transit +\\d").containsPattern("(?m)^  target +\\d");
    }

    @Test
    void stats_otherTarget_json_hasHostAndRoundTripOnly() {
        try (NvmeTcpTarget t = target(false)) {
            String port = Integer.toString(t.start().getPort());
            assertEquals(0, run("stats", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", HOST, "--runtime", "0.2", "--json"),
                    err.toString());
        }
        assertThat(out.toString()).startsWith("{\"nqn\":\"" + NQN + "\"").contains("\"target_reported\":false")
                .contains("\"host\":{\"p50_us\":").contains("\"round_trip\":{\"p50_us\":")
                .contains("\"transit\":null").contains("\"target\":null");
    }

    @Test
    void stats_badQueueDepth_isAUsageError() {
        assertEquals(2, run("stats", "-a", "127.0.0.1", "-n", NQN, "--qd", "0"));
        assertThat(err.toString()).contains("--qd: 0 (expected: 1..65536)");
    }

    @Test
    void stats_blockSizeOrRegionNotFittingTheNamespace_isAUsageError_andDisconnects() throws InterruptedException {
        try (NvmeTcpTarget t = target(false)) {
            String port = Integer.toString(t.start().getPort());
            assertEquals(2, run("stats", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", HOST, "--bs", "1000", "--runtime", "0.1"));
            assertThat(err.toString()).contains("--bs 1000 / --size 4194000 (expected a multiple of the 4096-byte block size, "
                    + "and a region within the namespace's 4194304 bytes)");
            assertEquals(2, run("stats", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", HOST, "--size", "8m", "--runtime", "0.1"));
            assertThat(err.toString()).contains("--bs 4096 / --size 8388608");
        }
        // the refused runs had connected: their event loops are stopped, not left behind
        long deadline = System.nanoTime() + TestTimeouts.seconds(5).toNanos();
        while (hostLoopThreads() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertEquals(0, hostLoopThreads(), "live nvme-host event loop threads");
    }

    @Test
    void stats_badRuntimeOrBlockSize_isAUsageError_beforeConnecting() {
        assertEquals(2, run("stats", "-a", "127.0.0.1", "-n", NQN, "--runtime", "0"));
        assertThat(err.toString()).contains("--runtime: 0.0 (expected: a positive number of seconds)");
        assertEquals(2, run("stats", "-a", "127.0.0.1", "-n", NQN, "--bs", "128m"));
        assertThat(err.toString()).contains("--bs: 134217728 (expected: 1..64MiB, a multiple of the block size)");
        assertEquals(2, run("stats", "-t", "rdma", "-a", "127.0.0.1", "-n", NQN));
        assertThat(err.toString()).contains("--transport: rdma (expected: tcp; rdma and fc namespaces are reached through "
                + "the kernel's nvme connect)");
        assertEquals(2, run("stats", "-a", "127.0.0.1", "-s", "0", "-n", NQN));
        assertThat(err.toString()).contains("--trsvcid: 0 (expected: 1..65535)");
    }

    private static long hostLoopThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(th -> th.isAlive() && th.getName().startsWith("nvme-host")).count();
    }
}
