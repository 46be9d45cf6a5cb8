#!/usr/bin/env bash
# NVMe/TCP tenants: one subsystem of the Java target over 127.0.0.1 serving two hosts in one JVM,
# the namespace a 256 MiB file in /dev/shm. The victim reads 4 KiB at random at QD1; the scanner
# reads 128 KiB sequentially at QD16 over 2 I/O queues. Three phases: victim alone, next to the
# scanner without a limit, next to the scanner held to LIMIT_MIB_S (default 100) by a per-host
# rate limit. ratio = victim p99 alone / victim p99 next to the throttled scanner (1.0 is perfect
# isolation); unthrottled_ratio the same without the limit.
#   SECONDS_PER_SIDE=10 RUNS=3 LIMIT_MIB_S=100 bench/nvmetcp-tenants.sh
# Each run prints every phase; the last line is the median run's RESULT line.
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
  out=$(JAVA_OPTS="-XX:+UseParallelGC" run_java io.thermocline.bench.NvmeTcpTenantsBench "${SECONDS_PER_SIDE:-10}" "${LIMIT_MIB_S:-100}" 2>&1 | grep -v INFO)
  echo "$out"
  results+=("$(echo "$out" | grep '^RESULT ')")
done
printf '%s\n' "${results[@]}" | sort -t= -k2 -g | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'
