package io.thermocline.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.thermocline.engine.EngineReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ReadableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The demo's synthetic model: safetensors shards with real headers, and the
 * {@code model.safetensors.index.json} that maps each tensor to its shard, as a Hugging Face
 * checkpoint lays them out.
 *
 * <p>A safetensors file is an 8-byte little-endian unsigned header length N, N bytes of UTF-8 JSON
 * (one entry per tensor with {@code dtype}, {@code shape} and {@code data_offsets} [begin, end)
 * relative to the byte after the header, plus an optional {@code __metadata__} map of strings),
 * then the tensor bytes. The JSON may be padded with spaces; we pad it so the data starts 8-byte
 * aligned. Tensor bytes are deterministic pseudo-random data of the shard number and position, so
 * any copy can be checked without keeping the original.
 */
final class DemoModel {

    /** Columns of every tensor: a row is {@code HIDDEN} BF16 values, 2 KiB. */
    static final int HIDDEN = 1024;
    static final int ROW_BYTES = HIDDEN * 2;
    static final int TENSORS_PER_SHARD = 4;
    /** A header longer than this is refused when parsed (the format sets no bound; loaders do). */
    static final long MAX_HEADER_BYTES = 100L << 20;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One tensor in a shard: its name, dtype, shape and byte range within the data section. */
    record Tensor(String name, String dtype, long[] shape, long begin, long end) {
        long sizeInBytes() {
            return end - begin;
        }
    }

    /** One shard: its file name, header bytes (length prefix included) and tensors. */
    record Shard(int index, String fileName, byte[] header, List<Tensor> tensors) {
        long sizeInBytes() {
            return header.length + tensors.getLast().end();
        }

        /** The whole file as a channel: the header, then the tensor bytes generated on the fly. */
        ReadableByteChannel channel() {
            return new ReadableByteChannel() {
                private long position;
                private boolean open = true;

                @Override
                public int read(ByteBuffer dst) {
                    long size = sizeInBytes();
                    if (position >= size) {
                        return -1;
                    }
                    int start = dst.position();
                    while (dst.hasRemaining() && position < header.length) {
                        dst.put(header[(int) position++]);
                    }
                    if (dst.hasRemaining() && position < size) {
                        int n = (int) Math.min(dst.remaining(), size - position);
                        ByteBuffer slice = dst.slice(dst.position(), n);
                        fill(index, position - header.length, slice);
                        dst.position(dst.position() + n);
                        position += n;
                    }
                    return dst.position() - start;
                }

                @Override
                public boolean isOpen() {
                    return open;
                }

                @Override
                public void close() {
                    open = false;
                }
            };
        }
    }

    private final List<Shard> shards;
    private final byte[] index;

    private DemoModel(List<Shard> shards, byte[] index) {
        this.shards = shards;
        this.index = index;
    }

    /** A model of about {@code totalBytes} in {@code shardCount} shards of {@link #TENSORS_PER_SHARD} BF16 tensors. */
    static DemoModel generate(long totalBytes, int shardCount) {
        long rowsPerTensor = Math.max(1, totalBytes / shardCount / TENSORS_PER_SHARD / ROW_BYTES);
        List<Shard> shards = new ArrayList<>();
        Map<String, Object> weightMap = new LinkedHashMap<>();
        long totalData = 0;
        String[] parts = {"self_attn.qkv_proj", "self_attn.o_proj", "mlp.up_proj", "mlp.down_proj"};
        for (int s = 0; s < shardCount; s++) {
            String file = String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", s + 1, shardCount);
            List<Tensor> tensors = new ArrayList<>();
            long offset = 0;
            for (int t = 0; t < TENSORS_PER_SHARD; t++) {
                String name = "model.layers." + s + "." + parts[t] + ".weight";
                long bytes = rowsPerTensor * ROW_BYTES;
                tensors.add(new Tensor(name, "BF16", new long[] {rowsPerTensor, HIDDEN}, offset, offset + bytes));
                weightMap.put(name, file);
                offset += bytes;
            }
            totalData += offset;
            shards.add(new Shard(s, file, header(tensors), List.copyOf(tensors)));
        }
        Map<String, Object> indexJson = new LinkedHashMap<>();
        indexJson.put("metadata", Map.of("total_size", totalData));
        indexJson.put("weight_map", weightMap);
        try {
            return new DemoModel(List.copyOf(shards), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(indexJson));
        } catch (IOException e) {
            throw new IllegalStateException("cannot write the index JSON", e);
        }
    }

    /** A single-file model of about {@code bytes} (a checkpoint, say), its tensor bytes generated from {@code seed}. */
    static Shard single(String fileName, int seed, long bytes) {
        long rows = Math.max(1, bytes / TENSORS_PER_SHARD / ROW_BYTES);
        List<Tensor> tensors = new ArrayList<>();
        for (int t = 0; t < TENSORS_PER_SHARD; t++) {
            tensors.add(new Tensor("state." + t, "BF16", new long[] {rows, HIDDEN}, t * rows * ROW_BYTES, (t + 1) * rows * ROW_BYTES));
        }
        return new Shard(seed, fileName, header(tensors), List.copyOf(tensors));
    }

