/**
 * Mechanisms shared by tier implementations: chunk checksum accounting for writers
 * ({@link io.thermocline.tier.support.ChunkChecksumTracker}), verified reads over a blocking
 * source ({@link io.thermocline.tier.support.VerifiedReader}) and scratch buffer pools. No I/O of
 * its own: callers supply the bytes.
 */
package io.thermocline.tier.support;
