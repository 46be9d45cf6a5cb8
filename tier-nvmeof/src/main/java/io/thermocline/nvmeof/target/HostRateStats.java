package io.thermocline.nvmeof.target;

/**
 * What the rate limiter of one host on one subsystem has done since the target started.
 *
 * @param limit the limit in force
 * @param admittedCommands I/O commands let through
 * @param admittedBytes data bytes of the commands let through
 * @param deferredCommands commands that arrived over budget and were held before being let through
 *        (or before their connection closed)
 */
public record HostRateStats(HostRateLimit limit, long admittedCommands, long admittedBytes, long deferredCommands) {
}
