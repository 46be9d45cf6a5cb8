package io.thermocline.region;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.zip.CRC32C;

/**
 * The region's binary layout: the one place that knows every offset. All integers are in the
 * platform's native byte order (little-endian on x86-64 and aarch64); a region written on a host
 * of the other order fails the magic check.
 *
 * <pre>
 * Region file
 *  +--------------------------------------------------------------+ 0
 *  | header (HEADER_LENGTH = 4096)                                |
 *  +--------------------------------------------------------------+ tiersOffset
 *  | tier counters: tierCount x TIER_RECORD_LENGTH (64)           |
 *  +--------------------------------------------------------------+ leasesOffset
 *  | leases: leaseCount x LEASE_RECORD_LENGTH (64)                |
 *  +--------------------------------------------------------------+ resultsOffset
 *  | request results: resultCount x RESULT_RECORD_LENGTH (64)     |
 *  +--------------------------------------------------------------+ ringOffset
 *  | request ring: RING_HEADER_LENGTH (256) + ringSlots x 1088     |
 *  +--------------------------------------------------------------+ slotsOffset (4096-aligned)
 *  | object table: slotCount x SLOT_LENGTH (64)                   |
 *  +--------------------------------------------------------------+ heatOffset
 *  | heat: slotCount x HEAT_RECORD_LENGTH (32)                    |
 *  +--------------------------------------------------------------+ arenaOffset
 *  | arena: arenaLength bytes of keys and locators                |
 *  +--------------------------------------------------------------+ regionLength (4096-aligned)
 *
 * Header, immutable part (covered by HEADER_CHECKSUM)
 *   0               8        12       16               24               32
 *   +---------------+--------+--------+----------------+----------------+
 *   | MAGIC         |VERSION |HDR_LEN | REGION_LENGTH  | CREATED_MILLIS |
 *   +---------------+--------+--------+----------------+----------------+
 *   32              40               48       52       56       60       64
 *   +---------------+----------------+--------+--------+--------+--------+
 *   | SLOT_COUNT    | ARENA_LENGTH   |TIERS   |LEASES  |RESULTS |RING_SL.|
 *   +---------------+----------------+--------+--------+--------+--------+
 *   64              72               80       88       96      104      112
 *   +---------------+----------------+--------+--------+--------+--------+
 *   | TIERS_OFFSET  | LEASES_OFFSET  |RESULTS | RING   | SLOTS  | HEAT   |  (longs)
 *   +---------------+----------------+--------+--------+--------+--------+
 *   112             120              128      136
 *   +---------------+----------------+--------+
 *   | ARENA_OFFSET  | HEAT_HALF_LIFE | CHECKSUM (CRC32C of bytes 0..128, VERSION as it will be)
 *   +---------------+----------------+--------+
 * Header, mutable part (one 64-byte line each, never checksummed, always bounds-checked)
 *   256  OWNER:        token, epoch, deadline millis
 *   320  WRITER LOCK:  token, intent slot (+1; 0 = none), acquisitions
 *   384  OCCUPANCY:    live slots, tombstones
 *   448  ARENA:        bump top, then ARENA_CLASSES free-list heads (8 bytes each) from 512
 *   1024 REQUEST IDS:  next request id
 *
 * Slot (64 bytes; the first 56 guarded by SEQ, a sequence lock: odd while a writer publishes)
 *   0        8        16        24       32       40        48    52  53  54  55  56
 *   +--------+--------+---------+--------+--------+---------+-----+---+---+---+---+--------+
 *   | SEQ    | HASH   | KEY_REF | SIZE   | EPOCH  | LOC_REF | CRC |STA|TRS|PRF|FLG| CHECK  |
 *   +--------+--------+---------+--------+--------+---------+-----+---+---+---+---+--------+
 *   HASH 0 = never used (ends a probe chain). KEY_REF and LOC_REF: arena offset &lt;&lt; 16 | length.
 *   The LOC_REF block holds an 8-byte hash of the locator, then the locator: copies are checked.
 *   CHECK: a hash of bytes 8..56, so a damaged slot is detected (see ObjectTable).
 *
 * Heat record (32 bytes, per slot; updated with atomic adds and CAS, never under the lock)
 *   0              8              16                          24
 *   +--------------+--------------+---------------------------+---------------------------+
 *   | READS        | BYTES        | float decayed reads|tick  | float decayed bytes|tick  |
 *   +--------------+--------------+---------------------------+---------------------------+
 *
 * Request ring slot (RING_SLOT_LENGTH = 1088; a bounded many-producer queue of fixed slots, where
 * SEQ == position means free for the producer of that position, position + 1 means published)
 *   0        8        16           24     28     32       40       44       48
 *   +--------+--------+------------+------+------+--------+--------+--------+----------------+
 *   | SEQ    | TOKEN  | REQUEST_ID | TYPE | TIER | ARG    | KEYLEN | CRC    | KEY (<= 1024)  |
 *   +--------+--------+------------+------+------+--------+--------+--------+----------------+
 *   CRC: CRC32C of bytes 8..44 and the key, so a record torn by a stalled producer is dropped.
 * </pre>
 *
 * <p>The version is written last with a release store, after everything else; an attacher that
 * reads a version of 0 sees a region still being created.
 */
