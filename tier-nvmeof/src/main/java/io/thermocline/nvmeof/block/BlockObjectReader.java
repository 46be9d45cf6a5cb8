package io.thermocline.nvmeof.block;

import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.support.VerifiedReader;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Reads one committed version of an object from its extents through a {@link VerifiedReader}:
 * every chunk is checked against its CRC32C before its bytes are returned. The version stays
 * pinned while the reader is open, so its extents are not reused even if the object is deleted
 * or replaced meanwhile; closing the last reader of such a version frees them.
 */
final class BlockObjectReader implements ObjectReader {

    private final BlockTier tier;
    private final ExtentMap map;
    private final BlockTier.Version version;
    private final VerifiedReader verified;
    private final AtomicBoolean closed = new AtomicBoolean();

    BlockObjectReader(BlockTier tier, ObjectInfo info, ExtentMap map, BlockTier.Version version) {
        this.tier = tier;
        this.map = map;
        this.version = version;
        this.verified = new VerifiedReader(info, tier.name() + ":" + info.key(), this::readRaw, tier.buffers());
    }

    @Override
    public ObjectInfo info() {
        return verified.info();
    }

    @Override
    public CompletableFuture<Integer> read(long position, ByteBuffer dst) {
        if (position < 0) {
            return CompletableFuture.failedFuture(InvalidArgumentException.of("position", position, ">= 0"));
        }
        if (closed.get()) {
            return CompletableFuture.failedFuture(
                    new TierUnavailableException("reader of " + info().key() + " is closed", false));
        }
        return tier.async("read of " + info().key() + " at " + position, () -> verified.read(position, dst));
    }

    /** The raw bytes at object offsets, for the verified reader; blocking. */
    private int readRaw(long position, ByteBuffer dst) {
        long size = info().sizeInBytes();
        if (position >= size) {
            return -1;
        }
        int n = (int) Math.min(dst.remaining(), size - position);
        DeviceIo.readObjectRange(tier.blockDevice(), map, tier.buffers(), position, dst.slice(dst.position(), n),
                () -> "read of " + tier.name() + ":" + info().key() + " at " + position + " from " + tier.blockDevice().name());
        dst.position(dst.position() + n);
        return n;
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            tier.unpin(info().key(), version);
        }
    }
}
