#!/usr/bin/env bash
# Downloads a synthetic 2 GiB model (8 x 256 MiB incompressible shards plus
# model.safetensors.index.json) from the embedded S3 server over 127.0.0.1 into a local directory,
# three ways in the same run: thermocline s3 cp (S3Tier, verified), rclone copy at its defaults,
# and aws s3 cp --recursive; and prints the server's ceiling: 16 parallel 16 MiB ranged GETs with
# curl into /dev/null. Each download is checked against the source files.
#   SHARDS=8 SHARD_MIB=256 PARALLEL=16 bench/s3-prestage.sh
# RUNS=3 (lib.sh's default) measures the ceiling and the three downloads RUNS times against the
# same server and files; before each timed command the page cache's dirty pages are synced (not
# timed), so no command pays for the previous one's writeback.
# KEEP_SERVER=1 leaves the server running and the files in place, for experiments.
# One "run N: RESULT ..." line per run; last line: the median run's (by ratio)
#   RESULT s3-prestage ratio=<ours MiB/s / rclone MiB/s> ...
source "$(dirname "$0")/lib.sh"
SHARDS=${SHARDS:-8}
SHARD_MIB=${SHARD_MIB:-256}
PARALLEL=${PARALLEL:-16}
need_pkg rclone rclone
need_pkg aws awscli
need_pkg curl curl
unset AWS_CA_BUNDLE

(cd "$REPO" && ./mvnw -B -ntp -q -pl cli -am package -DskipTests) >&2
JAVA_HOME=$(find_jdk25)
export JAVA_HOME
# through the launcher, as a user runs it (with its start-up cache, made here before anything is timed)
tc() { THERMOCLINE_REBUILD=never THERMOCLINE_JAVA_OPTS="-Xmx512m" "$REPO/bin/thermocline" "$@"; }
tc --version >/dev/null

bench_workdir s3-prestage

echo "machine: $(machine_line)"
echo "model: $SHARDS x $SHARD_MIB MiB incompressible shards"
make_model "$work/model" "$SHARDS" "$SHARD_MIB"

start_s3_server "$work"
tc s3 cp "$work/model" s3://models/m/ --endpoint "$endpoint" | tail -1

mibps() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.1f", b / 1048576 / s}'; }
timed() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}'; }
check() { diff -r -q "$work/model" "$1" >/dev/null || { echo "download in $1 differs from the source" >&2; exit 1; }; }

# server ceiling: every shard fetched as 16 MiB ranged GETs, $PARALLEL at a time, into /dev/null
ranges="$work/ranges.txt"; : > "$ranges"
for f in "$work"/model/*.safetensors; do
  size=$(stat -c %s "$f"); name=$(basename "$f")
  for ((off = 0; off < size; off += 16777216)); do echo "$name $off $((off + 16777215 < size - 1 ? off + 16777215 : size - 1))" >> "$ranges"; done
done
export RCLONE_CONFIG_TC_TYPE=s3 RCLONE_CONFIG_TC_PROVIDER=Other RCLONE_CONFIG_TC_ENDPOINT="$endpoint" \
  RCLONE_CONFIG_TC_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" RCLONE_CONFIG_TC_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
  RCLONE_CONFIG_TC_REGION=us-east-1
results=()
for run in $(seq "$RUNS"); do
  echo "--- run $run"
  rm -rf "$work/ours" "$work/rclone" "$work/aws"
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  ceiling_s=$(timed bash -c "xargs -P $PARALLEL -L 1 bash -c 'curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user \$AWS_ACCESS_KEY_ID:\$AWS_SECRET_ACCESS_KEY -H \"Range: bytes=\$1-\$2\" -o /dev/null $endpoint/models/m/\$0' < $ranges")
  shard_bytes=$(du -cb "$work"/model/*.safetensors | tail -1 | cut -f1)
  echo "server ceiling (curl, $PARALLEL x 16 MiB ranged GETs): $(mibps "$shard_bytes" "$ceiling_s") MiB/s"

  sync
  ours_s=$(timed tc s3 cp s3://models/m/ "$work/ours" --endpoint "$endpoint" --parallel "$PARALLEL")
  check "$work/ours"
  echo "thermocline s3 cp (--parallel $PARALLEL, verified): $(mibps "$total_bytes" "$ours_s") MiB/s (${ours_s} s)"

  sync
  rclone_s=$(timed rclone copy tc:models/m "$work/rclone")
  check "$work/rclone"
  echo "rclone copy (defaults): $(mibps "$total_bytes" "$rclone_s") MiB/s (${rclone_s} s)"

  sync
  aws_s=$(timed aws --endpoint-url "$endpoint" s3 cp --recursive --only-show-errors s3://models/m/ "$work/aws")
  check "$work/aws"
  echo "aws s3 cp --recursive: $(mibps "$total_bytes" "$aws_s") MiB/s (${aws_s} s)"

  ours=$(mibps "$total_bytes" "$ours_s"); rcl=$(mibps "$total_bytes" "$rclone_s"); awsr=$(mibps "$total_bytes" "$aws_s")
  ceiling=$(mibps "$shard_bytes" "$ceiling_s")
  ratio=$(awk -v o="$ours" -v r="$rcl" 'BEGIN {printf "%.2f", o / r}')
  of_ceiling=$(awk -v o="$ours" -v c="$ceiling" 'BEGIN {printf "%.2f", o / c}')
  results+=("RESULT s3-prestage ratio=$ratio ours_MiBps=$ours rclone_MiBps=$rcl aws_MiBps=$awsr ceiling_MiBps=$ceiling of_ceiling=$of_ceiling bytes=$total_bytes parallel=$PARALLEL")
  echo "run $run: ${results[-1]}"
done
# the run whose ratio is the median
printf '%s\n' "${results[@]}" | sort -t= -k2 -g | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'