public final class RegionLayout {

    /** "TCLREGN1" as a little-endian long. */
    public static final long MAGIC = 0x314E4745524C4354L;
    public static final int MAJOR_VERSION = 1;
    public static final int MINOR_VERSION = 0;
    public static final int VERSION = MAJOR_VERSION << 16 | MINOR_VERSION;

    public static final int HEADER_LENGTH = 4096;
    public static final int CACHE_LINE = 64;

    // header, immutable
    public static final int MAGIC_OFFSET = 0;
    public static final int VERSION_OFFSET = MAGIC_OFFSET + Long.BYTES;
    public static final int HEADER_LENGTH_OFFSET = VERSION_OFFSET + Integer.BYTES;
    public static final int REGION_LENGTH_OFFSET = HEADER_LENGTH_OFFSET + Integer.BYTES;
    public static final int CREATED_MILLIS_OFFSET = REGION_LENGTH_OFFSET + Long.BYTES;
    public static final int SLOT_COUNT_OFFSET = CREATED_MILLIS_OFFSET + Long.BYTES;
    public static final int ARENA_LENGTH_OFFSET = SLOT_COUNT_OFFSET + Long.BYTES;
    public static final int TIER_COUNT_OFFSET = ARENA_LENGTH_OFFSET + Long.BYTES;
    public static final int LEASE_COUNT_OFFSET = TIER_COUNT_OFFSET + Integer.BYTES;
    public static final int RESULT_COUNT_OFFSET = LEASE_COUNT_OFFSET + Integer.BYTES;
    public static final int RING_SLOTS_OFFSET = RESULT_COUNT_OFFSET + Integer.BYTES;
    public static final int TIERS_OFFSET_OFFSET = RING_SLOTS_OFFSET + Integer.BYTES;
    public static final int LEASES_OFFSET_OFFSET = TIERS_OFFSET_OFFSET + Long.BYTES;
    public static final int RESULTS_OFFSET_OFFSET = LEASES_OFFSET_OFFSET + Long.BYTES;
    public static final int RING_OFFSET_OFFSET = RESULTS_OFFSET_OFFSET + Long.BYTES;
    public static final int SLOTS_OFFSET_OFFSET = RING_OFFSET_OFFSET + Long.BYTES;
    public static final int HEAT_OFFSET_OFFSET = SLOTS_OFFSET_OFFSET + Long.BYTES;
    public static final int ARENA_OFFSET_OFFSET = HEAT_OFFSET_OFFSET + Long.BYTES;
    public static final int HEAT_HALF_LIFE_OFFSET = ARENA_OFFSET_OFFSET + Long.BYTES;
    public static final int CHECKSUM_OFFSET = HEAT_HALF_LIFE_OFFSET + Long.BYTES;
    public static final int CHECKSUMMED_LENGTH = CHECKSUM_OFFSET;

