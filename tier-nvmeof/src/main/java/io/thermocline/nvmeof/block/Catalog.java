package io.thermocline.nvmeof.block;

import io.thermocline.tier.Crc32c;
import io.thermocline.tier.ListPage;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.TierIoException;
import io.thermocline.tier.TierUnavailableException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.BiConsumer;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.InfoLogLevel;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.WriteOptions;

/**
 * The extent map of a {@link BlockTier}: a RocksDB database in a directory on the local disk.
 *
 * <p><b>Schema.</b>
 * <ul>
 *   <li>column family {@code meta}, key {@code identity}: the {@link Identity} of the device the
 *       catalog belongs to (its UUID and geometry), written once at format;</li>
 *   <li>column family {@code objects}: one entry per committed object; key = the object key as
 *       UTF-16BE code units, so RocksDB's bytewise order is {@link ObjectKey}'s order
 *       ({@link String#compareTo}) and a key prefix is a byte prefix; value = a
 *       {@link CatalogEntry}.</li>
 * </ul>
 * Every write is synced to the write-ahead log before it returns ({@code WriteOptions.sync},
 * fsync of the WAL), so a commit that returned survives a crash of the process or the host.
 *
 * <p>Calls after {@link #close()} fail with {@link TierUnavailableException}; close waits for
 * calls under way (RocksDB handles must not be used once closed). Thread-safe.
 */
final class Catalog implements AutoCloseable {

    static final String META_FAMILY = "meta";
    static final String OBJECTS_FAMILY = "objects";
    static final byte[] IDENTITY_KEY = "identity".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    static {
        RocksDB.loadLibrary();
    }

    /**
     * The device a catalog belongs to.
     *
     * <pre>
     * Value of meta/identity (little-endian)
     *   0         4              12             20         24           32            40          48
     *   +---------+--------------+--------------+----------+------------+-------------+-----------+--------+
     *   | VERSION | UUID_HIGH    | UUID_LOW     | ALLOC_   | UNIT_COUNT | DATA_OFFSET | CREATED_AT| CRC32C |
     *   | (1)     |              |              | UNIT     |            |             | (millis)  |        |
     *   +---------+--------------+--------------+----------+------------+-------------+-----------+--------+
     * </pre>
     */
    record Identity(UUID deviceUuid, int allocationUnitInBytes, long unitCount, long dataOffsetInBytes, Instant createdAt) {
        static final int VERSION = 1;
        static final int LENGTH = 52;

        byte[] encode() {
            ByteBuffer b = ByteBuffer.allocate(LENGTH).order(ByteOrder.LITTLE_ENDIAN);
            b.putInt(VERSION).putLong(deviceUuid.getMostSignificantBits()).putLong(deviceUuid.getLeastSignificantBits())
                    .putInt(allocationUnitInBytes).putLong(unitCount).putLong(dataOffsetInBytes)
                    .putLong(createdAt.toEpochMilli());
            b.putInt(Crc32c.of(b.array(), 0, b.position()));
            return b.array();
        }

        static Identity decode(byte[] value, Path dir) {
            if (value.length != LENGTH) {
                throw new TierIoException("catalog at " + dir + ": identity record is " + value.length
                        + " bytes (expected " + LENGTH + ")", false);
            }
            ByteBuffer b = ByteBuffer.wrap(value).order(ByteOrder.LITTLE_ENDIAN);
            int stored = b.getInt(LENGTH - 4);
            int actual = Crc32c.of(value, 0, LENGTH - 4);
            if (stored != actual) {
                throw new TierIoException("catalog at " + dir + ": identity record CRC32C " + Crc32c.hex(actual)
                        + " (expected " + Crc32c.hex(stored) + ")", false);
            }
            int version = b.getInt();
            if (version != VERSION) {
                throw new TierUnavailableException("catalog at " + dir + ": identity record version " + version
                        + " (this build reads " + VERSION + ")", false);
            }
            return new Identity(new UUID(b.getLong(), b.getLong()), b.getInt(), b.getLong(), b.getLong(),
                    Instant.ofEpochMilli(b.getLong()));
        }
    }

    private final Path dir;
    private final RocksDB db;
    private final DBOptions dbOptions;
    private final ColumnFamilyOptions familyOptions;
    private final List<ColumnFamilyHandle> handles;
    private final ColumnFamilyHandle meta;
    private final ColumnFamilyHandle objects;
    private final WriteOptions syncWrites;
    private final ReentrantReadWriteLock guard = new ReentrantReadWriteLock();
    private Identity identity;
    private boolean closed;

