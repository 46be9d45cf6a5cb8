package io.thermocline.tier.s3;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Objects;
import java.util.Properties;
import java.util.regex.Pattern;
import org.gaul.s3proxy.BlobStores;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.auth.AuthenticationType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An S3-compatible server in this process, on 127.0.0.1, storing buckets as directories under a
 * data directory: S3Proxy with its file-system back end and real SigV4 (and V2) signature checks.
 * It is what the demo, the quick start and the tests use when no other S3 server is at hand.
 *
 * <p>Unknown request headers are ignored rather than refused, because the AWS SDK's
 * CompleteMultipartUpload sends {@code x-amz-mp-object-size}, which S3Proxy would otherwise answer
 * with 501. Thread-safe; {@link #close()} stops the server and is idempotent.
 */
public final class EmbeddedS3Server implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(EmbeddedS3Server.class);
    /** S3 bucket naming rules (3-63 lowercase letters, digits, dots and hyphens). */
    private static final Pattern BUCKET = Pattern.compile("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]");
    public static final String REGION = "us-east-1";

    private final S3Proxy proxy;
    private final Path dataDir;
    private final String accessKey;
    private final String secretKey;
    private final URI endpoint;

    private EmbeddedS3Server(S3Proxy proxy, Path dataDir, String accessKey, String secretKey) {
        this.proxy = proxy;
        this.dataDir = dataDir;
        this.accessKey = accessKey;
        this.secretKey = secretKey;
        this.endpoint = URI.create("http://127.0.0.1:" + proxy.getPort());
    }

    /** Starts a server on an ephemeral port with fresh random credentials. */
    public static EmbeddedS3Server start(Path dataDir) {
        return start(dataDir, 0, randomKey("TC", 20), randomKey("", 40));
    }

    /**
     * Starts a server.
     *
     * @param dataDir where buckets live (created if missing)
     * @param port TCP port on 127.0.0.1, or 0 for any free one
     * @param accessKey the access key clients must sign with
     * @param secretKey the secret key clients must sign with
     * @throws IllegalArgumentException for a port outside 0..65535 or blank credentials
     * @throws IllegalStateException if the server cannot start (the port is taken, ...)
     */
    public static EmbeddedS3Server start(Path dataDir, int port, String accessKey, String secretKey) {
        Objects.requireNonNull(dataDir, "dataDir");
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port: " + port + " (expected: 0..65535, 0 for any free port)");
        }
        if (accessKey == null || accessKey.isBlank() || secretKey == null || secretKey.isBlank()) {
            throw new IllegalArgumentException("accessKey and secretKey: must not be blank");
        }
        try {
            Files.createDirectories(dataDir);
            Properties properties = new Properties();
            properties.setProperty("jclouds.filesystem.basedir", dataDir.toAbsolutePath().toString());
            S3Proxy proxy = S3Proxy.builder()
                    .blobStore(BlobStores.create("filesystem-nio2", properties))
                    .endpoint(URI.create("http://127.0.0.1:" + port))
                    .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, accessKey, secretKey)
                    .ignoreUnknownHeaders(true)
                    .build();
            proxy.start();
            for (int i = 0; i < 500 && !"STARTED".equals(proxy.getState()); i++) {
                Thread.sleep(10);
            }
            if (!"STARTED".equals(proxy.getState())) {
                proxy.stop();
                throw new IllegalStateException("embedded S3 server did not start on 127.0.0.1:" + port
                        + " (state " + proxy.getState() + ")");
            }
            EmbeddedS3Server server = new EmbeddedS3Server(proxy, dataDir, accessKey, secretKey);
            log.info("embedded S3 server at {} storing in {}", server.endpoint, dataDir);
            return server;
        } catch (IllegalStateException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("cannot start the embedded S3 server on 127.0.0.1:" + port + ": " + e, e);
        }
    }

    /** Creates a bucket (a directory under the data directory); does nothing if it exists. */
    public void createBucket(String bucket) throws IOException {
        if (!BUCKET.matcher(bucket).matches() || bucket.contains("..")) {
            throw new IllegalArgumentException("bucket: \"" + bucket + "\" (expected: 3-63 characters from a-z 0-9 . -)");
        }
        Files.createDirectories(dataDir.resolve(bucket));
    }

    /** {@code http://127.0.0.1:PORT}; use path-style addressing. */
    public URI endpoint() {
        return endpoint;
    }

    public int port() {
        return proxy.getPort();
    }

    public String accessKey() {
        return accessKey;
    }

    public String secretKey() {
        return secretKey;
    }

    public String region() {
        return REGION;
    }

    public Path dataDir() {
        return dataDir;
    }

    @Override
    public void close() {
        try {
            if (!"STOPPED".equals(proxy.getState())) {
                proxy.stop();
            }
        } catch (Exception e) {
            log.warn("stopping the embedded S3 server at {} failed", endpoint, e);
        }
    }

    private static String randomKey(String prefix, int length) {
        byte[] bytes = new byte[length];
        new SecureRandom().nextBytes(bytes);
        String hex = HexFormat.of().withUpperCase().formatHex(bytes);
        return (prefix + hex).substring(0, length);
    }
}
