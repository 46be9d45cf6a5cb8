package io.thermocline.engine;

import io.thermocline.placement.WriteMode;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.support.ObjectInfoCodec;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * What the owner's catalog knows of one object: its checksummed info, which tiers hold a verified
 * copy of exactly these bytes, its location epoch, and its write-back and pin state.
 *
 * @param info         size, chunk size and CRC32Cs, content type
 * @param tiers        bit t set if tier id t holds a verified copy
 * @param epoch        location epoch: bumped on every change of {@code tiers}; readers of an older
 *                     epoch are drained before a copy they may be reading is freed
 * @param writeMode    how the object's put reaches the backing tier
 * @param dirtySinceMillis when the object was committed write-back and not yet persisted to the
 *                     backing tier; -1 when clean
 * @param pinUntilMillis the object stays on its fastest tier until then; 0 when not pinned
 */
public record ObjectRecord(ObjectInfo info, int tiers, long epoch, WriteMode writeMode, long dirtySinceMillis,
                           long pinUntilMillis) {

    private static final byte FORMAT = 1;
    /** format, tiers, epoch, write mode, dirty since, pin until, then the ObjectInfo record */
    private static final int HEADER_LENGTH = 1 + 4 + 8 + 1 + 8 + 8;

    public ObjectRecord {
        Objects.requireNonNull(info, "info");
        Objects.requireNonNull(writeMode, "writeMode");
        if (tiers < 0 || tiers > 0xff) {
            throw new IllegalArgumentException("tiers: " + tiers + " (expected: a bit set over tier ids 0..7)");
        }
    }

    public boolean dirty() {
        return dirtySinceMillis >= 0;
    }

    public boolean on(int tierId) {
        return (tiers & (1 << tierId)) != 0;
    }

    /** The fastest tier holding a copy, or -1. */
    public int fastestTier() {
        return tiers == 0 ? -1 : Integer.numberOfTrailingZeros(tiers);
    }

    public ObjectRecord withTiers(int newTiers, long newEpoch) {
        return new ObjectRecord(info, newTiers, newEpoch, writeMode, dirtySinceMillis, pinUntilMillis);
    }

    public ObjectRecord withDirtySince(long millis) {
        return new ObjectRecord(info, tiers, epoch, writeMode, millis, pinUntilMillis);
    }

    public ObjectRecord withPinUntil(long millis) {
        return new ObjectRecord(info, tiers, epoch, writeMode, dirtySinceMillis, millis);
    }

    byte[] encode() {
        int infoLength = ObjectInfoCodec.encodedLength(info);
        ByteBuffer b = ByteBuffer.allocate(HEADER_LENGTH + infoLength);
        b.put(FORMAT).putInt(tiers).putLong(epoch).put((byte) writeMode.ordinal()).putLong(dirtySinceMillis).putLong(pinUntilMillis);
        ObjectInfoCodec.encode(info, b);
        return b.array();
    }

    static ObjectRecord decode(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        byte format = b.get();
        if (format != FORMAT) {
            throw new IllegalStateException("catalog record format " + format + " (expected: " + FORMAT + ")");
        }
        int tiers = b.getInt();
        long epoch = b.getLong();
        int mode = b.get();
        if (mode < 0 || mode >= WriteMode.values().length) {
            throw new IllegalStateException("catalog record write mode " + mode + " (expected: 0.." + (WriteMode.values().length - 1) + ")");
        }
        long dirty = b.getLong();
        long pin = b.getLong();
        ObjectInfo info = ObjectInfoCodec.decode(b.slice());
        return new ObjectRecord(info, tiers, epoch, WriteMode.values()[mode], dirty, pin);
    }
}
