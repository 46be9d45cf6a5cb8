package io.thermocline.cli;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.thermocline.nvmeof.auth.DhchapSecret;
import io.thermocline.nvmeof.auth.TlsPsk;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code thermocline nvme connect}'s DH-HMAC-CHAP and TLS flags against {@code thermocline target
 * serve --config}, both run in this JVM through their command lines: the target's hosts, secrets
 * and TLS keys come from the YAML file, the host's from nvme-cli's flags.
 */
@ScaledTimeout(120)
class FabricSecurityCommandTest {
    private static final String NQN = "nqn.2026-11.io.thermocline:cli-security";
    private static final String AUTH_HOST = "nqn.2014-08.org.nvmexpress:uuid:5d1e0c8a-7b41-4c0e-9a61-1f2e3d4c5b01";
    private static final String TLS_HOST = "nqn.2014-08.org.nvmexpress:uuid:5d1e0c8a-7b41-4c0e-9a61-1f2e3d4c5b02";
    private static final SecureRandom RANDOM = new SecureRandom();

    @TempDir
    Path dir;

    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();
    private TargetCommand.Serve serve;
    private Thread serving;

    private int run(String... args) {
        out.getBuffer().setLength(0);
        err.getBuffer().setLength(0);
        return CliRun.run(out, err, args);
    }

    /** Starts {@code target serve --config} with {@code yaml}; returns its port. */
    private String serve(String yaml) throws Exception {
        Path config = dir.resolve("target.yaml");
        Files.writeString(config, yaml);
        serve = new TargetCommand.Serve();
        CommandLine cl = new CommandLine(serve);
        StringWriter serveOut = new StringWriter();
        StringWriter serveErr = new StringWriter();
        cl.setOut(new PrintWriter(serveOut, true));
        cl.setErr(new PrintWriter(serveErr, true));
        serving = Thread.ofPlatform().start(() -> cl.execute("--port", "0", "--nqn", NQN, "--file", dir.resolve("ns").toString(),
                "--size", "4MiB", "--config", config.toString()));
        long deadline = System.nanoTime() + TestTimeouts.seconds(30).toNanos();
        while (!serveOut.toString().contains("\n") && serving.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        Matcher m = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+) ").matcher(serveOut.toString());
        assertThat(m.find()).as("target serve printed: %s %s", serveOut, serveErr).isTrue();
        return m.group(1);
    }

    @AfterEach
    void stop() throws InterruptedException {
        if (serve != null) {
            serve.stop.countDown();
            serving.join(TestTimeouts.millis(30));
        }
    }

