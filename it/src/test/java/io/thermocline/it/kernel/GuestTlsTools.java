package io.thermocline.it.kernel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The user-space half of the kernel's NVMe/TCP TLS, for a {@link KernelGuest}: tlshd (ktls-utils),
 * keyctl and an nvme-cli with {@code --tls}, taken from Debian trixie with their libraries by
 * {@code kernel-guest/tls-tools.sh} into the guest cache ({@link GuestImage#cacheRoot()}). Share
 * {@link #root()} with the guest ({@link KernelGuest.Options#share}), mount it and run the
 * programs through {@link #command}.
 *
 * @param root the tree on this machine ({@code usr/sbin/tlshd}, {@code usr/lib/x86_64-linux-gnu/...})
 */
public record GuestTlsTools(Path root) {
    private static final long BUILD_TIMEOUT_MINUTES = 10;

    private static GuestTlsTools prepared;
    private static GuestUnavailableException unavailable;

    /**
     * Returns the tools, fetching them first if the cache lacks them; the answer, or the reason
     * there is none, is kept for the JVM's life.
     *
     * @throws GuestUnavailableException if this machine cannot fetch them (no apt, no mirror)
     * @throws IOException               if the script itself failed
     */
    public static synchronized GuestTlsTools prepare() throws IOException {
        if (prepared != null) {
            return prepared;
        }
        if (unavailable != null) {
            throw new GuestUnavailableException(unavailable.getMessage());
        }
        Path scripts = Files.createTempDirectory("thermocline-tls-tools-");
        try {
            Path script = GuestImage.copyResource("tls-tools.sh", scripts);
            Path output = scripts.resolve("output");
            Process process = new ProcessBuilder("bash", script.toString(), GuestImage.cacheRoot().toString())
                    .redirectErrorStream(true)
                    .redirectOutput(output.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .start();
            if (!process.waitFor(BUILD_TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
                throw new IOException("tls-tools.sh did not finish within " + BUILD_TIMEOUT_MINUTES + " minutes:\n"
                        + Files.readString(output));
            }
            List<String> lines = Files.readAllLines(output, StandardCharsets.UTF_8);
            String dir = null;
            String reason = null;
            for (String line : lines) {
                if (line.startsWith("TLS_TOOLS_DIR=")) {
                    dir = line.substring("TLS_TOOLS_DIR=".length());
                } else if (line.startsWith("UNAVAILABLE: ")) {
                    reason = line.substring("UNAVAILABLE: ".length());
                } else if (line.startsWith("kernel-guest: ")) {
                    System.err.println(line);
                }
            }
            if (process.exitValue() == 3) {
                unavailable = new GuestUnavailableException(reason != null ? reason : String.join("\n", lines));
                throw unavailable;
            }
            if (process.exitValue() != 0 || dir == null) {
                throw new IOException("tls-tools.sh failed with exit status " + process.exitValue() + ":\n"
                        + String.join("\n", lines));
            }
            prepared = new GuestTlsTools(Path.of(dir));
            return prepared;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while fetching the TLS tools", e);
        } finally {
            GuestImage.deleteTree(scripts);
        }
    }

    /**
     * The guest shell words that run {@code program} ({@code usr/sbin/tlshd}, {@code usr/sbin/nvme},
     * {@code usr/bin/keyctl}) from the tree mounted at {@code guestMount}, through the tree's own loader.
     */
    public static String command(String guestMount, String program) {
        String libs = guestMount + "/usr/lib/x86_64-linux-gnu";
        return libs + "/ld-linux-x86-64.so.2 --library-path " + libs + " " + guestMount + "/" + program;
    }
}
