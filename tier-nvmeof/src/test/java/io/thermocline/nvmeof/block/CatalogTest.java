package io.thermocline.nvmeof.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.TierIoException;
import io.thermocline.tier.local.FileBlockDevice;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.DBOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.WriteOptions;

/** The catalog's entry record, key encoding and what open does with a damaged entry. */
class CatalogTest {

    @TempDir
    Path dir;

    private static ObjectInfo info(String key, long size) {
        int chunk = 16 * 1024;
        int[] crcs = new int[ObjectInfo.chunkCount(size, chunk)];
        for (int i = 0; i < crcs.length; i++) {
            crcs[i] = 0x1000 + i;
        }
        return ObjectInfo.builder(ObjectKey.of(key), size).chunkSizeInBytes(chunk).chunkCrc32c(crcs)
                .createdAt(Instant.ofEpochSecond(1_700_000_000, 123_456_789)).contentType("application/x-test")
                .userMetadata(Map.of("shard", "3")).build();
    }

    @Test
    void entry_roundTrips_andAnyFlippedByteIsCaught() {
        CatalogEntry entry = new CatalogEntry(info("models/a", 100_000), List.of(new Extent(7, 3), new Extent(100, 4)));
        byte[] value = entry.encode();
        assertEquals(entry, CatalogEntry.decode(ObjectKey.of("models/a"), value));
        for (int at = 0; at < value.length; at += 7) {
            byte[] damaged = value.clone();
            damaged[at] ^= 0x04;
            CatalogEntry.MalformedEntryException e = assertThrows(CatalogEntry.MalformedEntryException.class,
                    () -> CatalogEntry.decode(ObjectKey.of("models/a"), damaged), "byte " + at);
            assertThat(e.getMessage()).contains("CRC32C");
        }
        CatalogEntry.MalformedEntryException wrongKey = assertThrows(CatalogEntry.MalformedEntryException.class,
                () -> CatalogEntry.decode(ObjectKey.of("models/b"), value));
        assertThat(wrongKey.getMessage()).contains("models/a").contains("models/b");
        assertThrows(CatalogEntry.MalformedEntryException.class, () -> CatalogEntry.decode(ObjectKey.of("x"), new byte[5]));
        assertEquals(new CatalogEntry(info("e", 0), List.of()),
                CatalogEntry.decode(ObjectKey.of("e"), new CatalogEntry(info("e", 0), List.of()).encode()));
    }

    @Test
    void encodedKeys_sortBytewiseExactlyAsStringsCompare_andPrefixesArePrefixes() {
        Random random = new Random(7);
        char[] alphabet = {'a', 'z', '/', '\u00e9', '\u07ff', '\u0800', '\uE000', '\uFFFD', '\uD83D', '\uDE00', '\uD800', '\uDFFF'};
        List<String> strings = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            StringBuilder s = new StringBuilder();
            for (int n = random.nextInt(6); n >= 0; n--) {
                s.append(alphabet[random.nextInt(alphabet.length)]);
            }
            strings.add(s.toString());
        }
        for (int i = 0; i + 1 < strings.size(); i++) {
            String a = strings.get(i);
            String b = strings.get(i + 1);
            int byString = Integer.signum(a.compareTo(b));
            int byBytes = Integer.signum(Arrays.compareUnsigned(Catalog.encodeKey(a), Catalog.encodeKey(b)));
            assertEquals(byString, byBytes, "order of " + a.chars().boxed().toList() + " and " + b.chars().boxed().toList());
            byte[] ab = Catalog.encodeKey(a + b);
            byte[] pa = Catalog.encodeKey(a);
            assertEquals(0, Arrays.compare(ab, 0, pa.length, pa, 0, pa.length));
        }
        assertEquals(ObjectKey.of("k/\uD83D\uDE00"), Catalog.decodeKey(Catalog.encodeKey("k/\uD83D\uDE00")));
    }

    @Test
    void aDamagedEntry_makesOpenFail_namingTheKeyAndTheCatalog() throws Exception {
        Path catalog = dir.resolve("catalog");
        BlockTierConfig config = BlockTierConfig.builder(catalog, BlockTierContractBase.HOST_NQN).allocationUnitInBytes(4096).build();
        try (BlockDevice device = FileBlockDevice.open(dir.resolve("dev"), FileBlockDevice.options().sizeInBytes(1 << 20))) {
            try (BlockTier tier = BlockTier.format(device, config)) {
                TestObjects.put(tier, "fine", 1, 10);
                TestObjects.put(tier, "broken", 2, 10);
            }
            damage(catalog, "broken");
            TierIoException e = assertThrows(TierIoException.class, () -> BlockTier.open(device, config));
            assertThat(e.getMessage()).contains(catalog.toString()).contains("broken").contains("CRC32C");
        }
    }

    /** Flips a byte in the middle of the stored value of {@code key}, with RocksDB directly. */
    private static void damage(Path catalog, String key) throws Exception {
        List<ColumnFamilyHandle> handles = new ArrayList<>();
        try (DBOptions options = new DBOptions();
             RocksDB db = RocksDB.open(options, catalog.toString(), List.of(
                     new ColumnFamilyDescriptor(RocksDB.DEFAULT_COLUMN_FAMILY),
                     new ColumnFamilyDescriptor(Catalog.META_FAMILY.getBytes(StandardCharsets.US_ASCII)),
                     new ColumnFamilyDescriptor(Catalog.OBJECTS_FAMILY.getBytes(StandardCharsets.US_ASCII))), handles);
             WriteOptions sync = new WriteOptions().setSync(true)) {
            ColumnFamilyHandle objects = handles.get(2);
            byte[] k = Catalog.encodeKey(key);
            byte[] value = db.get(objects, k);
            value[value.length / 2] ^= 0x40;
            db.put(objects, sync, k, value);
            handles.forEach(ColumnFamilyHandle::close);
        }
    }
}
