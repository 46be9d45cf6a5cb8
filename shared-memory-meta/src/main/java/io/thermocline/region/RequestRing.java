package io.thermocline.region;

import static io.thermocline.region.RegionLayout.*;

import io.thermocline.tier.ObjectKey;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.InstantSource;
import java.util.function.Consumer;
import java.util.zip.CRC32C;

/**
 * The many-producer, one-consumer request ring: attached processes offer control requests, the
 * owner polls them.
 *
 * <p>Fixed 1088-byte slots, each with a sequence word (after Vyukov's bounded queue): a producer
 * claims position p by compare-and-set of the tail once slot p's sequence equals p, writes its
 * process token, the request and a CRC32C, and publishes by setting the sequence to p + 1; the
 * consumer takes published slots in order and frees each for position p + slotCount. A full ring
 * is a return value ({@link #FULL}), not an exception.
 *
 * <p>A producer that dies between claiming and publishing would stall the consumer; after
 * {@code stallTimeout} with the slot unpublished and its producer not alive, the consumer skips
 * the slot (compare-and-set of the sequence, which a late producer's publish then fails). The
 * record CRC catches a stalled producer that wrote over a slot already reused.
 */
public final class RequestRing {

    /** Returned by {@link #offer} when the ring has no free slot. */
    public static final long FULL = -1;

    private static final VarHandle LONG_H = ValueLayout.JAVA_LONG.varHandle();

    private final MemorySegment seg;
    private final long ringOffset;
    private final long slotsOffset;
    private final int slots;
    private final InstantSource clock;
    private final Duration stallTimeout;
    private long stalledPosition = -1;
    private long stalledSinceMillis;

    RequestRing(MemorySegment seg, Geometry g, InstantSource clock, Duration stallTimeout) {
        this.seg = seg;
        this.ringOffset = g.ringOffset();
        this.slotsOffset = g.ringOffset() + RING_HEADER_LENGTH;
        this.slots = g.ringSlots();
        this.clock = clock;
        this.stallTimeout = stallTimeout;
    }

    /** Sets every slot free for its first position. Only while creating a region. */
    void initialize() {
        for (int i = 0; i < slots; i++) {
            seg.set(LONG, slotBase(i) + RING_SEQ_OFFSET, (long) i);
        }
    }

    /**
     * Sends a request to the owner.
     *
     * @return the request id to poll {@link RequestResults} with, or {@link #FULL}
     */
    public long offer(RequestType type, ObjectKey key, int tierId, long arg) {
        byte[] keyBytes = key.toUtf8();
        long tailAt = ringOffset + RING_TAIL_OFFSET;
        long pos;
        long base;
        for (;;) {
            pos = (long) LONG_H.getVolatile(seg, tailAt);
            base = slotBase((int) (pos % slots));
            long seq = (long) LONG_H.getAcquire(seg, base + RING_SEQ_OFFSET);
            if (seq == pos) {
                if (LONG_H.compareAndSet(seg, tailAt, pos, pos + 1)) {
                    break;
                }
            } else if (seq < pos) {
                return FULL; // the slot still holds the request from one lap ago
            } else {
                Thread.onSpinWait(); // another producer claimed pos; look again
            }
        }
        LONG_H.setOpaque(seg, base + RING_TOKEN_OFFSET, ProcessToken.SELF);
        long requestId = (long) LONG_H.getAndAdd(seg, (long) NEXT_REQUEST_ID_OFFSET, 1L) + 1;
        seg.set(LONG, base + RING_REQUEST_ID_OFFSET, requestId);
        seg.set(INT, base + RING_TYPE_OFFSET, type.ordinal());
        seg.set(INT, base + RING_TIER_OFFSET, tierId);
        seg.set(LONG, base + RING_ARG_OFFSET, arg);
        seg.set(INT, base + RING_KEY_LENGTH_OFFSET, keyBytes.length);
        MemorySegment.copy(keyBytes, 0, seg, ValueLayout.JAVA_BYTE, base + RING_KEY_OFFSET, keyBytes.length);
        seg.set(INT, base + RING_CRC_OFFSET, crc(base, keyBytes.length));
        if (!LONG_H.compareAndSet(seg, base + RING_SEQ_OFFSET, pos, pos + 1)) {
            return FULL; // we stalled so long that the consumer skipped the slot
        }
        return requestId;
    }

