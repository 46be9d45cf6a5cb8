package io.thermocline.bench;

import io.thermocline.nvmeof.load.LatencyHistogram;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The references the NVMe/TCP benchmarks are measured against, over the same loopback: what the
 * kernel's TCP stack and the JVM's plain sockets cost with no protocol on top.
 *
 * <ul>
 *   <li>{@link #pingPong}: one request of {@code requestBytes} answered by one reply of
 *       {@code replyBytes}, one at a time, TCP_NODELAY on both ends — the shape of a 4 KiB read
 *       at queue depth 1 (a 72-byte CapsuleCmd; a 24-byte C2HData header + 4 KiB + a 16-byte
 *       response, sent as one reply).</li>
 *   <li>{@link #stream}: one connection, the sender writing {@code bufferBytes} at a time as
 *       fast as the receiver reads.</li>
 * </ul>
 * Both run the server side on a platform thread of this JVM, as the Java target runs in the
 * same JVM as the host in the NVMe/TCP benchmarks.
 */
public final class TcpReference {
    private TcpReference() {
    }

    public static LatencyHistogram pingPong(int requestBytes, int replyBytes, Duration warmup, Duration runtime) throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread echo = Thread.ofPlatform().daemon().name("ping-pong-server").start(() -> {
                try (Socket s = server.accept()) {
                    s.setTcpNoDelay(true);
                    InputStream in = s.getInputStream();
                    OutputStream out = s.getOutputStream();
                    byte[] request = new byte[requestBytes];
                    byte[] reply = new byte[replyBytes];
                    while (readFully(in, request)) {
                        out.write(reply);
                    }
                } catch (IOException ignored) {
                    // client closed
                }
            });
            LatencyHistogram h = new LatencyHistogram();
            try (Socket c = new Socket()) {
                c.setTcpNoDelay(true);
                c.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort()));
                InputStream in = c.getInputStream();
                OutputStream out = c.getOutputStream();
                byte[] request = new byte[requestBytes];
                byte[] reply = new byte[replyBytes];
                long warmEnd = System.nanoTime() + warmup.toNanos();
                while (System.nanoTime() < warmEnd) {
                    out.write(request);
                    readFully(in, reply);
                }
                long end = System.nanoTime() + runtime.toNanos();
                long now;
                while ((now = System.nanoTime()) < end) {
                    out.write(request);
                    readFully(in, reply);
                    h.record(System.nanoTime() - now);
                }
            }
            echo.join(5000);
            return h;
        }
    }

    /** Bytes per second over one loopback connection. */
    public static double stream(int bufferBytes, Duration warmup, Duration runtime) throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            AtomicLong received = new AtomicLong();
            Thread sink = Thread.ofPlatform().daemon().name("stream-sink").start(() -> {
                try (Socket s = server.accept()) {
                    InputStream in = s.getInputStream();
                    byte[] buf = new byte[bufferBytes];
                    int n;
                    while ((n = in.read(buf)) > 0) {
                        received.addAndGet(n);
                    }
                } catch (IOException ignored) {
                    // sender closed
                }
            });
            double rate;
            try (Socket c = new Socket()) {
                c.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort()));
                OutputStream out = c.getOutputStream();
                byte[] buf = new byte[bufferBytes];
                long warmEnd = System.nanoTime() + warmup.toNanos();
                while (System.nanoTime() < warmEnd) {
                    out.write(buf);
                }
                long startBytes = received.get();
                long start = System.nanoTime();
                long end = start + runtime.toNanos();
                while (System.nanoTime() < end) {
                    out.write(buf);
                }
                rate = (received.get() - startBytes) * 1e9 / (System.nanoTime() - start);
            }
            sink.join(5000);
            return rate;
        }
    }

    private static boolean readFully(InputStream in, byte[] b) throws IOException {
        int off = 0;
        while (off < b.length) {
            int n = in.read(b, off, b.length - off);
            if (n < 0) {
                return false;
            }
            off += n;
        }
        return true;
    }
}
