package io.thermocline.engine;

import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.Tier;
import io.thermocline.tier.TierException;
import io.thermocline.tier.TierIoException;
import io.thermocline.tier.WriteRequest;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/** Streams a caller's bytes into one or more tiers at once, one chunk in memory at a time. */
final class Streams {

    private Streams() {
    }

    /**
     * Writes {@code size} bytes from {@code source} to a new object on every tier of
     * {@code targets}, each chunk sent to all of them before the next is read, then commits them
     * in reverse order (so the last tier — the backing tier in a write-through — is durable before
     * any faster copy is published). On any failure every writer is aborted and copies already
     * committed are deleted. Blocking.
     *
     * @return the committed info (the same on every tier)
     */
    static ObjectInfo write(List<Tier> targets, ObjectKey key, ReadableByteChannel source, long size, PutOptions options) {
        WriteRequest.Builder b = WriteRequest.builder(key, size);
        if (options.chunkSizeInBytes() > 0) {
            b.chunkSizeInBytes(options.chunkSizeInBytes());
        }
        if (options.contentType() != null) {
            b.contentType(options.contentType());
        }
        if (options.expected() != null) {
            b.expected(options.expected());
        }
        WriteRequest request = b.build();
        List<ObjectWriter> writers = new ArrayList<>();
        List<Tier> committed = new ArrayList<>();
        boolean ok = false;
        try {
            for (Tier t : targets) {
                writers.add(join(t.create(request)));
            }
            int chunk = request.chunkSizeInBytes();
            ByteBuffer buf = ByteBuffer.allocateDirect((int) Math.min(chunk, Math.max(size, 1)));
            long position = 0;
            while (position < size) {
                int length = (int) Math.min(buf.capacity(), size - position);
                buf.clear().limit(length);
                while (buf.hasRemaining()) {
                    int n;
                    try {
                        n = source.read(buf);
                    } catch (IOException e) {
                        throw new TierIoException("put " + key + ": reading the source at byte " + (position + buf.position())
                                + " failed: " + e.getMessage(), false, e);
                    }
                    if (n < 0) {
                        throw InvalidArgumentException.of("source", "ended after " + (position + buf.position()) + " bytes",
                                "the " + size + " bytes the put declared");
                    }
                }
                buf.flip();
                List<CompletableFuture<Void>> writes = new ArrayList<>();
                for (ObjectWriter w : writers) {
                    writes.add(w.write(position, buf.duplicate()));
                }
                join(CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)));
                position += length;
            }
            ObjectInfo info = null;
            for (int i = writers.size() - 1; i >= 0; i--) {
                info = join(writers.get(i).commit());
                committed.add(targets.get(i));
            }
            ok = true;
            return info;
        } finally {
            if (!ok) {
                for (ObjectWriter w : writers) {
                    try {
                        w.abort().join();
                    } catch (RuntimeException ignored) {
                        // the first failure is the one reported
                    }
                }
                for (Tier t : committed) {
                    try {
                        t.delete(key).join();
                    } catch (RuntimeException ignored) {
                        // recovery's journal replay deletes it if this did not
                    }
                }
            }
        }
    }

    static <T> T join(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            Throwable t = TierException.unwrap(e);
            throw t instanceof RuntimeException re ? re : e;
        }
    }
}
