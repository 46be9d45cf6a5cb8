package io.thermocline.tier.testkit;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Starts a test's helper class in a separate JVM, with the test's own class path, for
 * cross-process and crash tests. The caller owns the process and stops it.
 */
public final class ChildJvm {

    private ChildJvm() {
    }

    /** Starts {@code mainClass} with {@code args}; stderr is merged into stdout. */
    public static Process start(Class<?> mainClass, String... args) throws IOException {
        String classPath = String.join(File.pathSeparator, Stream.of(
                        System.getProperty("java.class.path", ""), System.getProperty("jdk.module.path", ""))
                .filter(s -> !s.isEmpty()).toList());
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", classPath, mainClass.getName()));
        command.addAll(List.of(args));
        return new ProcessBuilder(command).redirectErrorStream(true).start();
    }

    /** Reads the child's output until it prints a line {@code READY}; fails with what it printed if it exits first. */
    public static void awaitReady(Process child) throws IOException, InterruptedException {
        BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
        StringBuilder seen = new StringBuilder();
        for (String line; (line = out.readLine()) != null; ) {
            if (line.equals("READY")) {
                return;
            }
            seen.append(line).append('\n');
        }
        throw new AssertionError("child exited before READY (exit " + child.waitFor() + "):\n" + seen);
    }

    /** All of the child's output until it exits. */
    public static String readAll(Process child) {
        try {
            return new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "unreadable output: " + e;
        }
    }
}