    // header, mutable
    public static final int OWNER_TOKEN_OFFSET = 256;
    public static final int OWNER_EPOCH_OFFSET = OWNER_TOKEN_OFFSET + Long.BYTES;
    public static final int OWNER_DEADLINE_OFFSET = OWNER_EPOCH_OFFSET + Long.BYTES;
    public static final int WRITER_TOKEN_OFFSET = OWNER_TOKEN_OFFSET + CACHE_LINE;
    public static final int WRITER_INTENT_OFFSET = WRITER_TOKEN_OFFSET + Long.BYTES;
    public static final int WRITER_ACQUISITIONS_OFFSET = WRITER_INTENT_OFFSET + Long.BYTES;
    public static final int LIVE_SLOTS_OFFSET = WRITER_TOKEN_OFFSET + CACHE_LINE;
    public static final int TOMBSTONES_OFFSET = LIVE_SLOTS_OFFSET + Long.BYTES;
    public static final int ARENA_TOP_OFFSET = LIVE_SLOTS_OFFSET + CACHE_LINE;
    public static final int ARENA_FREE_LISTS_OFFSET = ARENA_TOP_OFFSET + CACHE_LINE;
    /**
     * Arena size classes: 16, 32, ... 256 bytes in steps of 16 (classes 0..15), then 512 B to 64 KiB
     * in powers of two (classes 16..23); see {@link #arenaBlockSize(int)}.
     */
    public static final int ARENA_CLASSES = 24;
    private static final int FINE_CLASSES = 16;

    /** Bytes in an arena block of class {@code c}. */
    public static long arenaBlockSize(int c) {
        return c < FINE_CLASSES ? 16L * (c + 1) : 256L << (c - FINE_CLASSES + 1);
    }

    /** The smallest class whose blocks hold {@code length} bytes. */
    public static int arenaClassFor(int length) {
        int size = Math.max(16, length);
        if (size <= 256) {
            return (size + 15) / 16 - 1;
        }
        return FINE_CLASSES - 1 + (32 - Integer.numberOfLeadingZeros((size - 1) >>> 8));
    }
    public static final int NEXT_REQUEST_ID_OFFSET = 1024;

    // tier counters (one per tier, 64 bytes)
    public static final int TIER_RECORD_LENGTH = CACHE_LINE;
    public static final int TIER_USED_OFFSET = 0;
    public static final int TIER_RESERVED_OFFSET = TIER_USED_OFFSET + Long.BYTES;
    public static final int TIER_OBJECTS_OFFSET = TIER_RESERVED_OFFSET + Long.BYTES;

    // leases (64 bytes)
    public static final int LEASE_RECORD_LENGTH = CACHE_LINE;
    public static final int LEASE_HOLDER_OFFSET = 0;
    public static final int LEASE_RESOURCE_OFFSET = LEASE_HOLDER_OFFSET + Long.BYTES;
    public static final int LEASE_EPOCH_OFFSET = LEASE_RESOURCE_OFFSET + Long.BYTES;
    public static final int LEASE_DEADLINE_OFFSET = LEASE_EPOCH_OFFSET + Long.BYTES;

    // request results (64 bytes, guarded by their own sequence lock)
    public static final int RESULT_RECORD_LENGTH = CACHE_LINE;
    public static final int RESULT_SEQ_OFFSET = 0;
    public static final int RESULT_REQUEST_ID_OFFSET = RESULT_SEQ_OFFSET + Long.BYTES;
    public static final int RESULT_STATUS_OFFSET = RESULT_REQUEST_ID_OFFSET + Long.BYTES;
    public static final int RESULT_DONE_OFFSET = RESULT_STATUS_OFFSET + Long.BYTES;
    public static final int RESULT_TOTAL_OFFSET = RESULT_DONE_OFFSET + Long.BYTES;

