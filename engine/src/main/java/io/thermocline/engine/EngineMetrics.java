package io.thermocline.engine;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The engine's Micrometer meters. Names (all tagged as shown):
 * <ul>
 *   <li>{@code thermocline.engine.read} (timer, histogram; tag {@code tier}): one read call;</li>
 *   <li>{@code thermocline.engine.read.bytes} (summary; {@code tier}): bytes per read call;</li>
 *   <li>{@code thermocline.engine.read.opens} (counter; {@code tier}, {@code result=hit|miss}): a hit is
 *       an object opened on its preferred tier, a miss one read through from a slower tier;</li>
 *   <li>{@code thermocline.engine.put} (timer; {@code mode}): one put, from call to commit;</li>
 *   <li>{@code thermocline.engine.move} (timer; {@code kind}, {@code from}, {@code to}, {@code result}): one move;</li>
 *   <li>{@code thermocline.engine.move.bytes} (counter): bytes copied by moves;</li>
 *   <li>{@code thermocline.engine.move.preempted} (counter): chunks of background moves that waited for a foreground read;</li>
 *   <li>{@code thermocline.engine.move.resumed.chunks} (counter): chunks a copy took from a cut-off earlier copy instead of its source;</li>
 *   <li>{@code thermocline.engine.put.resumed.bytes} (counter, tag tier): bytes a put's writer took over from a cut-off earlier put instead of writing them again;</li>
 *   <li>{@code thermocline.engine.move.shared.chunks} (counter): chunks a read-through promotion took from the foreground reader instead of its source;</li>
 *   <li>{@code thermocline.engine.stager.queue} (gauge): moves waiting or running;</li>
 *   <li>{@code thermocline.engine.dirty.bytes} (gauge): bytes written back and not yet persisted.</li>
 * </ul>
 */
final class EngineMetrics {

    private final MeterRegistry registry;
    private final java.util.List<Gauge> gauges = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final ConcurrentHashMap<String, Timer> readTimers = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, DistributionSummary> readBytes = new ConcurrentHashMap<>();
    private final Counter movedBytes;
    private final Counter preempted;
    private final Counter resumedChunks;
    private final Counter sharedChunks;

    EngineMetrics(MeterRegistry registry) {
        this.registry = registry;
        this.movedBytes = Counter.builder("thermocline.engine.move.bytes").baseUnit("bytes").register(registry);
        this.preempted = Counter.builder("thermocline.engine.move.preempted").register(registry);
        this.resumedChunks = Counter.builder("thermocline.engine.move.resumed.chunks").register(registry);
        this.sharedChunks = Counter.builder("thermocline.engine.move.shared.chunks").register(registry);
    }

    MeterRegistry registry() {
        return registry;
    }

    void read(String tier, long nanos, int bytes) {
        readTimers.computeIfAbsent(tier, t -> Timer.builder("thermocline.engine.read").tag("tier", t)
                .publishPercentileHistogram().register(registry)).record(nanos, TimeUnit.NANOSECONDS);
        if (bytes > 0) {
            readBytes.computeIfAbsent(tier, t -> DistributionSummary.builder("thermocline.engine.read.bytes").baseUnit("bytes")
                    .tag("tier", t).register(registry)).record(bytes);
        }
    }

    void open(String tier, boolean hit) {
        registry.counter("thermocline.engine.read.opens", "tier", tier, "result", hit ? "hit" : "miss").increment();
    }

    void put(String mode, long nanos) {
        registry.timer("thermocline.engine.put", "mode", mode).record(nanos, TimeUnit.NANOSECONDS);
    }

    void move(String kind, String from, String to, boolean ok, long nanos) {
        Timer.builder("thermocline.engine.move").tag("kind", kind).tag("from", from).tag("to", to)
                .tag("result", ok ? "ok" : "failed").register(registry).record(nanos, TimeUnit.NANOSECONDS);
    }

    void movedBytes(long bytes) {
        movedBytes.increment(bytes);
    }

    void preempted() {
        preempted.increment();
    }

    void sharedChunks(int chunks) {
        sharedChunks.increment(chunks);
    }

    void resumedPutBytes(String tier, long bytes) {
        Counter.builder("thermocline.engine.put.resumed.bytes").baseUnit("bytes").tag("tier", tier)
                .register(registry).increment(bytes);
    }

    void resumedChunks(int chunks) {
        resumedChunks.increment(chunks);
    }

    void gauges(Supplier<Number> queue, Supplier<Number> dirtyBytes) {
        gauges.add(Gauge.builder("thermocline.engine.stager.queue", queue).register(registry));
        gauges.add(Gauge.builder("thermocline.engine.dirty.bytes", dirtyBytes).baseUnit("bytes").register(registry));
    }

    /**
     * Takes this engine's gauges out of the registry: they read a closed engine, and an engine
     * opened later on the same registry registers its own (Micrometer would otherwise keep
     * handing back the first ones).
     */
    void close() {
        for (Gauge g : gauges) {
            registry.remove(g);
        }
        gauges.clear();
    }
}
