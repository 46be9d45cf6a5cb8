package io.thermocline.tier.local;

import io.thermocline.tier.support.AlignedBufferPool;
import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierIoException;
import io.thermocline.tier.TierUnavailableException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;

/**
 * A {@link BlockDevice} over a regular file or a block device node ({@code /dev/nvme0n1}), with
 * an optional O_DIRECT mode. A regular file is created or extended to the requested size. Trim
 * punches a hole ({@code fallocate}); where that is unsupported it writes zeros.
 *
 * <p>Blocking I/O runs on the executor (virtual threads by default). Thread-safe.
 */
public final class FileBlockDevice implements BlockDevice {

    private static final int ZERO_BUFFER_SIZE = 1 << 20;

    private final Path path;
    private final FileChannel channel;
    private final boolean directIo;
    private final int blockSize;
    private final long sizeInBytes;
    private final Executor executor;
    private final ExecutorService ownedExecutor;
    private final AlignedBufferPool buffers = new AlignedBufferPool(8);
    private volatile boolean closed;

    private FileBlockDevice(Path path, FileChannel channel, Options options, long sizeInBytes) {
        this.path = path;
        this.channel = channel;
        this.directIo = options.directIo;
        this.blockSize = options.blockSizeInBytes;
        this.sizeInBytes = sizeInBytes;
        if (options.executor != null) {
            this.executor = options.executor;
            this.ownedExecutor = null;
        } else {
            this.ownedExecutor = AsyncIo.newVirtualThreadExecutor("blockdev-");
            this.executor = ownedExecutor;
        }
    }

    /**
     * Opens {@code path}. For a regular file, {@code options.sizeInBytes()} creates or extends it
     * (sparse); -1 uses its current size. For a block device the device's size is used.
     *
     * @throws InvalidArgumentException for a size that is not a positive multiple of the block size
     * @throws TierUnavailableException if the file cannot be opened
     */
    public static FileBlockDevice open(Path path, Options options) {
        if (options.directIo && options.blockSizeInBytes % AlignedBufferPool.ALIGNMENT != 0) {
            throw InvalidArgumentException.of("blockSizeInBytes", options.blockSizeInBytes,
                    "4096 with O_DIRECT, which needs 4 KiB-aligned offsets");
        }
        try {
            List<OpenOption> opts = new ArrayList<>(List.of(StandardOpenOption.READ, StandardOpenOption.WRITE));
            boolean regular = !Files.exists(path) || Files.isRegularFile(path);
            if (regular && options.sizeInBytes > 0) {
                opts.add(StandardOpenOption.CREATE);
            }
            if (options.directIo) {
                opts.add(com.sun.nio.file.ExtendedOpenOption.DIRECT);
            }
            FileChannel ch = FileChannel.open(path, opts.toArray(OpenOption[]::new));
            boolean success = false;
            try {
                long size;
                if (regular) {
                    size = options.sizeInBytes > 0 ? options.sizeInBytes : ch.size();
                    if (ch.size() < size) {
                        // extend sparsely: a write of the last block would need alignment under O_DIRECT
                        try (var raf = new java.io.RandomAccessFile(path.toFile(), "rw")) {
                            raf.setLength(size);
                        }
                    }
                } else {
                    size = blockDeviceSize(path, ch);
                }
                if (size <= 0 || size % options.blockSizeInBytes != 0) {
                    throw InvalidArgumentException.of("sizeInBytes of " + path, size,
                            "a positive multiple of the block size " + options.blockSizeInBytes);
                }
                FileBlockDevice device = new FileBlockDevice(path, ch, options, size);
                success = true;
                return device;
            } finally {
                if (!success) {
                    ch.close();
                }
            }
        } catch (IOException e) {
            throw new TierUnavailableException("cannot open block device " + path + ": " + e, false, e);
        }
    }

    private static long blockDeviceSize(Path path, FileChannel ch) throws IOException {
        long size = ch.size();
        if (size > 0) {
            return size;
        }
        Path sectors = Path.of("/sys/class/block").resolve(path.toRealPath().getFileName()).resolve("size");
        return Long.parseLong(Files.readString(sectors).trim()) * 512;
    }

    @Override
    public String name() {
        return path.toString();
    }

    @Override
    public long sizeInBytes() {
        return sizeInBytes;
    }

    @Override
    public int blockSizeInBytes() {
        return blockSize;
    }

