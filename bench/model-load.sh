#!/usr/bin/env bash
# End-to-end model load: the serving example (ModelServer) loads a synthetic safetensors model
# (2 GiB by default) through the engine, timing each tier separately, each against that tier's own
# ceiling measured in the same run:
#   s3, cold       vs parallel ranged GETs of the same objects with the AWS SDK, same range size and parallelism
#   fabric, after a prestage   vs one raw loopback TCP stream (what NVMe/TCP over 127.0.0.1 can carry)
#   local, after a prestage (O_DIRECT)   vs fio O_DIRECT sequential read: the better of the same request size and depth, and 1 MiB x 16
# Each tier gets one warm-up round (a load and its ceiling, printed, not counted) before RUNS
# measured ones; the figures are medians. Everything runs in one JVM on 127.0.0.1 (embedded S3 server, Java NVMe/TCP target). Needs about
# 4 x SIZE_MIB of disk under BENCH_DIR; removes it afterwards. Goal: ratio >= 0.7 for each tier; the
# RESULT ratio is the worst of the three.
#   SIZE_MIB=2048 SHARDS=8 S3_CHUNK_MIB=8 S3_PARALLEL=8 CHUNK_MIB=8 PARALLEL=8 RUNS=3 BENCH_DIR=bench/work bench/model-load.sh
# TIERS=fabric (or any comma-separated subset of s3,fabric,local) measures only those tiers.
source "$(dirname "$0")/lib.sh"
SIZE_MIB=${SIZE_MIB:-2048}
SHARDS=${SHARDS:-8}
S3_CHUNK_MIB=${S3_CHUNK_MIB:-8}      # loads from S3: ranged GETs of this size, this many in flight
S3_PARALLEL=${S3_PARALLEL:-8}
CHUNK_MIB=${CHUNK_MIB:-8}            # loads from fabric and local (and fio): reads of this size, this many in flight
PARALLEL=${PARALLEL:-8}
TIERS=${TIERS:-s3,fabric,local}

need_pkg fio fio
build_bench
work="$BENCH_DIR/model-load"
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

echo "machine: $(machine_line)"
# the loader keeps the whole model off-heap; leave room for it beside the heap
JAVA_OPTS="-XX:MaxDirectMemorySize=$((SIZE_MIB * 2 + 1024))m ${JAVA_OPTS:-}" \
  run_java io.thermocline.bench.ModelLoadBench "$work" "$SIZE_MIB" "$SHARDS" "$S3_CHUNK_MIB" "$S3_PARALLEL" "$CHUNK_MIB" "$PARALLEL" "$RUNS" "$TIERS" 2>&1 \
  | grep -v -e ' INFO ' -e ' DEBUG '
