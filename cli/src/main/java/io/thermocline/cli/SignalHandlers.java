package io.thermocline.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * Ctrl-C (SIGINT) and SIGTERM as a request to stop, for commands that run in the foreground until
 * told to end ({@code mount}): the command finishes its work in order and returns its exit code,
 * instead of the JVM running its shutdown hooks and exiting 130 or 143.
 *
 * <p>{@code sun.misc.Signal} (module {@code jdk.unsupported}) is the JDK's only way to handle a
 * signal; where it cannot be used (a JVM started with {@code -Xrs}, a signal the JVM keeps), the
 * handler is not installed and the command's shutdown hook still unmounts.
 */
final class SignalHandlers {

    private static final Logger log = LoggerFactory.getLogger(SignalHandlers.class);

    /** Puts back the handler that was there before. */
    interface Restore {
        void restore();
    }

    private SignalHandlers() {
    }

    /**
     * Calls {@code onStop} with the signal's name ({@code INT}, {@code TERM}) on the JVM's signal
     * thread when either arrives; it must return quickly.
     */
    static List<Restore> onStop(Consumer<String> onStop) {
        List<Restore> installed = new ArrayList<>();
        for (String name : List.of("INT", "TERM")) {
            try {
                Signal signal = new Signal(name);
                SignalHandler previous = Signal.handle(signal, s -> onStop.accept(s.getName()));
                installed.add(() -> {
                    try {
                        Signal.handle(signal, previous);
                    } catch (IllegalArgumentException e) {
                        log.debug("SIG{}: the previous handler could not be put back: {}", name, e.getMessage());
                    }
                });
            } catch (IllegalArgumentException e) {
                log.debug("SIG{} cannot be handled here ({}); the shutdown hook unmounts instead", name, e.getMessage());
            }
        }
        return installed;
    }
}
