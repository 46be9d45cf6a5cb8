package io.thermocline.engine;

import io.thermocline.tier.ObjectKey;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.BiConsumer;

/**
 * The owner's catalog: a RocksDB database under {@code <data root>/catalog}, opened by the owner
 * only (RocksDB's own LOCK file enforces one opener).
 *
 * <p><b>Schema.</b>
 * <ul>
 *   <li>column family {@code objects}: key = the object key as UTF-16BE code units (so RocksDB's
 *       bytewise order is {@link ObjectKey}'s order and a key prefix is a byte prefix); value = an
 *       {@link ObjectRecord}. The dirty set is the records whose {@code dirtySinceMillis >= 0}.</li>
 *   <li>column family {@code journal}: key = the entry id as 8 big-endian bytes (so iteration is in
 *       journal order); value = a {@link JournalEntry}.</li>
 * </ul>
 * Every write is synced to RocksDB's write-ahead log before it returns, so what the engine
 * acknowledged survives a crash; a record change and the removal of the journal entry that made
 * it go in one atomic batch.
 *
 * <p>Thread-safe; calls after {@link #close()} fail with {@link IllegalStateException}.
 */
final class Catalog implements AutoCloseable {

    static {
        RocksDB.loadLibrary();
    }

    private final Path directory;
    private final DBOptions dbOptions;
    private final ColumnFamilyOptions cfOptions;
    private final RocksDB db;
    private final List<ColumnFamilyHandle> handles;
    private final ColumnFamilyHandle objects;
    private final ColumnFamilyHandle journal;
    private final WriteOptions sync = new WriteOptions().setSync(true);
    private final AtomicLong nextJournalId;
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private boolean closed;

    private Catalog(Path directory, DBOptions dbOptions, ColumnFamilyOptions cfOptions, RocksDB db, List<ColumnFamilyHandle> handles) {
        this.directory = directory;
        this.dbOptions = dbOptions;
        this.cfOptions = cfOptions;
        this.db = db;
        this.handles = handles;
        this.objects = handles.get(1);
        this.journal = handles.get(2);
        long last = 0;
        try (RocksIterator it = db.newIterator(journal)) {
            it.seekToLast();
            if (it.isValid()) {
                last = ByteBuffer.wrap(it.key()).getLong();
            }
        }
        this.nextJournalId = new AtomicLong(last + 1);
    }

