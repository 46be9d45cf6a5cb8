package io.thermocline.examples.serving;

import io.thermocline.engine.PutOptions;
import io.thermocline.engine.TierEngine;
import io.thermocline.tier.ObjectKey;
import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A synthetic model laid out as a Hugging Face checkpoint: {@code model-0000i-of-0000n.safetensors}
 * shards of BF16 tensors and {@code model.safetensors.index.json}. Tensor bytes are a pure function
 * of (shard, position), so a loaded tensor can be checked with {@link #expected} without keeping
 * the original anywhere.
 */
public final class SyntheticModel {

    public static final String INDEX = "model.safetensors.index.json";
    private static final int HIDDEN = 1024;
    private static final int ROW_BYTES = HIDDEN * 2;
    private static final String[] PARTS = {"self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj"};

    /** One shard: file name, header bytes and tensors. */
    public record Shard(int index, String fileName, byte[] header, List<Safetensors.TensorInfo> tensors) {
        public long sizeInBytes() {
            return header.length + tensors.getLast().end();
        }

        /** The file's bytes as a channel: the header, then tensor data generated as it is read. */
        public ReadableByteChannel channel() {
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
                    if (position < header.length) {
                        int n = (int) Math.min(dst.remaining(), header.length - position);
                        dst.put(header, (int) position, n);
                        position += n;
                    }
                    if (dst.hasRemaining() && position < size) {
                        int n = (int) Math.min(dst.remaining(), size - position);
                        fill(index, position - header.length, dst.slice(dst.position(), n));
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

    private SyntheticModel(List<Shard> shards) {
        this.shards = shards;
    }

    /** About {@code totalBytes} of BF16 tensors, 4 per shard, in {@code shardCount} shards. */
    public static SyntheticModel of(long totalBytes, int shardCount) {
        if (shardCount < 1) {
            throw new IllegalArgumentException("shardCount: " + shardCount + " (expected: >= 1)");
        }
        long rows = Math.max(1, totalBytes / shardCount / PARTS.length / ROW_BYTES);
        List<Shard> shards = new ArrayList<>();
        for (int s = 0; s < shardCount; s++) {
            List<Safetensors.TensorInfo> tensors = new ArrayList<>();
            long at = 0;
            for (String part : PARTS) {
                long bytes = rows * ROW_BYTES;
                tensors.add(new Safetensors.TensorInfo("model.layers." + s + "." + part + ".weight", Safetensors.Dtype.BF16,
                        new long[] {rows, HIDDEN}, at, at + bytes));
                at += bytes;
            }
            String file = String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", s + 1, shardCount);
            shards.add(new Shard(s, file, Safetensors.writeHeader(tensors, Map.of("format", "pt")), List.copyOf(tensors)));
        }
        return new SyntheticModel(List.copyOf(shards));
    }

    public List<Shard> shards() {
        return shards;
    }

    public long sizeInBytes() {
        return shards.stream().mapToLong(Shard::sizeInBytes).sum();
    }

    public byte[] indexJson() {
        Map<String, List<Safetensors.TensorInfo>> m = new LinkedHashMap<>();
        for (Shard s : shards) {
            m.put(s.fileName(), s.tensors());
        }
        return Safetensors.writeIndex(m);
    }

    /**
     * Puts the shards and the index under {@code prefix} through the engine, on {@code tier} (for
     * the backing tier: straight there, as a model published to S3 would be).
     */
    public void put(TierEngine engine, String prefix, String tier) {
        for (Shard s : shards) {
            engine.put(ObjectKey.of(prefix + s.fileName()), s.channel(), s.sizeInBytes(), PutOptions.defaults().withTier(tier)).join();
        }
        byte[] index = indexJson();
        engine.put(ObjectKey.of(prefix + INDEX), Channels.newChannel(new ByteArrayInputStream(index)), index.length,
                PutOptions.defaults().withTier(tier).withContentType("application/json")).join();
    }

    /** The expected bytes of shard {@code shard}'s byte buffer from {@code position}, filling {@code b}. */
    public static void expected(int shard, long position, ByteBuffer b) {
        fill(shard, position, b);
    }

    private static void fill(int shard, long position, ByteBuffer b) {
        // one splitmix64 word per aligned 8 bytes of (shard, word index): any range reproduces on its own
        while (b.hasRemaining()) {
            long z = (shard + 1) * 0x9E3779B97F4A7C15L + (position >>> 3) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            z ^= z >>> 31;
            int from = (int) (position & 7);
            if (from == 0 && b.remaining() >= 8) {
                b.order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(z);
                position += 8;
                continue;
            }
            int n = Math.min(8 - from, b.remaining());
            for (int i = from; i < from + n; i++) {
                b.put((byte) (z >>> (8 * i)));
            }
            position += n;
        }
    }
}
