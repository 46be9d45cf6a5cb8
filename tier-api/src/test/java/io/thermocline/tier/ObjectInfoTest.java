package io.thermocline.tier;

import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class ObjectInfoTest {

    private static final ObjectKey KEY = ObjectKey.of("k");

    @Test
    void chunkGeometry_coversTheObject() {
        assertEquals(0, ObjectInfo.chunkCount(0, 4096));
        assertEquals(1, ObjectInfo.chunkCount(1, 4096));
        assertEquals(1, ObjectInfo.chunkCount(4096, 4096));
        assertEquals(2, ObjectInfo.chunkCount(4097, 4096));
        assertEquals(1, ObjectInfo.chunkLength(4097, 4096, 1));
    }

    @Test
    void badChunkSize_namesTheValueAndTheRule() {
        assertThatThrownBy(() -> ObjectInfo.requireChunkSize(1000)).isInstanceOf(InvalidArgumentException.class)
                .hasMessage("chunkSizeInBytes: 1000 (expected: a multiple of 4096 from 4096 to 268435456)");
    }

    @Test
    void wholeChecksum_mustMatchTheChunks() {
        int[] chunks = {Crc32c.of(new byte[4096]), Crc32c.of(new byte[10])};
        ObjectInfo info = ObjectInfo.builder(KEY, 4106).chunkSizeInBytes(4096).chunkCrc32c(chunks).build();
        assertEquals(Crc32c.of(new byte[4106]), info.crc32c());
        assertThatThrownBy(() -> info.toBuilder().crc32c(info.crc32c() ^ 1).build())
                .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("does not match its chunk checksums");
        assertThatThrownBy(() -> ObjectInfo.builder(KEY, 4106).chunkSizeInBytes(4096).chunkCrc32c(new int[1]).build())
                .hasMessageContaining("chunkCrc32c.length: 1 (expected: 2");
    }

    @Test
    void userMetadata_isValidated() {
        assertThatThrownBy(() -> ObjectInfo.builder(KEY, 0).chunkCrc32c(new int[0]).userMetadata(Map.of("bad name", "v")).build())
                .hasMessageContaining("userMetadata name: \"bad name\"");
        assertThatThrownBy(() -> ObjectInfo.builder(KEY, 0).chunkCrc32c(new int[0]).userMetadata(Map.of("n", "x".repeat(3000))).build())
                .hasMessageContaining("at most 2048");
        assertThatThrownBy(() -> ObjectInfo.builder(KEY, 0).chunkCrc32c(new int[0]).contentType("").build())
                .hasMessageContaining("contentType");
    }

    @Test
    void chunkArray_isCopiedInAndOut() {
        int[] chunks = {Crc32c.of(new byte[5])};
        ObjectInfo info = ObjectInfo.builder(KEY, 5).chunkSizeInBytes(4096).chunkCrc32c(chunks).build();
        chunks[0] ^= 1;
        info.chunkCrc32cs()[0] ^= 1;
        assertEquals(Crc32c.of(new byte[5]), info.chunkCrc32c(0));
        assertTrue(info.sameContentAs(info.toBuilder().build()));
    }
}
