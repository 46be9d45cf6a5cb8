package io.thermocline.engine;

import io.thermocline.region.RegionKey;
import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectNotFoundException;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierUnavailableException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.NonWritableChannelException;
import java.nio.channels.SeekableByteChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * A reader of one object through the engine: positional, asynchronous reads into caller-owned
 * buffers from whichever tier holds the object now, and a blocking {@link #channel()}.
 *
 * <p>Every read call adds the bytes it returned to the object's heat in the shared region (one
 * lookup and two atomic adds, no lock). Reads keep working while the engine moves the object: if
 * the copy being read is freed, or a chunk fails its checksum there, the read looks the object up
 * again and continues on the tier that holds it now, after checking that it is the same object
 * (size and checksums), so a read never returns bytes of another version. Thread-safe.
 */
public final class EngineReader implements ObjectReader {

    private static final int MAX_ATTEMPTS = 4;

    private final TierEngine engine;
    private final RegionKey key;
    private final ObjectInfo info;
    private volatile TierEngine.Opened current;
    private volatile boolean closed;
    private volatile boolean switching;

    EngineReader(TierEngine engine, RegionKey key, TierEngine.Opened opened) {
        this.engine = engine;
        this.key = key;
        this.info = opened.reader().info();
        this.current = opened;
    }

    @Override
    public ObjectInfo info() {
        return info;
    }

    /** The name of the tier reads are served from now. */
    public String tier() {
        return current.tier().name();
    }

    @Override
    public CompletableFuture<Integer> read(long position, ByteBuffer dst) {
        return attempt(position, dst, 1);
    }

    private CompletableFuture<Integer> attempt(long position, ByteBuffer dst, int attempt) {
        if (closed) {
            return CompletableFuture.failedFuture(new TierUnavailableException("reader of " + key.key() + " is closed", false));
        }
        TierEngine.Opened c = current;
        EngineTier tier = c.tier();
        if (attempt == 1 && tier == engine.backing() && !switching && engine.fasterCopy(key, tier.id)) {
            return switchToFaster(c).thenCompose(v -> attempt(position, dst, 2));
        }
        tier.foreground.incrementAndGet();
        long t0 = System.nanoTime();
        CompletableFuture<Integer> f;
        try {
            f = c.reader().read(position, dst);
        } catch (RuntimeException e) {
            f = CompletableFuture.failedFuture(e);
        }
        return f.handle((n, err) -> {
            tier.foreground.decrementAndGet();
            if (err == null) {
                engine.recordRead(key, tier, System.nanoTime() - t0, n);
                if (n > 0 && tier == engine.backing()) {
                    ReadTap tap = engine.readTap(key.key());
                    if (tap != null && tap.info().sameContentAs(info)) {
                        tap.offer(position, dst.duplicate().flip().position(dst.position() - n));
                    }
                }
                return CompletableFuture.completedFuture(n);
            }
            Throwable t = TierException.unwrap(err);
            if (t instanceof InvalidArgumentException || attempt >= MAX_ATTEMPTS || closed) {
                return CompletableFuture.<Integer>failedFuture(t);
            }
            // the copy went away or is damaged: find the object again, skipping a damaged copy
            int exclude = t instanceof ChecksumMismatchException ? tier.id : -1;
            return reopen(c, exclude).handle((v, reopenFailed) -> {
                if (reopenFailed == null) {
                    return attempt(position, dst, attempt + 1);
                }
                // no other tier holds it: the damaged chunk is the reason the read fails, not "not found"
                Throwable why = exclude >= 0 && TierException.unwrap(reopenFailed) instanceof ObjectNotFoundException ? t
                        : TierException.unwrap(reopenFailed);
                return CompletableFuture.<Integer>failedFuture(why);
            }).thenCompose(x -> x);
        }).thenCompose(x -> x);
    }

    /**
     * Moves the reader from the backing tier to a faster copy that appeared while it read (its
     * read-through promotion committed). One switch at a time; if it fails, reads go on where
     * they were.
     */
    private CompletableFuture<Void> switchToFaster(TierEngine.Opened from) {
        synchronized (this) {
            if (switching || current != from) {
                return CompletableFuture.completedFuture(null);
            }
            switching = true;
        }
        return reopen(from, -1).handle((v, err) -> {
            synchronized (this) {
                switching = false;
            }
            return null;
        });
    }

    private CompletableFuture<Void> reopen(TierEngine.Opened failed, int excludeTier) {
        return engine.open(key, excludeTier).thenApply(next -> {
            if (!next.reader().info().sameContentAs(info)) {
                next.close();
                throw new CompletionException(new TierUnavailableException("object " + key.key()
                        + " was replaced while it was being read; open it again to read the new version", false));
            }
            synchronized (this) {
                if (current == failed && !closed) {
                    current = next;
                    failed.close();
                    return null;
                }
            }
            next.close(); // another read replaced it first, or we were closed
            return null;
        });
    }

    /** A blocking channel over this reader, positioned at 0; closing it closes the reader. */
    public SeekableByteChannel channel() {
        return new SeekableByteChannel() {
            private long position;
            private boolean open = true;

            @Override
            public int read(ByteBuffer dst) throws IOException {
                if (!open) {
                    throw new ClosedChannelException();
                }
                if (!dst.hasRemaining()) {
                    return 0;
                }
                try {
                    int n = EngineReader.this.read(position, dst).join();
                    if (n > 0) {
                        position += n;
                    }
                    return n;
                } catch (CompletionException e) {
                    throw new IOException(TierException.unwrap(e).getMessage(), TierException.unwrap(e));
                }
            }

            @Override
            public int write(ByteBuffer src) {
                throw new NonWritableChannelException();
            }

            @Override
            public long position() {
                return position;
            }

            @Override
            public SeekableByteChannel position(long newPosition) {
                if (newPosition < 0) {
                    throw new IllegalArgumentException("position: " + newPosition + " (expected: >= 0)");
                }
                position = newPosition;
                return this;
            }

            @Override
            public long size() {
                return info.sizeInBytes();
            }

            @Override
            public SeekableByteChannel truncate(long size) {
                throw new NonWritableChannelException();
            }

            @Override
            public boolean isOpen() {
                return open;
            }

            @Override
            public void close() {
                open = false;
                EngineReader.this.close();
            }
        };
    }

    @Override
    public void close() {
        TierEngine.Opened c;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            c = current;
        }
        c.close();
    }
}
