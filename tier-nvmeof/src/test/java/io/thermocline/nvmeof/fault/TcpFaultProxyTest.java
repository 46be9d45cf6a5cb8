package io.thermocline.nvmeof.fault;

import io.thermocline.tier.testkit.ScaledTimeout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.thermocline.tier.testkit.TestTimeouts;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The proxy's faults against a plain echo server on 127.0.0.1. */
@ScaledTimeout(30)
class TcpFaultProxyTest {
    private ServerSocket echo;
    private Thread acceptor;
    private TcpFaultProxy proxy;

    @BeforeEach
    void start() throws IOException {
        echo = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        acceptor = Thread.ofVirtual().start(() -> {
            while (!echo.isClosed()) {
                try {
                    Socket s = echo.accept();
                    Thread.ofVirtual().start(() -> {
                        try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
                            in.transferTo(out);
                        } catch (IOException ignored) {
                            // reset by the proxy
                        }
                    });
                } catch (IOException closed) {
                    return;
                }
            }
        });
        proxy = TcpFaultProxy.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), echo.getLocalPort()));
    }

    @AfterEach
    void stop() throws Exception {
        proxy.close();
        echo.close();
        acceptor.join(TestTimeouts.millis(5));
    }

    private Socket connect() throws IOException {
        Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port());
        s.setSoTimeout(5000);
        s.setTcpNoDelay(true);
        return s;
    }

    private static byte[] roundTrip(Socket s, byte[] data) throws IOException {
        s.getOutputStream().write(data);
        return s.getInputStream().readNBytes(data.length);
    }

    @Test
    void passesBytesThrough_untilReset() throws Exception {
        try (Socket s = connect()) {
            byte[] data = new byte[100_000];
            new Random(1).nextBytes(data);
            assertArrayEquals(data, roundTrip(s, data));
            assertEquals(1, proxy.openConnections());
            proxy.reset();
            assertThrows(IOException.class, () -> {
                for (int i = 0; i < 100; i++) {
                    roundTrip(s, new byte[1000]);
                    Thread.sleep(10);
                }
            });
        }
        try (Socket s = connect()) {
            assertArrayEquals(new byte[] {1, 2, 3}, roundTrip(s, new byte[] {1, 2, 3}), "new connections work after a reset");
        }
    }

    @Test
    void refuse_resetsNewConnections() throws Exception {
        proxy.refuse(true);
        try (Socket s = connect()) {
            assertThrows(IOException.class, () -> {
                s.getOutputStream().write(1);
                if (s.getInputStream().read() < 0) {
                    throw new SocketException("closed");
                }
            });
        }
        proxy.refuse(false);
        try (Socket s = connect()) {
            assertArrayEquals(new byte[] {9}, roundTrip(s, new byte[] {9}));
        }
    }

    @Test
    void blackhole_isSilent_andResetsTornConnectionsWhenItEnds() throws Exception {
        try (Socket s = connect()) {
            assertArrayEquals(new byte[] {1}, roundTrip(s, new byte[] {1}));
            proxy.blackhole(true);
            s.setSoTimeout(500);
            s.getOutputStream().write(new byte[] {2, 3});
            assertThrows(SocketTimeoutException.class, () -> s.getInputStream().read(), "nothing comes back");
            assertTrue(proxy.droppedBytes() >= 2);
            assertEquals(1, proxy.openConnections(), "the connection stays open");
            proxy.blackhole(false);
            s.setSoTimeout(5000);
            assertThrows(IOException.class, () -> {
                if (s.getInputStream().read() < 0) {
                    throw new SocketException("closed");
                }
            }, "a torn stream is reset, not resumed");
        }
    }

    @Test
    void cut_dropsOneDirectionOnly() throws Exception {
        try (Socket s = connect()) {
            proxy.cut(TcpFaultProxy.Direction.TO_HOST, true);
            s.setSoTimeout(500);
            s.getOutputStream().write(new byte[] {5});
            assertThrows(SocketTimeoutException.class, () -> s.getInputStream().read());
            long dropped = proxy.droppedBytes();
            assertEquals(1, dropped, "the byte reached the echo server; its echo was dropped");
        }
    }

    @Test
    void delayAndThrottle_slowTrafficDown() throws Exception {
        try (Socket s = connect()) {
            proxy.delay(Duration.ofMillis(200), Duration.ofMillis(50));
            long start = System.nanoTime();
            assertArrayEquals(new byte[] {7}, roundTrip(s, new byte[] {7}));
            long rttMillis = (System.nanoTime() - start) / 1_000_000;
            assertTrue(rttMillis >= 400, "round trip " + rttMillis + " ms (expected two delays of at least 200 ms)");
            proxy.heal();
            proxy.throttle(200_000);
            byte[] data = new byte[200_000];
            start = System.nanoTime();
            assertArrayEquals(data, roundTrip(s, data));
            long tookMillis = (System.nanoTime() - start) / 1_000_000;
            assertTrue(tookMillis >= 800, "200 KB each way at 200 KB/s took " + tookMillis + " ms (expected about 1 s or more)");
        }
        assertThrows(IllegalArgumentException.class, () -> proxy.throttle(-1));
    }
}
