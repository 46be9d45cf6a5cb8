package io.thermocline.it.kernel;

import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The command line to the guest: a virtio serial port, exposed on the host as a Unix socket. The
 * guest's init reads one request per line and answers with the script's output and exit status; see
 * {@code kernel-guest/init} for the protocol. Everything crosses base64-encoded, so neither scripts
 * nor output can be confused with the protocol's own lines.
 */
final class GuestChannel implements Closeable {

    /** Extra time the host waits beyond a command's own timeout, which the guest enforces. */
    private static final Duration ANSWER_GRACE = Duration.ofSeconds(15);
    private static final String END_OF_STREAM = new String("end of stream");

    private final SocketChannel socket;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final Thread reader;
    private long nextId = 1;
    private volatile boolean closed;

    private GuestChannel(SocketChannel socket) {
        this.socket = socket;
        this.reader = Thread.ofPlatform().daemon().name("kernel-guest-channel").start(this::readLines);
    }

    /** Connects to qemu's socket for the guest's command port. */
    static GuestChannel connect(Path socketPath) throws IOException {
        SocketChannel socket = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            socket.connect(UnixDomainSocketAddress.of(socketPath));
        } catch (IOException e) {
            socket.close();
            throw e;
        }
        return new GuestChannel(socket);
    }

    /**
     * Runs {@code script} with the guest's {@code sh}; the guest kills it after {@code timeout}.
     *
     * @return the exit status and the bytes the script wrote to stdout and stderr
     */
    synchronized Answer exec(String script, Duration timeout) throws IOException {
        if (closed) {
            throw new IOException("guest command channel is closed");
        }
        long id = nextId++;
        long seconds = Math.max(1, (timeout.toMillis() + 999) / 1000);
        String request = "__CMD__ " + id + " " + seconds + " "
                + Base64.getEncoder().encodeToString(script.getBytes(StandardCharsets.UTF_8)) + "\n";
        long started = System.nanoTime();
        send(request.getBytes(StandardCharsets.US_ASCII));
        return awaitAnswer(id, started, timeout, script);
    }

    /**
     * Writes {@code data} to the guest file {@code guestPath}, streamed as base64 that the guest reads
     * in blocks: far faster than a command line, which the guest's shell reads a byte at a time.
     */
    synchronized Answer put(String guestPath, byte[] data, Duration timeout) throws IOException {
        if (closed) {
            throw new IOException("guest command channel is closed");
        }
        long id = nextId++;
        byte[] body = Base64.getEncoder().encode(data);
        String header = "__PUT__ " + id + " " + body.length + " "
                + Base64.getEncoder().encodeToString(guestPath.getBytes(StandardCharsets.UTF_8)) + "\n";
        long started = System.nanoTime();
        send(header.getBytes(StandardCharsets.US_ASCII));
        send(body);
        return awaitAnswer(id, started, timeout, "upload of " + data.length + " bytes to " + guestPath);
    }

    private void send(byte[] request) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap(request);
        while (bytes.hasRemaining()) {
            socket.write(bytes);
        }
    }

    private Answer awaitAnswer(long id, long started, Duration timeout, String script) throws IOException {
        long deadline = started + timeout.plus(ANSWER_GRACE).toNanos();
        String outputStart = "__OUT__ " + id;
        String resultPrefix = "__RC__ " + id + " ";
        List<String> encoded = null;
        while (true) {
            String line = nextLine(deadline, script);
            if (line.startsWith("__BAD__ ")) {
                throw new IOException("the guest received this request garbled and did not run it: " + script);
            } else if (line.equals(outputStart)) {
                encoded = new ArrayList<>();
            } else if (line.startsWith(resultPrefix)) {
                int exitCode = Integer.parseInt(line.substring(resultPrefix.length()).trim());
                byte[] output = encoded == null ? new byte[0] : Base64.getMimeDecoder().decode(String.join("", encoded));
                return new Answer(exitCode, output, Duration.ofNanos(System.nanoTime() - started));
            } else if (encoded != null) {
                encoded.add(line);
            }
        }
    }

    private String nextLine(long deadline, String script) throws IOException {
        try {
            long remaining = deadline - System.nanoTime();
            String line = remaining > 0 ? lines.poll(remaining, TimeUnit.NANOSECONDS) : null;
            if (line == null) {
                throw new IOException("the guest did not answer within its timeout plus " + ANSWER_GRACE.toSeconds()
                        + " s: " + script);
            }
            if (line == END_OF_STREAM) {
                lines.add(END_OF_STREAM);
                throw new IOException("the guest's command channel closed while running: " + script);
            }
            return line;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the guest", e);
        }
    }

    private void readLines() {
        try (InputStream in = Channels.newInputStream(socket)) {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            byte[] buffer = new byte[65536];
            for (int n; (n = in.read(buffer)) > 0; ) {
                for (int i = 0; i < n; i++) {
                    byte b = buffer[i];
                    if (b == '\n') {
                        lines.add(line.toString(StandardCharsets.ISO_8859_1));
                        line.reset();
                    } else if (b != '\r') {
                        line.write(b);
                    }
                }
            }
        } catch (IOException e) {
            if (!closed) {
                System.err.println("kernel guest command channel: " + e);
            }
        } finally {
            lines.add(END_OF_STREAM);
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        socket.close();
        try {
            reader.join(TimeUnit.SECONDS.toMillis(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A command's exit status and raw output. */
    record Answer(int exitCode, byte[] output, Duration elapsed) {
    }
}
