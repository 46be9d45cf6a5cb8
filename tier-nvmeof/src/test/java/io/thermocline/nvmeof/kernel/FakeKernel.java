package io.thermocline.nvmeof.kernel;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

/**
 * A directory that looks to {@link KernelNvmeDevice} like a kernel with an NVMe over Fabrics host:
 * {@code sys/}, {@code dev/nvme-fabrics}, and {@code bin/nvme}, a script (test resource
 * {@code kernel/fake-nvme}) that creates a controller and namespace on {@code connect} and removes
 * them on {@code disconnect -d}. The namespace's device node is a regular file on the test's file
 * system, opened with O_DIRECT like a block device.
 */
final class FakeKernel {

    static final String NQN = "nqn.2026-11.io.thermocline:fake-kernel";

    final Path root;

    private FakeKernel(Path root) {
        this.root = root;
    }

    static FakeKernel create(Path dir) throws IOException {
        Path root = dir.toAbsolutePath();
        Files.createDirectories(root.resolve("bin"));
        Files.createDirectories(root.resolve("sys/class/nvme"));
        Files.createDirectories(root.resolve("sys/block"));
        Files.createDirectories(root.resolve("sys/module/nvme_tcp"));
        Files.createDirectories(root.resolve("dev"));
        Files.writeString(root.resolve("dev/nvme-fabrics"), "");
        Path nvme = root.resolve("bin/nvme");
        try (InputStream in = FakeKernel.class.getResourceAsStream("/kernel/fake-nvme")) {
            Files.copy(in, nvme);
        }
        Files.setPosixFilePermissions(nvme, PosixFilePermissions.fromString("rwxr-xr-x"));
        return new FakeKernel(root);
    }

    KernelNvmeOptions.Builder options() {
        return KernelNvmeOptions.builder(KernelNvmeOptions.Transport.TCP, "127.0.0.1", "4420", NQN)
                .nvmeCommand(root.resolve("bin/nvme").toString())
                .sysfsRoot(root.resolve("sys"))
                .devRoot(root.resolve("dev"))
                .connectTimeout(java.time.Duration.ofSeconds(5));
    }

    /** Writes a setting file the script reads (see fake-nvme). */
    void set(String setting, String value) throws IOException {
        Files.writeString(root.resolve(setting), value);
    }

    /** Every nvme invocation so far, one line of arguments each. */
    List<String> calls() throws IOException {
        Path calls = root.resolve("calls");
        return Files.exists(calls) ? Files.readAllLines(calls) : List.of();
    }

    boolean controllerExists(String name) {
        return Files.isDirectory(root.resolve("sys/class/nvme").resolve(name));
    }
}
