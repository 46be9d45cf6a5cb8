package io.thermocline.cli;

import io.thermocline.tier.s3.EmbeddedS3Server;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code thermocline s3 ...}: S3 utilities. */
@Command(name = "s3",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        description = "S3 utilities.",
        subcommands = {S3Command.Serve.class, S3CopyCommand.class})
final class S3Command implements Runnable {

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** {@code thermocline s3 serve}: the embedded S3-compatible server, for trying things out. */
    @Command(name = "serve",
            mixinStandardHelpOptions = true,
            usageHelpAutoWidth = true,
            description = {
                "Runs Thermocline's embedded S3-compatible server on 127.0.0.1 until interrupted (Ctrl-C). "
                + "Buckets are directories under --dir; requests must be signed (SigV4 or V2) with the printed "
                + "credentials; use path-style addressing.",
                ""},
            footer = {
                "",
                "Examples:",
                "  thermocline s3 serve --dir /tmp/s3 --bucket models",
                "  thermocline s3 serve --dir /tmp/s3 --port 9000 --access-key demo --secret-key demo-secret",
                "  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... aws --endpoint-url http://127.0.0.1:9000 s3 ls s3://models"})
    static final class Serve implements Callable<Integer> {

        @CommandLine.Spec
        private CommandLine.Model.CommandSpec spec;

        @Option(names = "--dir", required = true, paramLabel = "DIR", description = "Where buckets are stored (created if missing).")
        private Path dir;

        @Option(names = "--port", defaultValue = "0", paramLabel = "PORT",
                description = "TCP port on 127.0.0.1 (default: any free port, printed at start).")
        private int port;

        @Option(names = "--access-key", paramLabel = "KEY", description = "Access key (default: random, printed).")
        private String accessKey;

        @Option(names = "--secret-key", paramLabel = "SECRET", description = "Secret key (default: random, printed).")
        private String secretKey;

        @Option(names = "--bucket", paramLabel = "NAME", description = "Buckets to create at start (repeatable).")
        private List<String> buckets = List.of();

        /** Counted down to stop the server (by the shutdown hook, or by tests). */
        final CountDownLatch stop = new CountDownLatch(1);

        @Override
        public Integer call() throws Exception {
            if (port < 0 || port > 65535) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--port: " + port + " (expected: 0..65535)");
            }
            if ((accessKey == null) != (secretKey == null)) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "--access-key and --secret-key: give both or neither");
            }
            EmbeddedS3Server server = accessKey == null ? EmbeddedS3Server.start(dir, port, randomLike(), randomLike())
                    : EmbeddedS3Server.start(dir, port, accessKey, secretKey);
            Thread hook = new Thread(stop::countDown, "s3-serve-shutdown");
            Runtime.getRuntime().addShutdownHook(hook);
            try (server) {
                for (String bucket : buckets) {
                    server.createBucket(bucket);
                }
                PrintWriter out = spec.commandLine().getOut();
                out.printf("endpoint    %s (path-style)%n", server.endpoint());
                out.printf("region      %s%n", server.region());
                out.printf("access key  %s%n", server.accessKey());
                out.printf("secret key  %s%n", server.secretKey());
                out.printf("data        %s%n", dir.toAbsolutePath());
                out.printf("buckets     %s%n", buckets.isEmpty() ? "(none yet: directories under the data dir are buckets)" : String.join(", ", buckets));
                out.println("Serving until interrupted (Ctrl-C).");
                out.flush();
                stop.await();
            } finally {
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // the JVM is exiting; the hook has run
                }
            }
            return 0;
        }

        private static String randomLike() {
            byte[] bytes = new byte[20];
            new java.security.SecureRandom().nextBytes(bytes);
            return java.util.HexFormat.of().formatHex(bytes);
        }
    }
}
