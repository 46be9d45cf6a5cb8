package io.thermocline.it.loader;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A Python virtual environment with the pinned packages of {@code python/requirements.txt}
 * (safetensors, numpy, boto3), made with {@code python3 -m venv} and pip in a cache directory and
 * reused while the requirements are the same: {@code $THERMOCLINE_PYTHON_CACHE}, else
 * {@code ~/.cache/thermocline/python}. A marker file is written once pip has finished, so a run cut
 * off midway leaves no half-made environment that a later run would take.
 */
final class PythonEnv {

    private final Path python;
    private final Path tool;

    private PythonEnv(Path python, Path tool) {
        this.python = python;
        this.tool = tool;
    }

    /** The interpreter of the environment. */
    Path python() {
        return python;
    }

    /** model_tool.py, copied beside the environment. */
    Path tool() {
        return tool;
    }

    /** A made environment, or why it cannot be made here (for the test's skip message). */
    record Outcome(PythonEnv env, String unavailable) {
    }

    static Outcome make() {
        try {
            String requirements = resource("requirements.txt");
            String digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(requirements.getBytes(StandardCharsets.UTF_8))).substring(0, 16);
            String cache = System.getenv("THERMOCLINE_PYTHON_CACHE");
            Path base = cache != null && !cache.isBlank() ? Path.of(cache)
                    : Path.of(System.getProperty("user.home"), ".cache", "thermocline", "python");
            Path dir = base.resolve("venv-" + digest);
            Path python = dir.resolve("bin").resolve("python");
            Files.createDirectories(base);
            // one maker at a time; "ready" is written last, so a half-made environment is made again
            try (FileChannel lock = FileChannel.open(base.resolve("lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 FileLock ignored = lock.lock()) {
                if (!Files.isExecutable(python) || !Files.isRegularFile(dir.resolve("ready"))) {
                    deleteTree(dir);
                    String why = build(dir, requirements);
                    if (why != null) {
                        deleteTree(dir);
                        return new Outcome(null, why);
                    }
                    Files.writeString(dir.resolve("ready"), requirements);
                }
            }
            Path tool = dir.resolve("model_tool.py");
            Files.writeString(tool, resource("model_tool.py"));
            return new Outcome(new PythonEnv(python, tool), null);
        } catch (Exception e) {
            return new Outcome(null, "cannot make the Python environment: " + e);
        }
    }

    /** Makes a venv in {@code dir} with the requirements; null when it worked, else why not. */
    private static String build(Path dir, String requirements) throws Exception {
        Result venv = exec(List.of("python3", "-m", "venv", dir.toString()), 120);
        if (venv == null) {
            return "python3 is not installed (needed: python3 with its venv module)";
        }
        if (venv.code() != 0) {
            return "python3 -m venv failed (exit " + venv.code() + "): " + tail(venv.output());
        }
        Path req = dir.resolve("requirements.txt");
        Files.writeString(req, requirements);
        Result pip = exec(List.of(dir.resolve("bin/python").toString(), "-m", "pip", "install", "--disable-pip-version-check",
                "--retries", "1", "--timeout", "30", "-q", "-r", req.toString()), 900);
        if (pip == null || pip.code() != 0) {
            return "pip could not install " + requirements.lines().filter(l -> !l.startsWith("#")).toList()
                    + " from the Python package index" + (pip == null ? "" : " (exit " + pip.code() + "): " + tail(pip.output()));
        }
        return null;
    }

    record Result(int code, String output) {
    }

    /** Runs a command, merging its output; null when the program does not exist. */
    static Result exec(List<String> cmd, long timeoutSeconds) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            return null;
        }
        try {
            p.getOutputStream().close();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                return new Result(-1, "timed out after " + timeoutSeconds + " s: " + String.join(" ", cmd));
            }
            return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
        } finally {
            if (p.isAlive()) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    private static String tail(String s) {
        List<String> lines = s.lines().toList();
        return String.join(" | ", lines.subList(Math.max(0, lines.size() - 3), lines.size()));
    }

    private static String resource(String name) throws IOException {
        try (InputStream in = PythonEnv.class.getResourceAsStream("/python/" + name)) {
            if (in == null) {
                throw new IOException("test resource python/" + name + " is missing");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        List<Path> all = new ArrayList<>();
        try (var s = Files.walk(dir)) {
            s.forEach(all::add);
        }
        for (int i = all.size() - 1; i >= 0; i--) {
            Files.deleteIfExists(all.get(i));
        }
    }
}