    private Catalog(Path dir, boolean create) throws RocksDBException {
        this.dir = dir;
        this.dbOptions = new DBOptions().setCreateIfMissing(create).setCreateMissingColumnFamilies(create)
                .setInfoLogLevel(InfoLogLevel.WARN_LEVEL).setKeepLogFileNum(2);
        this.familyOptions = new ColumnFamilyOptions();
        List<ColumnFamilyDescriptor> families = List.of(
                new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY, familyOptions),
                new ColumnFamilyDescriptor(META_FAMILY.getBytes(java.nio.charset.StandardCharsets.US_ASCII), familyOptions),
                new ColumnFamilyDescriptor(OBJECTS_FAMILY.getBytes(java.nio.charset.StandardCharsets.US_ASCII), familyOptions));
        this.handles = new ArrayList<>();
        RocksDB opened;
        try {
            opened = RocksDB.open(dbOptions, dir.toString(), families, handles);
        } catch (RocksDBException e) {
            dbOptions.close();
            familyOptions.close();
            throw e;
        }
        this.db = opened;
        this.meta = handles.get(1);
        this.objects = handles.get(2);
        this.syncWrites = new WriteOptions().setSync(true);
    }

    /**
     * Creates the catalog for a device being formatted. An existing catalog in {@code dir} is
     * reused only if it holds no objects; its identity is replaced.
     *
     * @throws TierUnavailableException if {@code dir} holds a catalog with objects, or cannot be used
     */
    static Catalog create(Path dir, Identity identity) {
        Catalog c = openDb(dir, true);
        try {
            Optional<Identity> previous = c.readIdentity();
            long objects = c.countObjects(1);
            if (objects > 0) {
                throw new TierUnavailableException("catalog at " + dir + " already holds objects"
                        + previous.map(p -> " of device UUID " + p.deviceUuid()).orElse("")
                        + " (expected an empty directory or a catalog without objects); remove it to format again", false);
            }
            c.db.put(c.meta, c.syncWrites, IDENTITY_KEY, identity.encode());
            c.identity = identity;
            return c;
        } catch (RocksDBException e) {
            c.close();
            throw new TierIoException("catalog at " + dir + ": writing the identity failed: " + e.getMessage(), false, e);
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
    }

    /**
     * Opens the catalog of a formatted device.
     *
     * @throws TierUnavailableException if {@code dir} holds no catalog or it is in use
     */
    static Catalog open(Path dir) {
        if (!Files.isRegularFile(dir.resolve("CURRENT"))) {
            throw new TierUnavailableException("catalog directory " + dir + " holds no catalog"
                    + " (expected the directory BlockTier.format created for this device)", false);
        }
        Catalog c = openDb(dir, false);
        try {
            c.identity = c.readIdentity().orElseThrow(() -> new TierUnavailableException("catalog at " + dir
                    + " has no identity record (expected one written by BlockTier.format)", false));
            return c;
        } catch (RocksDBException e) {
            c.close();
            throw new TierIoException("catalog at " + dir + ": reading the identity failed: " + e.getMessage(), false, e);
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
    }

    private static Catalog openDb(Path dir, boolean create) {
        try {
            if (create) {
                Files.createDirectories(dir);
            }
            return new Catalog(dir, create);
        } catch (IOException e) {
            throw new TierUnavailableException("cannot create catalog directory " + dir + ": " + e, false, e);
        } catch (RocksDBException e) {
            String status = e.getStatus() != null ? e.getStatus().getCodeString() : "";
            throw new TierUnavailableException("cannot open catalog at " + dir + ": " + e.getMessage()
                    + (e.getMessage() != null && e.getMessage().contains("lock") ? " (another process or tier instance has it open)" : "")
                    + (status.isEmpty() ? "" : " [" + status + "]"), false, e);
        }
    }

    private Optional<Identity> readIdentity() throws RocksDBException {
        byte[] value = db.get(meta, IDENTITY_KEY);
        return value == null ? Optional.empty() : Optional.of(Identity.decode(value, dir));
    }

    Path directory() {
        return dir;
    }

    Identity identity() {
        return identity;
    }

    /** The entry stored under {@code key}, or null. */
    CatalogEntry get(ObjectKey key) {
        return read("lookup of " + key, () -> {
            byte[] value = db.get(objects, encodeKey(key.value()));
            return value == null ? null : decode(key, value);
        });
    }

    /** Stores (or atomically replaces) the entry for {@code key}; durable on return. */
    void put(ObjectKey key, CatalogEntry entry) {
        byte[] value = entry.encode();
        read("update of " + key, () -> {
            db.put(objects, syncWrites, encodeKey(key.value()), value);
            return null;
        });
    }

    /** Removes the entry for {@code key}; durable on return. */
    void delete(ObjectKey key) {
        read("delete of " + key, () -> {
            db.delete(objects, syncWrites, encodeKey(key.value()));
            return null;
        });
    }

    /** Calls {@code visit} for every entry in key order. */
    void forEach(BiConsumer<ObjectKey, CatalogEntry> visit) {
        read("scan", () -> {
            try (RocksIterator it = db.newIterator(objects)) {
                for (it.seekToFirst(); it.isValid(); it.next()) {
                    ObjectKey key = decodeKey(it.key());
                    visit.accept(key, decode(key, it.value()));
                }
                it.status();
            }
            return null;
        });
    }

    /** Keys that start with {@code prefix}, after {@code startAfter}, at most {@code maxKeys}. */
    ListPage list(String prefix, ObjectKey startAfter, int maxKeys) {
        return read("listing of prefix \"" + prefix + "\"", () -> {
            byte[] prefixBytes = encodeKey(prefix);
            boolean afterIsBeyondPrefix = startAfter != null && startAfter.value().compareTo(prefix) >= 0;
            byte[] from = afterIsBeyondPrefix ? encodeKey(startAfter.value()) : prefixBytes;
            List<ObjectKey> keys = new ArrayList<>();
            try (ReadOptions options = new ReadOptions(); RocksIterator it = db.newIterator(objects, options)) {
                for (it.seek(from); it.isValid(); it.next()) {
                    byte[] k = it.key();
                    if (!startsWith(k, prefixBytes)) {
                        break;
                    }
                    if (afterIsBeyondPrefix && Arrays.equals(k, from)) {
                        continue;
                    }
                    if (keys.size() == maxKeys) {
                        return new ListPage(keys, Optional.of(keys.getLast()));
                    }
                    keys.add(decodeKey(k));
                }
                it.status();
            }
            return new ListPage(keys, Optional.empty());
        });
    }

    /** Counts objects, stopping at {@code limit}. */
    long countObjects(long limit) {
        return read("count", () -> {
            long n = 0;
            try (RocksIterator it = db.newIterator(objects)) {
                for (it.seekToFirst(); it.isValid() && n < limit; it.next()) {
                    n++;
                }
                it.status();
            }
            return n;
        });
    }

    /** Closes the database after the calls under way; idempotent. */
    @Override
    public void close() {
        guard.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            syncWrites.close();
            for (ColumnFamilyHandle h : handles) {
                h.close();
            }
            try {
                db.closeE();
            } catch (RocksDBException e) {
                throw new TierIoException("closing catalog at " + dir + " failed: " + e.getMessage(), false, e);
            } finally {
                dbOptions.close();
                familyOptions.close();
            }
        } finally {
            guard.writeLock().unlock();
        }
    }

    @FunctionalInterface
    private interface RocksCall<T> {
        T call() throws RocksDBException;
    }

    private <T> T read(String what, RocksCall<T> call) {
        guard.readLock().lock();
        try {
            if (closed) {
                throw new TierUnavailableException("catalog at " + dir + " is closed (" + what + ")", false);
            }
            return call.call();
        } catch (RocksDBException e) {
            throw new TierIoException("catalog at " + dir + ": " + what + " failed: " + e.getMessage()
                    + (e.getStatus() != null ? " [" + e.getStatus().getCodeString() + "]" : ""), false, e);
        } finally {
            guard.readLock().unlock();
        }
    }

    private CatalogEntry decode(ObjectKey key, byte[] value) {
        try {
            return CatalogEntry.decode(key, value);
        } catch (CatalogEntry.MalformedEntryException e) {
            throw new TierIoException("catalog at " + dir + ": the entry of " + key + " is damaged: " + e.getMessage(), false, e);
        }
    }

    /** A key's UTF-16 code units, big-endian: bytewise order equals {@link String#compareTo}. */
    static byte[] encodeKey(String key) {
        byte[] out = new byte[key.length() * 2];
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            out[2 * i] = (byte) (c >>> 8);
            out[2 * i + 1] = (byte) c;
        }
        return out;
    }

    static ObjectKey decodeKey(byte[] bytes) {
        if (bytes.length % 2 != 0) {
            throw new TierIoException("catalog key of odd length " + bytes.length + " (expected UTF-16BE code units)", false);
        }
        char[] chars = new char[bytes.length / 2];
        for (int i = 0; i < chars.length; i++) {
            chars[i] = (char) ((bytes[2 * i] & 0xff) << 8 | (bytes[2 * i + 1] & 0xff));
        }
        return ObjectKey.of(new String(chars));
    }

    private static boolean startsWith(byte[] bytes, byte[] prefix) {
        return bytes.length >= prefix.length && Arrays.equals(bytes, 0, prefix.length, prefix, 0, prefix.length);
    }
}
