package io.thermocline.it.kernel;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code KernelNvmeDevice} on the real Linux NVMe over Fabrics host, with the JVM inside a qemu
 * guest (Debian's kernel under TCG): the guest exports two memory-backed namespaces through nvmet,
 * one over RDMA on its own Soft-RoCE device ({@code rdma_rxe} on eth0, nvmet-rdma on
 * {@value KernelGuest#GUEST_ADDRESS}:4420, 4 KiB LBAs) and one over TCP (nvmet-tcp on
 * 127.0.0.1:4420, 512-byte LBAs). The host's JDK and this module's test class path are shared with
 * the guest read-only over virtfs, and {@link GuestJUnitMain} runs the BlockDevice contract
 * ({@link KernelNvmeDeviceGuestContract}) against each in a guest JVM; this test parses its summary.
 *
 * <p>The class takes about 50 s on a 2-vCPU machine (boot, 9 contract tests per transport, each
 * with its own {@code nvme connect} and {@code nvme disconnect}), so it runs by default;
 * {@code -D}{@value #ENABLE_PROPERTY}{@code =false} skips it, saying so. Without qemu or the guest
 * image's packages it is skipped with the reason, like every {@link KernelGuest} test.
 */
@ScaledTimeout(value = 30, unit = TimeUnit.MINUTES)
class KernelNvmeDeviceGuestTest {

    static final String ENABLE_PROPERTY = "thermocline.kernelNvme.guest";
    private static final String TCP_NQN = "nqn.2026-11.io.thermocline:kernel-nvme-tcp";
    private static final String RDMA_NQN = "nqn.2026-11.io.thermocline:kernel-nvme-rdma";
    private static final Pattern SUMMARY = Pattern.compile(
            "(?m)^GUEST-JUNIT found=(\\d+) succeeded=(\\d+) failed=(\\d+) skipped=(\\d+) aborted=(\\d+) millis=(\\d+)$");
    private static final Duration RUN_TIMEOUT = Duration.ofMinutes(12);

    private static SharedKernelGuest shared;
    private static Path classPathCopy;
    private static String guestClassPath;
    private static String skipReason;

    @BeforeAll
    static void boot() throws IOException {
        if ("false".equals(System.getProperty(ENABLE_PROPERTY))) {
            skipReason = "the in-guest KernelNvmeDevice contract is turned off by -D" + ENABLE_PROPERTY + "=false";
            System.err.println("SKIPPED: " + skipReason);
            return;
        }
        Path javaHome = Path.of(System.getProperty("java.home"));
        classPathCopy = Files.createTempDirectory("thermocline-guest-classpath-");
        guestClassPath = copyClassPath(classPathCopy, "/mnt/classpath");
        shared = SharedKernelGuest.start(KernelGuest.Options.defaults()
                .memoryMiB(1536)
                .share("jdk", javaHome)
                .share("classpath", classPathCopy));
        if (shared.ifAvailable().isEmpty()) {
            return;
        }
        KernelGuest guest = shared.get();
        guest.mountShare("jdk", "/mnt/jdk");
        guest.mountShare("classpath", "/mnt/classpath");
        guest.execOk("""
                set -e
                modprobe rdma_rxe
                modprobe nvme-rdma
                modprobe nvmet-rdma
                rdma link add rxe0 type rxe netdev eth0
                cfg=/sys/kernel/config
                export_namespace() {  # name nqn lba port-id transport address
                  nullb=$cfg/nullb/$1
                  mkdir "$nullb"
                  echo 1 > "$nullb/memory_backed"
                  echo "$3" > "$nullb/blocksize"
                  echo 16 > "$nullb/size"
                  echo 1 > "$nullb/power"
                  dev=/dev/$1
                  [ -b "$dev" ] || dev=/dev/nullb$(cat "$nullb/index")
                  sub=$cfg/nvmet/subsystems/$2
                  mkdir "$sub"
                  echo 1 > "$sub/attr_allow_any_host"
                  mkdir "$sub/namespaces/1"
                  printf '%%s' "$dev" > "$sub/namespaces/1/device_path"
                  echo 1 > "$sub/namespaces/1/enable"
                  port=$cfg/nvmet/ports/$4
                  mkdir "$port"
                  echo "$5" > "$port/addr_trtype"
                  echo ipv4 > "$port/addr_adrfam"
                  echo "$6" > "$port/addr_traddr"
                  echo 4420 > "$port/addr_trsvcid"
                  ln -s "$sub" "$port/subsystems/$2"
                }
                export_namespace kndrdma %s 4096 21 rdma %s
                export_namespace kndtcp %s 512 22 tcp 127.0.0.1
                rdma link show
                """.formatted(RDMA_NQN, KernelGuest.GUEST_ADDRESS, TCP_NQN), Duration.ofMinutes(2));
    }

    @AfterAll
    static void shutDown() {
        if (shared != null) {
            shared.close();
        }
        if (classPathCopy != null) {
            GuestImage.deleteTree(classPathCopy);
        }
    }

    @Test
    void blockDeviceContract_overRdma_softRoce() throws IOException {
        runContract("rdma", KernelGuest.GUEST_ADDRESS, RDMA_NQN);
    }

    @Test
    void blockDeviceContract_overKernelTcp() throws IOException {
        runContract("tcp", "127.0.0.1", TCP_NQN);
    }

    private static void runContract(String transport, String traddr, String nqn) throws IOException {
        Assumptions.assumeTrue(skipReason == null, skipReason);
        KernelGuest guest = shared.get();
        String p = KernelNvmeDeviceGuestContract.PREFIX;
        String command = "cd /tmp && /mnt/jdk/bin/java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx384m"
                + " --enable-native-access=ALL-UNNAMED"
                + " -Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener"
                + " -D" + p + "transport=" + transport + " -D" + p + "traddr=" + traddr + " -D" + p + "trsvcid=4420"
                + " -D" + p + "nqn=" + nqn
                + " -cp " + guestClassPath + " " + GuestJUnitMain.class.getName() + " "
                + KernelNvmeDeviceGuestContract.class.getName() + " 2>&1";
        long start = System.nanoTime();
        ExecResult result = guest.exec(command, RUN_TIMEOUT);
        long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
        System.out.println("guest JVM over " + transport + " (" + seconds + " s):\n" + result.output());
        Matcher summary = SUMMARY.matcher(result.output());
        if (!summary.find()) {
            fail("the guest JVM printed no summary (exit status " + result.exitCode() + "):\n" + result.output()
                 + "\ndmesg:\n" + guest.dmesg());
        }
        int found = Integer.parseInt(summary.group(1));
        int succeeded = Integer.parseInt(summary.group(2));
        assertTrue(found > 0, "the guest JVM found no tests");
        assertEquals(found, succeeded, "contract tests over " + transport + " that did not pass:\n" + result.output()
                + "\ndmesg:\n" + guest.dmesg());
        assertEquals(0, result.exitCode(), result.output());
        assertEquals("", guest.execOk("ls /sys/class/nvme/", Duration.ofSeconds(30)).output().trim(),
                "every controller the contract connected was disconnected");
    }

    /**
     * Copies this JVM's test class path (surefire's, which a manifest-only jar hides from
     * {@code java.class.path}) into {@code target}, each entry under a numbered name, and returns
     * the class path as the guest sees it under {@code guestRoot}.
     */
    private static String copyClassPath(Path target, String guestRoot) throws IOException {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> guestEntries = new ArrayList<>();
        int index = 0;
        for (String entry : classPath.split(File.pathSeparator)) {
            Path source = Path.of(entry);
            if (entry.isBlank() || !Files.exists(source)) {
                continue;
            }
            String name = (index++) + "-" + source.getFileName();
            Path copy = target.resolve(name);
            if (Files.isDirectory(source)) {
                try (Stream<Path> files = Files.walk(source)) {
                    for (Path file : files.toList()) {
                        Path to = copy.resolve(source.relativize(file).toString());
                        if (Files.isDirectory(file)) {
                            Files.createDirectories(to);
                        } else {
                            Files.copy(file, to, StandardCopyOption.REPLACE_EXISTING);
                        }
                    }
                }
            } else {
                Files.copy(source, copy);
            }
            guestEntries.add(guestRoot + "/" + name);
        }
        return String.join(":", guestEntries);
    }
}
