#!/usr/bin/env bash
# NVMe/TCP cpu: the user-space host against the Java target over 127.0.0.1, in one JVM, the
# namespace a 256 MiB file in /dev/shm (memory). 4 KiB random reads at queue depth 32 over 2 I/O queues: IOPS, and CPU per I/O on the host's and the target's event loop threads. The ratio printed is host + target CPU microseconds per I/O.
#   SECONDS_PER_SIDE=10 RUNS=3 bench/nvmetcp-cpu.sh
# Each run prints both sides; the last line is the median run's RESULT line.
source "$(dirname "$0")/lib.sh"
nvmetcp_bench cpu
