package io.thermocline.nvmeof.kernel;

import io.thermocline.tier.TierUnavailableException;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Runs nvme-cli. Found on PATH or, since it lives in {@code /usr/sbin} and a non-root PATH often
 * lacks that, in the sbin directories; absent, the failure says which package to install.
 */
final class NvmeCli {

    private static final List<String> SBIN = List.of("/usr/local/sbin", "/usr/sbin", "/sbin");
    private static final Map<String, Boolean> FAST_IO_FAIL_FLAG = new ConcurrentHashMap<>();

    private final String executable;

    private NvmeCli(String executable) {
        this.executable = executable;
    }

    /** The output and exit status of one run; {@code output} holds stdout and stderr interleaved. */
    record Result(List<String> command, int exitCode, String output) {
        boolean ok() {
            return exitCode == 0;
        }

        @Override
        public String toString() {
            return String.join(" ", command) + " exited with " + exitCode
                   + (output.isBlank() ? "" : ": " + output.strip());
        }
    }

    /**
     * Finds nvme-cli's executable.
     *
     * @param command a name to look up ({@code nvme}) or a path
     * @throws TierUnavailableException naming the command and the package that provides it
     */
    static NvmeCli locate(String command) {
        if (command.contains("/")) {
            if (Files.isExecutable(Path.of(command))) {
                return new NvmeCli(command);
            }
            throw missing(command + " is not an executable file");
        }
        Set<String> dirs = new LinkedHashSet<>(List.of(System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)));
        dirs.addAll(SBIN);
        for (String dir : dirs) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, command))) {
                return new NvmeCli(Path.of(dir, command).toString());
            }
        }
        throw missing("'" + command + "' was found neither on PATH nor in " + String.join(", ", SBIN));
    }

    private static TierUnavailableException missing(String what) {
        return new TierUnavailableException("nvme-cli is not installed: " + what + ". Kernel-attached NVMe over "
                + "Fabrics namespaces are connected with 'nvme connect'; install it as root with "
                + "'apt-get install nvme-cli' (Debian, Ubuntu) or 'dnf install nvme-cli' (Fedora, RHEL)", false);
    }

    String executable() {
        return executable;
    }

    /** Runs {@code nvme <args>}; a run past {@code timeout} is killed and reported with exit status 124. */
    Result run(List<String> args, Duration timeout) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(executable);
        command.addAll(args);
        Process process = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .start();
        StringBuilder output = new StringBuilder();
        Thread drain = Thread.ofVirtual().start(() -> {
            try (InputStream in = process.getInputStream()) {
                String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                synchronized (output) {
                    output.append(text);
                }
            } catch (IOException e) {
                synchronized (output) {
                    output.append("<output unreadable: ").append(e).append('>');
                }
            }
        });
        try {
            boolean exited = process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (!exited) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
            drain.join(Duration.ofSeconds(5));
            synchronized (output) {
                String text = exited ? output.toString() : output + "\n(killed after " + timeout.toSeconds() + " s)";
                return new Result(command, exited ? process.exitValue() : 124, text);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + String.join(" ", command), e);
        }
    }

    /**
     * True if this nvme-cli takes {@code --fast_io_fail_tmo} (added in nvme-cli 2.5 or so; 2.3, in
     * Debian 12, lacks it). Asked once per executable through {@code nvme connect --help}.
     */
    boolean hasFastIoFailFlag() {
        return FAST_IO_FAIL_FLAG.computeIfAbsent(executable, e -> {
            try {
                return run(List.of("connect", "--help"), Duration.ofSeconds(10)).output().contains("fast_io_fail_tmo");
            } catch (IOException failed) {
                return false;
            }
        });
    }
}
