#!/usr/bin/env bash
# NVMe/TCP throughput: the user-space host against the Java target over 127.0.0.1, in one JVM, the
# namespace a 256 MiB file in /dev/shm (memory). 128 KiB sequential reads at queue depth 16 over 2 I/O queues, against one raw loopback TCP stream (128 KiB writes). Goal: ratio >= 0.7.
#   SECONDS_PER_SIDE=10 RUNS=3 bench/nvmetcp-throughput.sh
# Each run prints both sides; the last line is the median run's RESULT line.
source "$(dirname "$0")/lib.sh"
nvmetcp_bench throughput
