package io.thermocline.examples.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SafetensorsTest {

    private static ByteBuffer json(String s) {
        return ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8));
    }

    private static long fileSize(String header, long data) {
        return 8 + header.getBytes(StandardCharsets.UTF_8).length + data;
    }

    @Test
    void writeHeader_thenParse_roundTripsWithAlignedData() throws IOException {
        List<Safetensors.TensorInfo> tensors = List.of(
                new Safetensors.TensorInfo("a", Safetensors.Dtype.F32, new long[] {2, 3}, 0, 24),
                new Safetensors.TensorInfo("b", Safetensors.Dtype.BF16, new long[] {5}, 24, 34));
        byte[] h = Safetensors.writeHeader(tensors, Map.of("format", "pt"));
        assertEquals(0, h.length % 8, "data must start 8-byte aligned");
        long n = ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(h.length - 8, n);
        assertEquals(n, Safetensors.headerLength(ByteBuffer.wrap(h, 0, 8), h.length + 34, "f"));
        Safetensors.Header parsed = Safetensors.parse(ByteBuffer.wrap(h, 8, (int) n), h.length + 34, "f");
        assertEquals(h.length, parsed.dataOffset());
        assertEquals(34, parsed.dataSize());
        assertEquals(Map.of("format", "pt"), parsed.metadata());
        assertThat(parsed.tensors()).extracting(Safetensors.TensorInfo::name).containsExactly("a", "b");
        assertThat(parsed.tensors().get(0).shape()).containsExactly(2, 3);
    }

    @Test
    void parse_ordersTensorsByOffsetWhateverTheJsonOrder() throws IOException {
        String h = "{\"late\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]},\"early\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        Safetensors.Header parsed = Safetensors.parse(json(h), fileSize(h, 8), "f");
        assertThat(parsed.tensors()).extracting(Safetensors.TensorInfo::name).containsExactly("early", "late");
    }

    @Test
    void headerLength_refusesLengthsTheFileCannotHold() {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1000);
        IOException e = assertThrows(IOException.class, () -> Safetensors.headerLength(b, 500, "models/x.safetensors"));
        assertThat(e.getMessage()).contains("models/x.safetensors", "header length 1000", "expected: 2..492");
        ByteBuffer huge = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -1);
        assertThat(assertThrows(IOException.class, () -> Safetensors.headerLength(huge, 1L << 40, "f")).getMessage())
                .contains("18446744073709551615");
    }

    @Test
    void parse_refusesMalformedHeadersNamingTheTensor() {
        assertThat(assertThrows(IOException.class, () -> Safetensors.parse(json("{not json"), 100, "f")).getMessage()).contains("not JSON");
        assertThat(assertThrows(IOException.class, () -> Safetensors.parse(json("[1]"), 100, "f")).getMessage()).contains("not a JSON object");
        String badDtype = "{\"t\":{\"dtype\":\"F12\",\"shape\":[1],\"data_offsets\":[0,1]}}";
        assertThat(assertThrows(IOException.class, () -> Safetensors.parse(json(badDtype), fileSize(badDtype, 1), "f")).getMessage())
                .contains("tensor t dtype 'F12'");
        String badSize = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}";
        assertThat(assertThrows(IOException.class, () -> Safetensors.parse(json(badSize), fileSize(badSize, 4), "f")).getMessage())
                .contains("tensor t data_offsets [0,4] (expected: 8 bytes for F32 [2])");
        String hole = "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}";
        assertThat(assertThrows(IOException.class, () -> Safetensors.parse(json(hole), fileSize(hole, 5), "f")).getMessage())
                .contains("tensor b starts at byte 3", "holes");
        String overlap = "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}";
        assertThat(assertThrows(IOException.class, () -> Safetensors.parse(json(overlap), fileSize(overlap, 3), "f")).getMessage())
                .contains("overlaps");
        String shortFile = "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
        assertThat(assertThrows(IOException.class, () -> Safetensors.parse(json(shortFile), fileSize(shortFile, 1), "f")).getMessage())
                .contains("expected: the file's size");
    }

    @Test
    void parseIndex_groupsTensorsByShard_andRefusesIndexesWithoutAWeightMap() throws IOException {
        byte[] index = "{\"metadata\":{\"total_size\":3},\"weight_map\":{\"x\":\"a.safetensors\",\"y\":\"b.safetensors\",\"z\":\"a.safetensors\"}}"
                .getBytes(StandardCharsets.UTF_8);
        assertEquals(Map.of("a.safetensors", List.of("x", "z"), "b.safetensors", List.of("y")), Safetensors.parseIndex(index, "i"));
        assertThat(assertThrows(IOException.class, () -> Safetensors.parseIndex("{}".getBytes(StandardCharsets.UTF_8), "idx.json"))
                .getMessage()).contains("idx.json", "weight_map");
        assertThat(assertThrows(IOException.class, () -> Safetensors.parseIndex(
                "{\"weight_map\":{\"x\":\"../etc/passwd\"}}".getBytes(StandardCharsets.UTF_8), "i")).getMessage()).contains("a file name beside the index");
    }
}
