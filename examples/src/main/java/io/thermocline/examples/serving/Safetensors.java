package io.thermocline.examples.serving;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The safetensors file format, as its public description lays it out:
 *
 * <pre>
 *   offset 0      8 bytes   N, the header length: an unsigned 64-bit little-endian integer
 *   offset 8      N bytes   the header: a UTF-8 JSON object, possibly padded at the end with spaces
 *   offset 8 + N            the byte buffer holding every tensor's data, back to back
 * </pre>
 *
 * The header maps each tensor name to {@code {"dtype": "BF16", "shape": [4096, 4096],
 * "data_offsets": [begin, end]}}, the offsets relative to the start of the byte buffer, plus an
 * optional {@code "__metadata__"} object of string values. Tensors are stored little-endian and
 * row-major, and must cover the byte buffer without holes or overlaps. This class only reads and
 * writes headers; it never touches tensor data.
 */
public final class Safetensors {

    /** A header longer than this is refused: the format sets no limit, but loaders do (100 MB, as the reference implementation). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    /** The length prefix before the header. */
    public static final int LENGTH_PREFIX_BYTES = 8;

    private static final ObjectMapper JSON = new ObjectMapper();

    private Safetensors() {
    }

    /** Element types and their sizes in bytes. */
    public enum Dtype {
        BOOL(1), U8(1), I8(1), F8_E5M2(1), F8_E4M3(1), I16(2), U16(2), F16(2), BF16(2), I32(4), U32(4), F32(4), I64(8), U64(8), F64(8);

        private final int bytes;

        Dtype(int bytes) {
            this.bytes = bytes;
        }

        public int sizeInBytes() {
            return bytes;
        }
    }

    /**
     * One tensor of a header.
     *
     * @param begin offset of its first byte in the byte buffer
     * @param end   offset after its last byte in the byte buffer
     */
    public record TensorInfo(String name, Dtype dtype, long[] shape, long begin, long end) {
        public long sizeInBytes() {
            return end - begin;
        }

        public long elementCount() {
            long n = 1;
            for (long d : shape) {
                n = Math.multiplyExact(n, d);
            }
            return n;
        }
    }

    /**
     * A parsed header.
     *
     * @param dataOffset where the byte buffer starts in the file: 8 + the header length
     * @param tensors    in byte-buffer order
     * @param metadata   the {@code __metadata__} map, empty if absent
     */
    public record Header(long dataOffset, List<TensorInfo> tensors, Map<String, String> metadata) {
        /** Bytes of tensor data: the file's size is {@code dataOffset + dataSize()}. */
        public long dataSize() {
            return tensors.isEmpty() ? 0 : tensors.getLast().end();
        }
    }

    /**
     * Reads the 8-byte length prefix.
     *
     * @param prefix 8 bytes (position to limit), little-endian; not retained
     * @param fileSize the file's size, to bound the header
     * @throws IOException naming {@code where} if the length is impossible for that file
     */
    public static long headerLength(ByteBuffer prefix, long fileSize, String where) throws IOException {
        if (prefix.remaining() != LENGTH_PREFIX_BYTES) {
            throw new IllegalArgumentException("prefix: " + prefix.remaining() + " bytes (expected: 8)");
        }
        long n = prefix.duplicate().order(ByteOrder.LITTLE_ENDIAN).getLong();
        long max = Math.min(MAX_HEADER_BYTES, fileSize - LENGTH_PREFIX_BYTES);
        if (n < 2 || n > max) {
            throw new IOException(where + ": safetensors header length " + Long.toUnsignedString(n) + " at offset 0 (expected: 2.." + max
                    + " for a file of " + fileSize + " bytes)");
        }
        return n;
    }