    @Override
    public CompletableFuture<Void> read(long offset, ByteBuffer dst) {
        return run("read", offset, dst.remaining(), () -> {
            FileIo.readFully(channel, directIo, buffers, offset, dst, path.toString());
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> write(long offset, ByteBuffer src) {
        return run("write", offset, src.remaining(), () -> {
            if (directIo && !(AlignedBufferPool.isAligned(src))) {
                writeThroughBounce(offset, src.duplicate());
            } else {
                FileIo.writeFully(channel, offset, src);
            }
            return null;
        });
    }

    private void writeThroughBounce(long offset, ByteBuffer src) throws IOException {
        ByteBuffer bounce = buffers.acquire(Math.min(src.remaining(), 4 << 20));
        try {
            long p = offset;
            while (src.hasRemaining()) {
                int n = Math.min(src.remaining(), bounce.capacity());
                bounce.clear().put(src.slice(src.position(), n)).flip();
                FileIo.writeFully(channel, p, bounce);
                src.position(src.position() + n);
                p += n;
            }
        } finally {
            buffers.release(bounce);
        }
    }

    @Override
    public CompletableFuture<Void> flush() {
        return run("flush", 0, 0, () -> {
            channel.force(false);
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> trim(long offset, long lengthInBytes) {
        return run("trim", offset, lengthInBytes, () -> {
            if (!NativeIo.punchHole(path, offset, lengthInBytes)) {
                zero(offset, lengthInBytes);
            }
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long offset, long lengthInBytes) {
        return run("write zeroes", offset, lengthInBytes, () -> {
            zero(offset, lengthInBytes);
            return null;
        });
    }

    private void zero(long offset, long length) throws IOException {
        ByteBuffer zeros = buffers.acquire((int) Math.min(length, ZERO_BUFFER_SIZE));
        try {
            zeros.put(0, new byte[zeros.limit()]);
            for (long p = offset; p < offset + length; ) {
                int n = (int) Math.min(zeros.capacity(), offset + length - p);
                FileIo.writeFully(channel, p, zeros.clear().limit(n));
                p += n;
            }
        } finally {
            buffers.release(zeros);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (ownedExecutor != null) {
            ownedExecutor.close();
        }
        LocalTier.closeQuietly(channel);
    }

    @Override
    public String toString() {
        return "FileBlockDevice[" + path + ", " + sizeInBytes + " bytes, block " + blockSize
               + (directIo ? ", O_DIRECT" : "") + "]";
    }

    private CompletableFuture<Void> run(String what, long offset, long length, AsyncIo.IoSupplier<Void> body) {
        if (offset < 0 || length < 0 || offset % blockSize != 0 || length % blockSize != 0
            || offset > sizeInBytes || length > sizeInBytes - offset) {
            return CompletableFuture.failedFuture(new InvalidArgumentException(what + " of " + path + " at offset "
                    + offset + " of " + length + " bytes (expected: multiples of " + blockSize
                    + " within 0.." + sizeInBytes + ")"));
        }
        if (closed) {
            return CompletableFuture.failedFuture(new TierUnavailableException("block device " + path + " is closed", false));
        }
        return AsyncIo.submit(executor, body, t -> switch (t) {
            case TierException te -> te;
            case RejectedExecutionException r -> new TierUnavailableException("block device " + path + " is closed", false, r);
            default -> new TierIoException(what + " of " + path + " at offset " + offset + " failed: " + t, false, t);
        });
    }

    /** Options of {@link #open}. Immutable; build with {@link #options()}. */
    public static final class Options {
        private long sizeInBytes = -1;
        private int blockSizeInBytes = 4096;
        private boolean directIo;
        private Executor executor;

        /** Defaults: existing size, 4096-byte blocks, no O_DIRECT, virtual threads. */
        public static Options defaults() {
            return new Options();
        }

        /** Size for a regular file (created or extended); -1 keeps its current size. */
        public Options sizeInBytes(long sizeInBytes) {
            Options o = copy();
            o.sizeInBytes = sizeInBytes;
            return o;
        }

        /** Logical block size: 512 or 4096 (default). */
        public Options blockSizeInBytes(int blockSizeInBytes) {
            if (blockSizeInBytes != 512 && blockSizeInBytes != 4096) {
                throw InvalidArgumentException.of("blockSizeInBytes", blockSizeInBytes, "512 or 4096");
            }
            Options o = copy();
            o.blockSizeInBytes = blockSizeInBytes;
            return o;
        }

        public Options directIo(boolean directIo) {
            Options o = copy();
            o.directIo = directIo;
            return o;
        }

        public Options executor(Executor executor) {
            Options o = copy();
            o.executor = executor;
            return o;
        }

        private Options copy() {
            Options o = new Options();
            o.sizeInBytes = sizeInBytes;
            o.blockSizeInBytes = blockSizeInBytes;
            o.directIo = directIo;
            o.executor = executor;
            return o;
        }
    }

    /** Shorthand for {@code Options.defaults()}. */
    public static Options options() {
        return Options.defaults();
    }
}
