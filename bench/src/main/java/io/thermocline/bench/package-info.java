/**
 * Benchmark drivers: JMH benchmarks and the whole-process programs that {@code bench/*.sh} run
 * against a reference tool (fio, ...) in the same run.
 */
package io.thermocline.bench;
