package io.thermocline.region;

import static io.thermocline.region.RegionLayout.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.time.InstantSource;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The region's object table: open addressing with linear probing over {@code slotCount} 64-byte
 * slots, keys and locators in the arena, heat beside the slots.
 *
 * <p><b>Readers</b> never block and never write: a lookup reads a slot's sequence word (acquire),
 * its fields, compares the key bytes in the arena, then re-reads the sequence word behind a load
 * fence; if it changed, or was odd, the slot is read again. Every arena reference is bounds-checked
 * before use, and every slot carries a CHECK hash of its fields, so a torn or damaged slot is
 * retried or rejected, never trusted and never the cause of an access outside the mapping.
 *
 * <p><b>Writers</b> (insert, update, delete, from any process) hold the region's writer lock: a
 * process token compare-and-set into the header, taken after a JVM-wide lock for the same file so
 * that threads of one process exclude each other too. A writer records the slot it is about to
 * change (the intent), makes the slot's sequence odd, writes, and releases it with an even
 * sequence. If the lock holder dies, the next writer (or a reader that waited too long) takes the
 * lock over and repairs the intent slot: a slot whose CHECK matches is simply released, a torn one
 * becomes a tombstone (the engine republishes it from its catalog).
 *
 * <p><b>Deletes</b> leave tombstones that keep probe chains intact; inserts reuse the first
 * tombstone of their chain, and a tombstone followed by an empty slot is cleared, walking back,
 * so the table does not silt up. Arena blocks come in size classes (16-byte steps to 256 bytes,
 * then powers of two to 64 KiB), recycled through per-class free lists; once the untouched space
 * is used up, a free block of a larger class is cut down to the size needed. Free lists change only under the
 * writer lock, in an order that a crash at any point can at worst leak one block.
 *
 * <p><b>Heat</b>: per slot an exact read count and byte count (atomic adds) and two decayed
 * rates packed as {@code float value << 32 | tick} updated by compare-and-set; decay is applied
 * lazily from the tick difference with the region's half-life, against an injected clock.
 */
public final class ObjectTable {

    private static final VarHandle LONG_H = ValueLayout.JAVA_LONG.varHandle();
    private static final ValueLayout.OfLong LONG_UNALIGNED = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ConcurrentHashMap<String, ReentrantLock> JVM_WRITER_LOCKS = new ConcurrentHashMap<>();
    /** Heat ticks are 16 ms: 32 bits of ticks last 795 days. */
    static final long TICK_MILLIS = 16;
    private static final int SPINS_BEFORE_LIVENESS_CHECK = 1 << 14;

    /** Outcome of {@link #put}: expected outcomes are values, not exceptions. */
    public enum PutResult {
        INSERTED, UPDATED,
        /** The entry's epoch was not the expected one: someone else moved it. */
        EPOCH_CONFLICT,
        /** No free or reusable slot on the key's probe chain: the table is full. */
        TABLE_FULL,
        /** The arena has no room for the key or locator. */
        ARENA_FULL
    }

    private final MemorySegment seg;
    /** The object table alone (offset 0 = slot 0) and the arena alone: the lookup path's views. */
    private final MemorySegment slots;
    private final MemorySegment arena;
    private final String file;
    private final long slotCount;
    private final long slotsOffset;
    private final long heatOffset;
    private final long arenaOffset;
    private final long arenaLength;
    private final long createdMillis;
    private final double ticksPerHalfLife;
    private final InstantSource clock;
    private final ReentrantLock jvmLock;

    ObjectTable(MemorySegment seg, RegionLayout.Geometry g, String file, long createdMillis, InstantSource clock) {
        this.seg = seg;
        this.file = file;
        this.slotCount = g.slotCount();
        this.slotsOffset = g.slotsOffset();
        this.heatOffset = g.heatOffset();
        this.arenaOffset = g.arenaOffset();
        this.arenaLength = g.arenaLength();
        this.slots = seg.asSlice(slotsOffset, slotCount * SLOT_LENGTH);
        this.arena = seg.asSlice(arenaOffset, arenaLength);
        this.createdMillis = createdMillis;
        this.ticksPerHalfLife = (double) g.heatHalfLifeMillis() / TICK_MILLIS;
        this.clock = clock;
        this.jvmLock = JVM_WRITER_LOCKS.computeIfAbsent(file, f -> new ReentrantLock());
    }

    public long slotCount() {
        return slotCount;
    }

    /** Live entries (approximate while writers are active). */
    public long size() {
        return seg.get(LONG, LIVE_SLOTS_OFFSET);
    }

    public long tombstones() {
        return seg.get(LONG, TOMBSTONES_OFFSET);
    }

    // ------------------------------------------------------------------ reads

