package io.thermocline.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/** A plain text table: columns as wide as their widest cell, numbers right-aligned. */
final class Table {

    private final String[] header;
    private final boolean[] right;
    private final List<String[]> rows = new ArrayList<>();

    /** Column names; a name starting with {@code >} is right-aligned (the {@code >} is not shown). */
    Table(String... columns) {
        header = new String[columns.length];
        right = new boolean[columns.length];
        for (int i = 0; i < columns.length; i++) {
            right[i] = columns[i].startsWith(">");
            header[i] = right[i] ? columns[i].substring(1) : columns[i];
        }
    }

    Table row(Object... cells) {
        String[] r = new String[header.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = i < cells.length && cells[i] != null ? cells[i].toString() : "";
        }
        rows.add(r);
        return this;
    }

    boolean isEmpty() {
        return rows.isEmpty();
    }

    void print(PrintWriter out) {
        int[] w = new int[header.length];
        for (int i = 0; i < w.length; i++) {
            w[i] = header[i].length();
            for (String[] r : rows) {
                w[i] = Math.max(w[i], r[i].length());
            }
        }
        line(out, header, w);
        for (String[] r : rows) {
            line(out, r, w);
        }
        out.flush();
    }

    private void line(PrintWriter out, String[] cells, int[] w) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < cells.length; i++) {
            if (i > 0) {
                b.append("  ");
            }
            String pad = " ".repeat(w[i] - cells[i].length());
            if (right[i]) {
                b.append(pad).append(cells[i]);
            } else {
                b.append(cells[i]);
                if (i < cells.length - 1) {
                    b.append(pad);
                }
            }
        }
        out.println(b);
    }
}
