/**
 * A software NVMe/TCP target on Netty: {@link io.thermocline.nvmeof.target.NvmeTcpTarget} serves
 * {@link io.thermocline.nvmeof.target.Subsystem}s, each exporting
 * {@link io.thermocline.nvmeof.target.Namespace}s backed by {@link io.thermocline.tier.BlockDevice}s,
 * plus a discovery controller, to the Linux kernel's nvme-tcp host and to Thermocline's own host.
 */
package io.thermocline.nvmeof.target;
