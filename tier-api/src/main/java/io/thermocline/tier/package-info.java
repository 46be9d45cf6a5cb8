/**
 * Thermocline's tier contracts.
 *
 * <p>{@link io.thermocline.tier.Tier} stores whole immutable objects, each described by an
 * {@link io.thermocline.tier.ObjectInfo} with per-chunk and whole-object CRC32C checksums;
 * {@link io.thermocline.tier.BlockDevice} is a block-addressed byte range that a tier can be
 * built on. Failures are {@link io.thermocline.tier.TierException}s that say whether a retry can
 * help. Nothing in this package performs I/O.
 */
package io.thermocline.tier;
