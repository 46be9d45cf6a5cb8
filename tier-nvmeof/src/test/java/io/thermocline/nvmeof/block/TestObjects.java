package io.thermocline.nvmeof.block;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.Tier;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.testkit.TestData;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/** Writing and checking test objects whose bytes come from {@link TestData} streams. */
final class TestObjects {

    static final int CHUNK = 16 * 1024;

    private TestObjects() {
    }

    /** Waits for {@code f}; a failure is rethrown as the tier exception it carries. */
    static <T> T join(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (RuntimeException e) {
            Throwable cause = io.thermocline.tier.TierException.unwrap(e);
            throw cause instanceof RuntimeException r ? r : e;
        }
    }

    /** Writes {@code size} bytes of stream {@code seed} in 5000-byte pieces and commits. */
    static ObjectInfo put(Tier tier, String key, long seed, long size) {
        try (ObjectWriter w = join(tier.create(WriteRequest.builder(ObjectKey.of(key), size).chunkSizeInBytes(CHUNK).build()))) {
            write(w, seed, 0, size);
            return join(w.commit());
        }
    }

    /** Writes bytes {@code [from, to)} of stream {@code seed} in 5000-byte pieces. */
    static void write(ObjectWriter w, long seed, long from, long to) {
        ByteBuffer buf = ByteBuffer.allocateDirect(5000);
        for (long p = from; p < to; p += buf.capacity()) {
            int n = (int) Math.min(buf.capacity(), to - p);
            TestData.fill(seed, p, buf.clear().limit(n));
            w.write(p, buf).join();
        }
    }

    /** Reads the whole object and checks every byte against stream {@code seed}. */
    static void assertContent(Tier tier, String key, long seed, long size) {
        try (ObjectReader r = tier.openReader(ObjectKey.of(key)).join()) {
            assertEquals(size, r.info().sizeInBytes(), "size of " + key);
            ByteBuffer buf = ByteBuffer.allocate(12_345);
            for (long p = 0; p < size; ) {
                int n = r.read(p, buf.clear()).join();
                assertTrue(n > 0, key + ": read at " + p + " returned " + n);
                assertEquals(-1, TestData.firstMismatch(seed, p, buf.flip()), key + ": content differs near " + p);
                p += n;
            }
        }
    }
}
