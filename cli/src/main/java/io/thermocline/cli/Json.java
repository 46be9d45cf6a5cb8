package io.thermocline.cli;

/** The little JSON the commands print: string fields, escaped per RFC 8259 §7. */
final class Json {
    private Json() {
    }

    static StringBuilder field(StringBuilder b, String name, String value) {
        return string(string(b, name).append(':'), value);
    }

    static StringBuilder string(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"');
    }
}
