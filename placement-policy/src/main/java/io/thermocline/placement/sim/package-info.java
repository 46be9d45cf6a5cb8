/**
 * The trace simulator: the CSV trace format ({@link io.thermocline.placement.sim.TraceParser}),
 * synthetic traces ({@link io.thermocline.placement.sim.TraceGenerator}), Thermocline's fast-tier
 * policy and the LRU, W-TinyLFU and Belady baselines, replayed by
 * {@link io.thermocline.placement.sim.Simulator}.
 */
package io.thermocline.placement.sim;