    /**
     * Parses a header and checks it against the file: every dtype known, every tensor's size equal
     * to its element count times its dtype's size, tensors covering the byte buffer without holes
     * or overlaps, and the buffer ending at the end of the file.
     *
     * @param json     the N header bytes (position to limit); not retained
     * @param fileSize the file's size
     * @throws IOException naming {@code where}, the tensor and what was expected
     */
    public static Header parse(ByteBuffer json, long fileSize, String where) throws IOException {
        byte[] bytes = new byte[json.remaining()];
        json.duplicate().get(bytes);
        JsonNode root;
        try {
            root = JSON.readTree(new String(bytes, StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new IOException(where + ": safetensors header is not JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new IOException(where + ": safetensors header is not a JSON object");
        }
        long dataOffset = LENGTH_PREFIX_BYTES + (long) bytes.length;
        Map<String, String> metadata = new LinkedHashMap<>();
        List<TensorInfo> tensors = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            String name = e.getKey();
            JsonNode t = e.getValue();
            if (name.equals("__metadata__")) {
                t.properties().forEach(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            Dtype dtype;
            try {
                dtype = Dtype.valueOf(t.path("dtype").asText("").toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException ex) {
                throw new IOException(where + ": tensor " + name + " dtype '" + t.path("dtype").asText() + "' (expected one of "
                        + List.of(Dtype.values()) + ")");
            }
            JsonNode shapeNode = t.path("shape");
            JsonNode offsets = t.path("data_offsets");
            if (!shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
                throw new IOException(where + ": tensor " + name + " needs a \"shape\" array and \"data_offsets\" [begin, end]");
            }
            long[] shape = new long[shapeNode.size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asLong(-1);
                if (shape[i] < 0) {
                    throw new IOException(where + ": tensor " + name + " shape " + shapeNode + " (expected: non-negative integers)");
                }
            }
            TensorInfo info = new TensorInfo(name, dtype, shape, offsets.get(0).asLong(-1), offsets.get(1).asLong(-1));
            long expected;
            try {
                expected = Math.multiplyExact(info.elementCount(), dtype.sizeInBytes());
            } catch (ArithmeticException ex) {
                throw new IOException(where + ": tensor " + name + " shape " + shapeNode + " is too large");
            }
            if (info.begin() < 0 || info.end() - info.begin() != expected) {
                throw new IOException(where + ": tensor " + name + " data_offsets " + offsets + " (expected: " + expected
                        + " bytes for " + dtype + " " + shapeNode + ")");
            }
            tensors.add(info);
        }
        tensors.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long at = 0;
        for (TensorInfo t : tensors) {
            if (t.begin() != at) {
                throw new IOException(where + ": tensor " + t.name() + " starts at byte " + t.begin() + " of the buffer (expected: " + at
                        + "; tensors must cover the buffer without " + (t.begin() < at ? "overlaps" : "holes") + ")");
            }
            at = t.end();
        }
        if (dataOffset + at != fileSize) {
            throw new IOException(where + ": the tensors end at byte " + (dataOffset + at) + " (expected: the file's size, " + fileSize + ")");
        }
        return new Header(dataOffset, List.copyOf(tensors), Map.copyOf(metadata));
    }

    /**
     * Writes a header for {@code tensors}, whose offsets must already be laid out back to back;
     * pads the JSON with spaces so the byte buffer starts 8-byte aligned.
     *
     * @return the length prefix and the header, ready to precede the tensor data
     */
    public static byte[] writeHeader(List<TensorInfo> tensors, Map<String, String> metadata) {
        Map<String, Object> json = new LinkedHashMap<>();
        if (!metadata.isEmpty()) {
            json.put("__metadata__", metadata);
        }
        for (TensorInfo t : tensors) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("dtype", t.dtype().name());
            entry.put("shape", t.shape());
            entry.put("data_offsets", new long[] {t.begin(), t.end()});
            json.put(t.name(), entry);
        }
        byte[] text;
        try {
            text = JSON.writeValueAsBytes(json);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write a safetensors header", e);
        }
        int padded = (text.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(LENGTH_PREFIX_BYTES + padded).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(text);
        while (b.hasRemaining()) {
            b.put((byte) ' ');
        }
        return b.array();
    }

    /**
     * Reads {@code model.safetensors.index.json}: the shard file of each tensor.
     *
     * @return shard file names in first-mention order, each with its tensor names
     */
    public static Map<String, List<String>> parseIndex(byte[] json, String where) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IOException(where + ": not JSON: " + e.getOriginalMessage(), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject() || map.isEmpty()) {
            throw new IOException(where + ": no \"weight_map\" object naming each tensor's shard file");
        }
        Map<String, List<String>> byFile = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            String file = e.getValue().asText("");
            if (file.isEmpty() || file.contains("/") || file.contains("\\")) {
                throw new IOException(where + ": weight_map[" + e.getKey() + "] = " + e.getValue() + " (expected: a file name beside the index)");
            }
            byFile.computeIfAbsent(file, f -> new ArrayList<>()).add(e.getKey());
        }
        return byFile;
    }

    /** Writes an index JSON for shards given as file name to tensors. */
    public static byte[] writeIndex(Map<String, List<TensorInfo>> shards) {
        Map<String, Object> weightMap = new LinkedHashMap<>();
        long total = 0;
        for (Map.Entry<String, List<TensorInfo>> e : shards.entrySet()) {
            for (TensorInfo t : e.getValue()) {
                weightMap.put(t.name(), e.getKey());
                total += t.sizeInBytes();
            }
        }
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("metadata", Map.of("total_size", total));
        root.put("weight_map", weightMap);
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write an index", e);
        }
    }
}
