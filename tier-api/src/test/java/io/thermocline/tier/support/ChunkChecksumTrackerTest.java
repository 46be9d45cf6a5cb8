package io.thermocline.tier.support;

import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.ChecksumMismatchException;
import io.thermocline.tier.Crc32c;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.testkit.TestData;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class ChunkChecksumTrackerTest {

    private static final ObjectKey KEY = ObjectKey.of("t");

    @Test
    void piecesInAnyChunkOrder_giveTheWholeObjectChecksum() {
        long size = 3 * 4096 + 100;
        ChunkChecksumTracker t = new ChunkChecksumTracker(WriteRequest.builder(KEY, size).chunkSizeInBytes(4096).build());
        assertFalse(t.record(2 * 4096, TestData.bytes(1, 2 * 4096, 1000)));
        assertTrue(t.record(2 * 4096 + 1000, TestData.bytes(1, 2 * 4096 + 1000, 3096)));
        assertTrue(t.record(3 * 4096, TestData.bytes(1, 3 * 4096, 100)));
        assertTrue(t.record(0, TestData.bytes(1, 0, 4096)));
        assertFalse(t.isComplete());
        t.record(4096, TestData.bytes(1, 4096, 4095));
        t.record(2 * 4096 - 1, TestData.bytes(1, 2 * 4096 - 1, 1));
        assertTrue(t.isComplete());
        ObjectInfo info = t.finish(Instant.EPOCH);
        assertEquals(TestData.crc32c(1, size), info.crc32c());
        assertEquals(Instant.EPOCH, info.createdAt());
    }

    @Test
    void pieceCrossingAChunk_orSkippingBytes_isRejected() {
        ChunkChecksumTracker t = new ChunkChecksumTracker(WriteRequest.builder(KEY, 8192).chunkSizeInBytes(4096).build());
        assertThatThrownBy(() -> t.record(4000, TestData.bytes(1, 0, 200))).isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("expected: position 0");
        t.record(0, TestData.bytes(1, 0, 4000));
        assertThatThrownBy(() -> t.record(4000, TestData.bytes(1, 4000, 200))).hasMessageContaining("crosses the end of chunk 0");
        assertThatThrownBy(() -> t.finish(Instant.EPOCH)).hasMessageContaining("chunk 0 at offset 0 has 4000 of 4096 bytes");
    }

    @Test
    void expectedChecksums_areEnforced() {
        ObjectInfo expected = ObjectInfo.builder(KEY, 10).chunkSizeInBytes(4096)
                .chunkCrc32c(new int[] {Crc32c.of(TestData.bytes(1, 0, 10))}).build();
        ChunkChecksumTracker t = new ChunkChecksumTracker(WriteRequest.copyOf(expected));
        t.record(0, TestData.bytes(2, 0, 10));
        assertThatThrownBy(() -> t.finish(Instant.EPOCH)).isInstanceOf(ChecksumMismatchException.class)
                .hasMessageContaining("copy of t").hasMessageContaining("offset 0");
    }
}
