/**
 * A software NVMe/TCP target on Netty: {@link io.thermocline.nvmeof.target.NvmeTcpTarget} serves
 * {@link io.thermocline.nvmeof.target.Subsystem}s, each exporting
 * {@link io.thermocline.nvmeof.target.Namespace}s backed by {@link io.thermocline.tier.BlockDevice}s,
 * plus a discovery controller, to the Linux kernel's nvme-tcp host and to Thermocline's own host.
 *
 * <p>One subsystem can serve several tenants: namespaces attached per host
 * ({@link io.thermocline.nvmeof.target.Subsystem.Builder#namespaceHosts}) and per-host token bucket
 * rate limits ({@link io.thermocline.nvmeof.target.HostRateLimit}). To Thermocline hosts that ask
 * for it, the target reports each Read's and Write's service time (see
 * {@link io.thermocline.nvmeof.pdu.VendorIdentify}).
 */
package io.thermocline.nvmeof.target;