    private static final int FOUND = 0;
    private static final int END = 1;
    private static final int NEXT = 2;

    /**
     * Finds {@code key} and fills {@code out}. Lock-free; never blocks unless a writer died mid
     * publish, in which case the lookup repairs the slot first.
     *
     * @return true if the key is present (in any state but tombstone)
     */
    public boolean lookup(RegionKey key, EntryView out) {
        return find(key, out) >= 0;
    }

    /**
     * Looks up many keys at once: {@code found[i]} tells whether {@code keys[i]} is present and
     * {@code views[i]} receives its entry. Same results as a {@link #lookup} per key, but the
     * memory of all keys' home slots (and the callers' key words), then of the arena keys those
     * slots name (both ends: a block may cross a cache line), is touched before any key is
     * compared, so the cache misses of the batch overlap instead of queueing one after another.
     *
     * @return how many keys were found
     */
    public int lookupAll(RegionKey[] keys, EntryView[] views, boolean[] found) {
        int n = keys.length;
        if (views.length < n || found.length < n) {
            throw new IllegalArgumentException("views and found must hold " + n + " entries");
        }
        long touched = 0;
        MemorySegment slots = this.slots;
        MemorySegment arena = this.arena;
        // 1: each key's home slot and the caller's key words (both need only the key object)
        for (int k = 0; k < n; k++) {
            RegionKey key = keys[k];
            long[] words = key.words();
            touched += slots.get(LONG_UNALIGNED, home(key.hash()) * SLOT_LENGTH + SLOT_KEY_REF_OFFSET)
                       + words[0] + words[words.length - 1];
        }
        // 2: the arena key each home slot names, first and last byte (a block may span two lines)
        for (int k = 0; k < n; k++) {
            long keyRef = slots.get(LONG_UNALIGNED, home(keys[k].hash()) * SLOT_LENGTH + SLOT_KEY_REF_OFFSET);
            long off = refOffset(keyRef);
            long end = off + Math.max(refLength(keyRef), 1) - 1;
            if (end < arenaLength) {
                touched += arena.get(ValueLayout.JAVA_BYTE, off) + arena.get(ValueLayout.JAVA_BYTE, end);
            }
        }
        // 3: compare, everything now in cache
        int hits = 0;
        for (int k = 0; k < n; k++) {
            found[k] = find(keys[k], views[k]) >= 0;
            if (found[k]) {
                hits++;
            }
        }
        prefetchSink = touched;
        return hits;
    }

    /** Keeps the touching loads of {@link #lookupAll} from being optimised away. */
    @SuppressWarnings("unused")
    private volatile long prefetchSink;

    /** The slot index of {@code key}, or -1; a handle for {@link #addHeat(long, long)}. */
    public long slotOf(RegionKey key) {
        return find(key, null);
    }

    private long find(RegionKey key, EntryView out) {
        long h = key.hash();
        long i = home(h);
        MemorySegment slots = this.slots;
        for (long probes = 0; probes < slotCount; probes++) {
            long base = i * SLOT_LENGTH;
            long seq = (long) LONG_H.getAcquire(slots, base + SLOT_SEQ_OFFSET);
            long hash = slots.get(LONG_UNALIGNED, base + SLOT_HASH_OFFSET);
            if ((seq & 1) == 0 && hash == h) {
                // The common case, read once: a stable slot holding the key's hash. The same
                // reads and checks as readSlot's first attempt, without re-reading SEQ and HASH.
                long keyRef = slots.get(LONG_UNALIGNED, base + SLOT_KEY_REF_OFFSET);
                long size = slots.get(LONG_UNALIGNED, base + SLOT_SIZE_OFFSET);
                long epoch = slots.get(LONG_UNALIGNED, base + SLOT_EPOCH_OFFSET);
                long locRef = slots.get(LONG_UNALIGNED, base + SLOT_LOC_REF_OFFSET);
                long word = slots.get(LONG_UNALIGNED, base + SLOT_CRC_OFFSET);
                long stored = slots.get(LONG_UNALIGNED, base + SLOT_CHECK_OFFSET);
                boolean match = stored == check(hash, keyRef, size, epoch, locRef, word)
                                && stateCode(word) != TOMBSTONE_CODE
                                && keyEquals(keyRef, key)
                                && (out == null || !out.withLocator || copyLocator(locRef, out));
                VarHandle.loadLoadFence();
                if (slots.get(LONG_UNALIGNED, base + SLOT_SEQ_OFFSET) == seq) {
                    if (match) {
                        if (out != null) {
                            fill(out, i, size, epoch, word);
                        }
                        return i;
                    }
                    // another key with the same hash, a tombstone, or a damaged slot: next
                } else {
                    int r = readSlot(i, key, out); // changed under us: the careful path
                    if (r == FOUND) {
                        return i;
                    }
                    if (r == END) {
                        return -1;
                    }
                }
            } else if ((seq & 1) != 0) {
                int r = readSlot(i, key, out); // a writer holds the slot: wait for it
                if (r == FOUND) {
                    return i;
                }
                if (r == END) {
                    return -1;
                }
            } else if (hash == 0) {
                return -1;
            }
            i = ++i == slotCount ? 0 : i;
        }
        return -1;
    }

