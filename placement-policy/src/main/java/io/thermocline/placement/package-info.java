/**
 * Placement policy: decayed heat ({@link io.thermocline.placement.HeatTracker}), the TinyLFU
 * admission sketch ({@link io.thermocline.placement.FrequencySketch}), rules and tier limits from
 * YAML ({@link io.thermocline.placement.PolicyConfigLoader}) and the move
 * {@link io.thermocline.placement.Planner}. Pure: no I/O, time from an injected clock.
 */
package io.thermocline.placement;
