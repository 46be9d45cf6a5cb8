package io.thermocline.tier.local;

import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.support.VerifiedReader;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.concurrent.CompletableFuture;

/**
 * Reads one object file through a {@link VerifiedReader}. Holds the file open, so a delete or
 * replacement of the object does not affect it (POSIX unlink semantics). A chunk whose bytes do
 * not match its CRC32C fails the read and quarantines the object.
 */
final class LocalObjectReader implements ObjectReader {

    private final LocalTier tier;
    private final FileChannel channel;
    private final VerifiedReader verified;
    private volatile boolean closed;

    private final LocalTier.Entry entry;

    LocalObjectReader(LocalTier tier, ObjectInfo info, FileChannel channel, LocalTier.Entry entry) {
        this.tier = tier;
        this.channel = channel;
        this.entry = entry;
        this.verified = new VerifiedReader(info, tier.name() + ":" + info.key(),
                (position, dst) -> FileIo.read(channel, tier.directIo(), tier.buffers(), position, dst),
                tier.buffers());
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
        if (closed) {
            return CompletableFuture.failedFuture(
                    new TierUnavailableException("reader of " + info().key() + " is closed", false));
        }
        return tier.async("read " + info().key() + " at " + position, () -> {
            try {
                return verified.read(position, dst);
            } catch (ChecksumMismatchException e) {
                // the file's bytes no longer match its record: never served again
                tier.quarantine(info().key(), entry, e.getMessage());
                throw e;
            }
        });
    }

    @Override
    public void close() {
        closed = true;
        LocalTier.closeQuietly(channel);
    }
}
