package io.thermocline.cli;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;

/** Parses sizes such as {@code 4096}, {@code 64KiB}, {@code 1.5GiB}, {@code 10MB} (powers of 1024 for KiB..TiB, 1000 for KB..TB). */
final class ByteSizeConverter implements CommandLine.ITypeConverter<Long> {

    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([kmgt]i?b?|b)?", Pattern.CASE_INSENSITIVE);

    @Override
    public Long convert(String value) {
        return parse(value);
    }

    static long parse(String value) {
        Matcher m = SIZE.matcher(value.trim());
        if (!m.matches()) {
            throw new CommandLine.TypeConversionException("'" + value + "' is not a size (expected: e.g. 4096, 64KiB, 1GiB, 10MB)");
        }
        double number = Double.parseDouble(m.group(1));
        String unit = m.group(2) == null ? "b" : m.group(2).toLowerCase(Locale.ROOT);
        boolean binary = unit.contains("i") || unit.length() == 1 && !unit.equals("b");
        long base = binary ? 1024 : 1000;
        long factor = switch (unit.charAt(0)) {
            case 'k' -> base;
            case 'm' -> base * base;
            case 'g' -> base * base * base;
            case 't' -> base * base * base * base;
            default -> 1;
        };
        double bytes = number * factor;
        if (bytes > Long.MAX_VALUE) {
            throw new CommandLine.TypeConversionException("'" + value + "' is too large");
        }
        return (long) bytes;
    }

    static String format(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int i = -1;
        while (v >= 1024 && i < units.length - 1) {
            v /= 1024;
            i++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[i]);
    }
}
