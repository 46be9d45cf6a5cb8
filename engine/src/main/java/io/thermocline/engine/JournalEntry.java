package io.thermocline.engine;

import io.thermocline.tier.ObjectKey;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * One move in progress, written to the catalog before any byte is copied and removed once the
 * move is finished (committed and its source freed) or rolled back. Recovery reads what is left.
 *
 * @param id        the journal sequence number
 * @param kind      what the move does
 * @param key       the object
 * @param fromTier  the tier copied from, or -1 for a put
 * @param toTier    the tier written, or -1 for a drop
 * @param newEpoch  the epoch the catalog record gets when the move commits; recovery compares it
 *                  with the record to tell a committed move (roll forward) from one that was not
 *                  (roll back: free the destination)
 * @param startedMillis when the move was journaled
 */
public record JournalEntry(long id, Kind kind, ObjectKey key, int fromTier, int toTier, long newEpoch, long startedMillis) {

    /** What a journaled move does to the source when it commits. */
    public enum Kind {
        /** Copy {@code from} → {@code to}; the source stays (promotion, prestage, persistence). */
        COPY,
        /** Copy {@code from} → {@code to}, then free {@code from} (demotion to a slower cache tier). */
        MOVE,
        /** Free the copy on {@code from} (eviction, demotion to a tier that already holds it). */
        DROP,
        /** A new object written to {@code to} (and possibly more tiers); rolled back by deleting it everywhere. */
        PUT
    }

    public JournalEntry {
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(key, "key");
    }

    byte[] encode() {
        byte[] k = key.toString().getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(1 + 4 + 4 + 8 + 8 + 4 + k.length).put((byte) kind.ordinal()).putInt(fromTier).putInt(toTier)
                .putLong(newEpoch).putLong(startedMillis).putInt(k.length).put(k).array();
    }

    static JournalEntry decode(long id, byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        Kind kind = Kind.values()[b.get()];
        int from = b.getInt();
        int to = b.getInt();
        long epoch = b.getLong();
        long started = b.getLong();
        byte[] k = new byte[b.getInt()];
        b.get(k);
        return new JournalEntry(id, kind, ObjectKey.of(new String(k, StandardCharsets.UTF_8)), from, to, epoch, started);
    }
}
