package io.thermocline.tier.local;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.BeforeEach;

/** LocalTier with O_DIRECT against the tier contract; skipped, saying why, where the file system refuses O_DIRECT. */
class LocalTierDirectIoTest extends LocalTierTest {

    @Override
    protected boolean directIo() {
        return true;
    }

    @BeforeEach
    void requireDirectIo() throws Exception {
        String reason = DirectIoSupport.unsupportedReason(dir);
        if (reason != null) {
            System.out.println("SKIPPED " + getClass().getSimpleName() + ": " + reason);
        }
        assumeTrue(reason == null, reason);
    }

    /** Probes whether a directory's file system accepts O_DIRECT. */
    static final class DirectIoSupport {
        static String unsupportedReason(Path dir) {
            Path probe = dir.resolve(".odirect-probe");
            try (FileChannel ch = FileChannel.open(probe, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    com.sun.nio.file.ExtendedOpenOption.DIRECT)) {
                return ch.isOpen() ? null : "probe channel closed";
            } catch (Exception e) {
                return "the file system of " + dir + " does not support O_DIRECT (" + e + ")";
            } finally {
                try {
                    Files.deleteIfExists(probe);
                } catch (Exception ignored) {
                    // best effort
                }
            }
        }
    }
}