    private static byte[] header(List<Tensor> tensors) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("__metadata__", Map.of("format", "pt"));
        for (Tensor t : tensors) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("dtype", t.dtype());
            entry.put("shape", t.shape());
            entry.put("data_offsets", new long[] {t.begin(), t.end()});
            json.put(t.name(), entry);
        }
        byte[] text;
        try {
            text = JSON.writeValueAsBytes(json);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write a safetensors header", e);
        }
        int padded = (text.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(text);
        while (b.hasRemaining()) {
            b.put((byte) ' ');
        }
        return b.array();
    }

    List<Shard> shards() {
        return shards;
    }

    byte[] indexJson() {
        return index.clone();
    }

    long sizeInBytes() {
        return shards.stream().mapToLong(Shard::sizeInBytes).sum();
    }

    /** The tensor bytes of shard {@code shard} at data-section position {@code position}. */
    static void fill(int shard, long position, ByteBuffer b) {
        // one 64-bit word per aligned 8 bytes (splitmix64 of shard and word index), so any range reproduces
        while (b.hasRemaining()) {
            long word = position >>> 3;
            long z = (shard + 1) * 0x9E3779B97F4A7C15L + word * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            z ^= z >>> 31;
            int from = (int) (position & 7);
            int n = Math.min(8 - from, b.remaining());
            for (int i = from; i < from + n; i++) {
                b.put((byte) (z >>> (8 * i)));
            }
            position += n;
        }
    }

    /** Reads the tensor names listed in an index JSON's {@code weight_map}, grouped by shard file. */
    static Map<String, List<String>> parseIndex(byte[] json) throws IOException {
        JsonNode map = JSON.readTree(json).path("weight_map");
        if (!map.isObject()) {
            throw new IOException("model.safetensors.index.json: no \"weight_map\" object");
        }
        Map<String, List<String>> byFile = new LinkedHashMap<>();
        map.properties().forEach(e -> byFile.computeIfAbsent(e.getValue().asText(), f -> new ArrayList<>()).add(e.getKey()));
        return byFile;
    }

    /**
     * Reads and parses the safetensors header at the start of {@code reader}.
     *
     * @param crc receives the header's bytes, length prefix included
     * @return the tensors in data order; {@link Tensor#begin()} is relative to {@code dataStart[0]}
     */
    static List<Tensor> readHeader(EngineReader reader, long[] dataStart, int[] calls, java.util.zip.Checksum crc) throws IOException {
        String where = reader.info().key().toString();
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(reader, 0, len, calls);
        crc.update(len.array(), 0, 8);
        long n = len.flip().getLong();
        long size = reader.info().sizeInBytes();
        if (n < 2 || n > MAX_HEADER_BYTES || n > size - 8) {
            throw new IOException(where + ": safetensors header length " + n + " at offset 0 (expected: 2.."
                    + Math.min(MAX_HEADER_BYTES, size - 8) + ")");
        }
        ByteBuffer text = ByteBuffer.allocate((int) n);
        readFully(reader, 8, text, calls);
        crc.update(text.array(), 0, text.capacity());
        JsonNode root = JSON.readTree(new String(text.array(), StandardCharsets.UTF_8));
        List<Tensor> tensors = new ArrayList<>();
        for (var e : root.properties()) {
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            JsonNode t = e.getValue();
            JsonNode offsets = t.path("data_offsets");
            JsonNode shape = t.path("shape");
            long[] dims = new long[shape.size()];
            for (int i = 0; i < dims.length; i++) {
                dims[i] = shape.get(i).asLong();
            }
            tensors.add(new Tensor(e.getKey(), t.path("dtype").asText(), dims, offsets.path(0).asLong(-1), offsets.path(1).asLong(-1)));
        }
        tensors.sort(Comparator.comparingLong(Tensor::begin));
        for (Tensor t : tensors) {
            if (t.begin() < 0 || t.end() < t.begin() || 8 + n + t.end() > size) {
                throw new IOException(where + ": tensor " + t.name() + " data_offsets [" + t.begin() + ", " + t.end()
                        + ") (expected: within the " + (size - 8 - n) + " data bytes)");
            }
        }
        dataStart[0] = 8 + n;
        return tensors;
    }

    /** Fills {@code dst} from {@code position}, however the tier splits the read. */
    static void readFully(EngineReader reader, long position, ByteBuffer dst, int[] calls) throws IOException {
        while (dst.hasRemaining()) {
            int n = reader.read(position, dst).join();
            calls[0]++;
            if (n <= 0) {
                throw new IOException(reader.info().key() + ": end of object at offset " + position + " with "
                        + dst.remaining() + " bytes still expected");
            }
            position += n;
        }
    }
}
