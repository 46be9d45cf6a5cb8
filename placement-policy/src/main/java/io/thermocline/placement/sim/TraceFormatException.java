package io.thermocline.placement.sim;

/** A trace line that is not {@code timestamp_ms,key,offset,length,op}; the message names the line number. */
public final class TraceFormatException extends RuntimeException {
    private final int line;

    public TraceFormatException(int line, String text, String problem) {
        super("line " + line + ": " + problem + ": '" + text + "' (expected: timestamp_ms,key,offset,length,op with op R or W)");
        this.line = line;
    }

    /** 1-based line number. */
    public int line() {
        return line;
    }
}
