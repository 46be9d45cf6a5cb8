package io.thermocline.nvmeof.target;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.local.FileBlockDevice;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * One namespace a {@link Subsystem} exports: a {@link BlockDevice} and how the target may treat it.
 *
 * @param device the blocks; its block size (512 or 4096, a power of two in general) becomes the
 *        namespace's LBA format 0 (LBADS = log2 of it) and its size NSZE
 * @param zeroCopyFile a regular file holding exactly the device's bytes at the same offsets,
 *        opened without O_DIRECT, or {@code null}. With it, and with data digests off, reads are
 *        sent from the page cache with {@code sendfile} instead of through {@link BlockDevice#read}:
 *        the target opens its own read-only channel on this path
 * @param deallocatedReadsZeroes whether a range the device has trimmed reads back as zeros; the
 *        namespace then reports DLFEAT 001b (NVM Command Set 1.0, Figure 97) and serves Write
 *        Zeroes with the Deallocate bit by trimming
 * @param closeWithTarget whether {@link NvmeTcpTarget#close()} closes the device
 */
public record Namespace(BlockDevice device, Path zeroCopyFile, boolean deallocatedReadsZeroes, boolean closeWithTarget) {

    public Namespace {
        Objects.requireNonNull(device, "device");
        int bs = device.blockSizeInBytes();
        if (bs < 512 || Integer.bitCount(bs) != 1) {
            throw new IllegalArgumentException("block size of " + device.name() + ": " + bs
                    + " (expected a power of two of at least 512)");
        }
        if (device.sizeInBytes() < bs || device.sizeInBytes() % bs != 0) {
            throw new IllegalArgumentException("size of " + device.name() + ": " + device.sizeInBytes()
                    + " bytes (expected a positive multiple of the block size " + bs + ")");
        }
    }

    /**
     * A device the caller keeps owning: the target neither closes it nor reads around it, and
     * promises nothing about what deallocated blocks read as.
     */
    public static Namespace of(BlockDevice device) {
        return new Namespace(device, null, false, false);
    }

    /**
     * Opens (creating or extending) a file, or a block device, as a namespace that the target
     * owns and closes. For a regular file without O_DIRECT, reads are served zero-copy from the
     * page cache.
     *
     * @param sizeInBytes the size to create or extend the file to; -1 keeps its current size
     * @param blockSize 512 or 4096
     */
    public static Namespace openFile(Path file, long sizeInBytes, int blockSize, boolean directIo) {
        FileBlockDevice device = FileBlockDevice.open(file, FileBlockDevice.options()
                .sizeInBytes(sizeInBytes).blockSizeInBytes(blockSize).directIo(directIo));
        try {
            // FileBlockDevice punches holes for trim and writes zeros where it cannot: both read as zeros.
            // Zero-copy needs a regular file: a block device's channel reports size 0, which file regions refuse.
            boolean zeroCopy = !directIo && Files.isRegularFile(file);
            return new Namespace(device, zeroCopy ? file : null, true, true);
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
    }

    /** Logical block size in bytes. */
    public int blockSize() {
        return device.blockSizeInBytes();
    }

    /** Capacity in logical blocks (NSZE). */
    public long blocks() {
        return device.sizeInBytes() / device.blockSizeInBytes();
    }
}
