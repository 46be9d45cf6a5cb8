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
 * <p>Futures complete on the queues' event loops. Failures arrive as {@link TierIoException}s
 * whose cause is an {@link NvmeException}; they are retryable unless the controller set DNR.
 * Closing the device does not close the controller.
 */
public final class NvmeTcpBlockDevice implements BlockDevice {
    /** Write Zeroes and Read/Write carry a 16-bit, 0's based block count (CDW12 bits 15:0). */
    private static final int MAX_BLOCKS_PER_COMMAND = 1 << 16;
    /** Dataset Management takes up to 256 ranges of up to 2^32 - 1 blocks (Figure 39, 40). */
    private static final int MAX_DSM_RANGES = 256;
    private static final long MAX_BLOCKS_PER_RANGE = 0xFFFF_FFFFL;

    private final NvmeTcpController controller;
    private final NamespaceInfo namespace;
    private final int blockSize;
    private final long sizeInBytes;
    private final int maxTransfer;
    private final String name;

    NvmeTcpBlockDevice(NvmeTcpController controller, NamespaceInfo namespace) {
        this.controller = controller;
        this.namespace = namespace;
        this.blockSize = namespace.blockSizeInBytes();
        this.sizeInBytes = namespace.sizeInBytes();
        int limit = Math.min(controller.maxTransferSizeInBytes(), MAX_BLOCKS_PER_COMMAND * blockSize);
        this.maxTransfer = limit / blockSize * blockSize;
        NvmeTcpHostOptions o = controller.options();
        this.name = "nvme-tcp://" + o.traddr() + ":" + o.trsvcid() + "/" + o.nqn() + "/ns" + namespace.nsid();
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
            Sqe sqe = rw(NvmeOpcodes.IO_READ, offset + done, n);
            parts[i] = run(new QueuePair.Request(sqe, "Read").read(target, n), "read", offset + done, n);
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
                Sqe sqe = rw(NvmeOpcodes.IO_WRITE, offset + done, n);
                parts[i] = run(new QueuePair.Request(sqe, "Write").write(all.retainedSlice(done, n)), "write", offset + done, n);
                done += n;
            }
            return all(parts);
        } finally {
            all.release();
        }
    }

    @Override
    public CompletableFuture<Void> flush() {
        Sqe sqe = new Sqe().opcode(NvmeOpcodes.IO_FLUSH).nsid(namespace.nsid());
        return run(new QueuePair.Request(sqe, "Flush"), "flush", 0, 0);
    }

    @Override
    public CompletableFuture<Void> trim(long offset, long lengthInBytes) {
        CompletableFuture<Void> bad = checkLong("trim", offset, lengthInBytes);
        if (bad != null || lengthInBytes == 0) {
            return bad != null ? bad : CompletableFuture.completedFuture(null);
        }
        if (!controller.info().supportsDatasetManagement()) {
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
            Sqe sqe = new Sqe().opcode(NvmeOpcodes.IO_DATASET_MANAGEMENT).nsid(namespace.nsid()).cdw(10, ranges - 1).cdw(11, 1 << 2);
            parts[i] = run(new QueuePair.Request(sqe, "Dataset Management").write(data), "trim", lba * blockSize, inThis * blockSize);
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
        if (!controller.info().supportsWriteZeroes()) {
            return writeZeroesByWriting(offset, lengthInBytes);
        }
        long perCommand = (long) MAX_BLOCKS_PER_COMMAND * blockSize;
        CompletableFuture<?>[] parts = new CompletableFuture<?>[(int) ((lengthInBytes + perCommand - 1) / perCommand)];
        for (int i = 0; i < parts.length; i++) {
            long at = offset + i * perCommand;
            long n = Math.min(perCommand, offset + lengthInBytes - at);
            Sqe sqe = new Sqe().opcode(NvmeOpcodes.IO_WRITE_ZEROES).nsid(namespace.nsid())
                    .cdw10And11(at / blockSize).cdw(12, (int) (n / blockSize) - 1);
            parts[i] = run(new QueuePair.Request(sqe, "Write Zeroes"), "writeZeroes", at, n);
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

    private CompletableFuture<Void> run(QueuePair.Request r, String op, long offset, long length) {
        QueuePair q;
        try {
            q = controller.ioQueue();
        } catch (NvmeException e) {
            if (r.data != null) {
                r.data.release();
            }
            return CompletableFuture.failedFuture(translate(e, op, offset, length));
        }
        return q.submitChecked(r).handle((cqe, t) -> {
            if (t != null) {
                throw translate(NvmeTcpController.unwrap(t), op, offset, length);
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
