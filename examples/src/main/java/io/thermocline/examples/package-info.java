/**
 * Examples of embedding {@link io.thermocline.engine.TierEngine}: {@code serving} (a model server
 * that loads safetensors shards tensor by tensor into off-heap memory) and {@code checkpoint} (a
 * training-loop writer whose checkpoints are written back to local storage and persisted to S3 by
 * the engine). {@link io.thermocline.examples.EmbeddedTiers} runs both on servers in the same
 * process, for trying them out and for their tests.
 */
package io.thermocline.examples;
