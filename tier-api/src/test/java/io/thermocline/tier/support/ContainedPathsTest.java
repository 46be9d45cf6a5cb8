package io.thermocline.tier.support;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thermocline.tier.InvalidArgumentException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ContainedPathsTest {

    private static final Path DEST = Path.of("/dest/models");

    @Test
    void relativeNames_resolveInsideTheDirectory() {
        assertThat(ContainedPaths.resolve(DEST, "config.json", "key")).isEqualTo(Path.of("/dest/models/config.json"));
        assertThat(ContainedPaths.resolve(DEST, "a/b/c.bin", "key")).isEqualTo(Path.of("/dest/models/a/b/c.bin"));
        assertThat(ContainedPaths.resolve(DEST, "..a/b..", "key")).isEqualTo(Path.of("/dest/models/..a/b.."));
        assertThat(ContainedPaths.resolve(DEST, "with space/\u00e9t\u00e9\\x", "key"))
                .isEqualTo(Path.of("/dest/models/with space/\u00e9t\u00e9\\x"));
        assertThat(ContainedPaths.resolve(Path.of("/dest/x/../models"), "f", "key")).isEqualTo(Path.of("/dest/models/f"));
        assertThat(ContainedPaths.invalidBecause("a/b")).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "/config.json", "/", "..", "../x", "a/../../x", "a/..", ".", "./a", "a/./b", "a//b", "a/",
                            "a\0b", "\0"})
    void namesThatCouldLeaveTheDirectory_areRefused_namingTheNameAndTheRule(String name) {
        assertThat(ContainedPaths.invalidBecause(name)).isPresent();
        assertThatThrownBy(() -> ContainedPaths.resolve(DEST, name, "object key"))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageStartingWith("object key \"")
                .hasMessageContaining("cannot be placed in " + DEST)
                .hasMessageNotContaining("\0");
    }

    @Test
    void messages_sayWhichRule() {
        assertThat(ContainedPaths.invalidBecause("/etc/passwd")).hasValueSatisfying(r -> assertThat(r).contains("starts with '/'"));
        assertThat(ContainedPaths.invalidBecause("a/../b")).hasValueSatisfying(r -> assertThat(r).contains("'..' at index 2"));
        assertThat(ContainedPaths.invalidBecause("a//b")).hasValueSatisfying(r -> assertThat(r).contains("empty segment at index 2"));
        assertThat(ContainedPaths.invalidBecause("a/")).hasValueSatisfying(r -> assertThat(r).contains("ends with '/'"));
        assertThat(ContainedPaths.invalidBecause("a\0")).hasValueSatisfying(r -> assertThat(r).contains("NUL character at index 1"));
    }
}
