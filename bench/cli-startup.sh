#!/usr/bin/env bash
# What the launcher's start-up cache (bin/thermocline: a JDK AOT cache made by a training run of
# `demo`) buys: the wall time of whole commands, each run RUNS times with the cache and RUNS times
# without it (THERMOCLINE_AOT=off), alternating, in the same run:
#   thermocline --version                       (the JVM and the command line alone)
#   thermocline s3 cp s3://models/m/ DIR        (SHARDS x SHARD_MIB MiB from the embedded S3 server)
#   thermocline demo --size 16MiB               (servers, engine, every tier)
#   SHARDS=2 SHARD_MIB=64 RUNS=5 bench/cli-startup.sh
# Last line: RESULT cli-startup ratio=<s3 cp median without / with> ...
source "$(dirname "$0")/lib.sh"
SHARDS=${SHARDS:-2}
SHARD_MIB=${SHARD_MIB:-64}
RUNS=${RUNS:-5}
need_pkg python3 python3

(cd "$REPO" && ./mvnw -B -ntp -q -pl cli -am package -DskipTests) >&2
JAVA_HOME=$(find_jdk25)
export JAVA_HOME THERMOCLINE_REBUILD=never

bench_workdir cli-startup

echo "machine: $(machine_line)"
# a fresh cache for this build of the jar (the launcher makes it on its first run)
rm -f "$REPO/cli/target/thermocline.aot" "$REPO/cli/target/thermocline.aot.failed"
t0=$(date +%s.%N)
"$REPO/bin/thermocline" --version >/dev/null
echo "start-up cache made in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s: $(du -h "$REPO/cli/target/thermocline.aot" | cut -f1)"

make_model "$work/model" "$SHARDS" "$SHARD_MIB"
start_s3_server "$work"
THERMOCLINE_AOT=off "$REPO/bin/thermocline" s3 cp "$work/model" s3://models/m/ --endpoint "$endpoint" | tail -1

seconds() { local t0; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}'; }
declare -A with without
for i in $(seq "$RUNS"); do
  for mode in off on; do
    for cmd in version s3cp demo; do
      rm -rf "$work/out"; sync
      case $cmd in
        version) s=$(THERMOCLINE_AOT=$mode seconds "$REPO/bin/thermocline" --version) ;;
        s3cp) s=$(THERMOCLINE_AOT=$mode seconds "$REPO/bin/thermocline" s3 cp s3://models/m/ "$work/out" --endpoint "$endpoint")
              diff -r -q "$work/model" "$work/out" >/dev/null || { echo "s3 cp download differs from the source" >&2; exit 1; } ;;
        demo) s=$(THERMOCLINE_AOT=$mode seconds "$REPO/bin/thermocline" demo --size 16MiB) ;;
      esac
      if [ "$mode" = on ]; then with[$cmd]+="$s "; else without[$cmd]+="$s "; fi
      echo "run $i: $cmd, cache $mode: $s s"
    done
  done
done
printf '%-10s %28s %28s %8s\n' command "without cache (median, s)" "with cache (median, s)" ratio
declare -A ratio
for cmd in version s3cp demo; do
  # shellcheck disable=SC2086
  a=$(median ${without[$cmd]}); b=$(median ${with[$cmd]})
  ratio[$cmd]=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", a / b}')
  printf '%-10s %28s %28s %8s\n' "$cmd" "$a" "$b" "${ratio[$cmd]}"
done
echo "RESULT cli-startup ratio=${ratio[s3cp]} s3cp_without_s=$(median ${without[s3cp]}) s3cp_with_s=$(median ${with[s3cp]}) version_ratio=${ratio[version]} demo_ratio=${ratio[demo]} bytes=$total_bytes runs=$RUNS"
