package io.thermocline.nvmeof.target;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.util.ResourceLeakDetector;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Netty leak detection that fails tests: paranoid tracking of every buffer, and a listener that
 * records each leak Netty reports. {@link #assertNoLeaks()} collects garbage and allocates until
 * the detector has looked at every buffer that died unreleased.
 */
final class LeakCheck {
    private static final List<String> LEAKS = new CopyOnWriteArrayList<>();
    private static boolean installed;

    private LeakCheck() {
    }

    static synchronized void install() {
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        if (!installed) {
            ByteBufUtil.setLeakListener((resourceType, records) -> LEAKS.add(resourceType + ": " + records));
            installed = true;
        }
    }

    static void assertNoLeaks() throws InterruptedException {
        for (int round = 0; round < 5; round++) {
            System.gc();
            Thread.sleep(20);
            // the detector reports leaks of collected buffers when it tracks a new one
            for (int i = 0; i < 64; i++) {
                ByteBuf b = ByteBufAllocator.DEFAULT.directBuffer(16);
                b.release();
                ByteBuf h = ByteBufAllocator.DEFAULT.heapBuffer(16);
                h.release();
            }
        }
        List<String> leaks = List.copyOf(LEAKS);
        LEAKS.clear();
        assertEquals(List.of(), leaks, "Netty buffers leaked");
    }
}
