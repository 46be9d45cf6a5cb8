#!/usr/bin/env bash
# thermocline prestage (S3 -> the engine's local tier: journaled, every chunk verified, published
# atomically, catalogued) against the tool a user would use instead to get the same files onto
# local disk, thermocline s3 cp (S3Tier parallel ranged GETs into a directory, verified), on a
# synthetic model (SHARDS x SHARD_MIB incompressible shards plus model.safetensors.index.json)
# served by the embedded S3 server on 127.0.0.1. Then the resume: a prestage killed with SIGKILL
# once it has copied about half the bytes, and the same command run again, timed, against a whole
# prestage.
#   SHARDS=4 SHARD_MIB=256 RUNS=3 bench/prestage.sh
# Both sides start a JVM per command (as a user's shell does); the page cache is synced, not
# dropped, before each timed command. One "run N: RESULT ..." line per run; last line: the median
# run's (by ratio)
#   RESULT prestage ratio=<prestage MiB/s / s3 cp MiB/s> resume_fraction=<resumed run s / whole prestage s> ...
source "$(dirname "$0")/lib.sh"
SHARDS=${SHARDS:-4}
SHARD_MIB=${SHARD_MIB:-256}
PARALLEL=${PARALLEL:-4}

(cd "$REPO" && ./mvnw -B -ntp -q -pl cli package -DskipTests) >&2
JAVA_HOME=$(find_jdk25)
export JAVA_HOME
# through the launcher, as a user runs it (with its start-up cache, made here before anything is timed)
tc() { THERMOCLINE_REBUILD=never THERMOCLINE_JAVA_OPTS="-Xmx1g" "$REPO/bin/thermocline" "$@"; }
tc --version >/dev/null

work="$BENCH_DIR/prestage"
rm -rf "$work"; mkdir -p "$work/model" "$work/s3"
server_pid=""
victim=""
cleanup() {
  if [ -n "$victim" ]; then kill -9 "$victim" 2>/dev/null || true; fi
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work" /dev/shm/thermocline-bench-prestage-* 2>/dev/null || true
}
trap cleanup EXIT

echo "machine: $(machine_line)"
echo "model: $SHARDS x $SHARD_MIB MiB incompressible shards"
make_model "$work/model" "$SHARDS" "$SHARD_MIB"

start_s3_server "$work"
# s3 cp writes through an S3Tier on the bucket's root, which keeps the checksum records under
# .thermocline/; the engine's S3 tier below has no prefix either, so it finds them
tc s3 cp "$work/model" s3://models/model/ --endpoint "$endpoint" | tail -1

# one engine configuration per data root: a local tier and the bucket
config() {
  local root="$work/engine-$1"
  mkdir -p "$root"
  cat > "$root/thermocline.yaml" <<EOF
data-root: $root/root
region: {path: /dev/shm/thermocline-bench-prestage-$1, max-objects: 4096}
stager: {planner-interval: 1h, parallel-chunks: 8}
tiers:
  - {name: local, type: local, path: $root/local, capacity: $((SHARDS * SHARD_MIB * 2))MiB, max-concurrent-moves: $PARALLEL}
  - {name: s3, type: s3, bucket: models, endpoint: "$endpoint", max-concurrent-moves: $PARALLEL}
EOF
  echo "$root/thermocline.yaml"
}
mibps() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.1f", b / 1048576 / s}'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }
prestage() { tc prestage s3://models/model/ --to local --parallel "$PARALLEL" --config "$@"; }

results=()
for run in $(seq "$RUNS"); do
  echo "--- run $run"
  rm -rf "$work/cp" "$work"/engine-*; rm -f /dev/shm/thermocline-bench-prestage-*

  sync; t0=$(now)
  tc s3 cp s3://models/model/ "$work/cp" --endpoint "$endpoint" --parallel 16 > /dev/null
  cp_s=$(since "$t0")
  diff -r -q "$work/model" "$work/cp" > /dev/null || { echo "s3 cp download differs from the source" >&2; exit 1; }
  echo "thermocline s3 cp (16 x 16 MiB ranges, verified): $(mibps "$total_bytes" "$cp_s") MiB/s (${cp_s} s)"

  conf=$(config "whole-$run")
  sync; t0=$(now)
  prestage "$conf" --json > "$work/whole.json"
  whole_s=$(since "$t0")
  python3 -c "import json,sys; r=json.load(open('$work/whole.json')); sys.exit(0 if r['exit_code']==0 and r['staged']==$((SHARDS + 1)) else 1)" \
    || { cat "$work/whole.json" >&2; exit 1; }
  echo "thermocline prestage --to local ($PARALLEL objects x 8 chunks, verified, catalogued): $(mibps "$total_bytes" "$whole_s") MiB/s (${whole_s} s)"

  # the same prestage killed (SIGKILL) once about half the bytes are copied, then run again
  conf=$(config "cut-$run")
  # (exec, so that $! is the JVM itself and SIGKILL reaches it)
  (exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Xmx1g -jar "$REPO/cli/target/thermocline.jar" prestage \
    s3://models/model/ --to local --parallel "$PARALLEL" --config "$conf" --progress-interval 100ms > /dev/null 2> "$work/cut.err") &
  victim=$!
  half=$((total_bytes / 2 / 1048576))
  while kill -0 "$victim" 2>/dev/null; do
    done_mib=$( (grep -o 'prestage [0-9.]* [MG]iB /' "$work/cut.err" || true) | tail -1 | awk '{v=$2; if ($3=="GiB") v*=1024; print int(v)}')
    [ -n "$done_mib" ] && [ "$done_mib" -ge "$half" ] && break
    sleep 0.05
  done
  kill -9 "$victim" 2>/dev/null || true; wait "$victim" 2>/dev/null || true; victim=""
  cut_mib=${done_mib:-0}
  sync; t0=$(now)
  prestage "$conf" --verbose --json > "$work/resume.json" 2> "$work/resume.err"
  resume_s=$(since "$t0")
  python3 -c "import json,sys; r=json.load(open('$work/resume.json')); sys.exit(0 if r['exit_code']==0 and r['failed']==0 else 1)" \
    || { cat "$work/resume.json" "$work/resume.err" >&2; exit 1; }
  reused=$( (grep -o 'took [0-9]* of' "$work/resume.err" || true) | awk '{s+=$2} END {print s+0}')
  echo "killed at ${cut_mib} MiB of $((total_bytes / 1048576)); the rerun took ${resume_s} s and reused $reused verified 1 MiB chunks"

  ratio=$(awk -v c="$cp_s" -v p="$whole_s" 'BEGIN {printf "%.2f", c / p}')
  fraction=$(awk -v r="$resume_s" -v w="$whole_s" 'BEGIN {printf "%.2f", r / w}')
  results+=("RESULT prestage ratio=$ratio resume_fraction=$fraction prestage_MiBps=$(mibps "$total_bytes" "$whole_s") s3cp_MiBps=$(mibps "$total_bytes" "$cp_s") whole_s=$whole_s resume_s=$resume_s killed_at_MiB=$cut_mib reused_chunks=$reused bytes=$total_bytes parallel=$PARALLEL")
  echo "run $run: ${results[-1]}"
done
printf '%s\n' "${results[@]}" | sort -t= -k2 -g | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'
