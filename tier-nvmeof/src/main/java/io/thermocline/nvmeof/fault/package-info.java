/**
 * Fault injection for NVMe/TCP paths: {@link io.thermocline.nvmeof.fault.TcpFaultProxy} sits on
 * 127.0.0.1 between a host and a target and resets, blackholes, cuts one direction of, delays or
 * throttles the traffic at run time, for the tests and benchmarks of keep-alive, reconnect and
 * multipath failover.
 */
package io.thermocline.nvmeof.fault;