    private long home(long hash) {
        return Math.unsignedMultiplyHigh(hash, slotCount);
    }

    private int readSlot(long i, RegionKey key, EntryView out) {
        long base = slotsOffset + i * SLOT_LENGTH;
        for (int attempt = 0; ; attempt++) {
            long seq = (long) LONG_H.getAcquire(seg, base + SLOT_SEQ_OFFSET);
            if ((seq & 1) != 0) {
                if (awaitWriter(base, seq, attempt)) {
                    return NEXT; // odd with no writer at all: a damaged slot, skipped
                }
                continue;
            }
            long hash = seg.get(LONG, base + SLOT_HASH_OFFSET);
            if (hash == 0) {
                return END;
            }
            if (hash != key.hash()) {
                return NEXT;
            }
            long keyRef = seg.get(LONG, base + SLOT_KEY_REF_OFFSET);
            long size = seg.get(LONG, base + SLOT_SIZE_OFFSET);
            long epoch = seg.get(LONG, base + SLOT_EPOCH_OFFSET);
            long locRef = seg.get(LONG, base + SLOT_LOC_REF_OFFSET);
            long word = seg.get(LONG, base + SLOT_CRC_OFFSET);
            boolean match = seg.get(LONG, base + SLOT_CHECK_OFFSET) == check(hash, keyRef, size, epoch, locRef, word)
                            && stateCode(word) != TOMBSTONE_CODE
                            && keyEquals(keyRef, key)
                            && (out == null || !out.withLocator || copyLocator(locRef, out));
            VarHandle.loadLoadFence();
            if (seg.get(LONG, base + SLOT_SEQ_OFFSET) != seq) {
                continue; // changed under us: read again
            }
            if (!match) {
                return NEXT; // another key with the same hash, a tombstone, or a damaged slot
            }
            if (out != null) {
                fill(out, i, size, epoch, word);
            }
            return FOUND;
        }
    }

    private static final int TOMBSTONE_CODE = SlotState.TOMBSTONE.ordinal();

    private static void fill(EntryView out, long slot, long size, long epoch, long word) {
        out.slot = slot;
        out.sizeInBytes = size;
        out.epoch = epoch;
        out.crc32c = (int) word;
        out.state = SlotState.of(stateCode(word));
        out.tiers = (int) (word >>> 40) & 0xff;
        out.preferredTier = (byte) (word >>> 48);
        out.flags = (int) (word >>> 56) & 0xff;
    }

    private static int stateCode(long word) {
        return (int) (word >>> 32) & 0xff;
    }

    /**
     * Compares the arena's key bytes with {@code key}, eight bytes at a time. The last word is
     * read whole and masked: arena blocks are multiples of 16 bytes, so it stays inside the block.
     * A damaged reference (wrong length, or words past the arena) is rejected before any read;
     * the arena segment still checks every read's bounds.
     */
    private boolean keyEquals(long keyRef, RegionKey key) {
        long off = refOffset(keyRef);
        long[] words = key.words();
        int last = words.length - 1;
        if (refLength(keyRef) != key.length() || off > arenaLength - (last + 1) * 8L) {
            return false; // refOffset is never negative: the reference is shifted unsigned
        }
        MemorySegment arena = this.arena;
        for (int i = 0; i < last; i++) {
            if (arena.get(LONG_UNALIGNED, off + i * 8L) != words[i]) {
                return false;
            }
        }
        return (arena.get(LONG_UNALIGNED, off + last * 8L) & key.lastWordMask()) == words[last];
    }

