package io.thermocline.nvmeof.host;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The host NQN and host identifier this host presents in Connect (NVMe-oF 1.1 §3.3).
 *
 * <p>Resolution order, the same as nvme-cli's: an explicit value; else the first line of
 * {@code /etc/nvme/hostnqn} (and {@code /etc/nvme/hostid}); else a UUID-based NQN
 * ({@code nqn.2014-08.org.nvmexpress:uuid:<uuid>}, NVMe Base 2.0 §4.5) generated once and
 * persisted under the user's configuration directory so that the host stays the same host across
 * runs — target allow lists name it.
 */
public record HostIdentity(String hostNqn, UUID hostId) {
    private static final Pattern UUID_NQN = Pattern.compile("^nqn\\.2014-08\\.org\\.nvmexpress:uuid:([0-9a-fA-F-]{36})$");

    public HostIdentity {
        if (hostNqn == null || hostNqn.isBlank() || !hostNqn.startsWith("nqn.")) {
            throw new IllegalArgumentException("hostnqn: " + hostNqn + " (expected an NQN, e.g. nqn.2014-08.org.nvmexpress:uuid:<uuid>)");
        }
        if (hostNqn.getBytes(StandardCharsets.UTF_8).length > 223) {
            throw new IllegalArgumentException("hostnqn: " + hostNqn + " (expected at most 223 bytes)");
        }
    }

    /** A new identity with a fresh UUID (not persisted). */
    public static HostIdentity random() {
        UUID id = UUID.randomUUID();
        return new HostIdentity("nqn.2014-08.org.nvmexpress:uuid:" + id, id);
    }

    /**
     * Resolves the identity as described above.
     *
     * @param explicitNqn a configured host NQN, or null
     * @param etcNvme normally {@code /etc/nvme}
     * @param stateDir where a generated NQN is kept, e.g. {@code ~/.config/thermocline}
     */
    public static HostIdentity resolve(String explicitNqn, Path etcNvme, Path stateDir) {
        try {
            if (explicitNqn != null) {
                return new HostIdentity(explicitNqn, hostIdFor(explicitNqn, firstLine(etcNvme.resolve("hostid"))));
            }
            String fromEtc = firstLine(etcNvme.resolve("hostnqn"));
            if (fromEtc != null) {
                return new HostIdentity(fromEtc, hostIdFor(fromEtc, firstLine(etcNvme.resolve("hostid"))));
            }
            Path saved = stateDir.resolve("hostnqn");
            String persisted = firstLine(saved);
            if (persisted != null) {
                return new HostIdentity(persisted, hostIdFor(persisted, null));
            }
            HostIdentity fresh = random();
            Files.createDirectories(stateDir);
            Path tmp = Files.createTempFile(stateDir, "hostnqn", ".tmp");
            Files.writeString(tmp, fresh.hostNqn() + "\n");
            try {
                Files.move(tmp, saved, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                Files.deleteIfExists(tmp);
                throw e;
            }
            // another process may have won the race: use what is on disk
            return new HostIdentity(firstLine(saved), hostIdFor(firstLine(saved), null));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot resolve the host NQN: " + e.getMessage(), e);
        }
    }

    /** The default resolution: /etc/nvme, then ~/.config/thermocline. */
    public static HostIdentity resolveDefault(String explicitNqn) {
        return resolve(explicitNqn, Path.of("/etc/nvme"),
                Path.of(System.getProperty("user.home"), ".config", "thermocline"));
    }

    private static UUID hostIdFor(String nqn, String hostIdLine) {
        if (hostIdLine != null) {
            try {
                return UUID.fromString(hostIdLine.trim());
            } catch (IllegalArgumentException ignored) {
                // fall through to the NQN's own UUID
            }
        }
        Matcher m = UUID_NQN.matcher(nqn);
        if (m.matches()) {
            return UUID.fromString(m.group(1));
        }
        return UUID.nameUUIDFromBytes(nqn.getBytes(StandardCharsets.UTF_8));
    }

    private static String firstLine(Path p) throws IOException {
        if (!Files.isRegularFile(p)) {
            return null;
        }
        for (String line : Files.readAllLines(p)) {
            if (!line.isBlank()) {
                return line.trim();
            }
        }
        return null;
    }
}
