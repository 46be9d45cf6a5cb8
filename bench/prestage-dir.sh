#!/usr/bin/env bash
# thermocline prestage of a local directory (puts written through to the local tier and S3 at
# once, checkpointed for resume) killed with SIGKILL once about half the bytes are read, then the
# same command run again, timed, against a whole prestage of the same directory into a fresh data
# root. The reference is the whole prestage measured in the same run; the rerun should cost about
# the part that was not kept (plus JVM start, engine open and re-reading the kept prefix to check
# it against the record).
#   SHARDS=4 SHARD_MIB=256 RUNS=3 bench/prestage-dir.sh
# One "run N: RESULT ..." line per run; last line: the median run's (by ratio)
#   RESULT prestage-dir ratio=<rerun s / whole s> kept_local_MiB=... kept_s3_MiB=... ...
source "$(dirname "$0")/lib.sh"
SHARDS=${SHARDS:-4}
SHARD_MIB=${SHARD_MIB:-256}
PARALLEL=${PARALLEL:-4}

(cd "$REPO" && ./mvnw -B -ntp -q -pl cli -am package -DskipTests) >&2
JAVA_HOME=$(find_jdk25)
export JAVA_HOME
tc() { THERMOCLINE_REBUILD=never THERMOCLINE_JAVA_OPTS="-Xmx1g" "$REPO/bin/thermocline" "$@"; }
tc --version >/dev/null

bench_workdir prestage-dir
victim=""
trap '[ -n "$victim" ] && kill -9 "$victim" 2>/dev/null; bench_cleanup; rm -f /dev/shm/thermocline-bench-prestage-dir-*' EXIT

echo "machine: $(machine_line)"
echo "model: $SHARDS x $SHARD_MIB MiB incompressible shards (a local directory)"
make_model "$work/model" "$SHARDS" "$SHARD_MIB"
start_s3_server "$work"

config() {
  local root="$work/engine-$1"
  mkdir -p "$root"
  cat > "$root/thermocline.yaml" <<EOF
data-root: $root/root
region: {path: /dev/shm/thermocline-bench-prestage-dir-$1, max-objects: 4096}
stager: {planner-interval: 1h}
tiers:
  - {name: local, type: local, path: $root/local, capacity: $((SHARDS * SHARD_MIB * 2))MiB}
  - {name: s3, type: s3, bucket: models, prefix: "$1/", endpoint: "$endpoint"}
EOF
  echo "$root/thermocline.yaml"
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }
mibps() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.1f", b / 1048576 / s}'; }
prestage() { tc prestage "$work/model" --prefix m/ --to local --parallel "$PARALLEL" --config "$@"; }
ok() { python3 -c "import json,sys; r=json.load(open('$1')); sys.exit(0 if r['exit_code']==0 and r['failed']==0 else 1)"; }

results=()
for run in $(seq "$RUNS"); do
  echo "--- run $run"
  rm -rf "$work"/engine-*; rm -f /dev/shm/thermocline-bench-prestage-dir-*

  conf=$(config "whole-$run")
  sync; t0=$(now)
  prestage "$conf" --json > "$work/whole.json"
  whole_s=$(since "$t0")
  ok "$work/whole.json" || { cat "$work/whole.json" >&2; exit 1; }
  echo "whole prestage of the directory (write-through to local and s3): $(mibps "$total_bytes" "$whole_s") MiB/s (${whole_s} s)"

  conf=$(config "cut-$run")
  (exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Xmx1g -jar "$REPO/cli/target/thermocline.jar" prestage \
    "$work/model" --prefix m/ --to local --parallel "$PARALLEL" --config "$conf" --progress-interval 100ms \
    > /dev/null 2> "$work/cut.err") &
  victim=$!
  half=$((total_bytes / 2 / 1048576))
  done_mib=0
  while kill -0 "$victim" 2>/dev/null; do
    done_mib=$( (grep -o 'prestage [0-9.]* [MG]iB /' "$work/cut.err" || true) | tail -1 | awk '{v=$2; if ($3=="GiB") v*=1024; print int(v)}')
    [ -n "$done_mib" ] && [ "$done_mib" -ge "$half" ] && break
    sleep 0.05
  done
  kill -9 "$victim" 2>/dev/null || true; wait "$victim" 2>/dev/null || true; victim=""
  sync; t0=$(now)
  prestage "$conf" --verbose --json > "$work/resume.json" 2> "$work/resume.err"
  resume_s=$(since "$t0")
  ok "$work/resume.json" || { cat "$work/resume.json" "$work/resume.err" >&2; exit 1; }
  kept() { (grep -o "bytes already held by tier: .*" "$work/resume.err" || true) | grep -o "$1 [0-9]*" | awk '{s+=$2} END {printf "%.0f", s / 1048576}'; }
  kept_local=$(kept local); kept_s3=$(kept s3)
  echo "killed at ${done_mib:-0} MiB read of $((total_bytes / 1048576)); the rerun took ${resume_s} s, keeping ${kept_local} MiB on local and ${kept_s3} MiB on s3"

  ratio=$(awk -v r="$resume_s" -v w="$whole_s" 'BEGIN {printf "%.2f", r / w}')
  results+=("RESULT prestage-dir ratio=$ratio whole_s=$whole_s resume_s=$resume_s killed_at_MiB=${done_mib:-0} kept_local_MiB=$kept_local kept_s3_MiB=$kept_s3 bytes=$total_bytes parallel=$PARALLEL")
  echo "run $run: ${results[-1]}"
done
printf '%s\n' "${results[@]}" | sort -t= -k2 -g | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'
