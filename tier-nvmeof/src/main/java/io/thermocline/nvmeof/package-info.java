/**
 * NVMe over Fabrics for Thermocline's FABRIC tier. Filled by the NVMe/TCP issue: the PDU codec, the user-space host and target, and BlockTier.
 */
package io.thermocline.nvmeof;
