package io.thermocline.tier.local;

import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.Tier;
import io.thermocline.tier.testkit.TierContractTest;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import org.junit.jupiter.api.io.TempDir;

/** LocalTier with buffered I/O against the tier contract. */
class LocalTierTest extends TierContractTest {

    @TempDir
    Path dir;
    private int instances;

    protected boolean directIo() {
        return false;
    }

    @Override
    protected Tier newTier(long capacityInBytes) {
        return LocalTier.open(LocalTierConfig.builder(dir.resolve("tier-" + instances++))
                .capacityInBytes(capacityInBytes).directIo(directIo()).build());
    }

    @Override
    protected Tier reopen(Tier tier) {
        return LocalTier.open(((LocalTier) tier).config());
    }

    @Override
    protected void corruptStoredByte(Tier tier, ObjectKey key, long offset) throws Exception {
        // bit rot: the bytes change, the file's inode, size and mtime do not (those the tier checks
        // itself, see LocalTierPlainFilesTest)
        Path file = ((LocalTier) tier).pathFor(key);
        FileTime mtime = Files.getLastModifiedTime(file);
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(offset);
            int b = f.read();
            f.seek(offset);
            f.write(b ^ 0x5a);
        }
        Files.setLastModifiedTime(file, mtime);
    }
}
