package io.thermocline.cli;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.target.DiscoveryReferral;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code thermocline nvme discover} with a discovery.conf file, referrals and a persistent connection, against Java targets. */
@ScaledTimeout(60)
class NvmeDiscoverCommandTest {
    private static final String HOST = "nqn.2014-08.org.nvmexpress:uuid:2b7c1d9e-0c55-4e0b-a1a4-7f3f5a9d6c02";

    @TempDir
    Path dir;
    private NvmeTcpTarget first;
    private NvmeTcpTarget second;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    @BeforeEach
    void startTargets() {
        first = NvmeTcpTarget.builder().port(0).eventLoopThreads(1)
                .subsystem(Subsystem.builder("nqn.2026-11.io.thermocline:disc-one").allowHost(HOST)
                        .namespace(Namespace.openFile(dir.resolve("ns1"), 1 << 20, 4096, false)).build())
                .build();
        first.start();
        second = NvmeTcpTarget.builder().port(0).eventLoopThreads(1)
                .subsystem(Subsystem.builder("nqn.2026-11.io.thermocline:disc-two").allowAnyHost(true)
                        .namespace(Namespace.openFile(dir.resolve("ns2"), 1 << 20, 4096, false)).build())
                .build();
        second.start();
    }

    @AfterEach
    void stopTargets() {
        first.close();
        second.close();
    }

    private int run(String... args) {
        return CliRun.run(out, err, args);
    }

    private int port(NvmeTcpTarget t) {
        return t.address().getPort();
    }

    @Test
    void discoveryConf_readsEveryLine() throws Exception {
        Path conf = dir.resolve("discovery.conf");
        Files.writeString(conf, """
                # two discovery controllers
                -t tcp -a 127.0.0.1 -s %d -q %s
                --transport=tcp --traddr=127.0.0.1 --trsvcid=%d   # any host
                """.formatted(port(first), HOST, port(second)));
        assertEquals(0, run("nvme", "discover", "--discovery-conf", conf.toString()), err.toString());
        assertThat(out.toString())
                .contains("Discovery controller 127.0.0.1:" + port(first) + " (" + conf + " line 2)")
                .contains("Discovery controller 127.0.0.1:" + port(second) + " (" + conf + " line 3)")
                .contains("subnqn:  nqn.2026-11.io.thermocline:disc-one")
                .contains("subnqn:  nqn.2026-11.io.thermocline:disc-two");
    }

    @Test
    void discoveryConf_json() throws Exception {
        Path conf = dir.resolve("discovery.conf");
        Files.writeString(conf, "-t tcp -a 127.0.0.1 -s " + port(second) + "\n");
        assertEquals(0, run("nvme", "discover", "--discovery-conf", conf.toString(), "-q", HOST, "--json"), err.toString());
        assertThat(out.toString()).startsWith("{\"controllers\":[{\"traddr\":\"127.0.0.1\",\"trsvcid\":" + port(second))
                .contains("\"subnqn\":\"nqn.2026-11.io.thermocline:disc-two\"");
    }

    @Test
    void badDiscoveryConfLine_exitsWithTwo_namingLineFlagAndValue() throws Exception {
        Path conf = dir.resolve("discovery.conf");
        Files.writeString(conf, "# header\n-t tcp -a 127.0.0.1 -s 8009\n-t tcp -a 127.0.0.1 -s eighty\n");
        assertEquals(2, run("nvme", "discover", "--discovery-conf", conf.toString()));
        assertThat(err.toString()).contains(conf + " line 3: -s 'eighty' (expected a port number 1..65535)");
    }

    @Test
    void missingOrEmptyDiscoveryConf_exitsWithTwo() throws Exception {
        assertEquals(2, run("nvme", "discover", "--discovery-conf", dir.resolve("absent.conf").toString()));
        assertThat(err.toString()).contains("absent.conf does not exist");
        Path empty = dir.resolve("empty.conf");
        Files.writeString(empty, "# nothing here\n");
        assertEquals(2, run("nvme", "discover", "--discovery-conf", empty.toString()));
        assertThat(err.toString()).contains("lists no discovery controller");
    }

    @Test
    void oneUnreachableLine_isReported_andTheOthersStillPrinted() throws Exception {
        int free;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            free = s.getLocalPort();
        }
        Path conf = dir.resolve("discovery.conf");
        Files.writeString(conf, "-t tcp -a 127.0.0.1 -s " + free + "\n-t tcp -a 127.0.0.1 -s " + port(second) + "\n");
        assertEquals(1, run("nvme", "discover", "--discovery-conf", conf.toString(), "-q", HOST, "--timeout", "2s"));
        assertThat(err.toString()).contains(conf + " line 1: ");
        assertThat(out.toString()).contains("nqn.2026-11.io.thermocline:disc-two");
    }

    @Test
    void everyLineUnreachable_exitsWithThree() throws Exception {
        int free;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            free = s.getLocalPort();
        }
        Path conf = dir.resolve("discovery.conf");
        Files.writeString(conf, "-t tcp -a 127.0.0.1 -s " + free + "\n");
        assertEquals(3, run("nvme", "discover", "--discovery-conf", conf.toString(), "-q", HOST, "--timeout", "2s"));
        assertThat(err.toString()).contains("127.0.0.1:" + free);
    }

    @Test
    void followReferrals_readsTheReferredController() {
        first.addReferral(new DiscoveryReferral("127.0.0.1", port(second)));
        second.addReferral(new DiscoveryReferral("127.0.0.1", port(first)));  // a loop: read once each
        assertEquals(0, run("nvme", "discover", "-a", "127.0.0.1", "-s", Integer.toString(port(first)), "-q", HOST,
                "--follow-referrals"), err.toString());
        String text = out.toString();
        assertThat(text).contains("subtype: discovery subsystem referral")
                .contains("Discovery controller 127.0.0.1:" + port(second) + " (referral from 127.0.0.1:" + port(first) + ", 1 hop(s))")
                .contains("nqn.2026-11.io.thermocline:disc-two");
        assertEquals(2, text.split("Discovery Log Number of Records", -1).length - 1, text);
    }

    @Test
    void persistent_printsASubsystemAddedWhileConnected() throws Exception {
        CompletableFuture<Integer> code = CompletableFuture.supplyAsync(() -> run("nvme", "discover", "-a", "127.0.0.1", "-s",
                Integer.toString(port(first)), "-q", HOST, "-p", "-k", "2", "--exit-after", "6s"));
        long deadline = System.nanoTime() + TestTimeouts.seconds(10).toNanos();
        while (!out.toString().contains("Generation counter 1") && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(out.toString()).contains("Generation counter 1");
        first.addSubsystem(Subsystem.builder("nqn.2026-11.io.thermocline:disc-late").allowHost(HOST)
                .namespace(Namespace.openFile(dir.resolve("ns3"), 1 << 20, 4096, false)).build());
        while (!out.toString().contains("disc-late") && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(out.toString()).contains("Discovery Log Page Change: generation 1 -> 2, 1 new, 0 gone")
                .contains("+ nvme subsystem nqn.2026-11.io.thermocline:disc-late 127.0.0.1:" + port(first));
        assertEquals(0, code.get(TestTimeouts.millis(20), TimeUnit.MILLISECONDS), err.toString());
        assertTrue(err.toString().isEmpty() || !err.toString().contains("thermocline:"), err.toString());
    }
}
