package io.thermocline.tier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class ObjectKeyTest {

    @ParameterizedTest
    @ValueSource(strings = {"a", "models/llama-3/model-00001-of-00004.safetensors", "a//b", "dir/", "x.y/..z/z..", "ünïcødé/🙂"})
    void validKeys_areAccepted(String value) {
        assertEquals(value, ObjectKey.of(value).value());
    }

    @Test
    void emptyKey_isRejectedNamingTheRule() {
        assertThatThrownBy(() -> ObjectKey.of("")).isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("\"\"").hasMessageContaining("empty");
    }

    @Test
    void nul_isRejectedWithItsIndex() {
        assertThatThrownBy(() -> ObjectKey.of("ab\0c")).isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("NUL").hasMessageContaining("index 2").hasMessageContaining("\\u0000");
    }

    @Test
    void leadingSlash_isRejected() {
        assertThatThrownBy(() -> ObjectKey.of("/etc/passwd")).hasMessageContaining("starts with '/'")
                .hasMessageContaining("/etc/passwd");
    }

    @ParameterizedTest
    @ValueSource(strings = {".", "..", "a/./b", "a/../b", "a/..", "../a", "a/."})
    void dotSegments_areRejected(String value) {
        assertThatThrownBy(() -> ObjectKey.of(value)).isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("segment").hasMessageContaining(value);
    }

    @Test
    void lengthLimit_countsUtf8Bytes() {
        assertEquals(1024, ObjectKey.of("a".repeat(1024)).toUtf8().length);
        assertThatThrownBy(() -> ObjectKey.of("a".repeat(1025))).hasMessageContaining("1025 bytes")
                .hasMessageContaining("at most 1024");
        // 512 two-byte characters fit, 513 do not
        ObjectKey.of("é".repeat(512));
        assertThatThrownBy(() -> ObjectKey.of("é".repeat(513))).hasMessageContaining("1026 bytes");
    }

    @Test
    void unpairedSurrogate_isRejected() {
        assertThatThrownBy(() -> ObjectKey.of("a\uD800b")).hasMessageContaining("surrogate");
    }

    @Test
    void keys_orderByValue_andMatchPrefixes() {
        assertThat(ObjectKey.of("a/b").compareTo(ObjectKey.of("a/c"))).isNegative();
        assertThat(ObjectKey.of("models/x").hasPrefix("models/")).isTrue();
        assertThat(ObjectKey.of("models/x").hasPrefix("")).isTrue();
    }
}
