package io.thermocline.placement.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class TraceParserTest {

    @Test
    void parsesAccesses_skipsCommentsAndBlanks_sizesAreTheLargestEnd() {
        Trace t = TraceParser.parse("""
                # a comment
                1000,a,0,100,R

                1001,b,0,500,W
                  # indented comment
                1002,a,200,50,R
                """);
        assertThat(t.length()).isEqualTo(3);
        assertThat(t.keys()).containsExactly("a", "b");
        assertThat(t.sizes()).containsExactly(250, 500);
        assertThat(t.writes()).containsExactly(false, true, false);
        assertThat(t.totalBytes()).isEqualTo(750);
        assertThat(t.readBytes()).isEqualTo(150);
    }

    @Test
    void badLines_areNamedByLineNumber() {
        assertBad("1,a,0,1,R\n# c\n2,a,0,1\n", 3, "4 fields instead of 5");
        assertBad("1,a,0,1,X\n", 1, "op 'X' is neither R nor W");
        assertBad("\n\n1,a,zero,1,R\n", 3, "offset 'zero' is not a whole number");
        assertBad("5,a,0,1,R\n4,a,0,1,R\n", 2, "timestamp goes backwards");
        assertBad("1,,0,1,R\n", 1, "empty key");
        assertBad("1,a,0,0,R\n", 1, "length 0");
        assertBad("1,a,-3,1,R\n", 1, "offset is negative");
    }

    private static void assertBad(String text, int line, String problem) {
        assertThatThrownBy(() -> TraceParser.parse(text)).isInstanceOf(TraceFormatException.class)
                .hasMessageStartingWith("line " + line + ": " + problem)
                .satisfies(e -> assertThat(((TraceFormatException) e).line()).isEqualTo(line));
    }
}
