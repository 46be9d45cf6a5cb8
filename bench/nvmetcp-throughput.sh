#!/usr/bin/env bash
# NVMe/TCP throughput: the user-space host against the Java target over 127.0.0.1, in one JVM, the
# namespace a 256 MiB file in /dev/shm (memory). 128 KiB sequential reads at queue depth 16 over 2 I/O queues, against one raw loopback TCP stream (128 KiB writes). Goal: ratio >= 0.7.
#   SECONDS_PER_SIDE=10 RUNS=3 bench/nvmetcp-throughput.sh
# Each run prints both sides; the last line is the median run's RESULT line.
source "$(dirname "$0")/lib.sh"
SECONDS_PER_SIDE=${SECONDS_PER_SIDE:-10}
build_bench
echo "machine: $(machine_line)"
results=()
for i in $(seq "$RUNS"); do
  echo "--- run $i"
  out=$(JAVA_OPTS="-XX:+UseParallelGC" run_java io.thermocline.bench.NvmeTcpBench throughput "$SECONDS_PER_SIDE" 2>&1 | grep -v INFO)
  echo "$out"
  results+=("$(echo "$out" | grep '^RESULT ')")
done
# the run whose ratio is the median
printf '%s\n' "${results[@]}" | sort -t= -k2 -g | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'
