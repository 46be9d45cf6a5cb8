package io.thermocline.nvmeof.target;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One target under test and the raw hosts talking to it, for the target tests that speak PDUs
 * themselves. Registered as a static {@code @RegisterExtension} field: the host event loops live
 * for the whole class and the buffer leak check runs once they are shut down; every test's hosts
 * and target are closed after it, hosts first so that the target sees orderly disconnects.
 */
final class RawTargetFixture implements BeforeAllCallback, AfterEachCallback, AfterAllCallback {
    private final int hostLoopThreads;
    private final List<RawHost> hosts = new ArrayList<>();
    private EventLoopGroup hostLoops;
    private NvmeTcpTarget target;
    private InetSocketAddress address;

    RawTargetFixture(int hostLoopThreads) {
        this.hostLoopThreads = hostLoopThreads;
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        LeakCheck.install();
        hostLoops = new MultiThreadIoEventLoopGroup(hostLoopThreads, NioIoHandler.newFactory());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        hosts.forEach(RawHost::close);
        hosts.clear();
        if (target != null) {
            target.close();
            target = null;
            address = null;
        }
    }

    @Override
    public void afterAll(ExtensionContext context) throws InterruptedException {
        hostLoops.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        LeakCheck.assertNoLeaks();
    }

    /** Starts {@code t} on its port and keeps it to close after the test; returns where it listens. */
    InetSocketAddress start(NvmeTcpTarget t) {
        target = t;
        address = t.start();
        return address;
    }

    NvmeTcpTarget target() {
        return target;
    }

    InetSocketAddress address() {
        return address;
    }

    /** A raw host connected to the started target, closed after the test. */
    RawHost host() {
        if (address == null) {
            throw new IllegalStateException("no target started (expected: start(target) before host())");
        }
        RawHost h = RawHost.open(hostLoops, address);
        hosts.add(h);
        return h;
    }

    /** A raw host connected over TLS with {@code key}'s identity for {@code hostNqn} and {@code subNqn}, closed after the test. */
    RawHost tlsHost(io.thermocline.nvmeof.auth.TlsPsk key, String hostNqn, String subNqn) {
        if (address == null) {
            throw new IllegalStateException("no target started (expected: start(target) before tlsHost())");
        }
        RawHost h = RawHost.openTls(hostLoops, address, key, hostNqn, subNqn);
        hosts.add(h);
        return h;
    }
}
