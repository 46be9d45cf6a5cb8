package io.thermocline.nvmeof.host;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.netty.channel.EventLoop;
import io.thermocline.nvmeof.load.LatencyHistogram;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * Where the time of each fabric read of one controller goes, split in three:
 *
 * <ul>
 *   <li><b>host</b>: from the read's submission to its command capsule leaving the queue (waiting
 *       for a free slot, encoding, the socket write), plus the time spent copying the read data
 *       into the caller's buffer as it arrives;</li>
 *   <li><b>target</b>: the controller's own service time for the command, from its capsule's
 *       arrival to its data being handed to the connection — reported only by a Thermocline
 *       target the host opted in with (see {@link io.thermocline.nvmeof.pdu.VendorIdentify});</li>
 *   <li><b>transit</b>: the rest of the round trip (capsule sent to completion received, less the
 *       copy), that is the network, both kernels' TCP stacks and the decoding on both ends.</li>
 * </ul>
 *
 * Against a target that does not report its service time, reads are split into host time and
 * round trip only ({@link Snapshot#targetReported()} is false).
 *
 * <p>Each I/O queue records into its own {@link Recorder} on its event loop (no locks, no
 * allocation per read); {@link #snapshot()} adds them up. When a queue ends, its figures are
 * folded into one total kept for the controller's whole life and its recorder is dropped, so a
 * path that reconnects again and again does not pile recorders up. When bound to a
 * {@link MeterRegistry} ({@link #bindTo}), every read is also recorded in four Timers named
 * {@value #METER_NAME} with tag {@code component} = host, round_trip, transit or target, and
 * tags {@code subsystem} and {@code address} naming the controller; p50 and p99 are published.
 *
 * <p>Thread-safe.
 */
public final class FabricReadLatency implements MeterBinder {
    public static final String METER_NAME = "thermocline.nvmeof.read.latency";

    private final String subsystemNqn;
    private final String address;
    /** Recorders of live queues; guards {@link #retired}. */
    private final List<Recorder> recorders = new ArrayList<>();
    /** Figures of queues that ended. */
    private final Snapshot retired = Snapshot.empty();
    private volatile Meters meters;

    FabricReadLatency(String subsystemNqn, String address) {
        this.subsystemNqn = subsystemNqn;
        this.address = address;
    }

    /** A recorder for one queue, recording on {@code loop}. */
    Recorder newRecorder(EventLoop loop) {
        Recorder r = new Recorder(this, loop);
        synchronized (recorders) {
            recorders.add(r);
        }
        return r;
    }

    /** Registers the four Timers (see the class comment); reads from then on are recorded in them too. */
    @Override
    public void bindTo(MeterRegistry registry) {
        Tags tags = Tags.of("subsystem", subsystemNqn, "address", address);
        meters = new Meters(timer(registry, tags, "host"), timer(registry, tags, "round_trip"),
                timer(registry, tags, "transit"), timer(registry, tags, "target"));
    }

    private static Timer timer(MeterRegistry registry, Tags tags, String component) {
        return Timer.builder(METER_NAME).tags(tags).tag("component", component)
                .description("fabric read latency, " + component.replace('_', ' ') + " part")
                .publishPercentiles(0.5, 0.99)
                .register(registry);
    }

    private record Meters(Timer host, Timer roundTrip, Timer transit, Timer target) {
    }

    /**
     * The reads recorded so far, added up over every queue. Each queue's figures are copied on its
     * event loop (or directly once the loop is gone); blocks for up to a second per queue.
     */
    public Snapshot snapshot() {
        List<Recorder> all;
        synchronized (recorders) {
            all = new ArrayList<>(recorders);
        }
        Snapshot sum = Snapshot.empty();
        synchronized (recorders) {
            sum.add(retired);
        }
        for (Recorder r : all) {
            Snapshot one;
            try {
                one = r.loop.inEventLoop() ? r.copy() : CompletableFuture.supplyAsync(r::copy, r.loop).get(1, TimeUnit.SECONDS);
            } catch (RejectedExecutionException | java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                one = r.copy();  // the loop is shut down: nothing records any more
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                one = r.copy();
            }
            sum.add(one);
        }
        return sum;
    }

    /** Recorders of queues that have not ended. */
    int liveRecorders() {
        synchronized (recorders) {
            return recorders.size();
        }
    }

    /** A queue ended: keeps its figures in the total and forgets the recorder. Runs on the queue's loop. */
    private void retire(Recorder r) {
        synchronized (recorders) {
            if (recorders.remove(r)) {
                retired.add(r.copy());
            }
        }
    }

    /**
     * Latency histograms of reads, in nanoseconds. {@code transit} and {@code target} hold the
     * reads whose completion carried the target's service time; {@code host} and
     * {@code roundTrip} hold every successful read.
     */
    public record Snapshot(LatencyHistogram host, LatencyHistogram roundTrip, LatencyHistogram transit,
                           LatencyHistogram target) {
        static Snapshot empty() {
            return new Snapshot(new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram());
        }

        private void add(Snapshot other) {
            host.add(other.host);
            roundTrip.add(other.roundTrip);
            transit.add(other.transit);
            target.add(other.target);
        }

        /** Reads recorded. */
        public long reads() {
            return host.count();
        }

        /** Whether any read carried the target's service time (a Thermocline target, opted in). */
        public boolean targetReported() {
            return target.count() > 0;
        }
    }

    /** One queue's figures; its methods run on the queue's event loop only. */
    static final class Recorder {
        private final FabricReadLatency owner;
        private final EventLoop loop;
        private final LatencyHistogram host = new LatencyHistogram();
        private final LatencyHistogram roundTrip = new LatencyHistogram();
        private final LatencyHistogram transit = new LatencyHistogram();
        private final LatencyHistogram target = new LatencyHistogram();

        private Recorder(FabricReadLatency owner, EventLoop loop) {
            this.owner = owner;
            this.loop = loop;
        }

        /**
         * One successful read.
         *
         * @param targetNanos the target's service time, or 0 when the completion carried none
         */
        void record(long hostNanos, long roundTripNanos, long targetNanos) {
            host.record(hostNanos);
            roundTrip.record(roundTripNanos);
            long transitNanos = Math.max(0, roundTripNanos - targetNanos);
            if (targetNanos > 0) {
                target.record(targetNanos);
                transit.record(transitNanos);
            }
            Meters m = owner.meters;
            if (m != null) {
                m.host.record(hostNanos, TimeUnit.NANOSECONDS);
                m.roundTrip.record(roundTripNanos, TimeUnit.NANOSECONDS);
                if (targetNanos > 0) {
                    m.target.record(targetNanos, TimeUnit.NANOSECONDS);
                    m.transit.record(transitNanos, TimeUnit.NANOSECONDS);
                }
            }
        }

        /** The queue ended: nothing more will be recorded here. Idempotent; on the queue's loop. */
        void retire() {
            owner.retire(this);
        }

        private Snapshot copy() {
            Snapshot s = Snapshot.empty();
            s.host.add(host);
            s.roundTrip.add(roundTrip);
            s.transit.add(transit);
            s.target.add(target);
            return s;
        }
    }
}
