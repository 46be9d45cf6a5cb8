package io.thermocline.tier.local;

import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.testkit.TestData;
import java.nio.file.Path;

/**
 * Child process for {@link LocalTierCrashTest}: writes half of an object, says READY, and waits
 * to be killed without ever committing.
 */
public final class CrashingWriter {

    public static void main(String[] args) throws Exception {
        LocalTier tier = LocalTier.open(LocalTierConfig.builder(Path.of(args[0])).build());
        ObjectWriter w = tier.create(WriteRequest.builder(ObjectKey.of(args[1]), 1 << 20).chunkSizeInBytes(65536).build()).join();
        w.write(0, TestData.bytes(1, 0, 1 << 19)).join();
        System.out.println("READY");
        System.out.flush();
        Thread.sleep(120_000);
        System.exit(9); // not reached in the test: the parent kills this process
    }
}
