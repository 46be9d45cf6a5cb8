package io.thermocline.it.kernel;

import io.thermocline.tier.testkit.TestTimeouts;
import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Assumptions;

/**
 * A Linux kernel booted in a qemu guest (software emulation, TCG), so that tests can run our
 * user-space NVMe/TCP code against the kernel's own NVMe/TCP target (nvmet-tcp) and host (nvme-tcp).
 * The machine running the tests cannot load kernel modules, so a guest with Debian's stock kernel
 * is the only place these implementations exist.
 *
 * <p>The guest sits behind qemu's user-mode network with {@code restrict=on}: it reaches nothing but
 * the forwards set up here, and the host side of every forward is bound to 127.0.0.1.
 * <ul>
 *   <li>Kernel target: {@link #startNvmetTarget} exports a subsystem on the guest's
 *       {@value #GUEST_ADDRESS}:{@value #NVME_TCP_PORT}, which the host reaches at
 *       {@code 127.0.0.1:}{@link #targetPort()}. Discovery log entries name the guest address, not
 *       the forwarded one: host-side code must connect to 127.0.0.1:targetPort() itself.</li>
 *   <li>Kernel host: the guest reaches a host port P as {@value #HOST_ADDRESS}:{@value #NVME_TCP_PORT}
 *       when started with {@link Options#hostNvmeTarget(int) hostNvmeTarget(P)}; each guest connection
 *       gets its own host connection, as NVMe/TCP's one-connection-per-queue needs.</li>
 * </ul>
 *
 * <p>Commands run in the guest over a virtio serial port ({@link #exec}). The qemu process is killed
 * by its PID on {@link #close()} and, failing that, by a shutdown hook.
 */
public final class KernelGuest implements AutoCloseable {