    /** Opens (creating if needed) the catalog in {@code directory}. */
    static Catalog open(Path directory) {
        try {
            Files.createDirectories(directory);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the catalog directory " + directory + ": " + e.getMessage(), e);
        }
        DBOptions dbOptions = new DBOptions().setCreateIfMissing(true).setCreateMissingColumnFamilies(true);
        ColumnFamilyOptions cfOptions = new ColumnFamilyOptions();
        List<ColumnFamilyDescriptor> descriptors = List.of(
                new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY, cfOptions),
                new ColumnFamilyDescriptor("objects".getBytes(StandardCharsets.US_ASCII), cfOptions),
                new ColumnFamilyDescriptor("journal".getBytes(StandardCharsets.US_ASCII), cfOptions));
        List<ColumnFamilyHandle> handles = new ArrayList<>();
        try {
            RocksDB db = RocksDB.open(dbOptions, directory.toString(), descriptors, handles);
            return new Catalog(directory, dbOptions, cfOptions, db, handles);
        } catch (RocksDBException e) {
            dbOptions.close();
            cfOptions.close();
            throw new IllegalStateException("cannot open the catalog " + directory + ": " + e.getMessage()
                    + " (is another process the owner of this data root?)", e);
        }
    }

    Path directory() {
        return directory;
    }

    static byte[] keyBytes(ObjectKey key) {
        return key.toString().getBytes(StandardCharsets.UTF_16BE);
    }

    static ObjectKey keyOf(byte[] bytes) {
        return ObjectKey.of(new String(bytes, StandardCharsets.UTF_16BE));
    }

    Optional<ObjectRecord> get(ObjectKey key) {
        return read(() -> {
            byte[] v = db.get(objects, keyBytes(key));
            return v == null ? Optional.empty() : Optional.of(ObjectRecord.decode(v));
        });
    }

    /** Writes {@code record} (or deletes the key when null) and removes journal entry {@code journalId} (if >= 0), atomically. */
    void commit(ObjectKey key, ObjectRecord record, long journalId) {
        read(() -> {
            try (WriteBatch batch = new WriteBatch()) {
                if (record == null) {
                    batch.delete(objects, keyBytes(key));
                } else {
                    batch.put(objects, keyBytes(key), record.encode());
                }
                if (journalId >= 0) {
                    batch.delete(journal, idBytes(journalId));
                }
                db.write(sync, batch);
            }
            return null;
        });
    }

    void put(ObjectKey key, ObjectRecord record) {
        commit(key, record, -1);
    }

    void delete(ObjectKey key) {
        commit(key, null, -1);
    }

    /** Appends a journal entry (its id is assigned here) and returns it, synced. */
    JournalEntry journal(JournalEntry.Kind kind, ObjectKey key, int from, int to, long newEpoch, long nowMillis) {
        JournalEntry e = new JournalEntry(nextJournalId.getAndIncrement(), kind, key, from, to, newEpoch, nowMillis);
        read(() -> {
            db.put(journal, sync, idBytes(e.id()), e.encode());
            return null;
        });
        return e;
    }

    void clearJournal(long id) {
        read(() -> {
            db.delete(journal, sync, idBytes(id));
            return null;
        });
    }

    /** The journal's entries, oldest first. */
    List<JournalEntry> journalEntries() {
        return read(() -> {
            List<JournalEntry> out = new ArrayList<>();
            try (RocksIterator it = db.newIterator(journal)) {
                for (it.seekToFirst(); it.isValid(); it.next()) {
                    out.add(JournalEntry.decode(ByteBuffer.wrap(it.key()).getLong(), it.value()));
                }
            }
            return out;
        });
    }

    /** Visits every record whose key starts with {@code prefix}, in key order. */
    void forEach(String prefix, BiConsumer<ObjectKey, ObjectRecord> visitor) {
        read(() -> {
            byte[] p = prefix.getBytes(StandardCharsets.UTF_16BE);
            try (ReadOptions ro = new ReadOptions(); RocksIterator it = db.newIterator(objects, ro)) {
                for (it.seek(p); it.isValid(); it.next()) {
                    byte[] k = it.key();
                    if (!startsWith(k, p)) {
                        break;
                    }
                    visitor.accept(keyOf(k), ObjectRecord.decode(it.value()));
                }
            }
            return null;
        });
    }

    private static boolean startsWith(byte[] a, byte[] p) {
        if (a.length < p.length) {
            return false;
        }
        for (int i = 0; i < p.length; i++) {
            if (a[i] != p[i]) {
                return false;
            }
        }
        return true;
    }

    private static byte[] idBytes(long id) {
        return ByteBuffer.allocate(8).putLong(id).array();
    }

    private interface DbCall<T> {
        T call() throws RocksDBException;
    }

    private <T> T read(DbCall<T> call) {
        lifecycle.readLock().lock();
        try {
            if (closed) {
                throw new IllegalStateException("catalog " + directory + " is closed");
            }
            return call.call();
        } catch (RocksDBException e) {
            throw new IllegalStateException("catalog " + directory + ": " + e.getMessage(), e);
        } finally {
            lifecycle.readLock().unlock();
        }
    }

    @Override
    public void close() {
        lifecycle.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            for (ColumnFamilyHandle h : handles) {
                h.close();
            }
            db.close();
            sync.close();
            dbOptions.close();
            cfOptions.close();
        } finally {
            lifecycle.writeLock().unlock();
        }
    }
}
