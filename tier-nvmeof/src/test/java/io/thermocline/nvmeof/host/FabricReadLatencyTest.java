package io.thermocline.nvmeof.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.buffer.ByteBuf;
import io.thermocline.nvmeof.load.LatencyHistogram;
import io.thermocline.nvmeof.pdu.NvmeOpcodes;
import io.thermocline.nvmeof.pdu.VendorIdentify;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import io.thermocline.tier.testkit.TestTimeouts;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The read latency split and the service time handshake, from the host's side. */
class FabricReadLatencyTest {
    static final String NQN = "nqn.2024-01.io.thermocline.test:latency";
    static final String HOST = "nqn.2014-08.org.nvmexpress:uuid:6c9f7a6e-2222-4c2e-9e8a-0c3ad3a7f0aa";
    static final int BS = 4096;
    static final int READS = 300;

    @TempDir
    Path dir;

    private NvmeTcpTarget target(boolean advertise) {
        return NvmeTcpTarget.builder().port(0).eventLoopThreads(1).serviceTimeReporting(advertise)
                .subsystem(Subsystem.builder(NQN).allowHost(HOST)
                        .namespace(Namespace.openFile(dir.resolve("ns.img"), 4 << 20, BS, false)).build())
                .build();
    }

    private static NvmeTcpHostOptions options(InetSocketAddress at) {
        return NvmeTcpHostOptions.builder(at.getHostString(), at.getPort(), NQN)
                .identity(new HostIdentity(HOST, UUID.nameUUIDFromBytes(HOST.getBytes()))).nrIoQueues(2)
                .commandTimeout(Duration.ofSeconds(30)).build();
    }

    private static void readSome(NvmeTcpBlockDevice dev) throws Exception {
        ByteBuffer buf = ByteBuffer.allocateDirect(2 * BS);
        for (int i = 0; i < READS; i++) {
            buf.clear();
            // alternate one and two blocks; every read lands on one of the two queues
            if (i % 2 == 1) {
                buf.limit(BS);
            }
            dev.read((long) (i % 512) * BS, buf).get(TestTimeouts.millis(30), TimeUnit.MILLISECONDS);
        }
    }

    @Test
    void thermoclineTarget_hostOptsIn_readsSplitIntoHostTransitAndTargetTime() throws Exception {
        try (NvmeTcpTarget t = target(true); NvmeEventLoops loops = new NvmeEventLoops(2)) {
            InetSocketAddress at = t.start();
            try (NvmeTcpController c = NvmeTcpController.connectAndWait(loops, options(at))) {
                assertTrue(c.reportsServiceTime(), "the Thermocline target advertised service times and the host opted in");
                SimpleMeterRegistry registry = new SimpleMeterRegistry();
                c.readLatency().bindTo(registry);
                readSome(c.openNamespace(1));
                FabricReadLatency.Snapshot s = c.readLatency().snapshot();
                assertEquals(READS, s.reads());
                assertTrue(s.targetReported());
                assertEquals(READS, s.target().count(), "every read's CQE carried the service time");
                assertEquals(READS, s.transit().count());
                assertEquals(READS, s.roundTrip().count());
                // the target's time is a part of the round trip: on the whole, it cannot exceed it
                assertTrue(s.target().meanNanos() > 0 && s.target().meanNanos() <= s.roundTrip().meanNanos(),
                        "target mean " + s.target().meanNanos() + " ns, round trip mean " + s.roundTrip().meanNanos() + " ns");
                assertTrue(s.target().maxNanos() < TimeUnit.SECONDS.toNanos(30), "service times are nanoseconds, not garbage: "
                        + s.target().maxNanos());
                assertTrue(s.host().meanNanos() > 0);
                Timer target = registry.get(FabricReadLatency.METER_NAME).tag("component", "target").timer();
                Timer host = registry.get(FabricReadLatency.METER_NAME).tag("component", "host").tag("subsystem", NQN).timer();
                assertEquals(READS, target.count());
                assertEquals(READS, host.count());
                assertEquals(READS, registry.get(FabricReadLatency.METER_NAME).tag("component", "transit").timer().count());
            }
        }
    }

    @Test
    void targetThatDoesNotAdvertise_hostDoesNotOptIn_andReportsHostAndRoundTripOnly() throws Exception {
        try (NvmeTcpTarget t = target(false); NvmeEventLoops loops = new NvmeEventLoops(2)) {
            InetSocketAddress at = t.start();
            try (NvmeTcpController c = NvmeTcpController.connectAndWait(loops, options(at))) {
                assertFalse(c.reportsServiceTime());
                ByteBuf id = c.identify(NvmeOpcodes.CNS_CONTROLLER, 0).join();
                try {
                    assertFalse(VendorIdentify.offersServiceTime(id));
                    for (int i = VendorIdentify.VS_OFFSET; i < 4096; i++) {
                        assertEquals(0, id.getByte(i), "vendor specific byte " + i);
                    }
                } finally {
                    id.release();
                }
                readSome(c.openNamespace(1));
                FabricReadLatency.Snapshot s = c.readLatency().snapshot();
                assertEquals(READS, s.reads());
                assertEquals(READS, s.roundTrip().count());
                assertFalse(s.targetReported());
                assertEquals(0, s.transit().count(), "without the target's time there is no split of the round trip");
            }
        }
    }

    @Test
    void recorder_ofAnEndedQueue_isFoldedIntoTheTotalAndDropped() {
        FabricReadLatency latency = new FabricReadLatency(NQN, "127.0.0.1:4420");
        io.netty.channel.DefaultEventLoop loop = new io.netty.channel.DefaultEventLoop();
        try {
            for (int association = 0; association < 50; association++) {
                FabricReadLatency.Recorder r = latency.newRecorder(loop);
                loop.submit(() -> {
                    r.record(1_000, 20_000, 10_000);
                    r.retire();
                    r.retire();  // a queue may end twice (an error, then the close)
                }).syncUninterruptibly();
            }
            assertEquals(0, latency.liveRecorders(), "recorders of ended queues are not kept");
            FabricReadLatency.Snapshot s = latency.snapshot();
            assertEquals(50, s.reads());
            assertEquals(50, s.target().count());
        } finally {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    @Test
    void recorder_splitsTheRoundTripAndKeepsReadsWithoutServiceTimeOutOfTheSplit() {
        FabricReadLatency latency = new FabricReadLatency(NQN, "127.0.0.1:4420");
        io.netty.channel.DefaultEventLoop loop = new io.netty.channel.DefaultEventLoop();
        try {
            FabricReadLatency.Recorder r = latency.newRecorder(loop);
            loop.submit(() -> {
                r.record(5_000, 40_000, 15_000);
                r.record(6_000, 50_000, 0);
            }).syncUninterruptibly();
            FabricReadLatency.Snapshot s = latency.snapshot();
            assertEquals(2, s.reads());
            assertEquals(1, s.target().count());
            LatencyHistogram transit = s.transit();
            assertEquals(1, transit.count());
            assertEquals(25_000, transit.meanNanos(), 25_000 * 0.02, "transit = round trip - target");
        } finally {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }
}
