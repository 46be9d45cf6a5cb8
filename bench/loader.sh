#!/usr/bin/env bash
# Python's safetensors load_file of a model (2 GiB by default) from a cold page cache, from the plain
# files `thermocline prestage --to local` left, against a plain copy of the same files on the same file
# system; ratio = plain time / prestaged time (goal >= 0.95). The bucket is filled by `aws s3 sync`
# (boto3's upload_file when no AWS CLI is installed), and prestage's own time is printed too.
# Dropping the page cache needs root (echo 3 > /proc/sys/vm/drop_caches); without it the loads are warm
# and the script says so. Each side is loaded RUNS times, alternating; the figures are medians.
#   SIZE_MIB=2048 SHARDS=4 RUNS=3 BENCH_DIR=bench/work bench/loader.sh
source "$(dirname "$0")/lib.sh"
SIZE_MIB=${SIZE_MIB:-2048}
SHARDS=${SHARDS:-4}

build_bench
(cd "$REPO" && ./mvnw -B -ntp -q -pl cli -am package -DskipTests) >&2
bench_workdir loader
echo "machine: $(machine_line)"

python_venv
if [ -x "$venv/bin/aws" ]; then AWS="$venv/bin/aws"; elif command -v aws >/dev/null; then AWS=$(command -v aws); else AWS=""; fi

cold=yes
drop_caches() { sync; if [ "$(id -u)" -eq 0 ] && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then :; else cold=no; fi; }

"$PY" "$TOOL" write-big "$work/model" "$SIZE_MIB" "$SHARDS" >&2
start_s3_server "$work"
t0=$(date +%s.%N)
if [ -n "$AWS" ]; then
  echo "filling the bucket with $AWS s3 sync ($("$AWS" --version 2>&1 | head -1))"
  "$AWS" --endpoint-url "$endpoint" s3 sync "$work/model" "s3://models/tc/bench/" --only-show-errors
else
  echo "no AWS CLI: filling the bucket with boto3 upload_file"
  "$PY" "$TOOL" upload "$work/model" "$endpoint" models tc/bench/ >/dev/null
fi
echo "upload: $(echo "$(date +%s.%N) - $t0" | bc) s"

cat > "$work/thermocline.yaml" <<YAML
data-root: $work/root
tiers:
  - {name: local, type: local, path: $work/local, capacity: $((SIZE_MIB * 2))MiB}
  - {name: s3, type: s3, bucket: models, prefix: tc/, endpoint: "$endpoint"}
YAML
drop_caches
t0=$(date +%s.%N)
staged=$("$REPO/bin/thermocline" prestage s3://models/tc/bench/ --to local --config "$work/thermocline.yaml" --print-path 2>"$work/prestage.err") \
  || { cat "$work/prestage.err"; exit 1; }
prestage_s=$(echo "$(date +%s.%N) - $t0" | bc)
grep -E 'staged, ' "$work/prestage.err" || true
echo "prestage: $prestage_s s for $SIZE_MIB MiB, path $staged"

mkdir -p "$work/copy"
cp -r "$staged/." "$work/copy/"
sync

time_load() { # DIR: seconds of one cold load_file of every shard
  drop_caches
  local s; s=$(date +%s.%N)
  "$PY" "$TOOL" load "$1" >/dev/null
  echo "$(date +%s.%N) - $s" | bc
}
pre=(); plain=()
for i in $(seq "$RUNS"); do
  p=$(time_load "$staged"); c=$(time_load "$work/copy")
  echo "run $i: prestaged files $p s, plain copy $c s"
  pre+=("$p"); plain+=("$c")
done
mp=$(median "${pre[@]}"); mc=$(median "${plain[@]}")
ratio=$(echo "scale=3; $mc / $mp" | bc)
echo "load_file, median of $RUNS: prestaged $mp s ($(echo "scale=0; $SIZE_MIB / $mp" | bc) MiB/s), plain copy $mc s ($(echo "scale=0; $SIZE_MIB / $mc" | bc) MiB/s), cold cache: $cold"
echo "RESULT loader ratio=$ratio prestaged_s=$mp plain_s=$mc size_mib=$SIZE_MIB shards=$SHARDS cold=$cold prestage_s=$prestage_s uploader=$([ -n "$AWS" ] && echo aws-s3-sync || echo boto3)"
