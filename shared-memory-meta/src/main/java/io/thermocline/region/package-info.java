/**
 * The host-wide metadata region ({@link io.thermocline.region.SharedRegion}): a memory-mapped file
 * holding the object table, heat, leases and the request ring, shared by every process on a host.
 */
package io.thermocline.region;
