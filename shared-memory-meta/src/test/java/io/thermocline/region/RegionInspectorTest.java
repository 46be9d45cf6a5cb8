package io.thermocline.region;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RegionInspectorTest {

    @TempDir
    Path dir;

    @Test
    void report_showsOwnerOccupancyHottestObjectsAndLeases() {
        RegionConfig config = RegionConfig.builder(dir.resolve("r")).maxObjects(100).build();
        try (SharedRegion region = SharedRegion.create(config)) {
            region.tryAcquireOwnership(Duration.ofSeconds(30));
            for (int i = 0; i < 20; i++) {
                String key = "models/m/shard-" + i;
                region.table().put(RegionKey.of(key), RegionWorker.valuesFor(key, 1), -1);
                for (int r = 0; r < i; r++) {
                    region.table().addHeat(RegionKey.of(key), 1000);
                }
            }
            region.tiers().add(1, 123_456, 0, 20);
            region.leases().acquire(LeaseTable.resourceOf(RegionKey.of("models/m/shard-3")), Duration.ofMinutes(1));
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            RegionInspector.print(region, new PrintStream(bytes, true, StandardCharsets.UTF_8), 3);
            String report = bytes.toString(StandardCharsets.UTF_8);
            assertThat(report).contains("20 live").contains("owner       pid " + ProcessHandle.current().pid())
                    .contains("123,456").contains("hottest 3").contains("leases 1");
            int shard19 = report.indexOf("models/m/shard-19");
            int shard18 = report.indexOf("models/m/shard-18");
            assertThat(shard19).isPositive().isLessThan(shard18);
            assertThat(report).doesNotContain("models/m/shard-15\n");
        }
    }
}
