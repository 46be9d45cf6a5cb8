package io.thermocline.tier.local;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LibcTest {

    private static final int BLOCK = 4096;

    @TempDir
    Path dir;

    /** The binding is for Linux; there (tests are granted native access) it must be usable. */
    @BeforeEach
    void requireLinux() {
        String os = System.getProperty("os.name");
        skipUnless(os.startsWith("Linux"), "os.name " + os + " (the libc binding is for Linux)");
        assertTrue(Libc.isAvailable(), () -> "libc binding unavailable: " + Libc.unavailableReason());
    }

    @Test
    void open_missingFile_returnsMinusEnoent_andFailureNamesCallPathAndErrno() throws IOException {
        Path missing = dir.resolve("missing");
        int rc = Libc.open(missing, Libc.O_RDWR | Libc.O_CLOEXEC);
        assertEquals(-2, rc);
        assertEquals("open(O_RDWR) of " + missing + " failed: No such file or directory (errno 2, ENOENT)",
                Libc.failure("open(O_RDWR)", missing, -rc).getMessage());
    }

    @Test
    void writeFully_thenReadFully_withDirectIo_roundTripsAndReachesTheFile() throws IOException {
        try (Fd f = openDirect(4 * BLOCK); Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(2 * BLOCK, BLOCK);
            for (int i = 0; i < src.byteSize(); i++) {
                src.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31 + 7));
            }
            Libc.writeFully(f.fd, f.path, BLOCK, src);
            Libc.fdatasync(f.fd, f.path);
            MemorySegment dst = arena.allocate(2 * BLOCK, BLOCK);
            Libc.readFully(f.fd, f.path, BLOCK, dst);
            assertEquals(-1, src.mismatch(dst));

            byte[] expected = new byte[4 * BLOCK];
            MemorySegment.copy(src, ValueLayout.JAVA_BYTE, 0, expected, BLOCK, 2 * BLOCK);
            assertArrayEquals(expected, Files.readAllBytes(f.path));
        }
    }

    @Test
    void readFully_pastTheEnd_saysNoBytesMovedAtThatOffset() throws IOException {
        try (Fd f = open(BLOCK, Libc.O_RDONLY); Arena arena = Arena.ofConfined()) {
            MemorySegment dst = arena.allocate(2 * BLOCK, BLOCK);
            IOException e = assertThrows(IOException.class, () -> Libc.readFully(f.fd, f.path, 0, dst));
            assertEquals("pread of " + f.path + " at offset 4096 moved no bytes (end of device at 4096?)",
                    e.getMessage());
        }
    }

    @Test
    void readFully_misalignedWithDirectIo_failsWithEinvalNamingCallOffsetAndPath() throws IOException {
        try (Fd f = openDirect(4 * BLOCK); Arena arena = Arena.ofConfined()) {
            MemorySegment dst = arena.allocate(BLOCK, BLOCK);
            IOException e = null;
            try {
                Libc.readFully(f.fd, f.path, 1, dst);
            } catch (IOException thrown) {
                e = thrown;
            }
            skipUnless(e != null, "the file system of " + dir + " accepted a misaligned O_DIRECT read");
            assertEquals("pread of 4096 bytes at offset 1 of " + f.path
                    + " failed: Invalid argument (errno 22, EINVAL)", e.getMessage());
        }
    }

    @Test
    void writeFully_badDescriptor_throwsNamingEbadf() {
        Path file = dir.resolve("not-open");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(BLOCK, BLOCK);
            IOException e = assertThrows(IOException.class, () -> Libc.writeFully(-1, file, 8192, src));
            assertEquals("pwrite of 4096 bytes at offset 8192 of " + file
                    + " failed: Bad file descriptor (errno 9, EBADF)", e.getMessage());
        }
    }

    @Test
    void fdatasync_badDescriptor_throwsNamingEbadf() {
        Path file = dir.resolve("not-open");
        IOException e = assertThrows(IOException.class, () -> Libc.fdatasync(-1, file));
        assertEquals("fdatasync of " + file + " failed: Bad file descriptor (errno 9, EBADF)", e.getMessage());
    }

    @Test
    void ioctl_blockLayerRequestOnARegularFile_returnsMinusEnotty() throws IOException {
        try (Fd f = open(BLOCK, Libc.O_RDWR); Arena arena = Arena.ofConfined()) {
            MemorySegment range = arena.allocate(ValueLayout.JAVA_LONG, 2);
            range.setAtIndex(ValueLayout.JAVA_LONG, 1, BLOCK);
            // linux/fs.h BLKDISCARD = _IO(0x12, 119)
            assertEquals(-Libc.ENOTTY, Libc.ioctl(f.fd, 0x1277, range));
        }
    }

    @Test
    void fallocate_allocatesPastTheEnd_andPunchHoleZerosKeepingTheSize() throws IOException {
        try (Fd f = open(3, Libc.O_WRONLY)) {
            int rc = Libc.fallocate(f.fd, 0, 0, 3 * BLOCK);
            skipUnless(rc != -Libc.EOPNOTSUPP, "the file system of " + dir + " does not fallocate");
            assertEquals(0, rc);
            assertEquals(3 * BLOCK, Files.size(f.path));

            byte[] expected = new byte[3 * BLOCK];
            Arrays.fill(expected, (byte) 5);
            Files.write(f.path, expected);
            int punched = Libc.fallocate(f.fd, Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, BLOCK, BLOCK);
            skipUnless(punched != -Libc.EOPNOTSUPP, "the file system of " + dir + " does not punch holes");
            assertEquals(0, punched);
            Arrays.fill(expected, BLOCK, 2 * BLOCK, (byte) 0);
            assertArrayEquals(expected, Files.readAllBytes(f.path));
        }
    }

    @Test
    void fallocate_badMode_returnsMinusErrno_ratherThanThrowing() throws IOException {
        try (Fd f = open(BLOCK, Libc.O_WRONLY)) {
            // fallocate(2) refuses PUNCH_HOLE without KEEP_SIZE
            int rc = Libc.fallocate(f.fd, Libc.FALLOC_FL_PUNCH_HOLE, 0, BLOCK);
            assertTrue(rc == -Libc.EINVAL || rc == -Libc.EOPNOTSUPP,
                    "rc " + rc + " (expected: -EINVAL or -EOPNOTSUPP)");
        }
    }

    @Test
    void strerror_isLibcsText() {
        assertEquals("Invalid argument", Libc.strerror(Libc.EINVAL));
        assertEquals("Input/output error", Libc.strerror(5));
    }

    @Test
    void failure_unknownErrno_hasNoName() {
        assertNull(Libc.errnoName(4000));
        assertTrue(Libc.failure("pread", Path.of("/x"), 4000).getMessage().endsWith("(errno 4000)"));
    }

    /** Each symbolic name against the kernel's own uapi headers, where they are installed. */
    @Test
    void errnoName_agreesWithTheKernelHeaders() throws IOException {
        Map<Integer, String> fromHeaders = new HashMap<>();
        Pattern define = Pattern.compile("^#define\\s+(E[A-Z0-9]+)\\s+(\\d+)\\b", Pattern.MULTILINE);
        for (String header : new String[] {"errno-base.h", "errno.h"}) {
            Path path = Path.of("/usr/include/asm-generic", header);
            if (!Files.isReadable(path)) {
                System.out.println("SKIPPED LibcTest errno names: " + path + " is not installed");
            }
            assumeTrue(Files.isReadable(path), () -> path + " is not installed (linux-libc-dev)");
            Matcher m = define.matcher(Files.readString(path));
            while (m.find()) {
                fromHeaders.putIfAbsent(Integer.parseInt(m.group(2)), m.group(1));
            }
        }
        int checked = 0;
        for (int errno = 1; errno < 200; errno++) {
            String name = Libc.errnoName(errno);
            if (name != null) {
                assertEquals(fromHeaders.get(errno), name, "errno " + errno);
                checked++;
            }
        }
        assertTrue(checked >= 60, "checked " + checked + " names (expected: at least 60)");
        assertEquals("EINTR", fromHeaders.get(Libc.EINTR));
        assertEquals("EBADF", fromHeaders.get(Libc.EBADF));
        assertEquals("EINVAL", fromHeaders.get(Libc.EINVAL));
        assertEquals("ENOTTY", fromHeaders.get(Libc.ENOTTY));
        assertEquals("EOPNOTSUPP", fromHeaders.get(Libc.EOPNOTSUPP));
    }

    /** A descriptor the test opened, closed by try-with-resources. */
    private record Fd(Path path, int fd) implements AutoCloseable {
        @Override
        public void close() {
            Libc.close(fd);
        }
    }

    /** Creates a file of {@code size} zero bytes and opens it with {@code flags | O_CLOEXEC}. */
    private Fd open(int size, int flags) throws IOException {
        Path file = Files.write(dir.resolve("f"), new byte[size]);
        int fd = Libc.open(file, flags | Libc.O_CLOEXEC);
        assertTrue(fd >= 0, () -> Libc.failure("open", file, -fd).getMessage());
        return new Fd(file, fd);
    }

    /** As {@link #open} read-write with O_DIRECT, skipping the test (saying why) where the file system refuses it. */
    private Fd openDirect(int size) throws IOException {
        Path file = Files.write(dir.resolve("f"), new byte[size]);
        int fd = Libc.open(file, Libc.O_RDWR | Libc.O_DIRECT | Libc.O_CLOEXEC);
        skipUnless(fd != -Libc.EINVAL, "the file system of " + dir + " refuses O_DIRECT");
        assertTrue(fd >= 0, () -> Libc.failure("open(O_RDWR|O_DIRECT)", file, -fd).getMessage());
        return new Fd(file, fd);
    }

    private void skipUnless(boolean condition, String reason) {
        if (!condition) {
            System.out.println("SKIPPED " + getClass().getSimpleName() + ": " + reason);
        }
        assumeTrue(condition, reason);
    }
}
