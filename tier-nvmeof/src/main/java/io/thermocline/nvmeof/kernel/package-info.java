/**
 * Namespaces the Linux kernel attached over NVMe over Fabrics — TCP, RDMA or Fibre Channel — as
 * {@link io.thermocline.tier.BlockDevice}s: {@link io.thermocline.nvmeof.kernel.KernelNvmeDevice}
 * runs {@code nvme connect} with {@link io.thermocline.nvmeof.kernel.KernelNvmeOptions} (nvme-cli's
 * option names), finds the namespace's block device through sysfs, and reads and writes it with
 * O_DIRECT. This is the JVM's way to RDMA and FC, which the user-space host ({@code host}) does not speak.
 */
package io.thermocline.nvmeof.kernel;
