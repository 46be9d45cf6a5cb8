package io.thermocline.nvmeof.kernel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What the kernel's NVMe host shows in sysfs, read from a configurable root so tests can lay out a
 * tree of their own.
 *
 * <pre>
 * /sys/class/nvme/nvme3/                   a controller (a symlink into /sys/devices/virtual/nvme-fabrics/ctl/)
 *     subsysnqn   transport   state        "nqn...", "tcp" | "rdma" | "fc" | "loop", "live" | "connecting" | ...
 *     address                              "traddr=10.0.0.2,trsvcid=4420[,src_addr=...]" (tcp, rdma);
 *                                          "traddr=nn-0x..:pn-0x..,host_traddr=nn-0x..:pn-0x.." (fc)
 *     fast_io_fail_tmo                     writable: seconds or "off"
 *     nvme3c3n1/                           a path of a namespace, with native multipath (nvme_core.multipath=Y):
 *                                          the block device to open is its head, /dev/nvme3n1 (subsystem instance 3, not controller 3)
 *     nvme3n1/                             a namespace block device, without native multipath
 * /sys/block/nvme3n1/nsid, size (in 512-byte sectors, whatever the LBA size), queue/logical_block_size
 * </pre>
 */
final class NvmeSysfs {

    /** nvme{subsystem instance}c{controller instance}n{namespace instance}, or nvme{instance}n{namespace instance}. */
    private static final Pattern NAMESPACE_ENTRY = Pattern.compile("nvme(\\d+)(?:c\\d+)?n(\\d+)");

    private final Path root;

    NvmeSysfs(Path root) {
        this.root = root;
    }

    /** A controller as sysfs shows it; {@code address} holds the key=value pairs of its address attribute. */
    record Controller(String name, String subsysNqn, String transport, Map<String, String> address, String state) {

        boolean live() {
            return "live".equals(state);
        }

        /** True if this controller is connected to the subsystem and port {@code options} name. */
        boolean matches(KernelNvmeOptions options) {
            return options.nqn().equals(subsysNqn)
                   && options.transport().cliName().equals(transport)
                   && options.traddr().equalsIgnoreCase(address.get("traddr"))
                   && (options.trsvcid() == null || options.trsvcid().equals(address.get("trsvcid")));
        }
    }

    /**
     * A namespace's block device.
     *
     * @param blockDevice the name under /dev and /sys/block, e.g. {@code nvme3n1}
     * @param sizeInBytes capacity
     */
    record Namespace(String blockDevice, int nsid, int logicalBlockSize, long sizeInBytes) {
    }

    /** Every NVMe controller the kernel has, fabric-attached or not, in name order. */
    List<Controller> controllers() throws IOException {
        Path dir = root.resolve("class/nvme");
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        List<Controller> controllers = new ArrayList<>();
        try (Stream<Path> entries = Files.list(dir)) {
            for (Path entry : entries.sorted().toList()) {
                controller(entry.getFileName().toString()).ifPresent(controllers::add);
            }
        }
        return controllers;
    }

    /** The controller called {@code name}, if it (still) exists. */
    Optional<Controller> controller(String name) throws IOException {
        Path dir = root.resolve("class/nvme").resolve(name);
        try {
            String address = read(dir.resolve("address"));
            Map<String, String> fields = new LinkedHashMap<>();
            for (String pair : address.split(",")) {
                int eq = pair.indexOf('=');
                if (eq > 0) {
                    fields.put(pair.substring(0, eq).trim(), pair.substring(eq + 1).trim());
                }
            }
            return Optional.of(new Controller(name, read(dir.resolve("subsysnqn")), read(dir.resolve("transport")),
                    Map.copyOf(fields), read(dir.resolve("state"))));
        } catch (NoSuchFileException gone) {
            // deleted meanwhile, or a PCIe controller without an address attribute on an old kernel
            return Optional.empty();
        }
    }

    /** Namespace {@code nsid} of controller {@code controller}, once the kernel's scan has created its block device. */
    Optional<Namespace> namespace(String controller, int nsid) throws IOException {
        Path dir = root.resolve("class/nvme").resolve(controller);
        if (!Files.isDirectory(dir)) {
            return Optional.empty();
        }
        List<String> names;
        try (Stream<Path> entries = Files.list(dir)) {
            names = entries.map(p -> p.getFileName().toString()).sorted().toList();
        }
        for (String name : names) {
            Matcher m = NAMESPACE_ENTRY.matcher(name);
            if (!m.matches()) {
                continue;
            }
            String head = "nvme" + m.group(1) + "n" + m.group(2);
            Path block = root.resolve("block").resolve(head);
            try {
                int found = Integer.parseInt(read(Files.exists(block.resolve("nsid")) ? block.resolve("nsid")
                        : dir.resolve(name).resolve("nsid")));
                if (found != nsid) {
                    continue;
                }
                long sectors = Long.parseLong(read(block.resolve("size")));
                int lbs = Integer.parseInt(read(block.resolve("queue/logical_block_size")));
                return Optional.of(new Namespace(head, nsid, lbs, sectors * 512));
            } catch (NoSuchFileException notYet) {
                // the scan is still creating the head's attributes
            }
        }
        return Optional.empty();
    }

    /** Writes a controller attribute, e.g. {@code fast_io_fail_tmo}. */
    void writeControllerAttribute(String controller, String attribute, String value) throws IOException {
        Files.writeString(root.resolve("class/nvme").resolve(controller).resolve(attribute), value,
                StandardCharsets.US_ASCII);
    }

    /** True if the kernel module {@code name} (as modprobe names it, dashes or underscores) is loaded or built in. */
    boolean moduleLoaded(String name) {
        return Files.isDirectory(root.resolve("module").resolve(name.replace('-', '_')));
    }

    /** The RDMA devices (RoCE, InfiniBand, iWARP, Soft-RoCE, soft-iWARP) the kernel has. */
    List<String> rdmaDevices() throws IOException {
        Path dir = root.resolve("class/infiniband");
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static String read(Path file) throws IOException {
        return Files.readString(file, StandardCharsets.US_ASCII).trim();
    }
}