    /** Copies the locator out and checks it against its stored hash; false if damaged. */
    private boolean copyLocator(long locRef, EntryView out) {
        out.locatorLength = 0;
        int blockLength = refLength(locRef);
        if (blockLength == 0) {
            return true;
        }
        long off = refOffset(locRef);
        int len = blockLength - LOCATOR_HASH_LENGTH;
        if (len < 0 || off < 0 || off > arenaLength - blockLength) {
            return false; // damaged reference
        }
        if (out.locator.length < len) {
            out.locator = new byte[Math.max(len, out.locator.length * 2)];
        }
        long stored = seg.get(LONG_UNALIGNED, arenaOffset + off);
        MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, arenaOffset + off + LOCATOR_HASH_LENGTH, out.locator, 0, len);
        out.locatorLength = len;
        return stored == KeyHash.of(out.locator, len);
    }

    /**
     * A writer holds this slot: spin, then check the writer is alive, repairing if it is not.
     *
     * @return true if the slot is odd while nobody holds the writer lock: damaged, not busy
     */
    private boolean awaitWriter(long base, long oddSeq, int attempt) {
        if (jvmLock.isHeldByCurrentThread()) {
            return true; // we are the writer and not mid-write: an odd slot here is damage
        }
        if (attempt < 64) {
            Thread.onSpinWait();
            return false;
        }
        if (attempt % 1024 == 0) {
            // writers take the lock before making a slot odd and make it even before unlocking
            long writer = (long) LONG_H.getVolatile(seg, (long) WRITER_TOKEN_OFFSET);
            if (writer == 0 && (long) LONG_H.getVolatile(seg, base + SLOT_SEQ_OFFSET) == oddSeq) {
                return true;
            }
            if (writer != 0 && attempt % SPINS_BEFORE_LIVENESS_CHECK == 0 && !ProcessToken.isAlive(writer)) {
                lockWriter(); // takes the lock over from the dead writer and repairs its slot
                unlockWriter();
                return false;
            }
        }
        LockSupport.parkNanos(1_000);
        return false;
    }

    // ------------------------------------------------------------------ writes

    /**
     * Inserts or replaces {@code key}'s entry.
     *
     * @param expectedEpoch the epoch the current entry must have, or -1 for any (and for absent)
     */
    public PutResult put(RegionKey key, EntryValues v, long expectedEpoch) {
        lockWriter();
        try {
            long h = key.hash();
            long i = home(h);
            long free = -1;
            for (long probes = 0; probes < slotCount; probes++) {
                long base = slotsOffset + i * SLOT_LENGTH;
                long hash = seg.get(LONG, base + SLOT_HASH_OFFSET);
                if (hash == 0) {
                    if (free < 0) {
                        free = i;
                    }
                    break;
                }
                long word = seg.get(LONG, base + SLOT_CRC_OFFSET);
                boolean tomb = stateCode(word) == SlotState.TOMBSTONE.ordinal() || !slotIntact(base);
                if (tomb) {
                    if (free < 0) {
                        free = i;
                    }
                } else if (hash == h && keyEquals(seg.get(LONG, base + SLOT_KEY_REF_OFFSET), key)) {
                    long epoch = seg.get(LONG, base + SLOT_EPOCH_OFFSET);
                    if (expectedEpoch >= 0 && epoch != expectedEpoch) {
                        return PutResult.EPOCH_CONFLICT;
                    }
                    return update(i, base, v);
                }
                i = ++i == slotCount ? 0 : i;
            }
            if (expectedEpoch >= 0) {
                return PutResult.EPOCH_CONFLICT;
            }
            if (free < 0) {
                return PutResult.TABLE_FULL;
            }
            return insert(free, h, key, v);
        } finally {
            unlockWriter();
        }
    }

    private PutResult update(long i, long base, EntryValues v) {
        long oldLoc = seg.get(LONG, base + SLOT_LOC_REF_OFFSET);
        long locRef = allocateLocator(v.locator());
        if (locRef < 0) {
            return PutResult.ARENA_FULL;
        }
        long seq = beginWrite(i, base);
        writeFields(base, seg.get(LONG, base + SLOT_HASH_OFFSET), seg.get(LONG, base + SLOT_KEY_REF_OFFSET), v, locRef);
        endWrite(base, seq);
        free(oldLoc);
        return PutResult.UPDATED;
    }

    private PutResult insert(long i, long h, RegionKey key, EntryValues v) {
        long base = slotsOffset + i * SLOT_LENGTH;
        long keyRef = allocate(key.segment());
        if (keyRef < 0) {
            return PutResult.ARENA_FULL;
        }
        long locRef = allocateLocator(v.locator());
        if (locRef < 0) {
            free(keyRef);
            return PutResult.ARENA_FULL;
        }
        boolean reusesTombstone = seg.get(LONG, base + SLOT_HASH_OFFSET) != 0;
        long seq = beginWrite(i, base);
        seg.asSlice(heatOffset + i * HEAT_RECORD_LENGTH, HEAT_RECORD_LENGTH).fill((byte) 0);
        writeFields(base, h, keyRef, v, locRef);
        endWrite(base, seq);
        addCounter(LIVE_SLOTS_OFFSET, 1);
        if (reusesTombstone) {
            addCounter(TOMBSTONES_OFFSET, -1);
        }
        return PutResult.INSERTED;
    }

    /**
     * Removes {@code key}.
     *
     * @param expectedEpoch the epoch the entry must have, or -1 for any
     * @return true if it was present (with the expected epoch) and is now gone
     */
    public boolean delete(RegionKey key, long expectedEpoch) {
        lockWriter();
        try {
            long i = find(key, null);
            if (i < 0) {
                return false;
            }
            long base = slotsOffset + i * SLOT_LENGTH;
            if (expectedEpoch >= 0 && seg.get(LONG, base + SLOT_EPOCH_OFFSET) != expectedEpoch) {
                return false;
            }
            long keyRef = seg.get(LONG, base + SLOT_KEY_REF_OFFSET);
            long locRef = seg.get(LONG, base + SLOT_LOC_REF_OFFSET);
            tombstone(i, base);
            free(keyRef);
            free(locRef);
            addCounter(LIVE_SLOTS_OFFSET, -1);
            addCounter(TOMBSTONES_OFFSET, 1);
            clearTrailingTombstones(i);
            return true;
        } finally {
            unlockWriter();
        }
    }

    private void tombstone(long i, long base) {
        long hash = seg.get(LONG, base + SLOT_HASH_OFFSET);
        long seq = beginWrite(i, base);
        long word = (long) SlotState.TOMBSTONE.ordinal() << 32;
        seg.set(LONG, base + SLOT_KEY_REF_OFFSET, 0L);
        seg.set(LONG, base + SLOT_SIZE_OFFSET, 0L);
        seg.set(LONG, base + SLOT_EPOCH_OFFSET, 0L);
        seg.set(LONG, base + SLOT_LOC_REF_OFFSET, 0L);
        seg.set(LONG, base + SLOT_CRC_OFFSET, word);
        seg.set(LONG, base + SLOT_CHECK_OFFSET, check(hash, 0, 0, 0, 0, word));
        endWrite(base, seq);
    }

    /**
     * A tombstone directly followed by a never-used slot ends every chain that reaches it, so
     * it can become never-used itself; repeat backwards. Keeps delete-heavy tables short.
     */
    private void clearTrailingTombstones(long i) {
        long next = i + 1 == slotCount ? 0 : i + 1;
        if (seg.get(LONG, slotsOffset + next * SLOT_LENGTH + SLOT_HASH_OFFSET) != 0) {
            return;
        }
        for (long n = 0; n < slotCount; n++) {
            long base = slotsOffset + i * SLOT_LENGTH;
            long word = seg.get(LONG, base + SLOT_CRC_OFFSET);
            if (seg.get(LONG, base + SLOT_HASH_OFFSET) == 0 || stateCode(word) != SlotState.TOMBSTONE.ordinal()) {
                return;
            }
            long seq = beginWrite(i, base);
            seg.asSlice(base + SLOT_HASH_OFFSET, SLOT_LENGTH - SLOT_HASH_OFFSET).fill((byte) 0);
            endWrite(base, seq);
            addCounter(TOMBSTONES_OFFSET, -1);
            i = i == 0 ? slotCount - 1 : i - 1;
        }
    }

    private void writeFields(long base, long hash, long keyRef, EntryValues v, long locRef) {
        long word = (v.crc32c() & 0xffffffffL) | (long) v.state().ordinal() << 32 | (long) v.tiers() << 40
                    | (long) (v.preferredTier() & 0xff) << 48 | (long) v.flags() << 56;
        seg.set(LONG, base + SLOT_HASH_OFFSET, hash);
        seg.set(LONG, base + SLOT_KEY_REF_OFFSET, keyRef);
        seg.set(LONG, base + SLOT_SIZE_OFFSET, v.sizeInBytes());
        seg.set(LONG, base + SLOT_EPOCH_OFFSET, v.epoch());
        seg.set(LONG, base + SLOT_LOC_REF_OFFSET, locRef);
        seg.set(LONG, base + SLOT_CRC_OFFSET, word);
        seg.set(LONG, base + SLOT_CHECK_OFFSET, check(hash, keyRef, v.sizeInBytes(), v.epoch(), locRef, word));
    }

    private boolean slotIntact(long base) {
        return seg.get(LONG, base + SLOT_CHECK_OFFSET) == check(seg.get(LONG, base + SLOT_HASH_OFFSET),
                seg.get(LONG, base + SLOT_KEY_REF_OFFSET), seg.get(LONG, base + SLOT_SIZE_OFFSET),
                seg.get(LONG, base + SLOT_EPOCH_OFFSET), seg.get(LONG, base + SLOT_LOC_REF_OFFSET),
                seg.get(LONG, base + SLOT_CRC_OFFSET));
    }

    static long check(long hash, long keyRef, long size, long epoch, long locRef, long word) {
        long c = hash * 0x9E3779B97F4A7C15L;
        c = (c ^ keyRef) * 0xBF58476D1CE4E5B9L;
        c = (c ^ size) * 0x94D049BB133111EBL;
        c = (c ^ epoch) * 0x9E3779B97F4A7C15L;
        c = (c ^ locRef) * 0xBF58476D1CE4E5B9L;
        c = (c ^ word) * 0x94D049BB133111EBL;
        return c ^ (c >>> 31);
    }

    private long beginWrite(long i, long base) {
        seg.set(LONG, WRITER_INTENT_OFFSET, i + 1);
        long seq = (long) LONG_H.getVolatile(seg, base + SLOT_SEQ_OFFSET);
        if ((seq & 1) != 0) {
            seq++; // left odd by a writer that died; repair() has judged the slot already
        }
        LONG_H.setVolatile(seg, base + SLOT_SEQ_OFFSET, seq + 1);
        VarHandle.storeStoreFence();
        return seq + 1;
    }

    private void endWrite(long base, long oddSeq) {
        LONG_H.setRelease(seg, base + SLOT_SEQ_OFFSET, oddSeq + 1);
        seg.set(LONG, WRITER_INTENT_OFFSET, 0L);
    }

    private void addCounter(long offset, long delta) {
        LONG_H.getAndAdd(seg, offset, delta);
    }

    /**
     * Test hook for crash tests: takes the writer lock, starts updating {@code key}'s slot, writes
     * one field, and returns without finishing or unlocking; the calling process is then killed.
     */
    void beginTornUpdateForTest(RegionKey key, long newSize) {
        lockWriter();
        long i = find(key, null);
        long base = slotsOffset + i * SLOT_LENGTH;
        beginWrite(i, base);
        seg.set(LONG, base + SLOT_SIZE_OFFSET, newSize);
    }

    // ------------------------------------------------------------------ writer lock

    void lockWriter() {
        jvmLock.lock();
        boolean locked = false;
        try {
            for (int spins = 0; ; spins++) {
                long holder = (long) LONG_H.getVolatile(seg, (long) WRITER_TOKEN_OFFSET);
                if (holder == 0) {
                    if (LONG_H.compareAndSet(seg, (long) WRITER_TOKEN_OFFSET, 0L, ProcessToken.SELF)) {
                        break;
                    }
                    continue;
                }
                if (spins > 0 && spins % 256 == 0 && !ProcessToken.isAlive(holder)) {
                    if (LONG_H.compareAndSet(seg, (long) WRITER_TOKEN_OFFSET, holder, ProcessToken.SELF)) {
                        repair();
                        break;
                    }
                }
                if (spins < 64) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.parkNanos(10_000);
                }
            }
            addCounter(WRITER_ACQUISITIONS_OFFSET, 1);
            locked = true;
        } finally {
            if (!locked) {
                jvmLock.unlock();
            }
        }
    }

    void unlockWriter() {
        LONG_H.setRelease(seg, (long) WRITER_TOKEN_OFFSET, 0L);
        jvmLock.unlock();
    }

    /** After taking the lock from a dead writer: settle the slot it was changing. */
    private void repair() {
        long intent = seg.get(LONG, WRITER_INTENT_OFFSET) - 1;
        if (intent < 0 || intent >= slotCount) {
            seg.set(LONG, WRITER_INTENT_OFFSET, 0L);
            return;
        }
        long base = slotsOffset + intent * SLOT_LENGTH;
        long seq = (long) LONG_H.getVolatile(seg, base + SLOT_SEQ_OFFSET);
        if ((seq & 1) != 0) {
            boolean empty = seg.get(LONG, base + SLOT_HASH_OFFSET) == 0;
            if (!empty && !slotIntact(base)) {
                // torn mid-publish: keep the chain, drop the entry; the catalog republishes it
                long hash = seg.get(LONG, base + SLOT_HASH_OFFSET);
                long word = (long) SlotState.TOMBSTONE.ordinal() << 32;
                seg.asSlice(base + SLOT_KEY_REF_OFFSET, SLOT_LENGTH - SLOT_KEY_REF_OFFSET).fill((byte) 0);
                seg.set(LONG, base + SLOT_CRC_OFFSET, word);
                seg.set(LONG, base + SLOT_CHECK_OFFSET, check(hash, 0, 0, 0, 0, word));
            }
            LONG_H.setRelease(seg, base + SLOT_SEQ_OFFSET, seq + 1);
        }
        seg.set(LONG, WRITER_INTENT_OFFSET, 0L);
    }

    /** Who holds the writer lock (0 if nobody). */
    public long writerToken() {
        return (long) LONG_H.getVolatile(seg, (long) WRITER_TOKEN_OFFSET);
    }

    // ------------------------------------------------------------------ arena

    private static long ref(long offset, int length) {
        return offset << REF_LENGTH_BITS | length;
    }

    static long refOffset(long ref) {
        return ref >>> REF_LENGTH_BITS;
    }

    static int refLength(long ref) {
        return (int) (ref & MAX_REF_LENGTH);
    }


    /** Stores a locator behind its hash (see {@link #copyLocator}); 0 for an empty locator. */
    private long allocateLocator(byte[] locator) {
        if (locator.length == 0) {
            return 0;
        }
        byte[] block = new byte[LOCATOR_HASH_LENGTH + locator.length];
        java.nio.ByteBuffer.wrap(block).order(java.nio.ByteOrder.nativeOrder()).putLong(KeyHash.of(locator));
        System.arraycopy(locator, 0, block, LOCATOR_HASH_LENGTH, locator.length);
        return allocate(MemorySegment.ofArray(block));
    }

    /** Copies {@code bytes} into a new arena block; -1 if the arena is full. Under the writer lock. */
    private long allocate(MemorySegment bytes) {
        int length = (int) bytes.byteSize();
        if (length == 0) {
            return 0;
        }
        int c = arenaClassFor(length);
        long blockSize = arenaBlockSize(c);
        long offset = pop(c);
        if (offset < 0) {
            long top = seg.get(LONG, ARENA_TOP_OFFSET);
            if (top >= 0 && top <= arenaLength - blockSize) {
                seg.set(LONG, ARENA_TOP_OFFSET, top + blockSize);
                offset = top;
            } else {
                offset = splitLarger(c);
                if (offset < 0) {
                    return -1;
                }
            }
        }
        MemorySegment.copy(bytes, 0, seg, arenaOffset + offset, length);
        return ref(offset, length);
    }

    /** A free block of class {@code c}, or -1. */
    private long pop(int c) {
        long headOffset = ARENA_FREE_LISTS_OFFSET + (long) c * Long.BYTES;
        long head = seg.get(LONG, headOffset) - 1;
        if (head < 0 || head > arenaLength - arenaBlockSize(c)) {
            return -1;
        }
        seg.set(LONG, headOffset, seg.get(LONG, arenaOffset + head));
        return head;
    }

    private void push(int c, long offset) {
        long headOffset = ARENA_FREE_LISTS_OFFSET + (long) c * Long.BYTES;
        seg.set(LONG, arenaOffset + offset, seg.get(LONG, headOffset));
        seg.set(LONG, headOffset, offset + 1);
    }

    /**
     * When the arena's untouched space is gone, takes a free block of a larger class, keeps its
     * first {@code arenaBlockSize(c)} bytes and frees the rest as blocks of the largest classes
     * that fit (every class size is a multiple of 16, so the rest always decomposes).
     */
    private long splitLarger(int c) {
        for (int larger = c + 1; larger < ARENA_CLASSES; larger++) {
            long offset = pop(larger);
            if (offset >= 0) {
                long rest = offset + arenaBlockSize(c);
                long remaining = arenaBlockSize(larger) - arenaBlockSize(c);
                for (int k = larger - 1; remaining > 0 && k >= 0; ) {
                    if (arenaBlockSize(k) <= remaining) {
                        push(k, rest);
                        rest += arenaBlockSize(k);
                        remaining -= arenaBlockSize(k);
                    } else {
                        k--;
                    }
                }
                return offset;
            }
        }
        return -1;
    }

    /** Returns a block to its class's free list. Under the writer lock, after the slot stopped naming it. */
    private void free(long ref) {
        int length = refLength(ref);
        if (length == 0) {
            return;
        }
        long offset = refOffset(ref);
        int c = arenaClassFor(length);
        if (offset < 0 || offset > arenaLength - arenaBlockSize(c) || offset % 16 != 0) {
            return; // a damaged reference: leak rather than corrupt a free list
        }
        push(c, offset);
    }

    /** Arena bytes handed out by the bump allocator so far (free-listed blocks included). */
    public long arenaTop() {
        return seg.get(LONG, ARENA_TOP_OFFSET);
    }

    public long arenaLength() {
        return arenaLength;
    }

    // ------------------------------------------------------------------ heat

    /**
     * Records one read of {@code bytes} bytes on the object in {@code slot} (from
     * {@link EntryView#slot()} or {@link #slotOf}). Lock-free: two atomic adds and two
     * compare-and-set updates of the decayed rates.
     */
    public void addHeat(long slot, long bytes) {
        if (slot < 0 || slot >= slotCount) {
            throw new IndexOutOfBoundsException("slot " + slot + " of " + slotCount);
        }
        long base = heatOffset + slot * HEAT_RECORD_LENGTH;
        LONG_H.getAndAdd(seg, base + HEAT_READS_OFFSET, 1L);
        LONG_H.getAndAdd(seg, base + HEAT_BYTES_OFFSET, bytes);
        long tick = tick();
        addDecayed(base + HEAT_DECAYED_READS_OFFSET, 1, tick);
        addDecayed(base + HEAT_DECAYED_BYTES_OFFSET, bytes, tick);
    }

    /** Looks {@code key} up and records a read; false if absent. */
    public boolean addHeat(RegionKey key, long bytes) {
        long slot = slotOf(key);
        if (slot < 0) {
            return false;
        }
        addHeat(slot, bytes);
        return true;
    }

    private void addDecayed(long offset, double amount, long tick) {
        for (;;) {
            long old = (long) LONG_H.getVolatile(seg, offset);
            long oldTick = old & 0xffffffffL;
            double value = Float.intBitsToFloat((int) (old >>> 32));
            double updated;
            long newTick;
            if (tick >= oldTick) {
                updated = value * decay(tick - oldTick) + amount;
                newTick = tick;
            } else { // another process's clock is ahead: age our contribution instead
                updated = value + amount * decay(oldTick - tick);
                newTick = oldTick;
            }
            long packed = (long) Float.floatToRawIntBits((float) updated) << 32 | newTick;
            if (LONG_H.compareAndSet(seg, offset, old, packed)) {
                return;
            }
        }
    }

    private double decay(long ticks) {
        return ticks == 0 ? 1.0 : Math.pow(0.5, ticks / ticksPerHalfLife);
    }

    private long tick() {
        long t = (clock.millis() - createdMillis) / TICK_MILLIS;
        return Math.clamp(t, 0, 0xffffffffL);
    }

    /** A slot's heat now: exact counts since the entry was inserted, and the decayed rates. */
    public Heat heat(long slot) {
        if (slot < 0 || slot >= slotCount) {
            throw new IndexOutOfBoundsException("slot " + slot + " of " + slotCount);
        }
        long base = heatOffset + slot * HEAT_RECORD_LENGTH;
        long tick = tick();
        return new Heat((long) LONG_H.getVolatile(seg, base + HEAT_READS_OFFSET),
                (long) LONG_H.getVolatile(seg, base + HEAT_BYTES_OFFSET),
                decayedNow(base + HEAT_DECAYED_READS_OFFSET, tick), decayedNow(base + HEAT_DECAYED_BYTES_OFFSET, tick));
    }

    private double decayedNow(long offset, long tick) {
        long packed = (long) LONG_H.getVolatile(seg, offset);
        long t = packed & 0xffffffffL;
        double v = Float.intBitsToFloat((int) (packed >>> 32));
        return tick > t ? v * decay(tick - t) : v;
    }

    /**
     * Heat of one object.
     *
     * @param reads exact reads recorded since the entry was inserted
     * @param bytes exact bytes recorded since the entry was inserted
     * @param decayedReads reads, each weighted by 2^(-age / half-life)
     * @param decayedBytes bytes, weighted the same way
     */
    public record Heat(long reads, long bytes, double decayedReads, double decayedBytes) {
    }

    // ------------------------------------------------------------------ scanning

    /** Calls {@code visitor} for every live entry; entries changing meanwhile may be seen or not. */
    public void forEach(EntryVisitor visitor) {
        EntryView view = new EntryView();
        for (long i = 0; i < slotCount; i++) {
            long base = slotsOffset + i * SLOT_LENGTH;
            long seq = (long) LONG_H.getAcquire(seg, base);
            long hash = seg.get(LONG, base + SLOT_HASH_OFFSET);
            if ((seq & 1) != 0 || hash == 0) {
                continue;
            }
            long keyRef = seg.get(LONG, base + SLOT_KEY_REF_OFFSET);
            long off = refOffset(keyRef);
            int len = refLength(keyRef);
            if (len == 0 || off < 0 || off > arenaLength - len) {
                continue;
            }
            byte[] key = seg.asSlice(arenaOffset + off, len).toArray(ValueLayout.JAVA_BYTE);
            VarHandle.loadLoadFence();
            if (seg.get(LONG, base) != seq) {
                continue;
            }
            RegionKey rk;
            try {
                rk = RegionKey.of(new String(key, java.nio.charset.StandardCharsets.UTF_8));
            } catch (RuntimeException e) {
                continue; // damaged key bytes
            }
            if (readSlot(i, rk, view) == FOUND) {
                visitor.visit(rk, view);
            }
        }
    }

    /** Receives entries from {@link #forEach}; the view is reused between calls. */
    @FunctionalInterface
    public interface EntryVisitor {
        void visit(RegionKey key, EntryView entry);
    }

    @Override
    public String toString() {
        return "ObjectTable[" + file + ", " + size() + " live of " + slotCount + " slots, " + tombstones() + " tombstones]";
    }
}
