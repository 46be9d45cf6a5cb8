package io.thermocline.cli;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@ScaledTimeout(60)
class NvmeCommandTest {
    private static final String NQN = "nqn.2026-11.io.thermocline:cli-test";
    private static final String HOST = "nqn.2014-08.org.nvmexpress:uuid:2b7c1d9e-0c55-4e0b-a1a4-7f3f5a9d6c01";

    @TempDir
    Path dir;
    private NvmeTcpTarget target;
    private String port;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    @BeforeEach
    void startTarget() {
        target = NvmeTcpTarget.builder().port(0)
                .subsystem(Subsystem.builder(NQN).allowHost(HOST).namespace(Namespace.openFile(dir.resolve("ns"), 4 << 20, 4096, false)).build())
                .build();
        port = Integer.toString(target.start().getPort());
    }

    @AfterEach
    void stopTarget() {
        target.close();
    }

    private int run(String... args) {
        return CliRun.run(out, err, args);
    }

    @Test
    void discover_printsEntriesLikeNvmeCli() {
        assertEquals(0, run("nvme", "discover", "-t", "tcp", "-a", "127.0.0.1", "-s", port, "-q", HOST), err.toString());
        assertThat(out.toString()).contains("Discovery Log Number of Records").contains("subnqn:  " + NQN)
                .contains("trsvcid: " + port).contains("traddr:  127.0.0.1").contains("subtype: nvme subsystem");
    }

    @Test
    void discover_json() {
        assertEquals(0, run("nvme", "discover", "-a", "127.0.0.1", "-s", port, "-q", HOST, "--json"), err.toString());
        assertThat(out.toString()).startsWith("{\"genctr\":").contains("\"subnqn\":\"" + NQN + "\"");
    }

    @Test
    void bench_verifiedWrites_reportIopsLatencyAndVerification() {
        assertEquals(0, run("nvme", "bench", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", HOST, "--rw", "randwrite",
                "--bs", "8k", "--qd", "4", "--runtime", "0.3", "--size", "1MiB", "--verify", "-g", "-G"), err.toString());
        assertThat(out.toString()).contains("randwrite: IOPS=").contains("lat (usec): mean=").contains("p99.9=")
                .contains("verify: 1048576 bytes read back, all as written");
    }

    @Test
    void bench_json() {
        assertEquals(0, run("nvme", "bench", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", HOST, "--rw", "read",
                "--bs", "64k", "--qd", "2", "--runtime", "0.2", "--json"), err.toString());
        assertThat(out.toString()).startsWith("{\"rw\":\"read\",\"bs\":65536,\"qd\":2,").contains("\"p99.9\":");
    }

    @Test
    void connect_printsTheControllerAndNamespaces_withTheTimeoutOptions() {
        assertEquals(0, run("nvme", "connect", "-t", "tcp", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", HOST,
                "--preset", "latency-sensitive", "-l", "45", "--fast_io_fail_tmo", "5", "-i", "1", "-W", "1"), err.toString());
        assertThat(out.toString()).contains("connected to " + NQN + " at 127.0.0.1:" + port)
                .contains("2 I/O queue(s)").contains("keep-alive-tmo 5 s, reconnect-delay 2 s, ctrl-loss-tmo 45 s, fast-io-fail-tmo 5 s")
                .contains("namespace 1: 4194304 bytes, 1024 x 4096-byte blocks");
    }

    @Test
    void connect_json_andBadValues() {
        assertEquals(0, run("nvme", "connect", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", HOST, "-l", "-1", "--json"), err.toString());
        assertThat(out.toString()).startsWith("{\"subnqn\":\"" + NQN + "\"").contains("\"ctrl_loss_tmo\":-1")
                .contains("\"fast_io_fail_tmo\":-1").contains("\"namespaces\":[{\"nsid\":1,");
        assertEquals(2, run("nvme", "connect", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", HOST, "-c", "-1"));
        assertThat(err.toString()).contains("--reconnect-delay: -1");
        assertEquals(2, run("nvme", "connect", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", HOST, "--preset", "fast"));
        assertThat(err.toString()).contains("expected latency-sensitive or conservative");
    }

    @Test
    void badInput_exitsWithTwo_namingTheOption() {
        assertEquals(2, run("nvme", "bench", "-a", "127.0.0.1", "-s", port, "-n", NQN, "--rw", "sideways"));
        assertThat(err.toString()).contains("--rw: sideways (expected: read, write, randread or randwrite)");
        assertEquals(2, run("nvme", "discover", "-t", "rdma", "-a", "127.0.0.1"));
        assertThat(err.toString()).contains("--transport: rdma (expected: tcp");
        assertEquals(2, run("nvme", "bench", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", HOST, "--rw", "read", "--bs", "1000"));
        assertThat(err.toString()).contains("--bs 1000");
    }

    @Test
    void transportOtherThanTcp_namesTheKernelCommandOfEachSubcommand() {
        assertEquals(2, run("nvme", "discover", "-t", "rdma", "-a", "127.0.0.1"));
        assertThat(err.toString()).contains("--transport: rdma (expected: tcp; rdma and fc namespaces are reached through "
                + "the kernel's nvme discover)");
        for (String[] args : new String[][] {{"nvme", "connect", "-t", "fc", "-a", "127.0.0.1", "-n", NQN},
                {"nvme", "bench", "-t", "fc", "-a", "127.0.0.1", "-n", NQN, "--rw", "read"}}) {
            err.getBuffer().setLength(0);
            assertEquals(2, run(args), args[1]);
            assertThat(err.toString()).as(args[1]).contains("--transport: fc (expected: tcp; rdma and fc namespaces are reached "
                    + "through the kernel's nvme connect)");
        }
        assertEquals(2, run("nvme", "discover", "-a", "127.0.0.1", "-s", "70000"));
        assertThat(err.toString()).contains("--trsvcid: 70000 (expected: 1..65535)");
    }

    @Test
    void bench_sizeBeyondTheNamespace_isAUsageError() {
        assertEquals(2, run("nvme", "bench", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", HOST, "--rw", "read",
                "--size", "8m", "--runtime", "0.1"));
        assertThat(err.toString()).contains("--bs 4096 / --size 8388608 (expected a multiple of the 4096-byte block size, "
                + "and a region within the namespace's 4194304 bytes)");
    }

    @Test
    void hostNotAllowed_failsWithTheReason() {
        int code = run("nvme", "bench", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", "nqn.2026-11.example:stranger",
                "--rw", "read", "--runtime", "0.1");
        assertEquals(1, code);
        assertThat(err.toString()).contains("CONNECT_INVALID_HOST");
    }

    @Test
    void nothingListening_exitsWithThree() throws Exception {
        int free;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            free = s.getLocalPort();
        }
        assertEquals(3, run("nvme", "discover", "-a", "127.0.0.1", "-s", Integer.toString(free), "-q", HOST, "--timeout", "2s"));
        assertThat(err.toString()).contains("127.0.0.1:" + free);
    }
}
