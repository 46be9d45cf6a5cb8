package io.thermocline.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;

/** Runs {@code thermocline} in the test's process, as the command tests do, with its output kept for checking. */
final class CliRun {
    private CliRun() {
    }

    /**
     * Runs one command line on a fresh {@link CommandLine}, appending what it prints to
     * {@code out} and {@code err}.
     *
     * @return the exit code, as {@code bin/thermocline} would exit with it
     */
    static int run(StringWriter out, StringWriter err, String... args) {
        CommandLine cl = ThermoclineCommand.newCommandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        return cl.execute(args);
    }
}
