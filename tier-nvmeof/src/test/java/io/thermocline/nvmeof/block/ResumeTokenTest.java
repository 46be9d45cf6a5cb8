package io.thermocline.nvmeof.block;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.WriteRequest;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** The text of a block tier resume point: round trip, what it is tied to, and what it refuses. */
class ResumeTokenTest {

    private static final UUID DEVICE = UUID.fromString("0f6e7c1a-3b2d-4c5e-8f90-1a2b3c4d5e6f");
    private static final WriteRequest REQUEST =
            WriteRequest.builder(ObjectKey.of("datasets/shard-0007 (copy).bin"), 5_000_000).chunkSizeInBytes(1 << 20).build();

    private static ResumeToken token(List<Extent> extents) {
        return new ResumeToken(DEVICE, 1 << 20, 4096, REQUEST.sizeInBytes(), REQUEST.chunkSizeInBytes(),
                Crc32c.of(REQUEST.key().toUtf8()), extents);
    }

    @Test
    void format_thenParse_givesTheSameToken_onOneLineAResumePointAccepts() {
        ResumeToken t = token(List.of(new Extent(4096, 3), new Extent(17, 2)));
        String text = t.format();
        assertEquals("blocktier-resume/1 uuid=" + DEVICE + " au=1048576 bs=4096 size=5000000 chunk=1048576 key="
                + HexFormat.of().toHexDigits(Crc32c.of(REQUEST.key().toUtf8()))
                + " extents=4096+3,17+2", text);
        assertEquals(Optional.of(t), ResumeToken.parse(text));
        assertEquals(text, new ResumePoint(0, text).token());
        assertEquals(5, t.unitCount());
    }

    @Test
    void matches_theRequestItWasMadeFor_only() {
        ResumeToken t = token(List.of(new Extent(0, 5)));
        assertTrue(t.matches(REQUEST));
        assertFalse(t.matches(WriteRequest.builder(ObjectKey.of("other"), 5_000_000).chunkSizeInBytes(1 << 20).build()));
        assertFalse(t.matches(WriteRequest.builder(REQUEST.key(), 5_000_001).chunkSizeInBytes(1 << 20).build()));
        assertFalse(t.matches(WriteRequest.builder(REQUEST.key(), 5_000_000).chunkSizeInBytes(1 << 19).build()));
    }

    @Test
    void parse_refusesAnythingElse() {
        String good = token(List.of(new Extent(0, 5))).format();
        for (String bad : List.of("", " ", "blocktier-resume/1", good.replace("/1 ", "/2 "), good + " ", good + " x=1",
                good.replace("uuid=", "uid="), good.replace(DEVICE.toString(), "not-a-uuid"), good.replace("au=1048576", "au=0"),
                good.replace("extents=0+5", "extents="), good.replace("extents=0+5", "extents=0+0"),
                good.replace("extents=0+5", "extents=-1+5"), good.replace("extents=0+5", "extents=0+5,"),
                good.replace("extents=0+5", "extents=+5"), good.replace("key=", "key=0"), good.replace("size=", "size=-"))) {
            assertEquals(Optional.empty(), ResumeToken.parse(bad), "token '" + bad + "'");
        }
    }
}
