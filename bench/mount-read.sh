#!/usr/bin/env bash
# Reads through `thermocline mount` (FUSE) against the same bytes read without it, each case from a cold
# page cache, in one run (io.thermocline.bench.MountReadBench):
#   local:  a model (2 GiB by default, safetensors shards) read sequentially in 1 MiB reads through the
#           mount while it is on the local tier, against the local tier's plain files read directly;
#   s3:     the same read through the mount while the model is only in S3 (read through), against the
#           S3 tier's own parallel ranged GETs of the same objects into memory (8 MiB x 16, verified);
#   fabric: the same while it is only on the NVMe/TCP block tier (a user-space target on 127.0.0.1),
#           against the block tier's own reads of the same shape;
#   load_file (reported): Python safetensors load_file of every shard through the mount against the plain files.
# ratio = the worst of mount / reference over the three (goal >= 0.8); medians of RUNS runs.
# Needs FUSE (/dev/fuse, fusermount3 from fuse3); dropping the page cache needs root, and without it
# the reads are warm and the RESULT line says cold=no.
#   SIZE_MIB=2048 SHARDS=4 RUNS=3 BENCH_DIR=bench/work bench/mount-read.sh
source "$(dirname "$0")/lib.sh"
SIZE_MIB=${SIZE_MIB:-2048}
SHARDS=${SHARDS:-4}

need_pkg fusermount3 fuse3
build_bench
bench_workdir mount-read
echo "machine: $(machine_line)"

python_venv

"$PY" "$TOOL" write-big "$work/model" "$SIZE_MIB" "$SHARDS" >&2
mnt="$work/run/mnt"
# a mount left behind by a killed run would make the next one fail
cleanup() { if grep -qs " $mnt fuse" /proc/mounts; then fusermount3 -u -z "$mnt" || true; fi; bench_cleanup; }
trap cleanup EXIT
rm -rf "$work/run"; mkdir -p "$work/run"
JAVA_OPTS="-Xmx3g" run_java io.thermocline.bench.MountReadBench "$work/run" "$work/model" "$RUNS" "$PY" "$TOOL" 2>&1 | grep -v ' INFO '
