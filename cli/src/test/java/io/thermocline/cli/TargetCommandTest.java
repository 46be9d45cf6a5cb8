package io.thermocline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.thermocline.tier.testkit.TestTimeouts;
import java.io.DataInputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class TargetCommandTest {

    private static final String NQN = "nqn.2024-01.io.thermocline.test:cli";

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
    void serve_createsTheFile_printsOneLine_answersICReq_andStops() throws Exception {
        Path file = dir.resolve("disk.img");
        TargetCommand.Serve serve = new TargetCommand.Serve();
        CommandLine cl = new CommandLine(serve);
        StringWriter serveOut = new StringWriter();
        cl.setOut(new PrintWriter(serveOut, true));
        int[] exit = {-1};
        Thread running = Thread.ofPlatform().start(() -> exit[0] = cl.execute("--port", "0", "--nqn", NQN,
                "--file", file.toString(), "--size", "4MiB", "--block-size", "512", "--allow-any-host"));
        long deadline = System.nanoTime() + TestTimeouts.seconds(30).toNanos();
        while (!serveOut.toString().contains("\n") && running.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        String printed = serveOut.toString();
        try {
            Matcher m = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+) nqn=" + Pattern.quote(NQN)
                    + " namespace 1: " + Pattern.quote(file.toString()) + " \\(4194304 bytes, 512-byte blocks\\)\n").matcher(printed);
            assertThat(m.matches()).as("printed: %s", printed).isTrue();
            assertEquals(4 << 20, Files.size(file), "created at --size");

            // ICReq (NVMe/TCP 1.0 Figure 15): type 0, HLEN 128, PLEN 128, PFV 0, HPDA 0, no digests, MAXR2T 0
            try (Socket socket = new Socket("127.0.0.1", Integer.parseInt(m.group(1)))) {
                ByteBuffer icreq = ByteBuffer.allocate(128).order(ByteOrder.LITTLE_ENDIAN);
                icreq.put((byte) 0).put((byte) 0).put((byte) 128).put((byte) 0).putInt(128);
                OutputStream os = socket.getOutputStream();
                os.write(icreq.array());
                os.flush();
                byte[] resp = new byte[128];
                new DataInputStream(socket.getInputStream()).readFully(resp);
                ByteBuffer r = ByteBuffer.wrap(resp).order(ByteOrder.LITTLE_ENDIAN);
                assertEquals(1, r.get(0), "ICResp type");
                assertEquals(128, r.get(2) & 0xFF, "HLEN");
                assertEquals(128, r.getInt(4), "PLEN");
                assertEquals(0, r.getShort(8), "PFV");
                assertEquals(0, r.get(10), "CPDA");
                assertEquals(0, r.get(11), "no digests");
                assertEquals(128 * 1024, r.getInt(12), "MAXH2CDATA");
            }
        } finally {
            serve.stop.countDown();
            running.join(TestTimeouts.millis(30));
        }
        assertThat(running.isAlive()).isFalse();
        assertEquals(0, exit[0]);
        assertThat(serveOut.toString().lines()).hasSize(1);
    }

    @Test
    void serve_refusesUsageErrors_namingTheValue() {
        Path missing = dir.resolve("missing.img");
        assertEquals(2, run("target", "serve", "--nqn", NQN, "--file", missing.toString(), "--allow-any-host"));
        assertThat(err.toString()).contains("does not exist").contains("--size");
        assertEquals(2, run("target", "serve", "--nqn", NQN, "--file", missing.toString(), "--size", "1MiB"));
        assertThat(err.toString()).contains("--allow-host HOSTNQN");
        assertEquals(2, run("target", "serve", "--nqn", NQN, "--file", missing.toString(), "--size", "1MiB",
                "--block-size", "1024", "--allow-any-host"));
        assertThat(err.toString()).contains("--block-size: 1024 (expected: 512 or 4096)");
        assertEquals(2, run("target", "serve", "--nqn", "disk1", "--file", missing.toString(), "--size", "1MiB", "--allow-any-host"));
        assertThat(err.toString()).contains("'disk1'");
        assertEquals(2, run("target", "serve", "--nqn", NQN, "--file", missing.toString(), "--size", "1000", "--allow-any-host"));
        assertThat(err.toString()).contains("--size: 1000 bytes");
        assertThat(Files.exists(missing)).isFalse();
    }

    @Test
    void help_teachesByExample() {
        assertEquals(0, run("target", "serve", "--help"));
        assertThat(out.toString()).contains("Examples:").contains("nvme connect -t tcp").contains("--allow-host");
        assertEquals(0, run("--help"));
        assertThat(out.toString()).contains("target");
    }
}
