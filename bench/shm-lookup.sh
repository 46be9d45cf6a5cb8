#!/usr/bin/env bash
# Point lookups of present keys in the shared region against RocksDB (warm block cache),
# ConcurrentHashMap on the heap and Chronicle Map (persisted to /dev/shm), on the same keys in
# the same run; heat adds; two-thread lookup throughput; and the region at 10 K against 10 M
# entries (short keys, 16-byte extent locators). Keys are drawn uniformly at random.
#   KEYS=1000000 LARGE=10000000 SHM_DIR=/dev/shm HEADROOM=1 bench/shm-lookup.sh
# HEADROOM sizes the 1 M region's max-objects at that many times the keys (1: the table at its
# 75% design load, the worst case; 2: at 37.5%, as a region sized with room to grow).
# BUILD=0 skips the build and runs the bench classes as they are (after
# ./mvnw -o install -pl shared-memory-meta and ./mvnw -o package -pl bench).
# Last line: RESULT shm-lookup ratio=<RocksDB get p50 / region lookup p50> ...
source "$(dirname "$0")/lib.sh"
KEYS=${KEYS:-1000000}
LARGE=${LARGE:-10000000}
SHM_DIR=${SHM_DIR:-/dev/shm}
HEADROOM=${HEADROOM:-1}

if [ "${BUILD:-1}" = 0 ]; then
  JAVA_HOME=$(find_jdk25)
  BENCH_CP="$REPO/bench/target/classes:$(cat "$REPO/bench/target/classpath.txt")"
else
  build_bench
fi
mkdir -p "$BENCH_DIR"
echo "machine: $(machine_line)"
echo "memory: $(free -g | awk '/^Mem:/ {print $2}') GiB; /dev/shm: $(df -h "$SHM_DIR" | awk 'NR==2 {print $2}')"
JAVA_OPTS="-Xmx12g $CHRONICLE_OPTS" run_java io.thermocline.bench.ShmLookupBench "$KEYS" "$LARGE" "$SHM_DIR" "$BENCH_DIR" "$HEADROOM" 2>&1 \
  | grep -v '^WARNING'