    // ring header: producer position and consumer position on separate pairs of cache lines
    public static final int RING_HEADER_LENGTH = 4 * CACHE_LINE;
    public static final int RING_TAIL_OFFSET = 0;
    public static final int RING_HEAD_OFFSET = 2 * CACHE_LINE;
    public static final int RING_SLOT_LENGTH = 1088;
    public static final int RING_SEQ_OFFSET = 0;
    public static final int RING_TOKEN_OFFSET = RING_SEQ_OFFSET + Long.BYTES;
    public static final int RING_REQUEST_ID_OFFSET = RING_TOKEN_OFFSET + Long.BYTES;
    public static final int RING_TYPE_OFFSET = RING_REQUEST_ID_OFFSET + Long.BYTES;
    public static final int RING_TIER_OFFSET = RING_TYPE_OFFSET + Integer.BYTES;
    public static final int RING_ARG_OFFSET = RING_TIER_OFFSET + Integer.BYTES;
    public static final int RING_KEY_LENGTH_OFFSET = RING_ARG_OFFSET + Long.BYTES;
    public static final int RING_CRC_OFFSET = RING_KEY_LENGTH_OFFSET + Integer.BYTES;
    public static final int RING_KEY_OFFSET = RING_CRC_OFFSET + Integer.BYTES;

    // slot
    public static final int SLOT_LENGTH = CACHE_LINE;
    public static final int SLOT_SEQ_OFFSET = 0;
    public static final int SLOT_HASH_OFFSET = SLOT_SEQ_OFFSET + Long.BYTES;
    public static final int SLOT_KEY_REF_OFFSET = SLOT_HASH_OFFSET + Long.BYTES;
    public static final int SLOT_SIZE_OFFSET = SLOT_KEY_REF_OFFSET + Long.BYTES;
    public static final int SLOT_EPOCH_OFFSET = SLOT_SIZE_OFFSET + Long.BYTES;
    public static final int SLOT_LOC_REF_OFFSET = SLOT_EPOCH_OFFSET + Long.BYTES;
    public static final int SLOT_CRC_OFFSET = SLOT_LOC_REF_OFFSET + Long.BYTES;
    public static final int SLOT_STATE_OFFSET = SLOT_CRC_OFFSET + Integer.BYTES;
    public static final int SLOT_TIERS_OFFSET = SLOT_STATE_OFFSET + Byte.BYTES;
    public static final int SLOT_PREFERRED_OFFSET = SLOT_TIERS_OFFSET + Byte.BYTES;
    public static final int SLOT_FLAGS_OFFSET = SLOT_PREFERRED_OFFSET + Byte.BYTES;
    public static final int SLOT_CHECK_OFFSET = SLOT_FLAGS_OFFSET + Byte.BYTES;

    // heat
    public static final int HEAT_RECORD_LENGTH = 32;
    public static final int HEAT_READS_OFFSET = 0;
    public static final int HEAT_BYTES_OFFSET = HEAT_READS_OFFSET + Long.BYTES;
    public static final int HEAT_DECAYED_READS_OFFSET = HEAT_BYTES_OFFSET + Long.BYTES;
    public static final int HEAT_DECAYED_BYTES_OFFSET = HEAT_DECAYED_READS_OFFSET + Long.BYTES;

    /** Arena references pack an offset and a length: offset << 16 | length. */
    public static final int REF_LENGTH_BITS = 16;
    public static final int MAX_REF_LENGTH = (1 << REF_LENGTH_BITS) - 1;
    /** A locator block starts with a 64-bit hash of its bytes, checked whenever it is copied out. */
    public static final int LOCATOR_HASH_LENGTH = Long.BYTES;
    public static final int MAX_LOCATOR_LENGTH = MAX_REF_LENGTH - LOCATOR_HASH_LENGTH;

    static {
        if (SLOT_CHECK_OFFSET + Long.BYTES != SLOT_LENGTH || CHECKSUM_OFFSET + Long.BYTES > OWNER_TOKEN_OFFSET
            || RING_KEY_OFFSET + io.thermocline.tier.ObjectKey.MAX_LENGTH_IN_BYTES > RING_SLOT_LENGTH
            || ARENA_FREE_LISTS_OFFSET + ARENA_CLASSES * Long.BYTES > NEXT_REQUEST_ID_OFFSET) {
            throw new AssertionError("region layout fields overlap");
        }
    }

