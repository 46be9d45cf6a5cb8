package io.thermocline.cli;

import io.thermocline.engine.EngineConfig;
import io.thermocline.engine.EngineConfigException;
import io.thermocline.engine.EngineConfigLoader;
import io.thermocline.engine.TierEngine;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * The options of every command that opens the engine: which configuration file, and what
 * overrides it. Precedence, strongest first: {@code --data-root} and {@code --set}, then
 * {@code THERMOCLINE_*} environment variables, then the file.
 *
 * <p>The file is {@code --config}, else {@code $THERMOCLINE_CONFIG}, else
 * {@code ~/.config/thermocline/thermocline.yaml} when it exists.
 */
final class EngineOptions {

    @Option(names = "--config", paramLabel = "FILE",
            description = "The engine's YAML configuration (default: $THERMOCLINE_CONFIG, else ~/.config/thermocline/thermocline.yaml).")
    Path config;

    @Option(names = "--data-root", paramLabel = "DIR", description = "Overrides data-root.")
    Path dataRoot;

    @Option(names = "--set", paramLabel = "KEY=VALUE",
            description = "Overrides one configuration key, e.g. --set stager.parallel-chunks=8 --set tiers.local.capacity=200GiB (repeatable).")
    List<String> set = new ArrayList<>();

    @Option(names = {"-v", "--verbose"}, description = "Show the engine's log at INFO and stack traces of errors.")
    boolean verbose;

    /** The file to read, or null when there is none (then overrides must say everything). */
    Path configFile(Map<String, String> env) {
        if (config != null) {
            return config;
        }
        String fromEnv = env.get("THERMOCLINE_CONFIG");
        if (fromEnv != null && !fromEnv.isBlank()) {
            return Path.of(fromEnv);
        }
        Path home = Path.of(System.getProperty("user.home"), ".config", "thermocline", "thermocline.yaml");
        return Files.isRegularFile(home) ? home : null;
    }

    /** Loads the configuration with every override applied; usage errors name the key. */
    EngineConfig load(CommandLine cmd) {
        Map<String, String> env = System.getenv();
        Path file = configFile(env);
        if (file == null) {
            throw new CommandLine.ParameterException(cmd, "no engine configuration: pass --config FILE (or set THERMOCLINE_CONFIG, "
                    + "or write ~/.config/thermocline/thermocline.yaml); docs/configuration.md has an example");
        }
        if (!Files.isRegularFile(file)) {
            throw new CommandLine.ParameterException(cmd, "--config: " + file + " (expected: an existing YAML file)");
        }
        Map<String, String> overrides = new LinkedHashMap<>(EngineConfigLoader.environment(env));
        for (String s : set) {
            int eq = s.indexOf('=');
            if (eq <= 0) {
                throw new CommandLine.ParameterException(cmd, "--set: '" + s + "' (expected: KEY=VALUE, e.g. stager.parallel-chunks=8)");
            }
            overrides.put(s.substring(0, eq).trim(), s.substring(eq + 1).trim());
        }
        if (dataRoot != null) {
            overrides.put("data-root", dataRoot.toAbsolutePath().toString());
        }
        if (verbose) {
            Logging.verbose();
        }
        try {
            return EngineConfigLoader.load(file, overrides);
        } catch (EngineConfigException e) {
            throw new CommandLine.ParameterException(cmd, file + ": " + e.getMessage());
        }
    }

    /** Opens the engine: as the owner, or attached to the process that owns the data root. */
    TierEngine open(CommandLine cmd) {
        return TierEngine.open(load(cmd));
    }
}
