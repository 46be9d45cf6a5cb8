#!/usr/bin/env bash
# Sequential read of a 1 GiB object from LocalTier with O_DIRECT (1 MiB requests, 16 in flight,
# every chunk verified against its CRC32C), against fio reading a 1 GiB file on the same file
# system with --direct=1 --rw=read --bs=1M --iodepth=16 (libaio). Alternates the two RUNS times
# (default 3) and compares medians. Goal: ratio >= 0.95.
#   SIZE_MIB=1024 RUNS=3 BENCH_DIR=bench/work bench/local-read.sh
source "$(dirname "$0")/lib.sh"
SIZE_MIB=${SIZE_MIB:-1024}
size=$((SIZE_MIB * 1024 * 1024))

need_pkg fio fio
need_pkg jq jq
build_bench
work="$BENCH_DIR/local-read"
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

echo "machine: $(machine_line)"
echo "preparing: ${SIZE_MIB} MiB object in LocalTier and ${SIZE_MIB} MiB fio file in $work"
run_java io.thermocline.bench.LocalTierBench write "$work/tier" "$size" 1048576 16 true 0 >/dev/null
fio --name=layout --filename="$work/fio.dat" --size="$size" --rw=write --bs=1M --direct=1 \
    --ioengine=libaio --iodepth=16 --end_fsync=1 --output-format=json >/dev/null

ours=(); ref=()
for i in $(seq "$RUNS"); do
  r=$(fio --name=ref --filename="$work/fio.dat" --size="$size" --rw=read --bs=1M --direct=1 \
        --ioengine=libaio --iodepth=16 --output-format=json | jq '.jobs[0].read.bw_bytes / 1e6')
  ref+=("$r")
  echo "run $i reference fio read: $(printf '%.1f' "$r") MB/s"
  o=$(run_java io.thermocline.bench.LocalTierBench read "$work/tier" "$size" 1048576 16 true)
  echo "run $i $o"
  ours+=("$(sed -n 's/.*MBps=\([0-9.]*\).*/\1/p' <<<"$o")")
done

ref_med=$(median "${ref[@]}"); ours_med=$(median "${ours[@]}")
ratio=$(awk -v o="$ours_med" -v r="$ref_med" 'BEGIN {printf "%.3f", o / r}')
echo "reference (fio O_DIRECT read, bs=1M, iodepth=16): median ${ref_med} MB/s over $RUNS runs"
echo "ours (LocalTier O_DIRECT read, 1 MiB x 16 in flight, CRC32C verified): median ${ours_med} MB/s over $RUNS runs"
echo "RESULT local-read ratio=$ratio ours_MBps=$ours_med fio_MBps=$ref_med size_MiB=$SIZE_MIB runs=$RUNS"
