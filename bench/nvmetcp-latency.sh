#!/usr/bin/env bash
# NVMe/TCP latency: the user-space host against the Java target over 127.0.0.1, in one JVM, the
# namespace a 256 MiB file in /dev/shm (memory). 4 KiB random reads at queue depth 1, one I/O queue, against a plain TCP ping-pong (72-byte request, 4 KiB + 24-byte reply, TCP_NODELAY). Goals: p50 <= 1.3x the ping-pong's p50, p99 <= 2x its p99; the ratio printed is p50 over p50.
#   SECONDS_PER_SIDE=10 RUNS=3 bench/nvmetcp-latency.sh
# Each run prints both sides; the last line is the median run's RESULT line.
source "$(dirname "$0")/lib.sh"
nvmetcp_bench latency
