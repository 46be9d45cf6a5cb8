package io.thermocline.tier.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.TierException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The contract every {@link BlockDevice} passes: geometry, alignment and range checks, round
 * trips with any kind of buffer, concurrent writes, flush durability across a reopen, trim and
 * write-zeroes semantics.
 */
@ScaledTimeout(120)
public abstract class BlockDeviceContractTest {

    private final List<BlockDevice> opened = new ArrayList<>();
    protected BlockDevice device;
    protected int block;

    /** A new device of {@code sizeInBytes} (a multiple of 4096) whose contents are unspecified. */
    protected abstract BlockDevice newDevice(long sizeInBytes) throws Exception;

    /** Closes {@code device} and opens the same storage again. */
    protected abstract BlockDevice reopen(BlockDevice device) throws Exception;

    protected long deviceSizeInBytes() {
        return 16L << 20;
    }

    @BeforeEach
    void openDevice() throws Exception {
        device = track(newDevice(deviceSizeInBytes()));
        block = device.blockSizeInBytes();
    }

    @AfterEach
    void closeDevices() {
        for (BlockDevice d : opened.reversed()) {
            d.close();
        }
    }

    protected final BlockDevice track(BlockDevice d) {
        opened.add(d);
        return d;
    }

    private static <T extends Throwable> T failure(Class<T> type, Supplier<CompletableFuture<?>> call) {
        try {
            call.get().join();
        } catch (Throwable t) {
            Throwable u = TierException.unwrap(t);
            assertThat(u).isInstanceOf(type);
            return type.cast(u);
        }
        return fail("expected " + type.getSimpleName());
    }

    private ByteBuffer readBack(long offset, int length) {
        ByteBuffer dst = ByteBuffer.allocate(length);
        device.read(offset, dst).join();
        assertEquals(length, dst.position(), "read fills the buffer");
        return dst.flip();
    }

    @Test
    void geometry_isConsistent() {
        assertTrue(Integer.bitCount(block) == 1 && block >= 512, "block size " + block);
        assertEquals(0, device.sizeInBytes() % block);
        assertEquals(deviceSizeInBytes(), device.sizeInBytes());
        assertThat(device.name()).isNotBlank();
    }

    @Test
    void writes_roundTripAtTheStartMiddleAndEnd() {
        long size = device.sizeInBytes();
        for (long offset : new long[] {0, size / 2, size - 8L * block}) {
            ByteBuffer src = TestData.bytes(offset, offset, 8 * block);
            device.write(offset, src).join();
            assertEquals(0, src.position(), "write leaves src's position");
            assertEquals(-1, TestData.firstMismatch(offset, offset, readBack(offset, 8 * block)), "at " + offset);
        }
    }

    @Test
    void buffersOfAnyKindAndAlignment_work() {
        ByteBuffer unalignedDirect = ByteBuffer.allocateDirect(4 * block + 3).position(3);
        TestData.fill(1, 0, unalignedDirect);
        device.write(block, unalignedDirect).join();
        ByteBuffer heap = ByteBuffer.allocate(4 * block + 1).position(1);
        device.read(block, heap).join();
        assertEquals(-1, TestData.firstMismatch(1, 0, heap.flip().position(1)));
        // alignedSlice trims both ends to 4096: room for a whole aligned run whatever the start address
        ByteBuffer alignedDirect = ByteBuffer.allocateDirect(4 * block + 2 * 4096).alignedSlice(4096).limit(4 * block);
        device.read(block, alignedDirect).join();
        assertEquals(-1, TestData.firstMismatch(1, 0, alignedDirect.flip()));
    }

    @Test
    void misalignedOrOutOfRangeRequests_areRejected() {
        long size = device.sizeInBytes();
        failure(InvalidArgumentException.class, () -> device.read(1, ByteBuffer.allocate(block)));
        failure(InvalidArgumentException.class, () -> device.read(0, ByteBuffer.allocate(block + 1)));
        failure(InvalidArgumentException.class, () -> device.write(size, ByteBuffer.allocate(block)));
        failure(InvalidArgumentException.class, () -> device.write(size - block, ByteBuffer.allocate(2 * block)));
        failure(InvalidArgumentException.class, () -> device.read(-block, ByteBuffer.allocate(block)));
        failure(InvalidArgumentException.class, () -> device.trim(block, block - 1));
        InvalidArgumentException e = failure(InvalidArgumentException.class, () -> device.writeZeroes(size, block));
        assertThat(e.getMessage()).contains(String.valueOf(size));
    }

    @Test
    void concurrentDisjointWrites_allLand() {
        int pieces = 32;
        int length = 16 * block;
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        for (int i = 0; i < pieces; i++) {
            long offset = (long) i * length;
            writes.add(device.write(offset, TestData.bytes(99, offset, length)));
        }
        CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).join();
        ByteBuffer all = readBack(0, pieces * length);
        assertEquals(-1, TestData.firstMismatch(99, 0, all));
    }

    @Test
    void flushedWrites_surviveReopen() throws Exception {
        device.write(3L * block, TestData.bytes(5, 0, 2 * block)).join();
        device.flush().join();
        BlockDevice again = track(reopen(device));
        ByteBuffer dst = ByteBuffer.allocate(2 * block);
        again.read(3L * block, dst).join();
        assertEquals(-1, TestData.firstMismatch(5, 0, dst.flip()));
    }

    @Test
    void trim_leavesZerosOrOldBytes_andNeighboursUntouched() {
        int length = 64 * block;
        device.write(0, TestData.bytes(6, 0, length)).join();
        device.trim(16L * block, 16L * block).join();
        ByteBuffer all = readBack(0, length);
        for (int i = 0; i < length; i++) {
            byte expected = TestData.byteAt(6, i);
            boolean trimmed = i >= 16 * block && i < 32 * block;
            if (trimmed) {
                assertTrue(all.get(i) == 0 || all.get(i) == expected, "trimmed byte " + i);
            } else {
                assertEquals(expected, all.get(i), "untouched byte " + i);
            }
        }
    }

    @Test
    void writeZeroes_readsAsZeros_andNeighboursUntouched() {
        int length = 8 * block;
        device.write(0, TestData.bytes(7, 0, length)).join();
        device.writeZeroes(2L * block, 3L * block).join();
        ByteBuffer all = readBack(0, length);
        for (int i = 0; i < length; i++) {
            boolean zeroed = i >= 2 * block && i < 5 * block;
            assertEquals(zeroed ? 0 : TestData.byteAt(7, i), all.get(i), "byte " + i);
        }
    }
}