    /**
     * The sizes a region is created with; the offsets follow from them.
     *
     * @param slotCount object table slots (keep live objects under 75% of it)
     * @param arenaLength bytes for keys and locators
     * @param tierCount tier counter records (tier ids 0..tierCount-1, at most 8)
     * @param leaseCount lease records
     * @param resultCount request result records
     * @param ringSlots request ring slots (requests that can wait at once)
     * @param heatHalfLifeMillis half-life of the decayed heat counters
     */
    public record Geometry(long slotCount, long arenaLength, int tierCount, int leaseCount, int resultCount,
                           int ringSlots, long heatHalfLifeMillis) {

        public Geometry {
            require("slotCount", slotCount, 16, 1L << 32);
            require("arenaLength", arenaLength, 4096, 1L << 46);
            require("tierCount", tierCount, 1, 8);
            require("leaseCount", leaseCount, 1, 1 << 20);
            require("resultCount", resultCount, 1, 1 << 20);
            require("ringSlots", ringSlots, 2, 1 << 20);
            require("heatHalfLifeMillis", heatHalfLifeMillis, 1, Long.MAX_VALUE / 4);
        }

        private static void require(String name, long value, long min, long max) {
            if (value < min || value > max) {
                throw new IllegalArgumentException(name + ": " + value + " (expected: " + min + ".." + max + ")");
            }
        }

        public long tiersOffset() {
            return HEADER_LENGTH;
        }

        public long leasesOffset() {
            return tiersOffset() + (long) tierCount * TIER_RECORD_LENGTH;
        }

        public long resultsOffset() {
            return leasesOffset() + (long) leaseCount * LEASE_RECORD_LENGTH;
        }

        public long ringOffset() {
            return resultsOffset() + (long) resultCount * RESULT_RECORD_LENGTH;
        }

        public long slotsOffset() {
            return alignUp(ringOffset() + RING_HEADER_LENGTH + (long) ringSlots * RING_SLOT_LENGTH, 4096);
        }

        public long heatOffset() {
            return slotsOffset() + slotCount * SLOT_LENGTH;
        }

        public long arenaOffset() {
            return alignUp(heatOffset() + slotCount * HEAT_RECORD_LENGTH, CACHE_LINE);
        }

        public long regionLength() {
            return alignUp(arenaOffset() + alignUp(arenaLength, CACHE_LINE), 4096);
        }
    }

    private RegionLayout() {
    }

    static long alignUp(long value, long alignment) {
        return (value + alignment - 1) & -alignment;
    }

    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG;
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;

    /** Writes the immutable header fields (all but VERSION, which the caller publishes last) and the checksum. */
    static void writeHeader(MemorySegment s, Geometry g, long createdMillis) {
        s.set(LONG, MAGIC_OFFSET, MAGIC);
        s.set(INT, HEADER_LENGTH_OFFSET, HEADER_LENGTH);
        s.set(LONG, REGION_LENGTH_OFFSET, g.regionLength());
        s.set(LONG, CREATED_MILLIS_OFFSET, createdMillis);
        s.set(LONG, SLOT_COUNT_OFFSET, g.slotCount());
        s.set(LONG, ARENA_LENGTH_OFFSET, g.arenaLength());
        s.set(INT, TIER_COUNT_OFFSET, g.tierCount());
        s.set(INT, LEASE_COUNT_OFFSET, g.leaseCount());
        s.set(INT, RESULT_COUNT_OFFSET, g.resultCount());
        s.set(INT, RING_SLOTS_OFFSET, g.ringSlots());
        s.set(LONG, TIERS_OFFSET_OFFSET, g.tiersOffset());
        s.set(LONG, LEASES_OFFSET_OFFSET, g.leasesOffset());
        s.set(LONG, RESULTS_OFFSET_OFFSET, g.resultsOffset());
        s.set(LONG, RING_OFFSET_OFFSET, g.ringOffset());
        s.set(LONG, SLOTS_OFFSET_OFFSET, g.slotsOffset());
        s.set(LONG, HEAT_OFFSET_OFFSET, g.heatOffset());
        s.set(LONG, ARENA_OFFSET_OFFSET, g.arenaOffset());
        s.set(LONG, HEAT_HALF_LIFE_OFFSET, g.heatHalfLifeMillis());
        s.set(LONG, CHECKSUM_OFFSET, headerChecksum(s, VERSION));
    }

