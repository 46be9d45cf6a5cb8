package io.thermocline.it.kernel;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The kernel and initramfs that {@link KernelGuest} boots: Debian's stock kernel and its NVMe/TCP
 * host and target modules, busybox, kmod and nvme-cli. Built by {@code kernel-guest/build-guest.sh}
 * from Debian packages into a cache directory that outlives {@code mvn clean}, so the download and
 * extraction happen once per machine and kernel version.
 *
 * @param kernelRelease the kernel's release string, e.g. {@code 6.1.0-56-amd64}
 * @param kernel        the kernel image (vmlinuz)
 * @param initramfs     the uncompressed initramfs
 */
public record GuestImage(String kernelRelease, Path kernel, Path initramfs) {

    /** System property naming the cache directory; the default is {@code ~/.cache/thermocline/kernel-guest}. */
    public static final String CACHE_PROPERTY = "thermocline.kernelGuest.cache";

    private static final String RESOURCES = "/kernel-guest/";
    private static final long BUILD_TIMEOUT_MINUTES = 15;

    private static GuestImage prepared;
    private static GuestUnavailableException unavailable;

    /** The cache directory images are built into. */
    public static Path cacheRoot() {
        String configured = System.getProperty(CACHE_PROPERTY, System.getenv("THERMOCLINE_KERNEL_GUEST_CACHE"));
        if (configured != null && !configured.isBlank()) {
            return Path.of(configured);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "thermocline", "kernel-guest");
    }

    /**
     * Returns the image for this machine's kernel package, building it first if the cache lacks it.
     * The answer, or the reason there is none, is kept for the rest of the JVM's life.
     *
     * @throws GuestUnavailableException if the machine cannot provide the kernel or the tools
     * @throws IOException               if the build itself failed
     */
    public static synchronized GuestImage prepare() throws IOException {
        if (prepared != null) {
            return prepared;
        }
        if (unavailable != null) {
            throw new GuestUnavailableException(unavailable.getMessage());
        }
        try {
            prepared = build(cacheRoot());
            return prepared;
        } catch (GuestUnavailableException e) {
            unavailable = e;
            throw e;
        }
    }

    /** Builds (or finds) the image in {@code cacheRoot}. */
    static GuestImage build(Path cacheRoot) throws IOException {
        Path scripts = Files.createTempDirectory("thermocline-kernel-guest-build-");
        try {
            Path buildScript = copyResource("build-guest.sh", scripts);
            Path init = copyResource("init", scripts);
            Process process = new ProcessBuilder("bash", buildScript.toString(), cacheRoot.toString(), init.toString())
                    .redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .start();
            List<String> lines = new ArrayList<>();
            Thread drain = Thread.ofPlatform().daemon().start(() -> {
                try {
                    lines.addAll(new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList());
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            boolean exited = process.waitFor(BUILD_TIMEOUT_MINUTES, TimeUnit.MINUTES);
            if (!exited) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
            drain.join(TimeUnit.SECONDS.toMillis(10));
            String output = String.join("\n", lines);
            if (!exited) {
                throw new IOException("build-guest.sh did not finish within " + BUILD_TIMEOUT_MINUTES + " minutes:\n" + output);
            }
            int status = process.exitValue();
            String release = null;
            String imageDir = null;
            String reason = null;
            for (String line : lines) {
                if (line.startsWith("KERNEL_RELEASE=")) {
                    release = line.substring("KERNEL_RELEASE=".length());
                } else if (line.startsWith("IMAGE_DIR=")) {
                    imageDir = line.substring("IMAGE_DIR=".length());
                } else if (line.startsWith("UNAVAILABLE: ")) {
                    reason = line.substring("UNAVAILABLE: ".length());
                } else if (line.startsWith("kernel-guest: ")) {
                    System.err.println(line);
                }
            }
            if (status == 3) {
                throw new GuestUnavailableException(reason != null ? reason : "build-guest.sh: " + output);
            }
            if (status != 0 || release == null || imageDir == null) {
                throw new IOException("build-guest.sh failed with exit status " + status + ":\n" + output);
            }
            Path dir = Path.of(imageDir);
            return new GuestImage(release, dir.resolve("vmlinuz"), dir.resolve("initramfs.cpio"));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while building the kernel guest image", e);
        } finally {
            deleteTree(scripts);
        }
    }

    /** Copies a file of {@code kernel-guest/} from the test class path into {@code directory}. */
    static Path copyResource(String name, Path directory) throws IOException {
        Path target = directory.resolve(name);
        try (InputStream in = GuestImage.class.getResourceAsStream(RESOURCES + name)) {
            if (in == null) {
                throw new IOException("missing test resource " + RESOURCES + name);
            }
            Files.copy(in, target);
        }
        return target;
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            System.err.println("could not delete " + root + ": " + e);
        }
    }
}
