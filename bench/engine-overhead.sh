#!/usr/bin/env bash
# What TierEngine adds on top of the tier it reads from: a hot object on the local tier read through
# TierEngine against the same bytes read from a LocalTier opened directly, in the same JVM, the two
# sides alternated RUNS times (default 5), medians compared. Page-cache-hot on purpose: the faster the
# tier, the more any per-call overhead shows.
#   stream: whole object, 1 MiB requests, 16 in flight, CRC32C-verified (MB/s)  -> ratio, goal >= 0.95
#   small:  4 KiB reads one at a time through a reader opened once (ns per call, and the difference)
#   heat:   the engine's per-read-call region work alone (key lookup + atomic heat update), goal <= 1000 ns
#   SIZE_MIB=512 RUNS=5 BENCH_DIR=bench/work bench/engine-overhead.sh
source "$(dirname "$0")/lib.sh"
SIZE_MIB=${SIZE_MIB:-512}
RUNS=${RUNS:-5}
size=$((SIZE_MIB * 1024 * 1024))

build_bench
work="$BENCH_DIR/engine-overhead"
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

echo "machine: $(machine_line)"
echo "object: ${SIZE_MIB} MiB on the local tier (page cache), ${RUNS} alternating runs after 2 untimed warm-ups"
out=$(run_java io.thermocline.bench.EngineOverheadBench "$work" "$size" 1048576 16 "$RUNS")
echo "$out" | grep '^side'
summary=$(echo "$out" | grep '^summary')
get() { sed -n "s/.* $1=\([0-9.-]*\).*/\1/p" <<<"$summary"; }
echo "reference (LocalTier directly): median $(get tier_MBps) MB/s streaming, $(get small_tier_ns) ns per 4 KiB read call"
echo "ours (TierEngine over the same tier): median $(get engine_MBps) MB/s streaming, $(get small_engine_ns) ns per 4 KiB read call"
echo "per read call: lookup + heat update $(get heat_ns) ns; end-to-end added per 4 KiB call $(get small_added_ns) ns"
echo "RESULT engine-overhead ratio=$(get stream_ratio) engine_MBps=$(get engine_MBps) tier_MBps=$(get tier_MBps)" \
     "heat_ns=$(get heat_ns) small_added_ns=$(get small_added_ns) size_MiB=$SIZE_MIB runs=$RUNS target: ratio>=0.95 heat_ns<=1000"
