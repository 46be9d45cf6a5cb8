package io.thermocline.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import org.slf4j.LoggerFactory;

/** The command line's switch between quiet (warnings only, messages without stack traces) and {@code --verbose}. */
final class Logging {

    private static volatile boolean verbose;

    private Logging() {
    }

    /** Shows the library's log at INFO and makes errors print their stack traces. */
    static void verbose() {
        verbose = true;
        Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        if (!root.isInfoEnabled()) {
            root.setLevel(Level.INFO);
        }
    }

    static boolean isVerbose() {
        return verbose;
    }
}