    @Test
    void connect_dhchapBidirectional_againstConfiguredHost() throws Exception {
        String key = DhchapSecret.generate(1, 32, RANDOM).format();
        String ctrlKey = DhchapSecret.generate(2, 48, RANDOM).format();
        String port = serve("""
                hosts:
                  - nqn: %s
                    dhchap-key: "%s"
                    dhchap-ctrl-key: "%s"
                    dhchap-hash: hmac(sha384)
                    dhchap-dhgroup: ffdhe2048
                """.formatted(AUTH_HOST, key, ctrlKey));
        assertEquals(0, run("nvme", "connect", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", AUTH_HOST,
                "-S", key, "-C", ctrlKey), err.toString());
        assertThat(out.toString()).contains("connected to " + NQN).contains("namespace 1: 4194304 bytes");

        // a wrong host secret is refused by the target, a wrong controller secret by the host
        out.getBuffer().setLength(0);
        assertNotEquals(0, run("nvme", "connect", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", AUTH_HOST,
                "--dhchap-secret", DhchapSecret.generate(1, 32, RANDOM).format()));
        assertThat(out.toString()).doesNotContain("connected to");
        assertNotEquals(0, run("nvme", "connect", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", AUTH_HOST,
                "--dhchap-secret", key, "--dhchap-ctrl-secret", DhchapSecret.generate(2, 48, RANDOM).format()));
        assertThat(out.toString()).doesNotContain("connected to");
        // no secret at all: the controller requires authentication
        assertNotEquals(0, run("nvme", "connect", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", AUTH_HOST));
        assertThat(err.toString()).contains("AUTHREQ.ATR");
    }

    @Test
    void connect_tls_withEitherIdentityVersion_andTheWrongKeyRefused() throws Exception {
        TlsPsk key = TlsPsk.generate(1, RANDOM);
        String port = serve("""
                hosts:
                  - nqn: %s
                    tls-key: "%s"
                    tls-key-derivation: nvme-cli-compat
                """.formatted(TLS_HOST, key.format()));
        TlsPsk compat = key.withDerivation(TlsPsk.Derivation.NVME_CLI_COMPAT);
        assertEquals(0, run("nvme", "connect", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", TLS_HOST,
                "--tls", "--tls-key", key.format(), "--tls-key-derivation", "nvme-cli-compat"), err.toString());
        assertThat(out.toString()).contains("connected to " + NQN);
        out.getBuffer().setLength(0);
        assertEquals(0, run("nvme", "connect", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", TLS_HOST,
                "--tls-key", key.format(), "--tls-key-derivation", "nvme-cli-compat",
                "--tls-key-identity", compat.identity(TLS_HOST, NQN, 1)), err.toString());
        assertThat(out.toString()).contains("connected to " + NQN);

        // nvme bench takes the same flags
        assertEquals(0, run("nvme", "bench", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", TLS_HOST, "--tls-key", key.format(),
                "--tls-key-derivation", "nvme-cli-compat", "--rw", "randwrite", "--bs", "4k", "--qd", "4", "--runtime", "1",
                "--verify"), err.toString());
        // the specification's derivation gives another PSK than the one the target holds
        assertNotEquals(0, run("nvme", "connect", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", TLS_HOST,
                "--tls", "--tls-key", key.format()));
        // cleartext on a TLS port
        assertNotEquals(0, run("nvme", "connect", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", TLS_HOST));
        assertThat(out.toString()).doesNotContain("connected to");
    }

    @Test
    void securityFlags_badValues_exitTwo_namingTheFlag() {
        String port = "4420";
        String tls = TlsPsk.generate(1, RANDOM).format();
        String[] base = {"nvme", "connect", "-a", "127.0.0.1", "-s", port, "-n", NQN, "-q", TLS_HOST};
        assertEquals(2, run(concat(base, "--tls")));
        assertThat(err.toString()).contains("--tls without --tls-key");
        assertEquals(2, run(concat(base, "--tls", "--tls-key", "0x1a2b3c")));
        assertThat(err.toString()).contains("looks like a key ID");
        assertEquals(2, run(concat(base, "--tls-key", tls, "--keyring", ".nvme")));
        assertThat(err.toString()).contains("--keyring");
        assertEquals(2, run(concat(base, "--tls-key", "NVMeTLSkey-1:01:AAAA:")));
        assertThat(err.toString()).contains("--tls-key");
        assertEquals(2, run(concat(base, "--tls-key", tls, "--tls-key-derivation", "md5")));
        assertThat(err.toString()).contains("--tls-key-derivation").contains("expected rfc8446 or nvme-cli-compat");
        assertEquals(2, run(concat(base, "--tls-key", tls, "--tls-key-identity", "NVMe0R01 someone else")));
        assertThat(err.toString()).contains("--tls-key-identity");
        assertEquals(2, run(concat(base, "--tls-key-identity", "NVMe0R01 x y")));
        assertEquals(2, run(concat(base, "-C", DhchapSecret.generate(1, 32, RANDOM).format())));
        assertThat(err.toString()).contains("--dhchap-ctrl-secret");
        assertEquals(2, run(concat(base, "-S", "DHHC-1:09:nonsense:")));
        assertThat(err.toString()).contains("--dhchap-secret");
    }

    @Test
    void serveConfig_badEntries_exitTwo_namingFileEntryAndKey() throws Exception {
        String[] cases = {
            "hosts:\n  - dhchap-key: \"DHHC-1:00:AAAA:\"\n", "no 'nqn'",
            "hosts:\n  - nqn: " + AUTH_HOST + "\n    dhchap-hash: hmac(sha256)\n", "'dhchap-hash' without 'dhchap-key'",
            "hosts:\n  - nqn: " + AUTH_HOST + "\n    tls_key: x\n", "unknown key 'tls_key'",
            "hosts:\n  - nqn: " + AUTH_HOST + "\n    tls-key: \"NVMeTLSkey-1:05:AAAA:\"\n", "hosts[0] (" + AUTH_HOST + ")",
            "tenants: []\n", "unknown key 'tenants'",
            "hosts: x\n", "'hosts' is not a list",
        };
        for (int i = 0; i < cases.length; i += 2) {
            Path config = dir.resolve("bad" + i + ".yaml");
            Files.writeString(config, cases[i]);
            err.getBuffer().setLength(0);
            assertEquals(2, run("target", "serve", "--port", "0", "--nqn", NQN, "--file", dir.resolve("ns").toString(),
                    "--size", "4MiB", "--config", config.toString()), cases[i]);
            assertThat(err.toString()).as(cases[i]).contains(config.toString()).contains(cases[i + 1]);
        }
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