    /**
     * CRC32C of the immutable header with VERSION taken as {@code version}: the creator computes
     * it before it publishes the version, readers check it with the version they found.
     */
    static long headerChecksum(MemorySegment s, int version) {
        CRC32C crc = new CRC32C();
        byte[] bytes = s.asSlice(0, CHECKSUMMED_LENGTH).toArray(ValueLayout.JAVA_BYTE);
        java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.nativeOrder()).putInt(VERSION_OFFSET, version);
        crc.update(bytes);
        return crc.getValue();
    }

    /**
     * Validates a mapped header against the file's length and returns its geometry.
     *
     * @throws RegionCorruptException naming the file and the first bad field
     */
    static Geometry readHeader(MemorySegment s, long fileLength, String file) {
        if (fileLength < HEADER_LENGTH) {
            throw new RegionCorruptException(file, "length", fileLength + " bytes, shorter than the " + HEADER_LENGTH + "-byte header");
        }
        long magic = s.get(LONG, MAGIC_OFFSET);
        if (magic != MAGIC) {
            throw new RegionCorruptException(file, "magic", String.format("0x%016x (expected 0x%016x)", magic, MAGIC));
        }
        int version = s.get(INT, VERSION_OFFSET);
        if (version == 0) {
            throw new RegionCorruptException(file, "version", "0: the region was never finished (its creator died)");
        }
        if (version >>> 16 != MAJOR_VERSION) {
            throw new RegionCorruptException(file, "version", "major " + (version >>> 16) + " (this build reads " + MAJOR_VERSION + ")");
        }
        long checksum = s.get(LONG, CHECKSUM_OFFSET);
        long actual = headerChecksum(s, version);
        if (checksum != actual) {
            throw new RegionCorruptException(file, "header checksum", String.format("0x%08x, computed 0x%08x", checksum, actual));
        }
        Geometry g;
        try {
            g = new Geometry(s.get(LONG, SLOT_COUNT_OFFSET), s.get(LONG, ARENA_LENGTH_OFFSET), s.get(INT, TIER_COUNT_OFFSET),
                    s.get(INT, LEASE_COUNT_OFFSET), s.get(INT, RESULT_COUNT_OFFSET), s.get(INT, RING_SLOTS_OFFSET),
                    s.get(LONG, HEAT_HALF_LIFE_OFFSET));
        } catch (IllegalArgumentException e) {
            throw new RegionCorruptException(file, "geometry", e.getMessage());
        }
        long[][] expected = {
            {s.get(INT, HEADER_LENGTH_OFFSET), HEADER_LENGTH},
            {s.get(LONG, REGION_LENGTH_OFFSET), g.regionLength()},
            {fileLength, g.regionLength()},
            {s.get(LONG, TIERS_OFFSET_OFFSET), g.tiersOffset()},
            {s.get(LONG, LEASES_OFFSET_OFFSET), g.leasesOffset()},
            {s.get(LONG, RESULTS_OFFSET_OFFSET), g.resultsOffset()},
            {s.get(LONG, RING_OFFSET_OFFSET), g.ringOffset()},
            {s.get(LONG, SLOTS_OFFSET_OFFSET), g.slotsOffset()},
            {s.get(LONG, HEAT_OFFSET_OFFSET), g.heatOffset()},
            {s.get(LONG, ARENA_OFFSET_OFFSET), g.arenaOffset()},
        };
        String[] names = {"header length", "region length", "file length", "tiers offset", "leases offset",
            "results offset", "ring offset", "slots offset", "heat offset", "arena offset"};
        for (int i = 0; i < expected.length; i++) {
            if (expected[i][0] != expected[i][1]) {
                throw new RegionCorruptException(file, names[i], expected[i][0] + " (geometry implies " + expected[i][1] + ")");
            }
        }
        return g;
    }
}
