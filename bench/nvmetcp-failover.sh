#!/usr/bin/env bash
# NVMe/TCP multipath failover: the user-space host with the latency-sensitive preset (keep-alive-tmo 5 s,
# reconnect-delay 2 s, ctrl-loss-tmo 30 s) over two paths to one namespace (two Java targets serving one
# file in /dev/shm, each behind a fault proxy on 127.0.0.1), 4 KiB random reads and writes at QD 16,
# round-robin. One path is reset (TRIALS times), then blackholed (TRIALS times); each trial measures the
# failover time, from the fault to the completion of the last I/O it caught (done on the surviving path).
# Goals: reset <= 1 s; blackhole <= keep-alive-tmo + 1 s; no I/O error reaches the application.
# The ratio printed is the median blackhole failover over (keep-alive-tmo + 1 s); lower is better.
#   TRIALS=3 bench/nvmetcp-failover.sh
source "$(dirname "$0")/lib.sh"
build_bench
echo "machine: $(machine_line)"
out=$(JAVA_OPTS="-XX:+UseParallelGC" run_java io.thermocline.bench.NvmeTcpFailoverBench "${TRIALS:-3}" 2>&1 | grep -v ' INFO ' | grep -v ' WARN ')
echo "$out"
echo "$out" | grep '^RESULT ' | tail -n1
