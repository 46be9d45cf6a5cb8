package io.thermocline.engine;

import io.thermocline.nvmeof.block.BlockTier;
import io.thermocline.nvmeof.block.BlockTierConfig;
import io.thermocline.placement.TierSpec;
import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.ListPage;
import io.thermocline.tier.ObjectInfo;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.ObjectReader;
import io.thermocline.tier.ObjectWriter;
import io.thermocline.tier.ResumePoint;
import io.thermocline.tier.Tier;
import io.thermocline.tier.TierClass;
import io.thermocline.tier.TierHealth;
import io.thermocline.tier.TierUsage;
import io.thermocline.tier.WriteRequest;
import io.thermocline.tier.local.FileBlockDevice;
import io.thermocline.tier.local.LocalTier;
import io.thermocline.tier.local.LocalTierConfig;
import io.thermocline.tier.s3.S3Tier;
import io.thermocline.tier.s3.S3TierConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/** {@link TierDefinition}s for the tiers Thermocline ships. */
public final class StandardTiers {

    private StandardTiers() {
    }

    /** Objects as files under {@code root} (LOCAL); shared-readable. */
    public static TierDefinition local(TierSpec spec, Path root, boolean directIo) {
        return new TierDefinition(spec, () -> LocalTier.open(LocalTierConfig.builder(root).name(spec.name())
                .capacityInBytes(spec.capacityBytes()).directIo(directIo).build()), true, "files in " + root);
    }

    /**
     * Objects as extents on a block device that {@code device} opens (a file or block device, a
     * kernel-attached NVMe-oF namespace, or the user-space NVMe/TCP host), formatted on first use;
     * the extent catalog lives in {@code catalogDirectory}. Only the owner opens it.
     */
    public static TierDefinition block(TierSpec spec, Supplier<BlockDevice> device, Path catalogDirectory, String hostNqn,
                                       String description) {
        return new TierDefinition(spec, () -> {
            BlockDevice d = device.get();
            try {
                BlockTier t = BlockTier.openOrFormat(d, BlockTierConfig.builder(catalogDirectory, hostNqn).name(spec.name()).build());
                return new DeviceClosingTier(t, d);
            } catch (RuntimeException e) {
                d.close();
                throw e;
            }
        }, false, description);
    }

    /** {@link #block} on a file (created with the size the tier's capacity needs) through {@link FileBlockDevice}. */
    public static TierDefinition blockOnFile(TierSpec spec, Path file, Path catalogDirectory, String hostNqn, boolean directIo) {
        int unit = BlockTierConfig.DEFAULT_ALLOCATION_UNIT_IN_BYTES;
        return block(spec, () -> {
            FileBlockDevice.Options o = FileBlockDevice.options().directIo(directIo);
            if (!Files.exists(file)) {
                o = o.sizeInBytes(BlockTier.deviceSizeFor(spec.capacityBytes(), unit, 4096));
            }
            return FileBlockDevice.open(file, o);
        }, catalogDirectory, hostNqn, "extents on " + file);
    }

    /** Objects in an S3 bucket (OBJECT); shared-readable. */
    public static TierDefinition s3(TierSpec spec, S3TierConfig config) {
        S3TierConfig named = config.toBuilder().name(spec.name()).build();
        return new TierDefinition(spec, () -> S3Tier.open(named), true, named.location());
    }

    /** A tier that also closes the device it lives on. */
    static final class DeviceClosingTier implements Tier {
        private final Tier tier;
        private final BlockDevice device;

        DeviceClosingTier(Tier tier, BlockDevice device) {
            this.tier = tier;
            this.device = device;
        }

        Tier delegate() {
            return tier;
        }

        @Override public String name() { return tier.name(); }
        @Override public TierClass tierClass() { return tier.tierClass(); }
        @Override public CompletableFuture<Optional<ObjectInfo>> stat(ObjectKey key) { return tier.stat(key); }
        @Override public CompletableFuture<ObjectReader> openReader(ObjectKey key) { return tier.openReader(key); }
        @Override public CompletableFuture<ObjectWriter> create(WriteRequest request) { return tier.create(request); }
        @Override public CompletableFuture<Optional<ObjectWriter>> resume(WriteRequest request, ResumePoint point, int[] crcs) {
            return tier.resume(request, point, crcs);
        }
        @Override public CompletableFuture<Void> discard(ResumePoint point) { return tier.discard(point); }
        @Override public CompletableFuture<Boolean> delete(ObjectKey key) { return tier.delete(key); }
        @Override public CompletableFuture<ListPage> list(String prefix, ObjectKey startAfter, int maxKeys) { return tier.list(prefix, startAfter, maxKeys); }
        @Override public TierUsage usage() { return tier.usage(); }
        @Override public TierHealth health() { return tier.health(); }

        @Override
        public void close() {
            try {
                tier.close();
            } finally {
                device.close();
            }
        }
    }
}
