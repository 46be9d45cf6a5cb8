#!/usr/bin/env bash
# Sequential publish of a 1 GiB object to LocalTier with O_DIRECT (1 MiB writes, 16 in flight,
# CRC32C per chunk, then trailer + fdatasync + rename + directory fsync), against fio's
# sequential O_DIRECT write of 1 GiB on the same file system (--bs=1M --iodepth=16 libaio,
# --end_fsync=1), timed the same way: wall time of the whole job from fio's own start to its
# final fsync. Alternates the two RUNS times (default 3) and compares medians. Goal: ratio >= 0.90.
#   SIZE_MIB=1024 RUNS=3 BENCH_DIR=bench/work bench/local-write.sh
source "$(dirname "$0")/lib.sh"
SIZE_MIB=${SIZE_MIB:-1024}
size=$((SIZE_MIB * 1024 * 1024))

need_pkg fio fio
need_pkg jq jq
build_bench
work="$BENCH_DIR/local-write"
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

echo "machine: $(machine_line)"
ours=(); ref=()
for i in $(seq "$RUNS"); do
  rm -f "$work/fio.dat"
  # job_runtime (ms) spans the writes and the end_fsync; bytes / job_runtime is fio's publish rate
  r=$(fio --name=ref --filename="$work/fio.dat" --size="$size" --rw=write --bs=1M --direct=1 \
        --ioengine=libaio --iodepth=16 --end_fsync=1 --output-format=json \
      | jq '.jobs[0].write.io_bytes / (.jobs[0].job_runtime / 1000) / 1e6')
  ref+=("$r")
  echo "run $i reference fio write+fsync: $(printf '%.1f' "$r") MB/s"
  rm -rf "$work/tier"
  o=$(run_java io.thermocline.bench.LocalTierBench write "$work/tier" "$size" 1048576 16 true)
  echo "run $i $o"
  ours+=("$(sed -n 's/.*MBps=\([0-9.]*\).*/\1/p' <<<"$o")")
done

ref_med=$(median "${ref[@]}"); ours_med=$(median "${ours[@]}")
ratio=$(awk -v o="$ours_med" -v r="$ref_med" 'BEGIN {printf "%.3f", o / r}')
echo "reference (fio O_DIRECT write, bs=1M, iodepth=16, end_fsync): median ${ref_med} MB/s over $RUNS runs"
echo "ours (LocalTier O_DIRECT publish: writes + CRC32C + trailer + fdatasync + rename + dir fsync): median ${ours_med} MB/s over $RUNS runs"
echo "RESULT local-write ratio=$ratio ours_MBps=$ours_med fio_MBps=$ref_med size_MiB=$SIZE_MIB runs=$RUNS"
