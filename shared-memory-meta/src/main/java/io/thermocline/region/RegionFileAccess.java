package io.thermocline.region;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * Who may have made a region file, and how a new one is protected. A region is trusted only if
 * it is not a symbolic link, nobody but its owner and group has any access to it, and either the
 * current user owns it with no group access, or a group is configured and the file belongs to it
 * (its members share the region). New regions get mode 0600, or 0660 and the configured group.
 * See docs/shared-region-security.md.
 */
final class RegionFileAccess {

    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rw-------");
    private static final Set<PosixFilePermission> OWNER_AND_GROUP = PosixFilePermissions.fromString("rw-rw----");

    private RegionFileAccess() {
    }

    /** The mode a new region gets under {@code config}. */
    static Set<PosixFilePermission> modeFor(RegionConfig config) {
        return config.group().isPresent() ? OWNER_AND_GROUP : OWNER_ONLY;
    }

    /**
     * Gives the freshly created file {@code file} its mode (whatever the umask) and the
     * configured group.
     */
    static void protectNew(Path file, RegionConfig config) throws IOException {
        PosixFileAttributeView view = Files.getFileAttributeView(file, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
        if (view == null) {
            return; // no POSIX permissions on this file system: nothing to set or check
        }
        if (config.group().isPresent()) {
            GroupPrincipal group = lookupGroup(config.group().get(), file);
            view.setGroup(group);
        }
        view.setPermissions(modeFor(config));
    }

    /** Refuses a file at {@code path} that the current user cannot trust (see the class comment). */
    static void check(Path path, RegionConfig config) {
        if (Files.isSymbolicLink(path)) {
            String target;
            try {
                target = String.valueOf(Files.readSymbolicLink(path));
            } catch (IOException e) {
                target = "?";
            }
            throw new RegionAccessException(path, "shared region " + path + " is a symbolic link (to " + target + "); expected: "
                    + expected(config) + ". Refusing to map or replace it: remove it, or point region.path at the file itself");
        }
        PosixFileAttributes a;
        try {
            a = Files.readAttributes(path, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (UnsupportedOperationException e) {
            return; // no owners and modes here (not a POSIX file system): nothing to check
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot read the owner and mode of shared region " + path + ": " + e, e);
        }
        Set<PosixFilePermission> mode = a.permissions();
        boolean others = mode.contains(PosixFilePermission.OTHERS_READ) || mode.contains(PosixFilePermission.OTHERS_WRITE)
                || mode.contains(PosixFilePermission.OTHERS_EXECUTE);
        boolean groupAccess = mode.contains(PosixFilePermission.GROUP_READ) || mode.contains(PosixFilePermission.GROUP_WRITE)
                || mode.contains(PosixFilePermission.GROUP_EXECUTE);
        boolean mine = isCurrentUser(path, a);
        boolean ofGroup = config.group().isPresent() && a.group().getName().equals(config.group().get());
        String why = null;
        if (others) {
            why = "others have access";
        } else if (!mine && !ofGroup) {
            why = config.group().isPresent() ? "it is neither the current user's nor of group " + config.group().get()
                    : "it is not the current user's";
        } else if (groupAccess && !ofGroup) {
            why = "its group " + a.group().getName() + " has access"
                    + (config.group().isPresent() ? ", but the configured group is " + config.group().get() : " and no group is configured");
        }
        if (why != null) {
            throw new RegionAccessException(path, "shared region " + path + ": owner " + a.owner().getName() + ", group "
                    + a.group().getName() + ", mode " + octal(mode) + ": " + why + " (expected: " + expected(config)
                    + "). Refusing to map it: another user may have made it. Remove it, or fix its owner and mode");
        }
    }

    private static String expected(RegionConfig config) {
        String me = System.getProperty("user.name");
        return config.group().isPresent()
                ? "a regular file of user " + me + " or of group " + config.group().get() + ", mode 0600 or 0660 with that group, "
                        + "no access for others"
                : "a regular file of user " + me + ", mode 0600 (no access for group or others; configure region.group to share it)";
    }

    private static boolean isCurrentUser(Path path, PosixFileAttributes a) {
        Path self = Path.of("/proc/self");
        try {
            if (Files.isDirectory(self)) {
                // /proc/self belongs to the process's effective user id
                return Files.getAttribute(self, "unix:uid").equals(Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS));
            }
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            // fall back on the names
        }
        return a.owner().getName().equals(System.getProperty("user.name"));
    }

    private static GroupPrincipal lookupGroup(String name, Path file) throws IOException {
        try {
            return FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByGroupName(name);
        } catch (java.nio.file.attribute.UserPrincipalNotFoundException e) {
            throw new IllegalArgumentException("region.group: '" + name + "' is no group on this host (expected: a group the "
                    + "current user belongs to, for " + file + ")", e);
        }
    }

    static String octal(Set<PosixFilePermission> mode) {
        int bits = 0;
        for (PosixFilePermission p : mode) {
            bits |= 1 << (8 - p.ordinal());
        }
        return String.format("0%03o", bits);
    }
}
