package io.thermocline.placement.sim;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the CSV trace format: one access per line, {@code timestamp_ms,key,offset,length,op};
 * blank lines and lines starting with {@code #} are skipped; {@code op} is {@code R} (a read) or
 * {@code W} (a put of the whole object). Keys may not contain commas. Timestamps must not go
 * backwards. Reads from a {@link Reader} the caller opened.
 */
public final class TraceParser {
    private TraceParser() {
    }

    public static Trace parse(String text) {
        return parse(new StringReader(text));
    }

    public static Trace parse(Reader reader) {
        Builder b = new Builder();
        BufferedReader in = reader instanceof BufferedReader br ? br : new BufferedReader(reader);
        try {
            String line;
            int n = 0;
            while ((line = in.readLine()) != null) {
                n++;
                String t = line.strip();
                if (t.isEmpty() || t.startsWith("#")) {
                    continue;
                }
                String[] f = t.split(",", -1);
                if (f.length != 5) {
                    throw new TraceFormatException(n, line, f.length + " fields instead of 5");
                }
                long ts = number(f[0], n, line, "timestamp_ms");
                String key = f[1].strip();
                if (key.isEmpty()) {
                    throw new TraceFormatException(n, line, "empty key");
                }
                long off = number(f[2], n, line, "offset");
                long len = number(f[3], n, line, "length");
                String op = f[4].strip();
                boolean write;
                if (op.equals("R")) {
                    write = false;
                } else if (op.equals("W")) {
                    write = true;
                } else {
                    throw new TraceFormatException(n, line, "op '" + op + "' is neither R nor W");
                }
                if (len == 0) {
                    throw new TraceFormatException(n, line, "length 0");
                }
                if (b.count > 0 && ts < b.ts[b.count - 1]) {
                    throw new TraceFormatException(n, line, "timestamp goes backwards");
                }
                b.add(ts, key, off, len, write);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return b.build();
    }

    private static long number(String s, int n, String line, String field) {
        try {
            long v = Long.parseLong(s.strip());
            if (v < 0) {
                throw new TraceFormatException(n, line, field + " is negative");
            }
            return v;
        } catch (NumberFormatException e) {
            throw new TraceFormatException(n, line, field + " '" + s.strip() + "' is not a whole number");
        }
    }

    /** Accumulates accesses into a {@link Trace}; also used by the generator. */
    public static final class Builder {
        long[] ts = new long[1024];
        int[] ids = new int[1024];
        long[] offs = new long[1024];
        long[] lens = new long[1024];
        boolean[] ws = new boolean[1024];
        int count;
        private final Map<String, Integer> idOf = new HashMap<>();
        private final List<String> keys = new ArrayList<>();
        private long[] sizes = new long[256];

        public void add(long timestampMillis, String key, long offset, long length, boolean write) {
            if (count == ts.length) {
                int c = count * 2;
                ts = java.util.Arrays.copyOf(ts, c);
                ids = java.util.Arrays.copyOf(ids, c);
                offs = java.util.Arrays.copyOf(offs, c);
                lens = java.util.Arrays.copyOf(lens, c);
                ws = java.util.Arrays.copyOf(ws, c);
            }
            Integer id = idOf.get(key);
            if (id == null) {
                id = keys.size();
                idOf.put(key, id);
                keys.add(key);
                if (id == sizes.length) {
                    sizes = java.util.Arrays.copyOf(sizes, id * 2);
                }
            }
            sizes[id] = Math.max(sizes[id], offset + length);
            ts[count] = timestampMillis;
            ids[count] = id;
            offs[count] = offset;
            lens[count] = length;
            ws[count] = write;
            count++;
        }

        public Trace build() {
            return new Trace(java.util.Arrays.copyOf(ts, count), java.util.Arrays.copyOf(ids, count),
                    java.util.Arrays.copyOf(offs, count), java.util.Arrays.copyOf(lens, count),
                    java.util.Arrays.copyOf(ws, count), List.copyOf(keys), java.util.Arrays.copyOf(sizes, keys.size()));
        }
    }
}
