/**
 * The checkpoint example: {@link io.thermocline.examples.checkpoint.Checkpointer} writes a training
 * loop's state write-back to the local tier and lets the engine persist it to S3; after a crash it
 * restores the latest complete checkpoint.
 */
package io.thermocline.examples.checkpoint;
