package io.thermocline.it.kernel;

import io.thermocline.tier.testkit.ScaledTimeout;
import io.thermocline.tier.testkit.TestTimeouts;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.nvmeof.auth.TlsPsk;
import io.thermocline.nvmeof.host.HostIdentity;
import io.thermocline.nvmeof.host.NvmeEventLoops;
import io.thermocline.nvmeof.host.NvmeException;
import io.thermocline.nvmeof.host.NvmeTcpBlockDevice;
import io.thermocline.nvmeof.host.NvmeTcpController;
import io.thermocline.nvmeof.host.NvmeTcpHostOptions;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * TLS 1.3 for NVMe/TCP (TP8011) between Thermocline and the Linux kernel (6.12) with tlshd and
 * nvme-cli, in a qemu guest. What nvme-cli puts in the kernel's .nvme keyring for a configured key
 * ({@code nvme check-tls-key --insert}) is read back and compared with what {@link TlsPsk} derives:
 * the identity (version 0 and 1) and the TLS PSK byte for byte, for SHA-256, SHA-384 and an
 * untransformed key. nvme-cli up to 2.13 derives without RFC 8446's length bytes
 * ({@link TlsPsk.Derivation#NVME_CLI_COMPAT}); the test picks the derivation from
 * {@code nvme version}. A host with a wrong key is refused both ways, without a hang.
 *
 * <p>Then the handshakes, SHA-256 keys: Thermocline's host against nvmet on a port with
 * {@code addr_tsas=tls1.3}, offering a version 0 or 1 identity; the kernel's host against the
 * Java target, with the key in the keyring ({@code nvme connect --tls}, version 0) and on the
 * command line ({@code --tls-key}, which nvme-cli 2.13 inserts under a version 1 identity); each
 * writes and reads back through the other side. SHA-384 keys ({@code NVMeTLSkey-1:02:}) do not
 * get through tlshd 1.0.0 either way: each side rejects the other's PSK binder, which fits tlshd
 * not telling GnuTLS the key's hash (GnuTLS takes SHA-256 for an external PSK); see docs/nvme-tcp-security.md.
 *
 * <p>Needs, in the guest, a kernel of 6.7 or later with CONFIG_NVME_TCP_TLS and
 * CONFIG_NVME_TARGET_TCP_TLS (Debian's 6.1, bookworm's default, has neither; bookworm's 6.12 has
 * both, and the guest image takes it where apt knows it: docs/kernel-tests.md), and
 * the handshake daemon tlshd with keyutils and an nvme-cli that knows {@code --tls}: bookworm has
 * neither, so {@link GuestTlsTools} takes them from Debian trixie and shares them with the guest.
 * Without any of these every test is skipped, saying which is missing.
 */
@ScaledTimeout(value = 10, unit = TimeUnit.MINUTES)
class NvmeTcpKernelTlsInteropTest {
    private static final String KERNEL_NQN = "nqn.2026-11.io.thermocline:kernel-tls";
    private static final String JAVA_NQN = "nqn.2026-11.io.thermocline:java-tls";
    private static final long NAMESPACE_BYTES = 16L << 20;
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String KERNEL_PACKAGE_HINT = "a kernel of 6.7 or later: the guest image takes the newest amd64 kernel package apt knows "
            + "(bookworm and bookworm-backports carry linux-image-6.12.*-amd64-unsigned), or the one THERMOCLINE_GUEST_KERNEL_PACKAGE names; "
            + "see docs/kernel-tests.md";
    private static final String TOOLS = "/opt/tls-tools";

    /** The kernel hosts' NQNs and keys, one per kernel-host test, known to the Java target. */
    private static final String KERNEL_HOST_SHA256 = hostNqn("kernel-sha256");
    private static final String KERNEL_HOST_CLI = hostNqn("kernel-cli");
    private static final String KERNEL_HOST_WRONG = hostNqn("kernel-wrong");
    private static final TlsPsk KEY_SHA256 = TlsPsk.generate(1, RANDOM);
    private static final TlsPsk KEY_CLI = TlsPsk.generate(1, RANDOM);
    /** The key the guest has for the wrong-key host; the Java target has another. */
    private static final TlsPsk KEY_WRONG = TlsPsk.generate(1, RANDOM);
    /** How the guest's nvme-cli derives PSKs: up to 2.13 without RFC 8446's length bytes. */
    private static TlsPsk.Derivation cliDerivation;
    private static String cliVersion;

    private static SharedKernelGuest shared;
    private static String missing;
    private static NvmeTcpTarget javaTarget;
    private static NvmeEventLoops loops;
    private static Path dir;
    private static int kernelTargetPort;
    private static NvmetSubsystem kernelTarget;

    private static String hostNqn(String name) {
        return "nqn.2014-08.org.nvmexpress:uuid:" + UUID.nameUUIDFromBytes(("tls-" + name).getBytes());
    }

    @BeforeAll
    static void boot() throws IOException {
        int javaTargetPort;
        try (ServerSocket a = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             ServerSocket b = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            kernelTargetPort = a.getLocalPort();
            javaTargetPort = b.getLocalPort();
        }
        KernelGuest.Options options = KernelGuest.Options.defaults().targetPort(kernelTargetPort).hostNvmeTarget(javaTargetPort);
        GuestTlsTools tools = null;
        try {
            tools = GuestTlsTools.prepare();
            options.share("tlstools", tools.root());
        } catch (GuestUnavailableException e) {
            missing = "no tlshd, keyutils and nvme-cli with --tls for the guest: " + e.getMessage();
            System.err.println("SKIPPED: " + missing);
        }
        shared = SharedKernelGuest.start(options);
        if (shared.ifAvailable().isEmpty() || tools == null) {
            return;
        }
        KernelGuest guest = shared.get();
        if (!kernelAtLeast(guest.kernelRelease(), 6, 7)) {
            missing = "the guest kernel " + guest.kernelRelease() + " has no NVMe/TCP TLS (needs 6.7 or later with "
                    + "CONFIG_NVME_TCP_TLS and CONFIG_NVME_TARGET_TCP_TLS; bookworm's 6.12 has both; the guest needs " + KERNEL_PACKAGE_HINT + ")";
            System.err.println("SKIPPED: " + missing);
            return;
        }
        guest.mountShare("tlstools", TOOLS);
        // the guest's nvme, keyctl and tlshd become trixie's, run through the shared tree's own loader
        guest.execOk("""
                set -e
                for p in usr/sbin/nvme usr/sbin/tlshd usr/bin/keyctl; do
                  printf '#!/bin/sh\\nexec %1$s/ld-linux-x86-64.so.2 --library-path %1$s %2$s/%%s "$@"\\n' "$p" > "/$p.new"
                  chmod 755 "/$p.new"
                  mv "/$p.new" "/$p"
                done
                """.formatted(TOOLS + "/usr/lib/x86_64-linux-gnu", TOOLS), Duration.ofSeconds(30));
        Matcher version = Pattern.compile("nvme version (\\d+)\\.(\\d+)").matcher(guest.execOk("nvme version", Duration.ofSeconds(30)).output());
        if (!version.find()) {
            throw new IOException("nvme version printed no version");
        }
        cliVersion = version.group(1) + "." + version.group(2);
        int major = Integer.parseInt(version.group(1));
        int minor = Integer.parseInt(version.group(2));
        cliDerivation = major < 2 || major == 2 && minor <= 13 ? TlsPsk.Derivation.NVME_CLI_COMPAT : TlsPsk.Derivation.RFC8446;
        ExecResult tls = guest.exec("modprobe tls 2>&1; modprobe nvme-keyring 2>&1; "
                + "modprobe -a gcm ghash-generic aes_generic aesni-intel 2>/dev/null; grep -o ' \\.nvme' /proc/keys");
        if (!tls.output().contains(".nvme")) {
            missing = "the guest kernel " + guest.kernelRelease() + " has no .nvme keyring or tls module: " + tls.output().trim();
            System.err.println("SKIPPED: " + missing);
            return;
        }
        // tlshd does the handshakes the kernel hands it over netlink, with the PSKs in the .nvme keyring
        ExecResult tlshd = guest.exec("""
                mkdir -p /etc/tlshd
                printf '[debug]\\nloglevel=7\\ntls=0\\nnl=0\\n[authenticate]\\nkeyrings=.nvme\\n' > /etc/tlshd.conf
                setsid tlshd -c /etc/tlshd.conf -s < /dev/null > /tmp/tlshd.log 2>&1 &
                echo $! > /tmp/tlshd.pid
                sleep 2
                kill -0 "$(cat /tmp/tlshd.pid)" && echo tlshd-running
                cat /tmp/tlshd.log
                """, Duration.ofSeconds(30));
        if (!tlshd.output().contains("tlshd-running")) {
            missing = "tlshd did not stay up in the guest (" + guest.kernelRelease() + "): " + tlshd.output().trim();
            System.err.println("SKIPPED: " + missing);
            return;
        }
        // nvmet: port 1 made a TLS port before the subsystem is linked to it (tsas is fixed while a port is enabled)
        ExecResult port = guest.exec("""
                set -e
                port=/sys/kernel/config/nvmet/ports/1
                mkdir "$port"
                echo tcp > "$port/addr_trtype"
                echo ipv4 > "$port/addr_adrfam"
                echo %s > "$port/addr_traddr"
                echo %d > "$port/addr_trsvcid"
                echo tls1.3 > "$port/addr_tsas"
                cat "$port/addr_tsas" "$port/addr_treq"
                """.formatted(KernelGuest.GUEST_ADDRESS, KernelGuest.NVME_TCP_PORT), Duration.ofSeconds(30));
        if (!port.ok() || !port.output().contains("tls1.3")) {
            missing = "the guest kernel " + guest.kernelRelease() + " refused addr_tsas=tls1.3 (CONFIG_NVME_TARGET_TCP_TLS): "
                    + port.output().trim() + "\n" + guest.dmesg();
            System.err.println("SKIPPED: " + missing);
            return;
        }
        kernelTarget = guest.startNvmetTarget(KERNEL_NQN, 512, NAMESPACE_BYTES);

        dir = Files.createTempDirectory("thermocline-tls-interop");
        Subsystem sub = Subsystem.builder(JAVA_NQN)
                .namespace(Namespace.openFile(dir.resolve("ns"), NAMESPACE_BYTES, 512, false))
                .allowHost(KERNEL_HOST_SHA256).allowHost(KERNEL_HOST_CLI).allowHost(KERNEL_HOST_WRONG)
                .build();
        javaTarget = NvmeTcpTarget.builder().port(javaTargetPort).subsystem(sub)
                .tlsKey(KERNEL_HOST_SHA256, KEY_SHA256.withDerivation(cliDerivation))
                .tlsKey(KERNEL_HOST_CLI, KEY_CLI.withDerivation(cliDerivation))
                .tlsKey(KERNEL_HOST_WRONG, TlsPsk.generate(1, RANDOM).withDerivation(cliDerivation))
                .build();
        javaTarget.start();
        loops = new NvmeEventLoops(1);
    }

    static boolean kernelAtLeast(String release, int major, int minor) {
        Matcher m = Pattern.compile("^(\\d+)\\.(\\d+)").matcher(release);
        if (!m.find()) {
            return false;
        }
        int a = Integer.parseInt(m.group(1));
        int b = Integer.parseInt(m.group(2));
        return a > major || a == major && b >= minor;
    }

    @AfterAll
    static void shutDown() throws IOException {
        if (javaTarget != null) {
            javaTarget.close();
        }
        if (loops != null) {
            loops.close();
        }
        if (shared != null) {
            shared.ifAvailable().ifPresent(g -> {
                try {
                    g.exec("kill $(cat /tmp/tlshd.pid 2>/dev/null) 2>/dev/null; true");
                } catch (IOException e) {
                    System.err.println("stopping tlshd: " + e);
                }
            });
            shared.close();
        }
        if (dir != null) {
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(dir);
        }
    }

    private static KernelGuest guest() {
        KernelGuest guest = shared.get();
        Assumptions.assumeTrue(missing == null, missing);
        return guest;
    }

    /** Inserts the PSK that nvme-cli derives from {@code key} for {@code hostNqn} and {@code subNqn} into the guest's .nvme keyring. */
    private static String insertKernelKey(KernelGuest guest, TlsPsk key, String hostNqn, String subNqn) throws IOException {
        return insertKernelKey(guest, key, hostNqn, subNqn, 0);
    }

    private static String insertKernelKey(KernelGuest guest, TlsPsk key, String hostNqn, String subNqn, int identityVersion)
            throws IOException {
        return guest.execOk("nvme check-tls-key --insert --identity=" + identityVersion + " --hostnqn=" + hostNqn
                + " --subsysnqn=" + subNqn + " --keydata=" + key.format() + " 2>&1; cat /proc/keys", Duration.ofSeconds(30)).output();
    }

    /** The payload of the psk key whose description starts with {@code identityPrefix}, in hex. */
    private static String keyPayloadHex(KernelGuest guest, String identityPrefix) throws IOException {
        String keys = guest.execOk("cat /proc/keys", Duration.ofSeconds(10)).output();
        String serial = keys.lines().filter(l -> l.contains(" psk ") && l.contains(identityPrefix)).map(l -> l.trim().split("\\s+")[0])
                .findFirst().orElseThrow(() -> new AssertionError("no psk key '" + identityPrefix + "' in /proc/keys:\n" + keys));
        String ring = keys.lines().filter(l -> l.contains(" keyring ") && l.contains(" .nvme:")).map(l -> l.trim().split("\\s+")[0])
                .findFirst().orElseThrow(() -> new AssertionError("no .nvme keyring in /proc/keys:\n" + keys));
        // reading needs possession: link the .nvme keyring into this session's keyring first
        String hex = guest.exec("keyctl session - sh -c 'keyctl link $((0x" + ring + ")) @s && keyctl pipe $((0x" + serial
                + "))' > /tmp/psk 2>/tmp/psk.err && od -An -v -tx1 /tmp/psk | tr -d ' \\n'", Duration.ofSeconds(10)).output().trim();
        if (!hex.matches("[0-9a-f]{64}|[0-9a-f]{96}")) {
            throw new AssertionError("could not read the psk key " + serial + ": " + hex + "\n"
                    + guest.exec("cat /tmp/psk.err; nvme tls-key --export 2>&1").output());
        }
        return hex;
    }

    // --- what nvme-cli puts in the keyring is what Thermocline derives ---

    @ParameterizedTest(name = "hash {0}, identity version {1}")
    @CsvSource({"1,0", "2,0", "1,1", "2,1", "0,0"})
    void nvmeCli_keyringPsk_isTheOneThermoclineDerives(int hash, int version) throws Exception {
        KernelGuest guest = guest();
        String hostNqn = "nqn.2014-08.org.nvmexpress:uuid:" + UUID.randomUUID();
        String subNqn = "nqn.2026-11.io.thermocline:derive-" + hash + "-" + version;
        TlsPsk key = hash == 0 ? TlsPsk.of(0, TlsPsk.generate(1, RANDOM).tlsPsk("h", "s")) : TlsPsk.generate(hash, RANDOM);
        TlsPsk ours = key.withDerivation(cliDerivation).withIdentityVersion(version);
        String inserted = insertKernelKey(guest, key, hostNqn, subNqn, version);
        String identity = ours.identity(hostNqn, subNqn);
        assertTrue(inserted.contains(identity), "nvme-cli " + cliVersion + " inserted another identity than " + identity + ":\n" + inserted);
        String payload = keyPayloadHex(guest, identity);
        HexFormat hex = HexFormat.of();
        assertEquals(hex.formatHex(ours.tlsPsk(hostNqn, subNqn)), payload, "the TLS PSK of nvme-cli " + cliVersion
                + " (" + cliDerivation + ") and Thermocline's; the other derivation gives "
                + hex.formatHex(ours.withDerivation(cliDerivation == TlsPsk.Derivation.RFC8446
                        ? TlsPsk.Derivation.NVME_CLI_COMPAT : TlsPsk.Derivation.RFC8446).tlsPsk(hostNqn, subNqn)));
    }

    private static String diagnostics(KernelGuest guest) throws IOException {
        return guest.exec("echo '--- tlshd'; tail -n 40 /tmp/tlshd.log; echo '--- keys'; cat /proc/keys").output()
                + "\n--- dmesg\n" + guest.dmesg();
    }

    // --- Thermocline host -> Linux nvmet-tcp over TLS ---

    @ParameterizedTest(name = "identity version {0}")
    @CsvSource({"0", "1"})
    void javaHost_sha256Key_againstKernelTarget(int identityVersion) throws Exception {
        KernelGuest guest = guest();
        String hostNqn = "nqn.2014-08.org.nvmexpress:uuid:" + UUID.randomUUID();
        int hash = 1;
        TlsPsk key = TlsPsk.generate(hash, RANDOM).withDerivation(cliDerivation).withIdentityVersion(identityVersion);
        String inserted = insertKernelKey(guest, key, hostNqn, KERNEL_NQN, identityVersion);
        assertTrue(inserted.contains(key.identity(hostNqn, KERNEL_NQN)), inserted);
        NvmeTcpHostOptions options = NvmeTcpHostOptions.builder("127.0.0.1", kernelTargetPort, KERNEL_NQN)
                .identity(new HostIdentity(hostNqn, UUID.nameUUIDFromBytes(hostNqn.getBytes())))
                .tlsKey(key)
                .nrIoQueues(2).queueSize(32).commandTimeout(Duration.ofSeconds(60)).connectTimeout(Duration.ofSeconds(30))
                .build();
        try (NvmeTcpController c = NvmeTcpController.connectAndWait(loops, options)) {
            NvmeTcpBlockDevice d = c.openNamespace(c.activeNamespaces().getFirst());
            java.util.Random random = new java.util.Random(identityVersion);
            byte[] data = new byte[64 << 10];
            random.nextBytes(data);
            long offset = 4096L * (1 + random.nextInt(200));
            d.write(offset, java.nio.ByteBuffer.wrap(data)).join();
            java.nio.ByteBuffer back = java.nio.ByteBuffer.allocate(data.length);
            d.read(offset, back).join();
            org.junit.jupiter.api.Assertions.assertArrayEquals(data, back.array());
            assertEquals(KernelGuest.sha256(data), guest.sha256Direct(kernelTarget.backingDevice(), offset, data.length));
        } catch (NvmeException e) {
            throw new AssertionError(e + "\n" + diagnostics(guest), e);
        }
    }

    @Test
    void javaHost_wrongKey_kernelTargetRefuses() throws Exception {
        KernelGuest guest = guest();
        String hostNqn = "nqn.2014-08.org.nvmexpress:uuid:" + UUID.randomUUID();
        insertKernelKey(guest, TlsPsk.generate(1, RANDOM), hostNqn, KERNEL_NQN);
        NvmeTcpHostOptions options = NvmeTcpHostOptions.builder("127.0.0.1", kernelTargetPort, KERNEL_NQN)
                .identity(new HostIdentity(hostNqn, UUID.nameUUIDFromBytes(hostNqn.getBytes())))
                .tlsKey(TlsPsk.generate(1, RANDOM).format())
                .connectTimeout(Duration.ofSeconds(30)).commandTimeout(Duration.ofSeconds(30))
                .build();
        long start = System.nanoTime();
        assertThrows(NvmeException.class, () -> NvmeTcpController.connectAndWait(loops, options).close());
        assertTrue(System.nanoTime() - start < TestTimeouts.seconds(45).toNanos(), "refused within the connect timeout");
    }

    // --- Linux nvme-tcp host -> Thermocline target over TLS ---

    private static void kernelHostRoundTrip(KernelGuest guest, List<String> extra) throws IOException {
        NvmeConnection conn;
        try {
            conn = guest.nvmeConnect(KernelGuest.HOST_ADDRESS, KernelGuest.NVME_TCP_PORT, JAVA_NQN, false, false, extra);
        } catch (IOException e) {
            throw new IOException(e.getMessage() + "\n" + diagnostics(guest), e);
        }
        try {
            String sha = guest.writeRandomAndVerify(conn.device(), 8192, 64 << 10);
            byte[] b = new byte[64 << 10];
            try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(dir.resolve("ns").toFile(), "r")) {
                f.seek(8192);
                f.readFully(b);
            }
            assertEquals(sha, KernelGuest.sha256(b), "the bytes the kernel host wrote over TLS, in the Java target's file");
        } finally {
            assertEquals(1, guest.nvmeDisconnect(JAVA_NQN));
        }
    }

    @Test
    void kernelHost_keyInKeyring_versionZeroIdentity_againstJavaTarget() throws Exception {
        KernelGuest guest = guest();
        insertKernelKey(guest, KEY_SHA256, KERNEL_HOST_SHA256, JAVA_NQN);
        kernelHostRoundTrip(guest, List.of("--hostnqn=" + KERNEL_HOST_SHA256, "--tls"));
    }

    @Test
    void kernelHost_keyOnCommandLine_versionOneIdentity_againstJavaTarget() throws Exception {
        KernelGuest guest = guest();
        // nvme-cli 2.13 inserts a key given with --tls-key under a version 1 identity
        kernelHostRoundTrip(guest, List.of("--hostnqn=" + KERNEL_HOST_CLI, "--tls", "--tls-key=" + KEY_CLI.format()));
    }

    @Test
    void kernelHost_wrongKey_javaTargetRefuses() throws Exception {
        KernelGuest guest = guest();
        insertKernelKey(guest, KEY_WRONG, KERNEL_HOST_WRONG, JAVA_NQN);
        ExecResult r = guest.exec("nvme connect -t tcp -a " + KernelGuest.HOST_ADDRESS + " -s " + KernelGuest.NVME_TCP_PORT
                + " -n " + JAVA_NQN + " --hostnqn=" + KERNEL_HOST_WRONG + " --tls 2>&1", Duration.ofSeconds(90));
        assertFalse(r.ok(), r + "\n" + diagnostics(guest));
    }
}
