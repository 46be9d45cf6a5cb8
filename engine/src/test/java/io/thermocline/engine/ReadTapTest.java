package io.thermocline.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.support.BufferPool;
import io.thermocline.tier.testkit.TestData;
import java.nio.ByteBuffer;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

class ReadTapTest {

    private static final int CHUNK = 64 * 1024;

    /** Counts what is handed out and given back, so a test can tell whether a copy leaked. */
    private static final class CountingPool implements BufferPool {
        final AtomicInteger acquired = new AtomicInteger();
        final AtomicInteger released = new AtomicInteger();

        @Override
        public ByteBuffer acquire(int capacityInBytes) {
            acquired.incrementAndGet();
            return ByteBuffer.allocate(capacityInBytes);
        }

        @Override
        public void release(ByteBuffer buffer) {
            released.incrementAndGet();
        }

        int held() {
            return acquired.get() - released.get();
        }
    }

    private static ObjectInfo info(long seed, long size) {
        int n = ObjectInfo.chunkCount(size, CHUNK);
        int[] crcs = new int[n];
        for (int i = 0; i < n; i++) {
            CRC32C c = new CRC32C();
            c.update(TestData.bytes(seed, (long) i * CHUNK, (int) Math.min(CHUNK, size - (long) i * CHUNK)));
            crcs[i] = (int) c.getValue();
        }
        return ObjectInfo.builder(ObjectKey.of("tap"), size).chunkSizeInBytes(CHUNK).chunkCrc32c(crcs)
                .crc32c(TestData.crc32c(seed, size)).build();
    }

    @Test
    void offeredChunksAreTakenFirst_verified_andTheirBuffersGoBackToThePool() {
        long size = 4L * CHUNK + 100;
        CountingPool pool = new CountingPool();
        ReadTap tap = new ReadTap(info(7, size), pool);
        // a read of [CHUNK/2, 3 CHUNK): only chunks 1 and 2 are whole in it
        tap.offer(CHUNK / 2, TestData.bytes(7, CHUNK / 2, 3 * CHUNK - CHUNK / 2));
        assertEquals(2, tap.offeredCount());
        assertEquals(2, pool.held());
        // the same chunks again: nothing more is held
        tap.offer(CHUNK, TestData.bytes(7, CHUNK, 2 * CHUNK));
        assertEquals(2, pool.held());

        Set<Integer> first = new HashSet<>(Set.of(tap.claimNext(), tap.claimNext()));
        assertEquals(Set.of(1, 2), first, "offered chunks are claimed before the tail");
        ByteBuffer dst = ByteBuffer.allocate(CHUNK);
        for (int c : first) {
            assertTrue(tap.take(c, dst));
            assertEquals(-1, TestData.firstMismatch(7, (long) c * CHUNK, dst.duplicate().position(0)));
        }
        assertEquals(0, pool.held(), "taken copies are released");
        // then the rest from the end of the object, each once
        assertEquals(4, tap.claimNext());
        assertEquals(3, tap.claimNext());
        assertEquals(0, tap.claimNext());
        assertEquals(-1, tap.claimNext());
        assertFalse(tap.take(4, dst), "nothing was offered for chunk 4");
        // claimed chunks are not kept when offered later
        tap.offer(0, TestData.bytes(7, 0, (int) size));
        assertEquals(0, tap.offeredCount());
        assertEquals(0, pool.held());
    }

    @Test
    void offersAreBounded_aDamagedCopyIsRefused_andCloseReleasesWhatIsLeft() {
        int chunks = ReadTap.MAX_OFFERED + 4;
        long size = (long) chunks * CHUNK;
        CountingPool pool = new CountingPool();
        ReadTap tap = new ReadTap(info(9, size), pool);
        ByteBuffer all = TestData.bytes(9, 0, (int) size);
        all.put(3 * CHUNK + 5, (byte) (all.get(3 * CHUNK + 5) ^ 1)); // the reader's copy of chunk 3 is damaged
        tap.offer(0, all);
        assertEquals(ReadTap.MAX_OFFERED, tap.offeredCount(), "offers beyond the bound are refused");
        assertEquals(ReadTap.MAX_OFFERED, pool.held());
        assertFalse(tap.take(3, ByteBuffer.allocate(CHUNK)), "a chunk failing its CRC32C is not handed to the copier");
        assertEquals(ReadTap.MAX_OFFERED - 1, pool.held());
        tap.close();
        assertEquals(0, pool.held(), "close gives every held copy back");
        tap.offer(0, all);
        assertEquals(0, pool.held(), "a closed tap keeps nothing");
    }
}
