package io.thermocline.region;

import static io.thermocline.region.RegionLayout.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.Optional;

/**
 * Where the owner reports progress and outcome of requests, and where requesters poll for them:
 * record {@code requestId % resultCount}, guarded by its own sequence lock. A record holds the
 * newest request that mapped to it, so a requester that polls long after completion may find it
 * reused (empty result); keep {@code resultCount} above the requests in flight.
 */
public final class RequestResults {

    private static final VarHandle LONG_H = ValueLayout.JAVA_LONG.varHandle();

    /**
     * How far a request got. UNAVAILABLE is a failure because a tier could not be reached (the
     * request may succeed once it is back); FAILED is any other failure. New values go at the end:
     * the ordinal is what the region stores.
     */
    public enum Status { ACCEPTED, RUNNING, DONE, FAILED, REJECTED, UNAVAILABLE }

    /**
     * @param requestId the request
     * @param status how far it got
     * @param done units done (bytes copied)
     * @param total units in all (bytes to copy), or 0 if unknown
     */
    public record Result(long requestId, Status status, long done, long total) {
        public boolean finished() {
            return status == Status.DONE || status == Status.FAILED || status == Status.REJECTED || status == Status.UNAVAILABLE;
        }
    }

    private final MemorySegment seg;
    private final long offset;
    private final int count;

    RequestResults(MemorySegment seg, Geometry g) {
        this.seg = seg;
        this.offset = g.resultsOffset();
        this.count = g.resultCount();
    }

    /** Publishes a request's state; the owner's single thread calls this. */
    public void publish(long requestId, Status status, long done, long total) {
        long base = base(requestId);
        long seq = (long) LONG_H.getVolatile(seg, base + RESULT_SEQ_OFFSET);
        long odd = (seq | 1) == seq ? seq + 2 : seq + 1;
        LONG_H.setVolatile(seg, base + RESULT_SEQ_OFFSET, odd);
        VarHandle.storeStoreFence();
        seg.set(LONG, base + RESULT_REQUEST_ID_OFFSET, requestId);
        seg.set(LONG, base + RESULT_STATUS_OFFSET, status.ordinal());
        seg.set(LONG, base + RESULT_DONE_OFFSET, done);
        seg.set(LONG, base + RESULT_TOTAL_OFFSET, total);
        LONG_H.setRelease(seg, base + RESULT_SEQ_OFFSET, odd + 1);
    }

    /** The state of {@code requestId}, or empty if nothing was published for it (yet, or any more). */
    public Optional<Result> get(long requestId) {
        long base = base(requestId);
        for (int attempt = 0; attempt < 1000; attempt++) {
            long seq = (long) LONG_H.getAcquire(seg, base + RESULT_SEQ_OFFSET);
            if ((seq & 1) != 0) {
                Thread.onSpinWait();
                continue;
            }
            long id = seg.get(LONG, base + RESULT_REQUEST_ID_OFFSET);
            long status = seg.get(LONG, base + RESULT_STATUS_OFFSET);
            long done = seg.get(LONG, base + RESULT_DONE_OFFSET);
            long total = seg.get(LONG, base + RESULT_TOTAL_OFFSET);
            VarHandle.loadLoadFence();
            if (seg.get(LONG, base + RESULT_SEQ_OFFSET) != seq) {
                continue;
            }
            if (id != requestId || status < 0 || status >= Status.values().length) {
                return Optional.empty();
            }
            return Optional.of(new Result(id, Status.values()[(int) status], done, total));
        }
        return Optional.empty();
    }

    private long base(long requestId) {
        return offset + Math.floorMod(requestId, count) * (long) RESULT_RECORD_LENGTH;
    }
}
