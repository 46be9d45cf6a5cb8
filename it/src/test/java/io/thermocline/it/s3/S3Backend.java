package io.thermocline.it.s3;

import io.thermocline.tier.s3.EmbeddedS3Server;
import io.thermocline.tier.testkit.TestTimeouts;
import java.io.File;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.MinIOContainer;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * The S3 server the compatibility tests run against, the best one at hand:
 * <ol>
 *   <li>MinIO in a container through Testcontainers, when a Docker engine answers;</li>
 *   <li>a {@code minio} binary found on the PATH, started on 127.0.0.1 in a temporary directory
 *       and stopped by its PID;</li>
 *   <li>otherwise {@link EmbeddedS3Server} (S3Proxy) in this JVM.</li>
 * </ol>
 * {@code -Dthermocline.it.s3=testcontainers|minio-binary|embedded} (or the environment variable
 * {@code THERMOCLINE_IT_S3}) insists on one; the test then fails if it is not available.
 * {@link #close()} stops whatever was started.
 */
final class S3Backend implements AutoCloseable {

    /** A MinIO release, pinned so that runs compare. */
    static final String MINIO_IMAGE = "minio/minio:RELEASE.2025-04-22T22-12-26Z";

    private final String name;
    private final URI endpoint;
    private final String accessKey;
    private final String secretKey;
    private final boolean keepsChecksums;
    private final AutoCloseable stop;

    private S3Backend(String name, URI endpoint, String accessKey, String secretKey, boolean keepsChecksums, AutoCloseable stop) {
        this.name = name;
        this.endpoint = endpoint;
        this.accessKey = accessKey;
        this.secretKey = secretKey;
        this.keepsChecksums = keepsChecksums;
        this.stop = stop;
    }

    static S3Backend start(Path workDir) throws Exception {
        String wanted = Optional.ofNullable(System.getProperty("thermocline.it.s3"))
                .or(() -> Optional.ofNullable(System.getenv("THERMOCLINE_IT_S3"))).orElse("").toLowerCase(Locale.ROOT);
        if (wanted.isEmpty() || wanted.equals("testcontainers")) {
            if (dockerAvailable()) {
                return testcontainers();
            }
            if (wanted.equals("testcontainers")) {
                throw new IllegalStateException("thermocline.it.s3=testcontainers, but no Docker engine answers");
            }
        }
        if (wanted.isEmpty() || wanted.equals("minio-binary")) {
            Optional<Path> minio = onPath("minio");
            if (minio.isPresent()) {
                return minioBinary(minio.get(), workDir.resolve("minio"));
            }
            if (wanted.equals("minio-binary")) {
                throw new IllegalStateException("thermocline.it.s3=minio-binary, but there is no minio on the PATH");
            }
        }
        if (!wanted.isEmpty() && !wanted.equals("embedded") && !wanted.equals("testcontainers") && !wanted.equals("minio-binary")) {
            throw new IllegalArgumentException("thermocline.it.s3: " + wanted + " (expected: testcontainers, minio-binary or embedded)");
        }
        EmbeddedS3Server server = EmbeddedS3Server.start(workDir.resolve("embedded"));
        return new S3Backend("embedded S3 server (S3Proxy 4.1.0, file-system back end)", server.endpoint(),
                server.accessKey(), server.secretKey(), false, server);
    }

    private static boolean dockerAvailable() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException | LinkageError e) {
            return false;
        }
    }

    private static S3Backend testcontainers() {
        MinIOContainer minio = new MinIOContainer(MINIO_IMAGE).withUserName("thermocline").withPassword(randomSecret());
        minio.start();
        return new S3Backend("MinIO " + MINIO_IMAGE + " (Testcontainers)", URI.create(minio.getS3URL()), minio.getUserName(),
                minio.getPassword(), true, minio::stop);
    }

    private static S3Backend minioBinary(Path minio, Path dataDir) throws IOException, InterruptedException {
        Files.createDirectories(dataDir);
        int port = freePort();
        int consolePort = freePort();
        String user = "thermocline";
        String password = randomSecret();
        Path log = dataDir.resolveSibling("minio.log");
        ProcessBuilder pb = new ProcessBuilder(minio.toString(), "server", dataDir.toString(), "--address", "127.0.0.1:" + port,
                "--console-address", "127.0.0.1:" + consolePort, "--quiet")
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("MINIO_ROOT_USER", user);
        pb.environment().put("MINIO_ROOT_PASSWORD", password);
        Process process = pb.start();
        long pid = process.pid();
        AutoCloseable stop = () -> {
            ProcessHandle handle = ProcessHandle.of(pid).orElse(null);
            if (handle != null && handle.isAlive()) {
                handle.destroy(); // SIGTERM: MinIO shuts down cleanly
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    handle.destroyForcibly();
                    process.waitFor(10, TimeUnit.SECONDS);
                }
            }
        };
        URI endpoint = URI.create("http://127.0.0.1:" + port);
        long deadline = System.nanoTime() + TestTimeouts.seconds(30).toNanos();
        while (!live(endpoint)) {
            if (!process.isAlive() || System.nanoTime() > deadline) {
                try {
                    stop.close();
                } catch (Exception ignored) {
                    // reporting the start failure matters more
                }
                throw new IllegalStateException("minio at " + minio + " did not come up on " + endpoint + " (pid " + pid
                        + (process.isAlive() ? "" : ", exited " + process.exitValue()) + "); its log: " + log);
            }
            Thread.sleep(100);
        }
        return new S3Backend("MinIO binary " + minio + " (pid " + pid + ")", endpoint, user, password, true, stop);
    }

    private static boolean live(URI endpoint) {
        try {
            HttpURLConnection c = (HttpURLConnection) endpoint.resolve("/minio/health/live").toURL().openConnection();
            c.setConnectTimeout(500);
            c.setReadTimeout(500);
            try {
                return c.getResponseCode() == 200;
            } finally {
                c.disconnect();
            }
        } catch (IOException e) {
            return false;
        }
    }

    private static Optional<Path> onPath(String command) {
        String path = System.getenv("PATH");
        if (path == null) {
            return Optional.empty();
        }
        for (String dir : path.split(File.pathSeparator)) {
            Path candidate = Path.of(dir.isEmpty() ? "." : dir, command);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static String randomSecret() {
        byte[] bytes = new byte[20];
        new SecureRandom().nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    String name() {
        return name;
    }

    URI endpoint() {
        return endpoint;
    }

    String accessKey() {
        return accessKey;
    }

    String secretKey() {
        return secretKey;
    }

    String region() {
        return EmbeddedS3Server.REGION;
    }

    /** Whether the server keeps the checksums of uploads and answers them to HEAD (MinIO does, S3Proxy does not). */
    boolean keepsChecksums() {
        return keepsChecksums;
    }

    StaticCredentialsProvider credentials() {
        return StaticCredentialsProvider.create(AwsBasicCredentials.create(accessKey, secretKey));
    }

    /** A plain SDK client on the server, for what the tier does not do (buckets, uploads by other tools). */
    S3Client client() {
        return S3Client.builder().endpointOverride(endpoint).forcePathStyle(true).region(Region.of(region()))
                .credentialsProvider(credentials()).build();
    }

    @Override
    public void close() throws Exception {
        stop.close();
    }
}
