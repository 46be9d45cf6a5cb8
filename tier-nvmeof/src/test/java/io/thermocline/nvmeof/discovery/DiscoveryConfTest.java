package io.thermocline.nvmeof.discovery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DiscoveryConfTest {
    private static final String HOST = "nqn.2014-08.com.example:nvme:host-1";
    private static final HostIdentity FALLBACK = HostIdentity.random();

    @TempDir
    Path dir;

    @Test
    void read_nvmeCliExample_withCommentsAndBlankLines() throws IOException {
        Path file = dir.resolve("discovery.conf");
        Files.writeString(file, """
                # Machine default 'nvme discover' commands: two ports of one discovery controller.
                -t tcp -a 192.168.69.33 -s 4420 -q %s

                   # indented comment
                -t tcp -a 192.168.1.4   -s 8009 -q %s   # trailing comment
                --transport=tcp --traddr=10.0.0.5 --hostid=0f2c1a3e-8e2b-4c5d-9a6f-1b2c3d4e5f60 -p -k 12 -l -1 -g -G
                -t rdma -a 10.1.1.1
                -ttcp -a::1 -s4421
                """.formatted(HOST, HOST));
        DiscoveryConf conf = DiscoveryConf.read(file);
        assertEquals(file.toString(), conf.source());
        assertEquals(5, conf.entries().size());

        DiscoveryConf.Entry first = conf.entries().get(0);
        assertEquals(2, first.line());
        assertEquals("tcp", first.transport());
        assertEquals("192.168.69.33", first.traddr());
        assertEquals(4420, first.port());
        assertEquals(HOST, first.hostnqn());
        assertEquals(NvmeOpcodes.DISCOVERY_NQN, first.subsystemNqn());
        assertFalse(first.persistent());

        DiscoveryConf.Entry second = conf.entries().get(1);
        assertEquals(5, second.line());
        assertEquals(8009, second.port());

        DiscoveryConf.Entry third = conf.entries().get(2);
        assertEquals(6, third.line());
        assertNull(third.trsvcid());
        assertEquals(DiscoveryConf.DEFAULT_DISCOVERY_PORT, third.port(), "no -s: NVMe/TCP's discovery port");
        assertEquals(UUID.fromString("0f2c1a3e-8e2b-4c5d-9a6f-1b2c3d4e5f60"), third.hostid());
        assertTrue(third.persistent());
        assertTrue(third.hdrDigest());
        assertTrue(third.dataDigest());
        assertEquals(12, third.keepAliveTmoSeconds());
        assertEquals(-1, third.ctrlLossTmoSeconds());

        assertEquals("rdma", conf.entries().get(3).transport());
        DiscoveryConf.Entry fifth = conf.entries().get(4);
        assertEquals("::1", fifth.traddr());
        assertEquals(4421, fifth.port());
    }

    @Test
    void hostOptions_carryTheLinesFlags_andPersistentLinesKeepAlive() {
        DiscoveryConf conf = DiscoveryConf.parse("test", List.of(
                "-t tcp -a 127.0.0.1 -s 4420 -q " + HOST + " -I 0f2c1a3e-8e2b-4c5d-9a6f-1b2c3d4e5f60 -c 3",
                "-t tcp -a 127.0.0.1 -p",
                "-t tcp -a 127.0.0.1"));
        NvmeTcpHostOptions a = conf.entries().get(0).hostOptions("test", FALLBACK, Duration.ofSeconds(7)).build();
        assertEquals("127.0.0.1", a.traddr());
        assertEquals(4420, a.trsvcid());
        assertEquals(NvmeOpcodes.DISCOVERY_NQN, a.nqn());
        assertEquals(new HostIdentity(HOST, UUID.fromString("0f2c1a3e-8e2b-4c5d-9a6f-1b2c3d4e5f60")), a.identity());
        assertEquals(Duration.ofSeconds(3), a.reconnectDelay());
        assertEquals(Duration.ZERO, a.keepAliveTimeout(), "one-shot discovery: no keep-alive");
        assertEquals(Duration.ofSeconds(7), a.commandTimeout());

        NvmeTcpHostOptions p = conf.entries().get(1).hostOptions("test", FALLBACK, Duration.ofSeconds(7)).build();
        assertEquals(8009, p.trsvcid());
        assertEquals(FALLBACK, p.identity(), "no -q: the host's own identity");
        assertEquals(PersistentDiscovery.DEFAULT_KEEP_ALIVE_TIMEOUT, p.keepAliveTimeout());
        assertEquals(NvmeTcpHostOptions.OFF, p.ctrlLossTimeout(), "a persistent line reconnects forever unless -l says otherwise");
    }

    @Test
    void hostOptions_refuseWhatUserSpaceCannotDo_namingTheLine() {
        DiscoveryConf conf = DiscoveryConf.parse("disc.conf", List.of("# x", "-t rdma -a 10.0.0.1", "-t tcp -a 10.0.0.1 -w 10.0.0.2"));
        DiscoveryConfException rdma = assertThrows(DiscoveryConfException.class,
                () -> conf.entries().get(0).hostOptions("disc.conf", FALLBACK, Duration.ofSeconds(1)));
        assertEquals(2, rdma.line());
        assertEquals("-t", rdma.flag());
        assertEquals("rdma", rdma.value());
        assertTrue(rdma.getMessage().startsWith("disc.conf line 2: -t 'rdma' (expected tcp"), rdma.getMessage());
        DiscoveryConfException w = assertThrows(DiscoveryConfException.class,
                () -> conf.entries().get(1).hostOptions("disc.conf", FALLBACK, Duration.ofSeconds(1)));
        assertEquals(3, w.line());
        assertEquals("-w", w.flag());
    }

    @Test
    void badLines_areRefused_withLineFlagAndValue() {
        assertBad("-t tcp -a 10.0.0.1 -s http", 1, "-s", "http", "a port number 1..65535");
        assertBad("-t tcp -a 10.0.0.1 -s 70000", 1, "-s", "70000", "a port number");
        assertBad("-t tcp -a 10.0.0.1 --trsvcid=0", 1, "--trsvcid", "0", "a port number");
        assertBad("-t tcp -a 10.0.0.1 -x 3", 1, "-x", null, "unknown flag -x (expected one of -t/--transport");
        assertBad("-t tcp -a 10.0.0.1 --bogus=3", 1, "--bogus", "3", "unknown flag --bogus (with '3')");
        assertBad("-t tcp -a", 1, "-a", null, "a value after -a");
        assertBad("-t tcp -a # comment", 1, "-a", null, "a value after -a");
        assertBad("-a 10.0.0.1 -s 8009", 1, "-t", null, "a transport");
        assertBad("-t ib -a 10.0.0.1", 1, "-t", "ib", "tcp, rdma, fc or loop");
        assertBad("-t tcp -s 8009", 1, "-a", null, "address");
        assertBad("-t tcp -a 10.0.0.1 -a 10.0.0.2", 1, "-a", "10.0.0.2", "given twice");
        assertBad("-t tcp 10.0.0.1", 1, null, "10.0.0.1", "a flag");
        assertBad("-t tcp -a 10.0.0.1 -pfoo", 1, "-p", "foo", "switch");
        assertBad("-t tcp -a 10.0.0.1 --persistent=yes", 1, "--persistent", "yes", "switch");
        assertBad("-t tcp -a 10.0.0.1 -I not-a-uuid", 1, "-I", "not-a-uuid", "a UUID");
        assertBad("-t tcp -a 10.0.0.1 -q host1", 1, "-q", "host1", "an NQN");
        assertBad("-t tcp -a 10.0.0.1 -k -5", 1, "-k", "-5", "seconds");
        assertBad("-t tcp -a 10.0.0.1 -l -2", 1, "-l", "-2", "-1 to reconnect forever");
        assertBad("-t fc -a nn-0x1:pn-0x2 -s 4420", 1, "-s", "4420", "no --trsvcid for fc");
    }

    @Test
    void aBadLineAmongGoodOnes_isReportedByItsOwnNumber() {
        DiscoveryConfException e = assertThrows(DiscoveryConfException.class, () -> DiscoveryConf.parse("/etc/nvme/discovery.conf",
                List.of("# header", "-t tcp -a 10.0.0.1 -s 8009", "", "-t tcp -a 10.0.0.2 -s 80x9", "-t tcp -a 10.0.0.3")));
        assertEquals(4, e.line());
        assertEquals("/etc/nvme/discovery.conf", e.source());
        assertEquals("/etc/nvme/discovery.conf line 4: -s '80x9' (expected a port number 1..65535)", e.getMessage());
    }

    @Test
    void onlyCommentsAndBlanks_isAnEmptyList() {
        assertTrue(DiscoveryConf.parse("x", List.of("", "   ", "# only", "\t# tab")).entries().isEmpty());
    }

    private static void assertBad(String line, int number, String flag, String value, String expectedPart) {
        DiscoveryConfException e = assertThrows(DiscoveryConfException.class, () -> DiscoveryConf.parse("f", List.of(line)),
                "line should be refused: " + line);
        assertEquals(number, e.line(), e.getMessage());
        assertEquals(flag, e.flag(), e.getMessage());
        assertEquals(value, e.value(), e.getMessage());
        assertTrue(e.getMessage().contains(expectedPart), e.getMessage());
        assertTrue(e.getMessage().startsWith("f line " + number + ": "), e.getMessage());
    }
}
