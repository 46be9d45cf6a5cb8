package io.thermocline.nvmeof.block;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.BlockDevice;
import io.thermocline.tier.ObjectKey;
import io.thermocline.tier.TierUnavailableException;
import io.thermocline.tier.TierUsage;
import io.thermocline.tier.local.FileBlockDevice;
import io.thermocline.tier.testkit.ChildJvm;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash safety with real processes: a child JVM that uses the tier is killed with SIGKILL in the
 * middle of a write, or while it commits and deletes objects as fast as it can; the parent then
 * opens the same device and catalog.
 */
@ScaledTimeout(120)
class BlockTierCrashTest {

    private static final int AU = 1 << 20;

    @TempDir
    Path dir;

    private Path devicePath() {
        return dir.resolve("device");
    }

    private Path catalog() {
        return dir.resolve("catalog");
    }

    private BlockDevice openDevice(long size) {
        return FileBlockDevice.open(devicePath(), FileBlockDevice.options().sizeInBytes(size).blockSizeInBytes(512));
    }

    private BlockTierConfig config() {
        return BlockTierConfig.builder(catalog(), BlockTierContractBase.HOST_NQN).build();
    }

    @Test
    void writerKilledMidObject_leavesNothing_andItsSpaceIsFree() throws Exception {
        long size = BlockTier.deviceSizeFor(16L * AU, AU, 512);
        try (BlockDevice device = openDevice(size); BlockTier tier = BlockTier.format(device, config())) {
            TestObjects.put(tier, "survivor", 7, 3L * AU + 99);
        }
        Process child = ChildJvm.start(BlockTierChild.class, "half", devicePath().toString(), catalog().toString());
        try {
            ChildJvm.awaitReady(child);
            try (BlockDevice device = openDevice(-1)) {
                TierUnavailableException busy = assertThrows(TierUnavailableException.class, () -> BlockTier.open(device, config()));
                assertThat(busy.getMessage()).contains(catalog().toString());
            }
        } finally {
            child.destroyForcibly();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS), "child exited");
        }
        try (BlockDevice device = openDevice(-1); BlockTier tier = BlockTier.open(device, config())) {
            assertEquals(Optional.empty(), tier.stat(ObjectKey.of("killed")).join());
            assertEquals(new TierUsage(16L * AU, 4L * AU, 0, 1), tier.usage());
            assertEquals(List.of(new Extent(4, 12)), tier.freeExtents(), "only the survivor's units are used");
            TestObjects.assertContent(tier, "survivor", 7, 3L * AU + 99);
            TestObjects.put(tier, "fills-the-rest", 8, 12L * AU);
            TestObjects.assertContent(tier, "survivor", 7, 3L * AU + 99);
        }
    }

    private static void record(String line, List<String> output, Set<Integer> committed, Set<Integer> deleted) {
        output.add(line);
        if (line.startsWith("COMMITTED ")) {
            committed.add(Integer.parseInt(line.substring(10)));
        } else if (line.startsWith("DELETED ")) {
            deleted.add(Integer.parseInt(line.substring(8)));
        }
    }

    @Test
    void processKilledWhileCommittingAndDeleting_losesNothingItReported_andPublishesNothingHalfWay() throws Exception {
        long size = BlockTier.deviceSizeFor(256L * AU, AU, 512);
        try (BlockDevice device = openDevice(size)) {
            BlockTier.format(device, config()).close();
        }
        Set<Integer> committed = new TreeSet<>();
        Set<Integer> deleted = new TreeSet<>();
        List<String> output = new ArrayList<>();
        Process child = ChildJvm.start(BlockTierChild.class, "loop", devicePath().toString(), catalog().toString());
        try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; committed.size() < 25 && (line = out.readLine()) != null; ) {
                record(line, output, committed, deleted);
            }
            child.toHandle().destroyForcibly(); // SIGKILL; unlike Process.destroyForcibly it leaves the pipe open
            assertTrue(child.waitFor(30, TimeUnit.SECONDS), "child exited");
            // what the child reported before it died, still in the pipe
            for (String line; (line = out.readLine()) != null; ) {
                record(line, output, committed, deleted);
            }
        } finally {
            child.destroyForcibly();
        }
        assertTrue(committed.size() >= 25, "the child committed 25 objects before it was killed:\n" + String.join("\n", output));
        // The one operation under way when the child died may or may not have happened.
        int lastCommitted = committed.stream().mapToInt(Integer::intValue).max().orElseThrow();
        Set<Integer> uncertain = new TreeSet<>(Set.of(lastCommitted + 1));
        String lastReport = output.stream().filter(l -> l.startsWith("COMMITTED ") || l.startsWith("DELETED ")).reduce((a, b) -> b).orElseThrow();
        if (lastReport.equals("COMMITTED " + lastCommitted) && lastCommitted >= 3 && (lastCommitted - 3) % 5 == 0) {
            uncertain.add(lastCommitted - 3);
        }
        try (BlockDevice device = openDevice(-1); BlockTier tier = BlockTier.open(device, config())) {
            List<ObjectKey> listed = tier.list("", null, 1000).join().keys();
            Set<Integer> present = new TreeSet<>();
            for (ObjectKey k : listed) {
                assertThat(k.value()).startsWith("loop/");
                int i = Integer.parseInt(k.value().substring(5));
                assertTrue(committed.contains(i) && !deleted.contains(i) || uncertain.contains(i),
                        k + " is present but was never reported committed, or was reported deleted");
                present.add(i);
                TestObjects.assertContent(tier, k.value(), i, BlockTierChild.loopSize(i));
            }
            for (int i : committed) {
                if (!uncertain.contains(i)) {
                    assertEquals(!deleted.contains(i), present.contains(i),
                            "loop/" + i + (deleted.contains(i) ? " was reported deleted" : " was reported committed"));
                }
            }
            long usedUnits = 0;
            for (ObjectKey k : listed) {
                usedUnits += tier.entry(k).unitCount();
            }
            assertEquals(new TierUsage(256L * AU, usedUnits * AU, 0, listed.size()), tier.usage());
            assertEquals(256 - usedUnits, tier.freeExtents().stream().mapToLong(Extent::unitCount).sum());
        }
    }
}
