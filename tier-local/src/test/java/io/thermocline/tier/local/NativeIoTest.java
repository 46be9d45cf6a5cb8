package io.thermocline.tier.local;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeIoTest {

    @TempDir
    Path dir;

    @Test
    void punchHole_makesTheRangeReadAsZeros_andKeepsTheSize() throws Exception {
        Path file = dir.resolve("f");
        byte[] data = new byte[3 * 4096];
        Arrays.fill(data, (byte) 7);
        Files.write(file, data);
        boolean punched = NativeIo.punchHole(file, 4096, 4096);
        if (!punched) {
            System.out.println("SKIPPED NativeIoTest: fallocate(PUNCH_HOLE) is not supported for " + dir);
        }
        assumeTrue(punched, "fallocate(PUNCH_HOLE) unsupported here");
        byte[] expected = data.clone();
        Arrays.fill(expected, 4096, 8192, (byte) 0);
        assertArrayEquals(expected, Files.readAllBytes(file));
    }
}
