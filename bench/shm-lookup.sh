#!/usr/bin/env bash
# Point lookups of present keys in the shared region against RocksDB (warm block cache),
# ConcurrentHashMap on the heap and Chronicle Map (persisted to /dev/shm), on the same keys in
# the same run; heat adds; two-thread lookup throughput; and the region at 10 K against 10 M
# entries (short keys, 16-byte extent locators). Keys are drawn uniformly at random.
#   KEYS=1000000 LARGE=10000000 SHM_DIR=/dev/shm bench/shm-lookup.sh
# Last line: RESULT shm-lookup ratio=<RocksDB get p50 / region lookup p50> ...
source "$(dirname "$0")/lib.sh"
KEYS=${KEYS:-1000000}
LARGE=${LARGE:-10000000}
SHM_DIR=${SHM_DIR:-/dev/shm}

build_bench
mkdir -p "$BENCH_DIR"
echo "machine: $(machine_line)"
echo "memory: $(free -g | awk '/^Mem:/ {print $2}') GiB; /dev/shm: $(df -h "$SHM_DIR" | awk 'NR==2 {print $2}')"
JAVA_OPTS="-Xmx12g $CHRONICLE_OPTS" run_java io.thermocline.bench.ShmLookupBench "$KEYS" "$LARGE" "$SHM_DIR" "$BENCH_DIR" 2>&1 \
  | grep -v '^WARNING'
