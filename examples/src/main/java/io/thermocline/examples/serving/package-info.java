/**
 * The serving example: {@link io.thermocline.examples.serving.ModelServer} loads a safetensors model
 * through {@link io.thermocline.engine.TierEngine}, tensor by tensor into off-heap memory, and keeps
 * serving reads while the engine moves shards between tiers.
 */
package io.thermocline.examples.serving;
