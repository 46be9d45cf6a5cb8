package io.thermocline.nvmeof.fault;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A TCP proxy on 127.0.0.1 that stands for one network path between an NVMe/TCP host and a
 * target, and breaks it on request: the faults tests and benchmarks need to exercise keep-alive,
 * reconnect and multipath failover without touching the real network.
 *
 * <p><b>Faults</b> (each can be switched at any time, from any thread; they apply to the
 * connections open now and to those accepted later):
 * <ul>
 *   <li>{@link #reset()} ends every open connection with a TCP RST on both sides, as a link
 *       failure that the peers notice at once;</li>
 *   <li>{@link #refuse(boolean)}: new connections are reset as soon as they are accepted (the path
 *       is down; with {@link #reset()} this is a complete outage);</li>
 *   <li>{@link #blackhole(boolean)}: every byte, both ways, is dropped without a word; the
 *       connections stay open, so the peers see only silence. Since bytes were lost, a connection
 *       that dropped any is reset when the blackhole ends, instead of carrying on with a torn
 *       stream: a real partition ends with TCP retransmitting, which a proxy cannot imitate, and
 *       delivering the rest of a torn stream would only produce garbage;</li>
 *   <li>{@link #cut(Direction, boolean)}: the same as a blackhole in one direction only;</li>
 *   <li>{@link #delay(Duration, Duration)}: each chunk is held for the delay plus a uniform
 *       random jitter, order preserved per direction;</li>
 *   <li>{@link #throttle(long)}: each direction of each connection is limited to so many bytes
 *       per second.</li>
 * </ul>
 * {@link #heal()} clears every fault.
 *
 * <p>Threads: its own event loop (one thread) serves both sides of every connection; nothing
 * blocks it. {@link #close()} resets every connection and stops it.
 */
public final class TcpFaultProxy implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(TcpFaultProxy.class);

    /** Which way bytes flow through the proxy. */
    public enum Direction {
        /** From the host (the proxy's clients) to the target. */
        TO_TARGET,
        /** From the target back to the host. */
        TO_HOST
    }

    private final InetSocketAddress upstream;
    private final EventLoopGroup group;
    private final Channel server;
    private final Set<Pair> pairs = ConcurrentHashMap.newKeySet();
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLong droppedBytes = new AtomicLong();
    private volatile boolean refuse;
    private volatile boolean blackhole;
    private volatile boolean cutToTarget;
    private volatile boolean cutToHost;
    private volatile long delayNanos;
    private volatile long jitterNanos;
    private volatile long bytesPerSecond;

    private TcpFaultProxy(InetSocketAddress upstream, int port) {
        this.upstream = upstream;
        this.group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("fault-proxy", true), NioIoHandler.newFactory());
        boolean ok = false;
        try {
            ChannelFuture bound = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.AUTO_READ, false)
                    .childHandler(new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            accept(ch);
                        }
                    })
                    .bind(InetAddress.getLoopbackAddress(), port).awaitUninterruptibly();
            if (!bound.isSuccess()) {
                throw new UncheckedIOException("fault proxy cannot listen on 127.0.0.1:" + port,
                        new java.io.IOException(bound.cause()));
            }
            server = bound.channel();
            ok = true;
        } finally {
            if (!ok) {
                group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            }
        }
        log.info("fault proxy 127.0.0.1:{} -> {}:{}", port(), upstream.getHostString(), upstream.getPort());
    }

    /** Starts a proxy on an ephemeral port of 127.0.0.1 forwarding to {@code upstream}. */
    public static TcpFaultProxy start(InetSocketAddress upstream) {
        return start(upstream, 0);
    }

    /** Starts a proxy on {@code port} of 127.0.0.1 (0: any free port) forwarding to {@code upstream}. */
    public static TcpFaultProxy start(InetSocketAddress upstream, int port) {
        Objects.requireNonNull(upstream, "upstream");
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port: " + port + " (expected 0..65535)");
        }
        return new TcpFaultProxy(upstream, port);
    }

    /** The port the proxy listens on. */
    public int port() {
        return ((InetSocketAddress) server.localAddress()).getPort();
    }

    /** The address hosts connect to instead of the target's. */
    public InetSocketAddress address() {
        return (InetSocketAddress) server.localAddress();
    }

    public InetSocketAddress upstream() {
        return upstream;
    }

    /** Connections accepted so far. */
    public long acceptedConnections() {
        return accepted.get();
    }

    /** Connections open now. */
    public int openConnections() {
        return pairs.size();
    }

    /** Bytes dropped by blackholes and cuts so far. */
    public long droppedBytes() {
        return droppedBytes.get();
    }

    /** Resets every open connection (RST to both peers). New connections are accepted as before. */
    public void reset() {
        for (Pair p : pairs) {
            p.abort("reset");
        }
    }

    /** While on, every new connection is reset as soon as it is accepted. */
    public void refuse(boolean on) {
        refuse = on;
    }

    /** While on, every byte both ways is dropped; turning it off resets the connections that lost bytes. */
    public void blackhole(boolean on) {
        blackhole = on;
        if (!on) {
            resetTorn();
        }
    }

    /** While on, every byte flowing in {@code direction} is dropped; turning it off resets the connections that lost bytes. */
    public void cut(Direction direction, boolean on) {
        if (direction == Direction.TO_TARGET) {
            cutToTarget = on;
        } else {
            cutToHost = on;
        }
        if (!on) {
            resetTorn();
        }
    }

    /** Holds every chunk for {@code delay} plus a uniform random part of {@code jitter} (both zero: no delay). */
    public void delay(Duration delay, Duration jitter) {
        if (delay.isNegative() || jitter.isNegative()) {
            throw new IllegalArgumentException("delay " + delay + ", jitter " + jitter + " (expected zero or positive)");
        }
        delayNanos = delay.toNanos();
        jitterNanos = jitter.toNanos();
    }

    /** Limits each direction of each connection to {@code bytesPerSecond} (0: unlimited). */
    public void throttle(long bytesPerSecond) {
        if (bytesPerSecond < 0) {
            throw new IllegalArgumentException("bytes per second: " + bytesPerSecond + " (expected 0 for unlimited, or positive)");
        }
        this.bytesPerSecond = bytesPerSecond;
    }

    /** Clears every fault: traffic flows again (connections that lost bytes are reset), without delay or limit. */
    public void heal() {
        refuse = false;
        delayNanos = 0;
        jitterNanos = 0;
        bytesPerSecond = 0;
        boolean dropping = blackhole || cutToTarget || cutToHost;
        blackhole = false;
        cutToTarget = false;
        cutToHost = false;
        if (dropping) {
            resetTorn();
        }
    }

    private void resetTorn() {
        for (Pair p : pairs) {
            if (p.torn) {
                p.abort("bytes were dropped");
            }
        }
    }

    private boolean dropping(Direction d) {
        return blackhole || (d == Direction.TO_TARGET ? cutToTarget : cutToHost);
    }

    private void accept(Channel client) {
        accepted.incrementAndGet();
        if (refuse) {
            client.config().setOption(ChannelOption.SO_LINGER, 0);
            client.close();
            return;
        }
        Pair pair = new Pair(client);
        pairs.add(pair);
        client.closeFuture().addListener(f -> pair.abort(null));
        new Bootstrap().group(client.eventLoop()).channel(NioSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5000)
                .handler(new Relay(pair, Direction.TO_HOST))
                .connect(upstream).addListener((ChannelFuture f) -> {
                    if (!f.isSuccess()) {
                        log.debug("fault proxy: cannot reach {}: {}", upstream, f.cause().toString());
                        pair.abort("upstream unreachable");
                        return;
                    }
                    pair.target = f.channel();
                    f.channel().closeFuture().addListener(x -> pair.abort(null));
                    if (pair.closed) {
                        f.channel().close();
                        return;
                    }
                    client.pipeline().addLast(new Relay(pair, Direction.TO_TARGET));
                    client.read();
                    f.channel().read();
                });
    }

    /** Both sides of one proxied connection; its state is touched on its one event loop, except {@link #abort}. */
    private final class Pair {
        final Channel host;
        volatile Channel target;
        volatile boolean closed;
        /** Bytes were dropped: the stream cannot go on once traffic resumes. */
        volatile boolean torn;
        /** When the last chunk scheduled in each direction leaves, so order is kept. */
        long nextToTargetNanos;
        long nextToHostNanos;

        Pair(Channel host) {
            this.host = host;
        }

        /** Ends both sides, with RST when {@code why} is not null (a fault), else with the other side's close. */
        void abort(String why) {
            if (closed) {
                return;
            }
            closed = true;
            pairs.remove(this);
            if (why != null) {
                log.debug("fault proxy {}: resetting a connection: {}", port(), why);
            }
            close(host, why != null);
            Channel t = target;
            if (t != null) {
                close(t, why != null);
            }
        }

        private void close(Channel ch, boolean rst) {
            if (rst && ch.isOpen()) {
                try {
                    ch.config().setOption(ChannelOption.SO_LINGER, 0);
                } catch (RuntimeException ignored) {
                    // closing anyway
                }
            }
            ch.close();
        }

        Channel peer(Direction d) {
            return d == Direction.TO_TARGET ? target : host;
        }
    }

    /** Reads one side of a pair and forwards to the other, applying the faults of the moment. */
    private final class Relay extends ChannelInboundHandlerAdapter {
        private final Pair pair;
        private final Direction direction;

        Relay(Pair pair, Direction direction) {
            this.pair = pair;
            this.direction = direction;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            Channel out = pair.peer(direction);
            if (pair.closed || out == null || !(msg instanceof ByteBuf buf)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            if (dropping(direction)) {
                droppedBytes.addAndGet(buf.readableBytes());
                pair.torn = true;
                buf.release();
                ctx.channel().read();
                return;
            }
            long now = System.nanoTime();
            long jitter = jitterNanos;
            long release = now + delayNanos + (jitter > 0 ? ThreadLocalRandom.current().nextLong(jitter) : 0);
            long rate = bytesPerSecond;
            long previous = direction == Direction.TO_TARGET ? pair.nextToTargetNanos : pair.nextToHostNanos;
            if (rate > 0) {
                long transmit = buf.readableBytes() * 1_000_000_000L / rate;
                release = Math.max(release, Math.max(previous, now) + transmit);
            }
            release = Math.max(release, previous);
            if (direction == Direction.TO_TARGET) {
                pair.nextToTargetNanos = release;
            } else {
                pair.nextToHostNanos = release;
            }
            long wait = release - now;
            if (wait <= 0) {
                forward(ctx, out, buf);
            } else {
                ctx.executor().schedule(() -> forward(ctx, out, buf), wait, TimeUnit.NANOSECONDS);
                ctx.channel().read();
            }
        }

        private void forward(ChannelHandlerContext ctx, Channel out, ByteBuf buf) {
            if (pair.closed || !out.isActive()) {
                buf.release();
                return;
            }
            // read on only once the other side has taken the bytes: back-pressure passes through
            out.writeAndFlush(buf).addListener(f -> {
                if (f.isSuccess()) {
                    ctx.channel().read();
                } else {
                    pair.abort(null);
                }
            });
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            pair.abort(null);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("fault proxy {}: {}", port(), cause.toString());
            pair.abort(null);
        }
    }

    @Override
    public void close() {
        reset();
        server.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    @Override
    public String toString() {
        return "TcpFaultProxy[127.0.0.1:" + port() + " -> " + upstream + (refuse ? ", refusing" : "")
                + (blackhole ? ", blackhole" : "") + (cutToTarget ? ", cut to target" : "") + (cutToHost ? ", cut to host" : "")
                + (delayNanos > 0 ? ", delay " + delayNanos / 1_000_000 + " ms" : "") + "]";
    }
}
