package io.thermocline.nvmeof.host;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.thermocline.nvmeof.pdu.Cqe;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.Sqe;
import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.InvalidArgumentException;
import io.thermocline.tier.TierIoException;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * A {@link BlockDevice} over one namespace of an {@link NvmeTcpController}: Read, Write, Flush,
 * Write Zeroes and Dataset Management (deallocate) on the controller's I/O queues (NVM Command
 * Set 1.0 §3.2–3.3).
 *
 * <p>Requests larger than the controller's transfer limit are split into several commands, sent
 * on the queues in turn so that a large read uses every connection. Reads land straight in the
 * caller's buffer (one copy from the socket's buffer, none in between); writes are sent from the
 * caller's buffer without copying when it is direct.
 *
 * <p><b>Paths.</b> Commands go through {@link NamespacePaths}: over one controller, or over
 * several for a {@link MultipathBlockDevice}. A command whose connection ends is sent again —
 * on another path, or on the same controller once it has reconnected — and fails only when no
 * path is left (ctrl-loss-tmo, fast-io-fail-tmo; see {@link NvmeTcpHostOptions}).
 *
 * <p>Futures complete on the queues' event loops. Failures arrive as {@link TierIoException}s
 * whose cause is an {@link NvmeException}; they are retryable unless the controller set DNR or
 * every path is gone. Closing the device does not close the controller.
 */
public final class NvmeTcpBlockDevice implements BlockDevice {
    /** Write Zeroes and Read/Write carry a 16-bit, 0's based block count (CDW12 bits 15:0). */
    private static final int MAX_BLOCKS_PER_COMMAND = 1 << 16;
    /** Dataset Management takes up to 256 ranges of up to 2^32 - 1 blocks (Figure 39, 40). */
    private static final int MAX_DSM_RANGES = 256;
    private static final long MAX_BLOCKS_PER_RANGE = 0xFFFF_FFFFL;

    private final NamespacePaths paths;
    private final ControllerInfo controllerInfo;
    private final NamespaceInfo namespace;
    private final int blockSize;
    private final long sizeInBytes;
    private final int maxTransfer;
    private final String name;

    NvmeTcpBlockDevice(NvmeTcpController controller, NamespaceInfo namespace) {
        this(new NamespacePaths(java.util.List.of(new NamespacePaths.Path(controller, namespace)), IoPolicy.ROUND_ROBIN),
                "nvme-tcp://" + controller.address() + "/" + controller.options().nqn() + "/ns" + namespace.nsid());
    }

    /** A device over every path of {@code paths}; the namespace as the first path describes it. */
    NvmeTcpBlockDevice(NamespacePaths paths, String name) {
        this.paths = paths;
        NamespacePaths.Path first = paths.paths().getFirst();
        this.namespace = first.namespace();
        this.controllerInfo = first.controller().info();
        this.blockSize = namespace.blockSizeInBytes();
        this.sizeInBytes = namespace.sizeInBytes();
        int transfer = Integer.MAX_VALUE;
        for (NamespacePaths.Path p : paths.paths()) {
            transfer = Math.min(transfer, p.controller().maxTransferSizeInBytes());
        }
        int limit = Math.min(transfer, MAX_BLOCKS_PER_COMMAND * blockSize);
        this.maxTransfer = limit / blockSize * blockSize;
        this.name = name;
    }

    NamespacePaths paths() {
        return paths;
    }

