package io.thermocline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.thermocline.tier.support.ContainedPaths;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Prestage from a local directory: no index entry and no file name reaches outside the directory. */
class PrestageContainmentTest {

    @TempDir
    Path dir;

    private Path model() throws Exception {
        Path model = Files.createDirectories(dir.resolve("model"));
        Files.writeString(dir.resolve("outside.safetensors"), "not the model's");
        Files.writeString(model.resolve("a.safetensors"), "a");
        return model;
    }

    @Test
    void anIndexNamingAShardOutsideItsDirectory_isRefused_andNothingIsPlanned() throws Exception {
        Path model = model();
        for (String bad : new String[] {"../outside.safetensors", "/etc/passwd", "sub//a.safetensors", "./a.safetensors",
                                        "sub/", "a\\u0000.safetensors"}) {
            Files.writeString(model.resolve("model.safetensors.index.json"),
                    "{\"weight_map\":{\"w1\":\"a.safetensors\",\"w2\":\"" + bad + "\"}}");
            var source = PrestageCommand.Source.parse(model.toString(), null);
            var e = assertThrows(PrestageCommand.SourceException.class, () -> source.resolve(null, null, new ModelSelection(true, java.util.List.of())), bad);
            assertThat(e.getMessage()).as(bad).contains("weight_map.w2").contains("expected: a shard file name relative to the index");
        }
    }

    @Test
    void aDirectoryWalk_givesKeysThatMapBackInsideADirectory() throws Exception {
        Path model = model();
        Files.createDirectories(model.resolve("sub/deeper"));
        Files.writeString(model.resolve("sub/deeper/..b"), "b");
        Files.writeString(model.resolve("sub/with space"), "c");
        var plan = PrestageCommand.Source.parse(model.toString(), "m/").resolve(null, null, ModelSelection.everything());
        assertThat(plan.items()).extracting(i -> i.key().value())
                .containsExactlyInAnyOrder("m/a.safetensors", "m/sub/deeper/..b", "m/sub/with space");
        Path elsewhere = dir.resolve("elsewhere");
        for (var item : plan.items()) {
            Path mapped = ContainedPaths.resolve(elsewhere, item.key().value(), "key");
            assertThat(mapped.startsWith(elsewhere)).as(mapped.toString()).isTrue();
            assertThat(item.file().normalize().startsWith(model)).as(item.file().toString()).isTrue();
        }
    }
}
