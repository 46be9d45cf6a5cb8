#!/usr/bin/env bash
# NVMe/TCP TLS cost: the user-space host against the Java target over 127.0.0.1 in one JVM, the
# namespace a 256 MiB file in /dev/shm, 128 KiB sequential reads (then writes) at QD16 over 2 I/O
# queues, in cleartext and over TLS 1.3 with a configured PSK (TLS_AES_128_GCM_SHA256).
# ratio = TLS read MiB/s / cleartext read MiB/s (write_ratio the same for writes).
#   SECONDS_PER_SIDE=10 RUNS=3 bench/nvmetcp-tls.sh
# Each run prints both sides; the last line is the median run's RESULT line.
source "$(dirname "$0")/lib.sh"
build_bench
# run from a private copy of the class path: a module rebuilt in this tree meanwhile must not change
# the jars under a running JVM
snapshot=$(mktemp -d)
trap 'rm -rf "$snapshot"' EXIT
cp_entries=()
IFS=: read -r -a parts <<< "$BENCH_CP"
for i in "${!parts[@]}"; do
  dst="$snapshot/$i-$(basename "${parts[$i]}")"
  cp -r "${parts[$i]}" "$dst"
  cp_entries+=("$dst")
done
BENCH_CP=$(IFS=:; echo "${cp_entries[*]}")
echo "machine: $(machine_line)"
results=()
for i in $(seq "$RUNS"); do
  echo "--- run $i"
  out=$(JAVA_OPTS="-XX:+UseParallelGC" run_java io.thermocline.bench.NvmeTcpTlsBench "${SECONDS_PER_SIDE:-10}" 2>&1 | grep -v INFO)
  echo "$out"
  results+=("$(echo "$out" | grep '^RESULT ')")
done
printf '%s\n' "${results[@]}" | sort -t= -k2 -g | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'
