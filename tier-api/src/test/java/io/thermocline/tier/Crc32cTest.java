package io.thermocline.tier;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

class Crc32cTest {

    @Test
    void knownVector_matchesRfc3720() {
        // RFC 3720 B.4 / the standard check value of CRC-32C for "123456789"
        assertEquals(0xE3069283, Crc32c.of("123456789".getBytes(StandardCharsets.US_ASCII)));
        // 32 bytes of zeros (RFC 3720 B.4)
        assertEquals(0x8A9136AA, Crc32c.of(new byte[32]));
    }

    @Test
    void of_doesNotMoveTheBuffer() {
        ByteBuffer b = ByteBuffer.wrap("123456789".getBytes(StandardCharsets.US_ASCII));
        assertEquals(0xE3069283, Crc32c.of(b));
        assertEquals(0, b.position());
    }

    @Test
    void combine_equalsTheChecksumOfTheConcatenation_forRandomSplits() {
        Random random = new Random(42);
        for (int round = 0; round < 500; round++) {
            byte[] data = new byte[random.nextInt(5000)];
            random.nextBytes(data);
            int split = data.length == 0 ? 0 : random.nextInt(data.length + 1);
            int a = Crc32c.of(data, 0, split);
            int b = Crc32c.of(data, split, data.length - split);
            assertEquals(Crc32c.of(data), Crc32c.combine(a, b, data.length - split), "split " + split + " of " + data.length);
        }
    }

    @Test
    void combine_withEmptySuffix_isIdentity() {
        assertEquals(0x12345678, Crc32c.combine(0x12345678, 0, 0));
    }

    @Test
    void ofChunks_equalsTheWholeObjectChecksum() {
        Random random = new Random(7);
        int chunk = 4096;
        for (int size : new int[] {1, 4095, 4096, 4097, 3 * 4096, 3 * 4096 + 17, 50_000}) {
            byte[] data = new byte[size];
            random.nextBytes(data);
            int count = (size + chunk - 1) / chunk;
            int[] crcs = new int[count];
            for (int i = 0; i < count; i++) {
                int from = i * chunk;
                crcs[i] = Crc32c.of(data, from, Math.min(chunk, size - from));
            }
            assertEquals(Crc32c.of(data), Crc32c.ofChunks(crcs, size, chunk), "size " + size);
        }
        assertEquals(0, Crc32c.ofChunks(new int[0], 0, chunk));
    }
}