    /** The guest's own address on its user-mode network. */
    public static final String GUEST_ADDRESS = "10.0.2.15";
    /** The address at which the guest reaches the host's forwarded ports. */
    public static final String HOST_ADDRESS = "10.0.2.100";
    /** The NVMe/TCP I/O port. */
    public static final int NVME_TCP_PORT = 4420;
    /** System property that, when {@code true}, keeps the guest's work directory (console log) after close. */
    public static final String KEEP_WORK_DIR_PROPERTY = "thermocline.kernelGuest.keepWorkDir";

    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);
    private static final String READY_MARKER = "thermocline-guest: ready";
    private static final String FAILED_MARKER = "thermocline-guest: FAILED";
    private static final String PANIC_MARKER = "Kernel panic - not syncing";
    private static final int MAX_BOOT_CRASHES = 3;
    private static final Pattern NQN = Pattern.compile("[A-Za-z0-9][A-Za-z0-9.:_-]{0,222}");
    private static final Pattern ADDRESS = Pattern.compile("[0-9.]{7,15}");
    private static final Pattern GUEST_PATH = Pattern.compile("/[A-Za-z0-9._/-]+");
    private static final Pattern CONNECT_OPTION = Pattern.compile("--[a-z][a-z-]*(=[A-Za-z0-9:+/=._-]+)?");
    private static final int MAX_DIRECT_BLOCK = 128 * 1024;
    private static final Pattern SHARE_TAG = Pattern.compile("[A-Za-z0-9_-]{1,31}");

    private final Process qemu;
    private final Path workDir;
    private final GuestImage image;
    private final int targetPort;
    private final GuestChannel channel;
    private final Thread shutdownHook;
    private final AtomicInteger nullBlockDevices = new AtomicInteger();
    private final Map<String, String> nullBlockByNqn = new ConcurrentHashMap<>();
    private final String hostNqn;
    private boolean closed;

    private KernelGuest(Process qemu, Path workDir, GuestImage image, int targetPort, GuestChannel channel,
                        Thread shutdownHook) throws IOException {
        this.qemu = qemu;
        this.workDir = workDir;
        this.image = image;
        this.targetPort = targetPort;
        this.channel = channel;
        this.shutdownHook = shutdownHook;
        this.hostNqn = execOk("cat /etc/nvme/hostnqn", DEFAULT_TIMEOUT).output().trim();
    }

    /**
     * Boots a guest and returns once it answers commands. Builds the guest image first if this
     * machine's cache lacks it (see {@link GuestImage#prepare()}).
     *
     * @throws GuestUnavailableException if qemu, a tool or the kernel package cannot be had here
     * @throws IOException               if the guest did not boot
     */
    public static KernelGuest start(Options options) throws IOException {
        GuestImage image = GuestImage.prepare();
        String qemuBinary = findOnPath("qemu-system-x86_64");
        if (qemuBinary == null) {
            throw new GuestUnavailableException("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)");
        }
        if (!options.shares.isEmpty() && !supportsVirtfs(qemuBinary)) {
            throw new GuestUnavailableException(qemuBinary + " has no virtfs (virtio-9p-pci device), which sharing "
                    + "host directories with the guest needs; Debian's qemu-system-x86 has it");
        }
        String perl = null;
        if (!options.hostForwards.isEmpty()) {
            perl = findOnPath("perl");
            if (perl == null) {
                throw new GuestUnavailableException("perl is not installed; the guest-to-host forwards run a perl relay");
            }
        }
        int forwardAttempts = options.targetPort == 0 ? 3 : 1;
        int forwardFailures = 0;
        int crashes = 0;
        while (true) {
            int port = options.targetPort != 0 ? options.targetPort : freeLoopbackPort();
            try {
                return boot(options, image, qemuBinary, perl, port);
            } catch (HostForwardInUseException e) {
                if (++forwardFailures >= forwardAttempts) {
                    throw new IOException(e.getMessage(), e);
                }
            } catch (CrashedWhileBootingException e) {
                // The emulated kernel crashed before its init ran, so before any test command and
                // any product code reached it. Seen once in CI: an int3 oops in sched_clock_cpu
                // while the kernel patched its own text on one vCPU and ran it on the other (TCG
                // has no hardware to keep two vCPUs' views of modified code in step). It is the
                // emulator's fault, not the test's, so the guest boots again, a bounded number
                // of times; a kernel that crashes every time still fails the test.
                if (++crashes >= MAX_BOOT_CRASHES) {
                    throw new IOException("the guest kernel crashed while booting, " + crashes
                            + " times in a row; the last time:\n" + e.getMessage(), e);
                }
                System.err.println("kernel guest: the guest kernel crashed while booting, before its init ran"
                        + " (boot " + crashes + " of at most " + MAX_BOOT_CRASHES + "); booting it again."
                        + " What it printed:\n" + e.getMessage());
            }
        }
    }

    /**
     * Like {@link #start}, but a guest that cannot run on this machine aborts the calling test as
     * skipped, with the reason on stderr and in the report. For a guest shared by a test class, use
     * {@link SharedKernelGuest}, which makes each test report the skip.
     */
    public static KernelGuest startOrSkip(Options options) throws IOException {
        try {
            return start(options);
        } catch (GuestUnavailableException e) {
            String reason = "kernel guest unavailable: " + e.getMessage();
            System.err.println("SKIPPED: " + reason);
            return Assumptions.abort(reason);
        }
    }

    private static KernelGuest boot(Options options, GuestImage image, String qemuBinary, String perl, int targetPort)
            throws IOException {
        Path workDir = Files.createTempDirectory("thermocline-kguest-");
        Process qemu = null;
        Thread hook = null;
        GuestChannel channel = null;
        try {
            Path relay = GuestImage.copyResource("guestfwd-relay.pl", workDir);
            Path console = workDir.resolve("console.log");
            Path qemuLog = workDir.resolve("qemu.log");
            Path commandSocket = workDir.resolve("command.sock");
            List<String> pathsInOptions = new ArrayList<>(List.of(workDir.toString(), String.valueOf(perl)));
            options.shares.values().forEach(p -> pathsInOptions.add(p.toString()));
            for (String path : pathsInOptions) {
                if (path.contains(",") || path.contains(" ")) {
                    throw new IOException("qemu's option syntax cannot take this path (comma or space): " + path);
                }
            }

            StringBuilder netdev = new StringBuilder("user,id=net0,restrict=on")
                    .append(",hostfwd=tcp:127.0.0.1:").append(targetPort).append('-').append(GUEST_ADDRESS)
                    .append(':').append(NVME_TCP_PORT);
            for (Map.Entry<Integer, Integer> forward : options.hostForwards.entrySet()) {
                netdev.append(",guestfwd=tcp:").append(HOST_ADDRESS).append(':').append(forward.getKey())
                        .append("-cmd:").append(perl).append(' ').append(relay).append(' ').append(forward.getValue());
            }
            List<String> command = new ArrayList<>(List.of(qemuBinary,
                    "-name", "thermocline-kernel-guest",
                    "-accel", "tcg",
                    "-cpu", "max",
                    "-smp", Integer.toString(options.cpus),
                    "-m", options.memoryMiB + "M",
                    "-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
                    "-kernel", image.kernel().toString(),
                    "-initrd", image.initramfs().toString(),
                    "-append", "console=ttyS0 quiet panic=-1",
                    "-serial", "file:" + console,
                    "-device", "virtio-serial-pci,id=virtio-serial0",
                    "-chardev", "socket,id=command,path=" + commandSocket + ",server=on,wait=off",
                    "-device", "virtserialport,bus=virtio-serial0.0,chardev=command,name=thermocline.command",
                    "-netdev", netdev.toString(),
                    "-device", "virtio-net-pci,netdev=net0"));
            for (Map.Entry<String, Path> share : options.shares.entrySet()) {
                // read-only: the guest runs as root and must not change the host's files
                command.addAll(List.of("-virtfs", "local,path=" + share.getValue() + ",mount_tag=" + share.getKey()
                        + ",security_model=none,readonly=on"));
            }
            qemu = new ProcessBuilder(command)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(qemuLog.toFile())
                    .redirectErrorStream(true)
                    .start();
            Process started = qemu;
            hook = new Thread(() -> kill(started), "kernel-guest-kill-" + qemu.pid());
            Runtime.getRuntime().addShutdownHook(hook);

            long deadline = System.nanoTime() + TestTimeouts.scaled(options.bootTimeout).toNanos();
            channel = awaitCommandSocket(qemu, commandSocket, qemuLog, deadline);
            awaitReady(qemu, console, qemuLog, deadline);
            GuestChannel.Answer ping = channel.exec("echo pong", TestTimeouts.seconds(20));
            if (ping.exitCode() != 0 || !new String(ping.output(), StandardCharsets.UTF_8).trim().equals("pong")) {
                throw new IOException("the guest booted but does not answer commands properly: " + ping);
            }
            return new KernelGuest(qemu, workDir, image, targetPort, channel, hook);
        } catch (IOException | RuntimeException e) {
            if (channel != null) {
                channel.close();
            }
            if (qemu != null) {
                kill(qemu);
            }
            if (hook != null) {
                removeShutdownHook(hook);
            }
            GuestImage.deleteTree(workDir);
            throw e;
        }
    }

    private static GuestChannel awaitCommandSocket(Process qemu, Path socket, Path qemuLog, long deadline)
            throws IOException {
        while (true) {
            if (Files.exists(socket)) {
                try {
                    return GuestChannel.connect(socket);
                } catch (IOException e) {
                    if (System.nanoTime() > deadline) {
                        throw e;
                    }
                }
            }
            checkAlive(qemu, qemuLog, null);
            if (System.nanoTime() > deadline) {
                throw new IOException("qemu did not create its command socket " + socket + "\n" + read(qemuLog));
            }
            sleep(20);
        }
    }

    private static void awaitReady(Process qemu, Path console, Path qemuLog, long deadline) throws IOException {
        while (true) {
            String log = read(console);
            if (log.contains(READY_MARKER)) {
                return;
            }
            if (log.contains(FAILED_MARKER)) {
                throw new IOException("the guest's init failed:\n" + tail(log));
            }
            checkAlive(qemu, qemuLog, console);
            if (System.nanoTime() > deadline) {
                throw new IOException("the guest did not become ready in time; console:\n" + tail(log));
            }
            sleep(50);
        }
    }

    private static void checkAlive(Process qemu, Path qemuLog, Path console) throws IOException {
        if (qemu.isAlive()) {
            return;
        }
        String output = read(qemuLog);
        if (output.contains("Could not set up host forwarding rule")) {
            throw new HostForwardInUseException(output.trim());
        }
        String log = console != null ? read(console) : "";
        if (log.contains(PANIC_MARKER) && !log.contains(READY_MARKER)) {
            throw new CrashedWhileBootingException("qemu exited with status " + qemu.exitValue() + ":\n" + output
                    + "\nconsole, from the first report of a kernel fault:\n" + fromFirstFault(log));
        }
        throw new IOException("qemu exited with status " + qemu.exitValue() + ":\n" + output
                + (console != null ? "\nconsole:\n" + tail(log) : ""));
    }

    /**
     * The console from the first kernel fault report on (at most 80 lines), or its tail when there
     * is none: the first oops explains a crash, the later ones are its consequences.
     */
    private static String fromFirstFault(String log) {
        List<String> lines = log.lines().toList();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.contains("cut here") || line.contains("Oops") || line.contains("BUG:")
                    || line.contains(PANIC_MARKER)) {
                return String.join("\n", lines.subList(i, Math.min(lines.size(), i + 80)));
            }
        }
        return tail(log);
    }

    /** The PID of the qemu process. */
    public long pid() {
        return qemu.pid();
    }

    /** The guest kernel's release, e.g. {@code 6.1.0-56-amd64}. */
    public String kernelRelease() {
        return image.kernelRelease();
    }

    /** The host NQN that the guest's nvme-cli presents ({@code /etc/nvme/hostnqn}). */
    public String hostNqn() {
        return hostNqn;
    }

    /** The host port on 127.0.0.1 that forwards to the guest's NVMe/TCP port {@value #NVME_TCP_PORT}. */
    public int targetPort() {
        return targetPort;
    }

    /** The file that receives the guest's serial console (kernel messages at warning level and up, init's output). */
    public Path consoleLog() {
        return workDir.resolve("console.log");
    }

    /** Runs {@code command} with the guest's {@code sh} (busybox), waiting at most 60 s (scaled). */
    public ExecResult exec(String command) throws IOException {
        return exec(command, DEFAULT_TIMEOUT);
    }

    /**
     * Runs {@code command} with the guest's {@code sh} (busybox) as root; the guest kills it after
     * {@code timeout} multiplied by the test-wide scale ({@link TestTimeouts}). Commands run one at a
     * time. A command that leaves a process in the background must redirect that process's output.
     */
    public ExecResult exec(String command, Duration timeout) throws IOException {
        GuestChannel.Answer answer;
        try {
            answer = channel.exec(command, TestTimeouts.scaled(timeout));
        } catch (IOException e) {
            throw withGuestState(e);
        }
        return new ExecResult(command, answer.exitCode(), new String(answer.output(), StandardCharsets.UTF_8),
                answer.elapsed());
    }

    /**
     * A failed exchange with the guest, with what the guest left behind when it is gone: qemu's exit
     * status and the tail of the console (a kernel oops or panic lands there), so that a crash in CI
     * explains itself.
     */
    private IOException withGuestState(IOException e) {
        try {
            qemu.waitFor(2, TimeUnit.SECONDS);
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
        }
        if (qemu.isAlive()) {
            return e;
        }
        return new IOException(e.getMessage() + "\nqemu (guest kernel " + kernelRelease() + ") exited with status "
                + qemu.exitValue() + "; console:\n" + tail(read(consoleLog())) + "\nqemu:\n"
                + tail(read(workDir.resolve("qemu.log"))), e);
    }

    /** Like {@link #exec(String, Duration)}, but a non-zero exit status is an {@link IOException}. */
    public ExecResult execOk(String command, Duration timeout) throws IOException {
        ExecResult result = exec(command, timeout);
        if (!result.ok()) {
            throw new IOException("guest command failed: " + result);
        }
        return result;
    }

    /**
     * Mounts the host directory shared as {@code tag} ({@link Options#share}) read-only at
     * {@code guestPath} (9p over virtio, cache=loose so that the guest can map files, as a JVM maps
     * its class data archive).
     */
    public void mountShare(String tag, String guestPath) throws IOException {
        requireGuestPath(guestPath);
        if (!SHARE_TAG.matcher(tag).matches()) {
            throw new IllegalArgumentException("share tag: " + tag + " (expected letters, digits, - and _)");
        }
        execOk("modprobe 9pnet_virtio && modprobe 9p && mkdir -p " + guestPath
                + " && mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose " + tag + " " + guestPath,
                DEFAULT_TIMEOUT);
    }

    /** The guest kernel's log. */
    public String dmesg() throws IOException {
        return execOk("dmesg", DEFAULT_TIMEOUT).output();
    }

    /**
     * Exports a new subsystem through the guest kernel's NVMe/TCP target: a memory-backed null_blk
     * device with {@code lbaSize}-byte blocks as namespace 1 of subsystem {@code nqn}, open to any
     * host, on the TCP port {@value #GUEST_ADDRESS}:{@value #NVME_TCP_PORT}, which the host reaches
     * at {@code 127.0.0.1:}{@link #targetPort()}. Header and data digests are whatever each host
     * asks for in its ICReq.
     *
     * @param lbaSize   512, 1024, 2048 or 4096
     * @param sizeBytes a positive multiple of 1 MiB (the memory comes from the guest's RAM as written)
     */
    public NvmetSubsystem startNvmetTarget(String nqn, int lbaSize, long sizeBytes) throws IOException {
        requireNqn(nqn);
        if (lbaSize != 512 && lbaSize != 1024 && lbaSize != 2048 && lbaSize != 4096) {
            throw new IllegalArgumentException("LBA size must be 512, 1024, 2048 or 4096: " + lbaSize);
        }
        if (sizeBytes <= 0 || sizeBytes % (1 << 20) != 0) {
            throw new IllegalArgumentException("size must be a positive multiple of 1 MiB: " + sizeBytes);
        }
        String nullBlock = "kgt" + nullBlockDevices.incrementAndGet();
        String script = """
                set -e
                cfg=/sys/kernel/config
                nullb=$cfg/nullb/%1$s
                mkdir "$nullb"
                echo 1 > "$nullb/memory_backed"
                echo %2$d > "$nullb/blocksize"
                echo %3$d > "$nullb/size"
                echo 1 > "$nullb/power"
                tries=0
                while :; do
                  dev=/dev/%1$s
                  [ -b "$dev" ] || dev=/dev/nullb$(cat "$nullb/index")
                  [ -b "$dev" ] && break
                  tries=$((tries + 1))
                  [ "$tries" -le 50 ] || { echo "no block device for $nullb"; exit 1; }
                  sleep 0.1
                done
                sub=$cfg/nvmet/subsystems/%4$s
                mkdir "$sub"
                echo 1 > "$sub/attr_allow_any_host"
                mkdir "$sub/namespaces/1"
                printf '%%s' "$dev" > "$sub/namespaces/1/device_path"
                echo 1 > "$sub/namespaces/1/enable"
                port=$cfg/nvmet/ports/1
                if [ ! -d "$port" ]; then
                  mkdir "$port"
                  echo tcp > "$port/addr_trtype"
                  echo ipv4 > "$port/addr_adrfam"
                  echo %5$s > "$port/addr_traddr"
                  echo %6$d > "$port/addr_trsvcid"
                fi
                ln -s "$sub" "$port/subsystems/%4$s"
                echo "device=$dev"
                """.formatted(nullBlock, lbaSize, sizeBytes >> 20, nqn, GUEST_ADDRESS, NVME_TCP_PORT);
        String output = execOk(script, DEFAULT_TIMEOUT).output();
        Matcher device = Pattern.compile("(?m)^device=(/dev/\\S+)$").matcher(output);
        if (!device.find()) {
            throw new IOException("nvmet setup printed no device: " + output);
        }
        nullBlockByNqn.put(nqn, nullBlock);
        return new NvmetSubsystem(nqn, 1, device.group(1), lbaSize, sizeBytes);
    }

    /** Removes a subsystem that {@link #startNvmetTarget} exported, with its namespace and null_blk device. */
    public void stopNvmetTarget(String nqn) throws IOException {
        requireNqn(nqn);
        String nullBlock = nullBlockByNqn.remove(nqn);
        if (nullBlock == null) {
            throw new IllegalArgumentException("no subsystem started here with NQN " + nqn);
        }
        execOk("""
                set -e
                cfg=/sys/kernel/config
                sub=$cfg/nvmet/subsystems/%1$s
                rm "$cfg/nvmet/ports/1/subsystems/%1$s"
                echo 0 > "$sub/namespaces/1/enable"
                rmdir "$sub/namespaces/1"
                rmdir "$sub"
                echo 0 > "$cfg/nullb/%2$s/power"
                rmdir "$cfg/nullb/%2$s"
                """.formatted(nqn, nullBlock), DEFAULT_TIMEOUT);
    }

    /** Runs {@code nvme discover} against {@value #HOST_ADDRESS}:{@value #NVME_TCP_PORT} and returns its output. */
    public String nvmeDiscover() throws IOException {
        return nvmeDiscover(HOST_ADDRESS, NVME_TCP_PORT);
    }

    /** Runs {@code nvme discover} against a discovery controller at {@code address:port} and returns its output. */
    public String nvmeDiscover(String address, int port) throws IOException {
        requireAddress(address, port);
        return execOk("nvme discover -t tcp -a " + address + " -s " + port, DEFAULT_TIMEOUT).output();
    }

    /**
     * Connects the guest kernel's NVMe/TCP host to subsystem {@code nqn} at
     * {@value #HOST_ADDRESS}:{@value #NVME_TCP_PORT} (the host port given to
     * {@link Options#hostNvmeTarget}) and waits for its namespaces to appear as block devices.
     */
    public NvmeConnection nvmeConnect(String nqn, boolean headerDigest, boolean dataDigest) throws IOException {
        return nvmeConnect(HOST_ADDRESS, NVME_TCP_PORT, nqn, headerDigest, dataDigest);
    }

    /**
     * Connects the guest kernel's NVMe/TCP host to subsystem {@code nqn} at {@code address:port}
     * ({@code nvme connect}, one I/O queue per guest CPU) and waits up to 10 s (scaled by
     * {@link TestTimeouts}) for the controller to be live with a block device for every namespace
     * in its active namespace list ({@code nvme list-ns}, Identify CNS 02h, NVMe Base 2.0 §5.17.2.2).
     * The kernel attaches namespaces one by one from a scan work item after the connect returns,
     * so the first block device to appear says nothing about the others.
     */
    public NvmeConnection nvmeConnect(String address, int port, String nqn, boolean headerDigest, boolean dataDigest)
            throws IOException {
        return nvmeConnect(address, port, nqn, headerDigest, dataDigest, List.of());
    }

    /**
     * Like {@link #nvmeConnect(String, int, String, boolean, boolean)}, with more {@code nvme connect}
     * options, such as {@code --dhchap-secret=DHHC-1:01:...:}; each must match
     * {@code --name[=value]} with a value of letters, digits and {@code :+/=._-}.
     */
    public NvmeConnection nvmeConnect(String address, int port, String nqn, boolean headerDigest, boolean dataDigest,
                                      List<String> extraOptions) throws IOException {
        for (String o : extraOptions) {
            if (!CONNECT_OPTION.matcher(o).matches()) {
                throw new IllegalArgumentException("nvme connect option: '" + o + "' (expected --name or --name=value)");
            }
        }
        requireAddress(address, port);
        requireNqn(nqn);
        String script = """
                nvme connect -t tcp -a %1$s -s %2$d -n %3$s %4$s || exit $?
                tries=0
                while :; do
                  ctrl=
                  active=
                  for c in /sys/class/nvme/nvme*; do
                    [ "$(cat "$c/subsysnqn" 2>/dev/null)" = "%3$s" ] || continue
                    [ "$(cat "$c/transport" 2>/dev/null)" = tcp ] || continue
                    [ "$(cat "$c/state" 2>/dev/null)" = live ] || continue
                    case "$(cat "$c/address" 2>/dev/null)" in
                      *traddr=%1$s,trsvcid=%2$d*) ctrl=${c##*/} ;;
                    esac
                  done
                  namespaces=
                  nsids=" "
                  for b in /sys/block/nvme*; do
                    name=${b##*/}
                    case "$name" in nvme*c*) continue ;; esac
                    [ "$(cat "$b/device/subsysnqn" 2>/dev/null)" = "%3$s" ] || continue
                    nsid=$(cat "$b/nsid" 2>/dev/null || echo "${name##*n}")
                    namespaces="$namespaces namespace=/dev/$name,$nsid,$(cat "$b/queue/logical_block_size"),$(cat "$b/size")"
                    nsids="$nsids$nsid "
                  done
                  # every active namespace of the controller must have its block device: the
                  # kernel's scan attaches them one at a time after the connect has returned
                  complete=
                  if [ -n "$ctrl" ] && [ -n "$namespaces" ]; then
                    complete=yes
                    if active=$(nvme list-ns "/dev/$ctrl" 2>/dev/null); then
                      for hex in $(echo "$active" | sed -n 's/^\\[ *[0-9]*\\]: *0x\\([0-9a-fA-F]*\\).*$/\\1/p'); do
                        case "$nsids" in *" $((0x$hex)) "*) ;; *) complete= ;; esac
                      done
                    fi
                  fi
                  if [ -n "$complete" ]; then
                    echo "controller=$ctrl"
                    for n in $namespaces; do echo "$n"; done
                    exit 0
                  fi
                  tries=$((tries + 1))
                  [ "$tries" -le %5$d ] || { echo "connected, but no live controller with all its active namespaces" \\
                      "(controller: ${ctrl:-none}; block devices:${namespaces:- none}; active list: $active)"; exit 1; }
                  sleep 0.1
                done
                """.formatted(address, port, nqn, (headerDigest ? "-g " : "") + (dataDigest ? "-G " : "")
                + String.join(" ", extraOptions), TestTimeouts.millis(10) / 100);
        String output = execOk(script, DEFAULT_TIMEOUT).output();
        Matcher controller = Pattern.compile("(?m)^controller=(\\S+)$").matcher(output);
        if (!controller.find()) {
            throw new IOException("nvme connect: no controller found: " + output);
        }
        List<NvmeConnection.Namespace> namespaces = new ArrayList<>();
        Matcher namespace = Pattern.compile("(?m)^namespace=(\\S+),(\\d+),(\\d+),(\\d+)$").matcher(output);
        while (namespace.find()) {
            namespaces.add(new NvmeConnection.Namespace(namespace.group(1), Integer.parseInt(namespace.group(2)),
                    Integer.parseInt(namespace.group(3)), Long.parseLong(namespace.group(4)) * 512));
        }
        namespaces.sort((a, b) -> Integer.compare(a.nsid(), b.nsid()));
        return new NvmeConnection(nqn, controller.group(1), namespaces);
    }

    /** Disconnects every controller of subsystem {@code nqn} ({@code nvme disconnect}); returns how many. */
    public int nvmeDisconnect(String nqn) throws IOException {
        requireNqn(nqn);
        String output = execOk("nvme disconnect -n " + nqn, DEFAULT_TIMEOUT).output();
        Matcher count = Pattern.compile("disconnected (\\d+) controller").matcher(output);
        return count.find() ? Integer.parseInt(count.group(1)) : 0;
    }

    /**
     * Writes {@code data} to the guest block device {@code device} at byte {@code offset} with O_DIRECT
     * ({@code dd oflag=direct}). Offset and length must be multiples of the device's logical block
     * size, so that the write cannot fall back to the page cache. The data crosses the command port
     * (about 2-3 MB/s) and sits in the guest's tmpfs first: meant for up to tens of megabytes.
     */
    public void writeDirect(String device, long offset, byte[] data) throws IOException {
        int blockSize = directBlockSize(device, offset, data.length);
        String file = "/tmp/kernel-guest-direct-write";
        writeFile(file, data);
        long count = data.length / blockSize;
        runDd("dd if=" + file + " of=" + device + " bs=" + blockSize + " seek=" + offset / blockSize + " count="
                + count + " oflag=direct conv=notrunc", count);
        execOk("rm -f " + file, DEFAULT_TIMEOUT);
    }

    /** Reads {@code length} bytes of {@code device} at byte {@code offset} with O_DIRECT ({@code dd iflag=direct}). */
    public byte[] readDirect(String device, long offset, int length) throws IOException {
        int blockSize = directBlockSize(device, offset, length);
        String file = "/tmp/kernel-guest-direct-read";
        long count = length / blockSize;
        runDd("dd if=" + device + " of=" + file + " bs=" + blockSize + " skip=" + offset / blockSize + " count="
                + count + " iflag=direct", count);
        byte[] data = readFile(file);
        execOk("rm -f " + file, DEFAULT_TIMEOUT);
        if (data.length != length) {
            throw new IOException("read " + data.length + " bytes of " + device + ", wanted " + length);
        }
        return data;
    }

    /**
     * Writes {@code length} random bytes to {@code device} at {@code offset} with O_DIRECT, reads them
     * back with O_DIRECT, and compares byte for byte in the guest, so that megabytes need not cross
     * the command port. Returns the data's SHA-256 (lower-case hex) so the caller can compare it with
     * what its own side stored.
     *
     * @throws IOException if the data read back differs from the data written
     */
    public String writeRandomAndVerify(String device, long offset, long length) throws IOException {
        int blockSize = directBlockSize(device, offset, length);
        long count = length / blockSize;
        long blockOffset = offset / blockSize;
        String script = """
                set -e
                dd if=/dev/urandom of=/tmp/kernel-guest-pattern bs=%2$d count=%3$d iflag=fullblock 2>/dev/null
                out=$(dd if=/tmp/kernel-guest-pattern of=%1$s bs=%2$d seek=%4$d count=%3$d oflag=direct conv=notrunc 2>&1) \
                  || { echo "$out"; exit 1; }
                case "$out" in *"%3$d+0 records out"*) ;; *) echo "short write: $out"; exit 1 ;; esac
                out=$(dd if=%1$s of=/tmp/kernel-guest-readback bs=%2$d skip=%4$d count=%3$d iflag=direct 2>&1) \
                  || { echo "$out"; exit 1; }
                if ! cmp /tmp/kernel-guest-pattern /tmp/kernel-guest-readback; then
                  echo "data read back differs from data written"
                  exit 1
                fi
                sha256sum /tmp/kernel-guest-pattern
                rm -f /tmp/kernel-guest-pattern /tmp/kernel-guest-readback
                """.formatted(device, blockSize, count, blockOffset);
        ExecResult result = exec(script, ioTimeout(length));
        execOk("rm -f /tmp/kernel-guest-pattern /tmp/kernel-guest-readback", DEFAULT_TIMEOUT);
        if (!result.ok()) {
            throw new IOException("O_DIRECT write and read-back of " + device + " failed: " + result);
        }
        return firstToken(result.output());
    }

    /** SHA-256 (lower-case hex) of {@code length} bytes of {@code device} at {@code offset}, read with O_DIRECT. */
    public String sha256Direct(String device, long offset, long length) throws IOException {
        int blockSize = directBlockSize(device, offset, length);
        String script = "set -o pipefail\ndd if=" + device + " bs=" + blockSize + " skip=" + offset / blockSize
                + " count=" + length / blockSize + " iflag=direct 2>/dev/null | sha256sum";
        return firstToken(execOk(script, ioTimeout(length)).output());
    }

    /** Writes {@code data} to the guest file {@code guestPath} (tmpfs), verified by its SHA-256. */
    public void writeFile(String guestPath, byte[] data) throws IOException {
        requireGuestPath(guestPath);
        GuestChannel.Answer answer = channel.put(guestPath, data, ioTimeout(data.length));
        if (answer.exitCode() != 0) {
            throw new IOException("writing " + guestPath + " in the guest failed with exit status " + answer.exitCode());
        }
        String written = firstToken(execOk("sha256sum " + guestPath, DEFAULT_TIMEOUT).output());
        if (!written.equals(sha256(data))) {
            throw new IOException("the guest's copy of " + guestPath + " differs from the data sent");
        }
    }

    /** The bytes of the guest file {@code guestPath}. */
    public byte[] readFile(String guestPath) throws IOException {
        requireGuestPath(guestPath);
        GuestChannel.Answer answer = channel.exec("cat " + guestPath, DEFAULT_TIMEOUT);
        if (answer.exitCode() != 0) {
            throw new IOException("cannot read " + guestPath + " in the guest: "
                    + new String(answer.output(), StandardCharsets.UTF_8));
        }
        return answer.output();
    }

    /** SHA-256 of {@code data}, lower-case hex, as {@code sha256sum} prints it. */
    public static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private void runDd(String dd, long expectedRecords) throws IOException {
        String output = execOk(dd + " 2>&1", Duration.ofMinutes(5)).output();
        if (!output.contains(expectedRecords + "+0 records out")) {
            throw new IOException("dd moved fewer blocks than asked: " + dd + "\n" + output);
        }
    }

    private int directBlockSize(String device, long offset, long length) throws IOException {
        requireGuestPath(device);
        if (!device.startsWith("/dev/")) {
            throw new IllegalArgumentException("not a device: " + device);
        }
        String name = device.substring("/dev/".length());
        int logical = Integer.parseInt(execOk("cat /sys/class/block/" + name + "/queue/logical_block_size",
                DEFAULT_TIMEOUT).output().trim());
        if (offset < 0 || length <= 0 || offset % logical != 0 || length % logical != 0) {
            throw new IllegalArgumentException("offset " + offset + " and length " + length
                    + " must be multiples of " + device + "'s logical block size " + logical);
        }
        int blockSize = MAX_DIRECT_BLOCK;
        while (blockSize > logical && (offset % blockSize != 0 || length % blockSize != 0)) {
            blockSize /= 2;
        }
        return blockSize;
    }

    private static Duration ioTimeout(long length) {
        return Duration.ofSeconds(60 + length / (256 * 1024));
    }

    private static String firstToken(String output) throws IOException {
        String trimmed = output.trim();
        if (trimmed.isEmpty()) {
            throw new IOException("empty output");
        }
        return trimmed.split("\\s+", 2)[0];
    }

    private static void requireNqn(String nqn) {
        if (!NQN.matcher(nqn).matches()) {
            throw new IllegalArgumentException("NQN with characters this harness does not pass to a shell: " + nqn);
        }
    }

    private static void requireAddress(String address, int port) {
        if (!ADDRESS.matcher(address).matches() || port <= 0 || port > 65535) {
            throw new IllegalArgumentException("not an IPv4 address and port: " + address + ":" + port);
        }
    }

    private static void requireGuestPath(String path) {
        if (!GUEST_PATH.matcher(path).matches()) {
            throw new IllegalArgumentException("guest path with characters this harness does not pass to a shell: " + path);
        }
    }

    /** Kills qemu by its PID and removes the guest's work directory. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            channel.close();
        } catch (IOException e) {
            System.err.println("closing the kernel guest's command channel: " + e);
        }
        kill(qemu);
        removeShutdownHook(shutdownHook);
        if (Boolean.getBoolean(KEEP_WORK_DIR_PROPERTY)) {
            System.err.println("kernel guest work directory kept: " + workDir);
        } else {
            GuestImage.deleteTree(workDir);
        }
    }

    private static void kill(Process process) {
        ProcessHandle.of(process.pid()).ifPresent(handle -> {
            handle.descendants().forEach(ProcessHandle::destroyForcibly);
            handle.destroyForcibly();
        });
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                System.err.println("qemu " + process.pid() + " still running 10 s after SIGKILL");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void removeShutdownHook(Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // The hook is running or about to; it kills the same PID.
        }
    }

    private static int freeLoopbackPort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    private static boolean supportsVirtfs(String qemuBinary) throws IOException {
        Process probe = new ProcessBuilder(qemuBinary, "-device", "help").redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        String devices = new String(probe.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            probe.waitFor(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while asking qemu for its devices", e);
        }
        return devices.contains("\"virtio-9p-pci\"");
    }

    private static String findOnPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/local/bin:/usr/bin:/bin").split(File.pathSeparator)) {
            Path candidate = Path.of(dir, program);
            if (Files.isExecutable(candidate)) {
                return candidate.toString();
            }
        }
        return null;
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file, StandardCharsets.ISO_8859_1) : "";
        } catch (IOException e) {
            return "<unreadable: " + e + ">";
        }
    }

    private static String tail(String log) {
        List<String> lines = log.lines().toList();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    }

    private static void sleep(long millis) throws IOException {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the guest", e);
        }
    }

    /** The guest kernel panicked before its init reported ready (qemu runs with -no-reboot, so it exits). */
    private static final class CrashedWhileBootingException extends IOException {
        CrashedWhileBootingException(String message) {
            super(message);
        }
    }

    /** qemu could not bind the host side of the target forward: the port was taken meanwhile. */
    private static final class HostForwardInUseException extends IOException {
        HostForwardInUseException(String message) {
            super(message);
        }
    }

    /** How to boot a {@link KernelGuest}. */
    public static final class Options {
        private int memoryMiB = 512;
        private int cpus = 2;
        private Duration bootTimeout = Duration.ofMinutes(2);
        private int targetPort;
        private final Map<Integer, Integer> hostForwards = new LinkedHashMap<>();
        private final Map<String, Path> shares = new LinkedHashMap<>();

        private Options() {
        }

        /**
         * Shares the host directory {@code hostDirectory} with the guest, read-only, under
         * {@code tag} (virtio 9p); {@link KernelGuest#mountShare} mounts it. This is how a JDK and
         * class files reach the guest.
         */
        public Options share(String tag, Path hostDirectory) {
            if (!SHARE_TAG.matcher(tag).matches()) {
                throw new IllegalArgumentException("share tag: " + tag + " (expected letters, digits, - and _)");
            }
            shares.put(tag, hostDirectory.toAbsolutePath());
            return this;
        }

        /** 512 MiB, 2 CPUs, a free target port, no guest-to-host forwards. */
        public static Options defaults() {
            return new Options();
        }

        /** Guest memory; null_blk namespaces take theirs from it as they are written. */
        public Options memoryMiB(int memoryMiB) {
            this.memoryMiB = memoryMiB;
            return this;
        }

        /** Guest CPUs; the kernel's NVMe/TCP host opens one I/O queue, so one connection, per CPU. */
        public Options cpus(int cpus) {
            this.cpus = cpus;
            return this;
        }

        /** How long booting may take before {@link KernelGuest#start} gives up. */
        public Options bootTimeout(Duration bootTimeout) {
            this.bootTimeout = bootTimeout;
            return this;
        }

        /** The host port on 127.0.0.1 forwarded to the guest's NVMe/TCP port; by default a free one. */
        public Options targetPort(int hostPort) {
            this.targetPort = hostPort;
            return this;
        }

        /**
         * Lets the guest reach {@code 127.0.0.1:hostPort} as {@value KernelGuest#HOST_ADDRESS}:{@value
         * KernelGuest#NVME_TCP_PORT}, where the kernel host helpers connect. Nothing needs to listen
         * there until the guest connects.
         */
        public Options hostNvmeTarget(int hostPort) {
            return forwardToHost(NVME_TCP_PORT, hostPort);
        }

        /** Lets the guest reach {@code 127.0.0.1:hostPort} as {@value KernelGuest#HOST_ADDRESS}:{@code guestPort}. */
        public Options forwardToHost(int guestPort, int hostPort) {
            if (guestPort <= 0 || guestPort > 65535 || hostPort <= 0 || hostPort > 65535) {
                throw new IllegalArgumentException("ports out of range: " + guestPort + " -> " + hostPort);
            }
            hostForwards.put(guestPort, hostPort);
            return this;
        }
    }
}
