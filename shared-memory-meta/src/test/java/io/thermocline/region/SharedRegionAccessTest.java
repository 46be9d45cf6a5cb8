package io.thermocline.region;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalLookupService;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Who may have made a region file: only the current user, or the configured group; never others, never a link. */
class SharedRegionAccessTest {

    @TempDir
    Path dir;

    private RegionConfig config(Path path, String group) {
        return RegionConfig.builder(path).maxObjects(100).ringSlots(8).resultCount(16).leaseCount(4).group(group).build();
    }

    private static String mode(Path p) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
    }

    private static boolean isRoot() throws Exception {
        return Files.getAttribute(Path.of("/proc/self"), "unix:uid").equals(0);
    }

    private static String primaryGroup(Path dir) throws Exception {
        Path probe = Files.createTempFile(dir, "probe", "");
        try {
            return Files.readAttributes(probe, PosixFileAttributes.class).group().getName();
        } finally {
            Files.delete(probe);
        }
    }

    @Test
    void aNewRegion_isMode0600_andAttachAndOpenOrCreateUseIt() throws Exception {
        RegionConfig c = config(dir.resolve("r"), null);
        try (SharedRegion created = SharedRegion.create(c)) {
            assertEquals("rw-------", mode(c.path()));
            try (SharedRegion attached = SharedRegion.attach(c); SharedRegion opened = SharedRegion.openOrCreate(c)) {
                assertThat(attached.createdAt()).isEqualTo(created.createdAt());
                assertThat(opened.createdAt()).isEqualTo(created.createdAt());
            }
        }
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).as("no temporary file left").containsExactly("r");
        }
    }

    @Test
    void aRegionOthersMayReadOrWrite_isRefused_namingOwnerModeAndExpectation_andIsNotReplaced() throws Exception {
        RegionConfig c = config(dir.resolve("r"), null);
        for (String bad : new String[] {"rw-r--r--", "rw----rw-", "rw-rw-rw-"}) {
            SharedRegion.create(c).close();
            Files.setPosixFilePermissions(c.path(), PosixFilePermissions.fromString(bad));
            Object fileKey = Files.readAttributes(c.path(), PosixFileAttributes.class).fileKey();
            assertThatThrownBy(() -> SharedRegion.attach(c)).as(bad).isInstanceOf(RegionAccessException.class)
                    .hasMessageContaining(c.path().toString()).hasMessageContaining("owner " + System.getProperty("user.name"))
                    .hasMessageContaining("others have access").hasMessageContaining("expected: a regular file of user")
                    .hasMessageContaining("mode 0600");
            assertThatThrownBy(() -> SharedRegion.openOrCreate(c)).as(bad).isInstanceOf(RegionAccessException.class);
            assertThatThrownBy(() -> SharedRegion.create(c)).as(bad).isInstanceOf(RegionAccessException.class);
            assertThat(Files.readAttributes(c.path(), PosixFileAttributes.class).fileKey()).as("not replaced").isEqualTo(fileKey);
            Files.delete(c.path());
        }
    }

    @Test
    void groupAccess_withoutAConfiguredGroup_isRefused() throws Exception {
        RegionConfig c = config(dir.resolve("r"), null);
        SharedRegion.create(c).close();
        Files.setPosixFilePermissions(c.path(), PosixFilePermissions.fromString("rw-rw----"));
        assertThatThrownBy(() -> SharedRegion.attach(c)).isInstanceOf(RegionAccessException.class)
                .hasMessageContaining("mode 0660").hasMessageContaining("no group is configured");
    }

    @Test
    void aConfiguredGroup_makesTheRegion0660OfThatGroup_andAttachAcceptsIt() throws Exception {
        String group = primaryGroup(dir);
        RegionConfig c = config(dir.resolve("r"), group);
        try (SharedRegion created = SharedRegion.create(c); SharedRegion attached = SharedRegion.attach(c)) {
            assertEquals("rw-rw----", mode(c.path()));
            assertEquals(group, Files.readAttributes(c.path(), PosixFileAttributes.class).group().getName());
            assertThat(attached.createdAt()).isEqualTo(created.createdAt());
        }
        // the same file with another group configured: its group may not read it
        assertThatThrownBy(() -> SharedRegion.attach(config(c.path(), group + "x"))).isInstanceOf(RegionAccessException.class)
                .hasMessageContaining("the configured group is " + group + "x");
    }

    @Test
    void aSymbolicLink_isRefused_evenToTheUsersOwnRegion() throws Exception {
        RegionConfig real = config(dir.resolve("real"), null);
        SharedRegion.create(real).close();
        Path link = Files.createSymbolicLink(dir.resolve("link"), real.path());
        RegionConfig c = config(link, null);
        assertThatThrownBy(() -> SharedRegion.attach(c)).isInstanceOf(RegionAccessException.class)
                .hasMessageContaining(link + " is a symbolic link (to " + real.path() + ")");
        assertThatThrownBy(() -> SharedRegion.openOrCreate(c)).isInstanceOf(RegionAccessException.class);
        assertThatThrownBy(() -> SharedRegion.create(c)).isInstanceOf(RegionAccessException.class);
        assertThat(Files.isSymbolicLink(link)).as("the link is left alone").isTrue();
    }

    @Test
    void aRegionMadeByAnotherUser_isRefused() throws Exception {
        Assumptions.assumeTrue(isRoot(), "making a file of another user (chown to nobody) needs root; running as "
                + System.getProperty("user.name"));
        RegionConfig c = config(dir.resolve("r"), null);
        SharedRegion.create(c).close();
        UserPrincipalLookupService users = c.path().getFileSystem().getUserPrincipalLookupService();
        Files.setOwner(c.path(), users.lookupPrincipalByName("nobody"));
        assertThatThrownBy(() -> SharedRegion.attach(c)).isInstanceOf(RegionAccessException.class)
                .hasMessageContaining("owner nobody").hasMessageContaining("it is not the current user's")
                .hasMessageContaining("mode 0600");
        assertThatThrownBy(() -> SharedRegion.openOrCreate(c)).isInstanceOf(RegionAccessException.class);
        assertThat(Files.getOwner(c.path()).getName()).as("not replaced").isEqualTo("nobody");
    }

    @Test
    void aRegionOfAnotherMemberOfTheConfiguredGroup_isAttached_butNotOneOfAnotherGroup() throws Exception {
        Assumptions.assumeTrue(isRoot(), "making a file of another user (chown to nobody) needs root; running as "
                + System.getProperty("user.name"));
        UserPrincipalLookupService users = dir.getFileSystem().getUserPrincipalLookupService();
        String group = "nogroup";
        GroupPrincipal nogroup;
        try {
            nogroup = users.lookupPrincipalByGroupName(group);
        } catch (java.nio.file.attribute.UserPrincipalNotFoundException e) {
            Assumptions.abort("no group 'nogroup' on this host");
            return;
        }
        RegionConfig c = config(dir.resolve("r"), group);
        SharedRegion.create(c).close();
        assertEquals(group, Files.readAttributes(c.path(), PosixFileAttributes.class).group().getName());
        PosixFileAttributeView view = Files.getFileAttributeView(c.path(), PosixFileAttributeView.class);
        view.setOwner(users.lookupPrincipalByName("nobody"));
        view.setGroup(nogroup); // chown clears nothing here, but set it again to be sure
        view.setPermissions(PosixFilePermissions.fromString("rw-rw----"));
        try (SharedRegion attached = SharedRegion.attach(c)) {
            assertThat(attached.geometry()).isEqualTo(c.geometry());
        }
        assertThatThrownBy(() -> SharedRegion.attach(config(c.path(), null))).isInstanceOf(RegionAccessException.class)
                .hasMessageContaining("owner nobody, group nogroup");
    }
}
