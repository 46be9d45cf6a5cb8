package io.thermocline.nvmeof.block;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.local.FileBlockDevice;
import java.nio.file.Path;

/**
 * Child process for {@link BlockTierCrashTest}; the parent kills it with SIGKILL.
 *
 * <ul>
 *   <li>{@code half <device> <catalog>}: writes half of an object, says READY, waits;</li>
 *   <li>{@code loop <device> <catalog>}: says READY, then commits objects {@code loop/<i>} (and
 *       deletes every fifth one three steps later), printing {@code COMMITTED <i>} or
 *       {@code DELETED <i>} once each call has returned.</li>
 * </ul>
 */
public final class BlockTierChild {

    static final int CHUNK = 16 * 1024;

    /** The size of {@code loop/<i>}: 1 byte to about three chunks, never a whole block. */
    static long loopSize(int i) {
        return 1 + (i * 7919L) % (3L * CHUNK);
    }

    public static void main(String[] args) throws Exception {
        BlockDevice device = FileBlockDevice.open(Path.of(args[1]), FileBlockDevice.options().blockSizeInBytes(512));
        BlockTier tier = BlockTier.open(device, BlockTierConfig.builder(Path.of(args[2]), BlockTierContractBase.HOST_NQN).build());
        switch (args[0]) {
            case "half" -> {
                ObjectWriter w = tier.create(WriteRequest.builder(ObjectKey.of("killed"), 4L << 20).chunkSizeInBytes(65536).build()).join();
                TestObjects.write(w, 1, 0, 2L << 20);
                say("READY");
                Thread.sleep(120_000);
            }
            case "loop" -> {
                say("READY");
                for (int i = 0; i < 100_000; i++) {
                    TestObjects.put(tier, "loop/" + i, i, loopSize(i));
                    say("COMMITTED " + i);
                    if (i >= 3 && (i - 3) % 5 == 0) {
                        tier.delete(ObjectKey.of("loop/" + (i - 3))).join();
                        say("DELETED " + (i - 3));
                    }
                }
                Thread.sleep(120_000);
            }
            default -> throw new IllegalArgumentException("mode " + args[0] + " (expected half or loop)");
        }
        System.exit(9); // not reached in the test: the parent kills this process
    }

    private static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