    /**
     * Takes up to {@code max} requests off the ring, in order, and hands each to {@code handler}.
     * Single consumer: only the owner calls this.
     *
     * @return how many requests were handed over
     */
    public int poll(Consumer<Request> handler, int max) {
        long headAt = ringOffset + RING_HEAD_OFFSET;
        int delivered = 0;
        while (delivered < max) {
            long pos = seg.get(LONG, headAt);
            long base = slotBase((int) (pos % slots));
            long seq = (long) LONG_H.getAcquire(seg, base + RING_SEQ_OFFSET);
            if (seq == pos + 1) {
                Request r = read(base);
                LONG_H.setRelease(seg, base + RING_SEQ_OFFSET, pos + slots);
                LONG_H.setRelease(seg, headAt, pos + 1);
                stalledPosition = -1;
                if (r != null) {
                    handler.accept(r);
                    delivered++;
                }
            } else if (seq == pos && (long) LONG_H.getVolatile(seg, ringOffset + RING_TAIL_OFFSET) > pos) {
                if (!skipIfAbandoned(pos, base)) {
                    break;
                }
            } else {
                break; // empty
            }
        }
        return delivered;
    }

    private boolean skipIfAbandoned(long pos, long base) {
        long now = clock.millis();
        if (stalledPosition != pos) {
            stalledPosition = pos;
            stalledSinceMillis = now;
            return false;
        }
        long token = (long) LONG_H.getOpaque(seg, base + RING_TOKEN_OFFSET);
        if (now - stalledSinceMillis < stallTimeout.toMillis() || (token != 0 && ProcessToken.isAlive(token))) {
            return false;
        }
        if (LONG_H.compareAndSet(seg, base + RING_SEQ_OFFSET, pos, pos + slots)) {
            LONG_H.setRelease(seg, ringOffset + RING_HEAD_OFFSET, pos + 1);
            stalledPosition = -1;
        }
        return true;
    }

    private Request read(long base) {
        int keyLength = seg.get(INT, base + RING_KEY_LENGTH_OFFSET);
        if (keyLength < 1 || keyLength > io.thermocline.tier.ObjectKey.MAX_LENGTH_IN_BYTES
            || seg.get(INT, base + RING_CRC_OFFSET) != crc(base, keyLength)) {
            return null; // torn or damaged: dropped
        }
        RequestType type = RequestType.of(seg.get(INT, base + RING_TYPE_OFFSET));
        if (type == null) {
            return null;
        }
        byte[] key = seg.asSlice(base + RING_KEY_OFFSET, keyLength).toArray(ValueLayout.JAVA_BYTE);
        try {
            return new Request(seg.get(LONG, base + RING_REQUEST_ID_OFFSET), type,
                    ObjectKey.of(new String(key, StandardCharsets.UTF_8)), seg.get(INT, base + RING_TIER_OFFSET),
                    seg.get(LONG, base + RING_ARG_OFFSET), seg.get(LONG, base + RING_TOKEN_OFFSET));
        } catch (RuntimeException e) {
            return null;
        }
    }

    private int crc(long base, int keyLength) {
        CRC32C crc = new CRC32C();
        crc.update(seg.asSlice(base + RING_TOKEN_OFFSET, RING_CRC_OFFSET - RING_TOKEN_OFFSET).asByteBuffer());
        crc.update(seg.asSlice(base + RING_KEY_OFFSET, keyLength).asByteBuffer());
        return (int) crc.getValue();
    }

    /** Requests offered and not yet taken (approximate). */
    public long depth() {
        return Math.max(0, (long) LONG_H.getVolatile(seg, ringOffset + RING_TAIL_OFFSET)
                           - (long) LONG_H.getVolatile(seg, ringOffset + RING_HEAD_OFFSET));
    }

    public int capacity() {
        return slots;
    }

    private long slotBase(int index) {
        return slotsOffset + (long) index * RING_SLOT_LENGTH;
    }
}
