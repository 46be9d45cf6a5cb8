package io.thermocline.it.kernel;

import java.time.Duration;

/**
 * What a shell command run in the kernel guest left behind.
 *
 * @param command  the script as sent
 * @param exitCode its exit status; 137 when the guest killed it at its timeout
 * @param output   its standard output and standard error, interleaved as written
 * @param elapsed  time from sending the command to receiving its exit status
 */
public record ExecResult(String command, int exitCode, String output, Duration elapsed) {

    /** Whether the command exited with status 0. */
    public boolean ok() {
        return exitCode == 0;
    }

    @Override
    public String toString() {
        return "exit " + exitCode + " after " + elapsed.toMillis() + " ms: " + command + "\n" + output;
    }
}
