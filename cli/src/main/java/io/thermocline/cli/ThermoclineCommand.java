package io.thermocline.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code thermocline} command. Subcommands live beside this class; each has a {@code --help}
 * that teaches by example.
 */
@Command(name = "thermocline",
        mixinStandardHelpOptions = true,
        versionProvider = ThermoclineCommand.Version.class,
        subcommands = {DemoCommand.class, PrestageCommand.class, PathCommand.class, MountCommand.class, EngineCommands.Ls.class, EngineCommands.Stat.class,
            EngineCommands.Heat.class, EngineCommands.Tiers.class, EngineCommands.Pin.class, EngineCommands.Unpin.class,
            EngineCommands.Evict.class, RegionCommand.class, S3Command.class, NvmeCommand.class, TargetCommand.class, StatsCommand.class, SimulateCommand.class, CommandLine.HelpCommand.class},
        usageHelpAutoWidth = true,
        description = {
            "Places large immutable objects (model weights, checkpoints, datasets) on the tier that fits "
            + "how hot they are: local NVMe, NVMe over Fabrics, and S3.",
            ""},
        footer = {
            "",
            "Examples:",
            "  thermocline demo            a model staged across local, NVMe/TCP and S3 tiers, on embedded servers",
            "  thermocline demo --help     what the demo does, and its options",
            "  thermocline prestage s3://models/thermocline/llama/ --to local --config thermocline.yaml",
            "  vllm serve \"$(thermocline prestage s3://models/thermocline/llama/ --to local --print-path)\"",
            "  thermocline path s3://models/thermocline/llama/   where the staged model lies as plain files",
            "  thermocline ls models/ --json        thermocline tiers        thermocline heat --top 20",
            "  thermocline region --data-root /mnt/nvme/thermocline   inspect the shared region",
            "  thermocline s3 serve --dir /tmp/s3                     an S3-compatible server on 127.0.0.1",
            "  thermocline --version",
            "",
            "Exit codes: 0 done, 1 partly done or failed, 2 usage error, 3 a tier is unavailable."})
public final class ThermoclineCommand implements Runnable {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        System.exit(newCommandLine().execute(args));
    }

    /** The configured command line, for tests and embedding. */
    public static CommandLine newCommandLine() {
        CommandLine cl = new CommandLine(new ThermoclineCommand());
        cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            Throwable t = io.thermocline.tier.TierException.unwrap(e);
            if (Logging.isVerbose()) {
                t.printStackTrace(commandLine.getErr());
            }
            commandLine.getErr().println("thermocline: " + (t.getMessage() != null ? t.getMessage() : t.toString()));
            if (t instanceof io.thermocline.engine.EngineConfigException) {
                return 2;
            }
            boolean unavailable = t instanceof io.thermocline.tier.TierUnavailableException
                    // no controller answered: the transport failed before any status came back
                    || t instanceof io.thermocline.nvmeof.host.NvmeException ne && ne.completion() == null;
            if (unavailable && !Logging.isVerbose()) {
                commandLine.getErr().println("thermocline: check that the tier is reachable and run the command again (--verbose shows more)");
            }
            return unavailable ? 3 : 1;
        });
        // a usage error is one line that names the option or value and what was expected, and where the
        // usage is, not the whole usage text (which would push the message off the screen)
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine c = ex.getCommandLine();
            java.io.PrintWriter err = c.getErr();
            err.println("thermocline: " + ex.getMessage());
            CommandLine.UnmatchedArgumentException.printSuggestions(ex, err);
            err.println("thermocline: '" + c.getCommandSpec().qualifiedName() + " --help' shows the options, with examples");
            err.flush();
            return c.getCommandSpec().exitCodeOnInvalidInput();
        });
        return cl;
    }

    /** Reads the version Maven wrote into the jar. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() throws IOException {
            Properties p = new Properties();
            try (InputStream in = ThermoclineCommand.class.getResourceAsStream("/thermocline-version.properties")) {
                if (in != null) {
                    p.load(in);
                }
            }
            return new String[] {
                "thermocline " + p.getProperty("version", "unknown"),
                "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + ", "
                + System.getProperty("java.home") + ")"
            };
        }
    }
}