    public NamespaceInfo namespace() {
        return namespace;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long sizeInBytes() {
        return sizeInBytes;
    }

    @Override
    public int blockSizeInBytes() {
        return blockSize;
    }

    @Override
    public CompletableFuture<Void> read(long offset, ByteBuffer dst) {
        int length = dst.remaining();
        CompletableFuture<Void> bad = check("read", offset, length);
        if (bad != null) {
            return bad;
        }
        int start = dst.position();
        CompletableFuture<?>[] parts = new CompletableFuture<?>[(length + maxTransfer - 1) / maxTransfer];
        for (int i = 0, done = 0; done < length; i++) {
            int n = Math.min(maxTransfer, length - done);
            ByteBuffer target = dst.duplicate();
            target.position(start + done);
            long at = offset + done;
            parts[i] = run(() -> new QueuePair.Request(rw(NvmeOpcodes.IO_READ, at, n), "Read").read(target, n), null, false,
                    "read", at, n);
            done += n;
        }
        return all(parts).thenApply(v -> {
            dst.position(start + length);
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> write(long offset, ByteBuffer src) {
        int length = src.remaining();
        CompletableFuture<Void> bad = check("write", offset, length);
        if (bad != null) {
            return bad;
        }
        ByteBuf all = Unpooled.wrappedBuffer(src.duplicate());
        try {
            CompletableFuture<?>[] parts = new CompletableFuture<?>[(length + maxTransfer - 1) / maxTransfer];
            for (int i = 0, done = 0; done < length; i++) {
                int n = Math.min(maxTransfer, length - done);
                long at = offset + done;
                ByteBuf part = all.retainedSlice(done, n);
                parts[i] = run(() -> new QueuePair.Request(rw(NvmeOpcodes.IO_WRITE, at, n), "Write").write(part.retainedDuplicate()),
                        part, true, "write", at, n);
                done += n;
            }
            return all(parts);
        } finally {
            all.release();
        }
    }

    @Override
    public CompletableFuture<Void> flush() {
        return run(() -> new QueuePair.Request(new Sqe().opcode(NvmeOpcodes.IO_FLUSH).nsid(namespace.nsid()), "Flush"), null, true,
                "flush", 0, 0);
    }

    @Override
    public CompletableFuture<Void> trim(long offset, long lengthInBytes) {
        CompletableFuture<Void> bad = checkLong("trim", offset, lengthInBytes);
        if (bad != null || lengthInBytes == 0) {
            return bad != null ? bad : CompletableFuture.completedFuture(null);
        }
        if (!controllerInfo.supportsDatasetManagement()) {
            return CompletableFuture.completedFuture(null); // trim is advisory
        }
        long lba = offset / blockSize;
        long blocks = lengthInBytes / blockSize;
        long perCommand = MAX_DSM_RANGES * MAX_BLOCKS_PER_RANGE;
        CompletableFuture<?>[] parts = new CompletableFuture<?>[(int) ((blocks + perCommand - 1) / perCommand)];
        for (int i = 0; blocks > 0; i++) {
            long inThis = Math.min(blocks, perCommand);
            int ranges = (int) ((inThis + MAX_BLOCKS_PER_RANGE - 1) / MAX_BLOCKS_PER_RANGE);
            // Range: context attributes (4), length in blocks (4), starting LBA (8) — Figure 40
            ByteBuf data = Unpooled.buffer(ranges * 16);
            long at = lba;
            long left = inThis;
            for (int r = 0; r < ranges; r++) {
                long n = Math.min(left, MAX_BLOCKS_PER_RANGE);
                data.writeIntLE(0).writeIntLE((int) n).writeLongLE(at);
                at += n;
                left -= n;
            }
            // CDW10 NR (7:0, 0's based); CDW11 AD (bit 2): deallocate
            int nr = ranges - 1;
            parts[i] = run(() -> new QueuePair.Request(new Sqe().opcode(NvmeOpcodes.IO_DATASET_MANAGEMENT).nsid(namespace.nsid())
                    .cdw(10, nr).cdw(11, 1 << 2), "Dataset Management").write(data.retainedDuplicate()), data, true, "trim",
                    lba * blockSize, inThis * blockSize);
            lba += inThis;
            blocks -= inThis;
        }
        return all(parts);
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long offset, long lengthInBytes) {
        CompletableFuture<Void> bad = checkLong("writeZeroes", offset, lengthInBytes);
        if (bad != null || lengthInBytes == 0) {
            return bad != null ? bad : CompletableFuture.completedFuture(null);
        }
        if (!controllerInfo.supportsWriteZeroes()) {
            return writeZeroesByWriting(offset, lengthInBytes);
        }
        long perCommand = (long) MAX_BLOCKS_PER_COMMAND * blockSize;
        CompletableFuture<?>[] parts = new CompletableFuture<?>[(int) ((lengthInBytes + perCommand - 1) / perCommand)];
        for (int i = 0; i < parts.length; i++) {
            long at = offset + i * perCommand;
            long n = Math.min(perCommand, offset + lengthInBytes - at);
            parts[i] = run(() -> new QueuePair.Request(new Sqe().opcode(NvmeOpcodes.IO_WRITE_ZEROES).nsid(namespace.nsid())
                    .cdw10And11(at / blockSize).cdw(12, (int) (n / blockSize) - 1), "Write Zeroes"), null, true, "writeZeroes", at, n);
        }
        return all(parts);
    }

    private CompletableFuture<Void> writeZeroesByWriting(long offset, long length) {
        ByteBuffer zeros = ByteBuffer.allocateDirect(maxTransfer);
        CompletableFuture<Void> chain = CompletableFuture.completedFuture(null);
        for (long at = offset; at < offset + length; at += maxTransfer) {
            long pos = at;
            int n = (int) Math.min(maxTransfer, offset + length - at);
            chain = chain.thenCompose(v -> write(pos, zeros.duplicate().limit(n)));
        }
        return chain;
    }

    private Sqe rw(int opcode, long offset, int length) {
        // SLBA in CDW10–11, NLB (0's based) in CDW12 bits 15:0 — NVM Command Set 1.0 Figures 58, 65
        return new Sqe().opcode(opcode).nsid(namespace.nsid()).cdw10And11(offset / blockSize).cdw(12, length / blockSize - 1);
    }

    /**
     * Sends the command {@code make} builds, again as often as a path fails under it.
     *
     * @param data the command's data, owned here and released once the command is done (each
     *        attempt's request takes its own retained duplicate); null if none
     */
    private CompletableFuture<Void> run(java.util.function.Supplier<QueuePair.Request> make, ByteBuf data, boolean write,
                                        String op, long offset, long length) {
        return paths.submit(make, write).handle((cqe, t) -> {
            if (data != null) {
                data.release();
            }
            if (t != null) {
                throw translate(NvmeTcpController.unwrap(t), op, offset, length);
            }
            if (!cqe.isSuccess()) {
                throw translate(new NvmeException(op, cqe), op, offset, length);
            }
            return null;
        });
    }

    private TierIoException translate(Throwable t, String op, long offset, long length) {
        boolean retryable = !(t instanceof NvmeException ne) || ne.retryable();
        return new TierIoException(name + ": " + op + " of " + length + " bytes at " + offset + ": " + t.getMessage(), retryable, t);
    }

    private static CompletableFuture<Void> all(CompletableFuture<?>[] parts) {
        if (parts.length == 1) {
            @SuppressWarnings("unchecked")
            CompletableFuture<Void> only = (CompletableFuture<Void>) parts[0];
            return only;
        }
        return CompletableFuture.allOf(parts).exceptionallyCompose(t -> {
            Throwable u = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
            return CompletableFuture.failedFuture(u);
        });
    }

    private CompletableFuture<Void> check(String op, long offset, int length) {
        return checkLong(op, offset, length);
    }

    private CompletableFuture<Void> checkLong(String op, long offset, long length) {
        if (offset < 0 || length < 0 || offset % blockSize != 0 || length % blockSize != 0) {
            return CompletableFuture.failedFuture(new InvalidArgumentException(name + ": " + op + " at offset " + offset
                    + " of " + length + " bytes (expected multiples of the " + blockSize + "-byte block size)"));
        }
        if (offset + length > sizeInBytes || offset + length < 0) {
            return CompletableFuture.failedFuture(new InvalidArgumentException(name + ": " + op + " at offset " + offset
                    + " of " + length + " bytes (expected within the namespace's " + sizeInBytes + " bytes)"));
        }
        return null;
    }

    @Override
    public void close() {
        // the controller owns the connections
    }

    @Override
    public String toString() {
        return name + " (" + namespace.sizeInBlocks() + " x " + blockSize + " B)";
    }
}
