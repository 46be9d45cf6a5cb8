package io.thermocline.nvmeof.block;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.thermocline.tier.local.FileBlockDevice;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.BeforeEach;

/**
 * BlockTier over a file opened with O_DIRECT, 4096-byte blocks and 16 KiB allocation units
 * (one contract chunk per unit), against the tier contract; skipped, saying why, where the
 * file system refuses O_DIRECT.
 */
class BlockTierFileDirectIoTest extends BlockTierFileTest {

    @Override
    protected int blockSizeInBytes() {
        return 4096;
    }

    @Override
    protected int allocationUnitInBytes() {
        return 16 * 1024;
    }

    @Override
    protected FileBlockDevice.Options options() {
        return super.options().directIo(true);
    }

    @BeforeEach
    void requireDirectIo() {
        String reason = unsupportedReason(dir);
        if (reason != null) {
            System.out.println("SKIPPED " + getClass().getSimpleName() + ": " + reason);
        }
        assumeTrue(reason == null, reason);
    }

    /** Null if {@code dir}'s file system accepts O_DIRECT, else why not. */
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
