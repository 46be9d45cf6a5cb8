package io.thermocline.nvmeof.host;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.concurrent.TimeUnit;

/**
 * The event loops the host's connections run on: epoll where the native transport loads, NIO
 * otherwise. One group can serve many controllers; each I/O queue is bound to one loop.
 */
public final class NvmeEventLoops implements AutoCloseable {
    private final EventLoopGroup group;
    private final Class<? extends Channel> channelType;
    private final String transport;

    public NvmeEventLoops(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("event loop threads: " + threads + " (expected at least 1)");
        }
        boolean epoll = Epoll.isAvailable() && !Boolean.getBoolean("thermocline.nvme.nio");
        IoHandlerFactory factory = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        this.group = new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory("nvme-host", true), factory);
        this.channelType = epoll ? EpollSocketChannel.class : NioSocketChannel.class;
        this.transport = epoll ? "epoll" : "nio";
    }

    EventLoopGroup group() {
        return group;
    }

    Class<? extends Channel> channelType() {
        return channelType;
    }

    /** "epoll" or "nio". */
    public String transport() {
        return transport;
    }

    @Override
    public void close() {
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
