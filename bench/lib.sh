#!/usr/bin/env bash
# Shared by bench/*.sh: finds a JDK 25, installs missing Debian packages, builds the bench
# module, and small statistics helpers. Source it; do not run it.
set -euo pipefail

BENCH_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_HOME/.." && pwd)
# Scratch files live on the file system under test: bench/work by default.
BENCH_DIR=${BENCH_DIR:-$BENCH_HOME/work}
RUNS=${RUNS:-3}

# need_pkg COMMAND PACKAGE: installs PACKAGE with apt-get when COMMAND is missing.
need_pkg() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "installing $2 (for $1)..." >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >&2
}

find_jdk25() {
  local c
  for c in "${JAVA_HOME:-}" /usr/lib/jvm/*25* /usr/lib/jvm/* /opt/java/*; do
    [ -n "$c" ] && [ -x "$c/bin/java" ] || continue
    local v
    v=$("$c/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1)
    if [ "${v:-0}" -ge 25 ]; then echo "$c"; return 0; fi
  done
  echo "no JDK 25 found; set JAVA_HOME" >&2
  return 1
}

build_bench() {
  (cd "$REPO" && ./mvnw -B -ntp -q -pl bench -am package -DskipTests) >&2
  JAVA_HOME=$(find_jdk25)
  BENCH_CP="$REPO/bench/target/classes:$(cat "$REPO/bench/target/classpath.txt")"
}

# run_java MAINCLASS ARGS...: runs a bench driver on the JDK 25 (JAVA_OPTS adds JVM options).
run_java() {
  # shellcheck disable=SC2086
  "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Xms512m -Xmx2g ${JAVA_OPTS:-} -cp "$BENCH_CP" "$@"
}

# What Chronicle Map (a reference in bench/shm-lookup.sh) needs to run on JDK 25.
CHRONICLE_OPTS="-Dchronicle.analytics.disable=true \
 --add-exports=java.base/jdk.internal.ref=ALL-UNNAMED --add-exports=java.base/sun.nio.ch=ALL-UNNAMED \
 --add-exports=jdk.unsupported/sun.misc=ALL-UNNAMED --add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED \
 --add-opens=jdk.compiler/com.sun.tools.javac=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED \
 --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED \
 --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED \
 --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/jdk.internal.misc=ALL-UNNAMED"

# median of the numbers given as arguments
median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}

machine_line() {
  local cpu
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
  echo "$(nproc) cores ($cpu), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, fs $(df -T "$BENCH_DIR" | awk 'NR==2 {print $2" on "$1}'), kernel $(uname -r)"
}

# nvmetcp_bench MODE: runs io.thermocline.bench.NvmeTcpBench MODE RUNS times (SECONDS_PER_SIDE
# seconds per side, default 10), prints every run, and ends with the median run's RESULT line.
nvmetcp_bench() {
  local mode=$1 out i
  local results=()
  build_bench
  echo "machine: $(machine_line)"
  for i in $(seq "$RUNS"); do
    echo "--- run $i"
    out=$(JAVA_OPTS="-XX:+UseParallelGC" run_java io.thermocline.bench.NvmeTcpBench "$mode" "${SECONDS_PER_SIDE:-10}" 2>&1 | grep -v INFO)
    echo "$out"
    results+=("$(echo "$out" | grep '^RESULT ')")
  done
  # the run whose ratio is the median
  printf '%s\n' "${results[@]}" | sort -t= -k2 -g | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'
}

# make_model DIR SHARDS SHARD_MIB: SHARDS incompressible safetensors-named shards of SHARD_MIB MiB
# and a model.safetensors.index.json naming them, in DIR; sets total_bytes to their size in all.
make_model() {
  local dir=$1 shards=$2 mib=$3 i sep
  for i in $(seq 1 "$shards"); do
    head -c $((mib * 1024 * 1024)) /dev/urandom > "$dir/$(printf 'model-%05d-of-%05d.safetensors' "$i" "$shards")"
  done
  {
    echo '{"metadata": {"total_size": '$((shards * mib * 1024 * 1024))'}, "weight_map": {'
    for i in $(seq 1 "$shards"); do
      sep=","; [ "$i" = "$shards" ] && sep=""
      echo "  \"layer.$i.weight\": \"$(printf 'model-%05d-of-%05d.safetensors' "$i" "$shards")\"$sep"
    done
    echo '}}'
  } > "$dir/model.safetensors.index.json"
  total_bytes=$(du -cb "$dir"/* | tail -1 | cut -f1)
}

# start_s3_server DIR: runs `thermocline s3 serve` (cli/target/thermocline.jar, built by the caller)
# on a free 127.0.0.1 port with a bucket "models" stored under DIR/s3, log in DIR/server.log; sets
# endpoint, server_pid (the JVM's own pid: the caller's cleanup kills it) and the AWS_* variables
# the clients use. Exits the script if the server does not come up.
start_s3_server() {
  local dir=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_DEFAULT_REGION=us-east-1
  endpoint="http://127.0.0.1:$port"
  (exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Xmx1g -jar "$REPO/cli/target/thermocline.jar" s3 serve \
    --dir "$dir/s3" --port "$port" --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" --bucket models) \
    > "$dir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do grep -q "Serving until" "$dir/server.log" 2>/dev/null && break; sleep 0.2; done
  grep -q "Serving until" "$dir/server.log" || { cat "$dir/server.log"; exit 1; }
  echo "server: $endpoint (pid $server_pid)"
}

# bench_workdir NAME: a fresh $BENCH_DIR/NAME (with model/ and s3/ in it) as $work, removed on
# exit together with the S3 server start_s3_server starts (KEEP_SERVER=1 keeps both, for
# experiments). Errors in the cleanup never stop it under set -e.
bench_workdir() {
  work="$BENCH_DIR/$1"
  rm -rf "$work"; mkdir -p "$work/model" "$work/s3"
  server_pid=""
  trap bench_cleanup EXIT
  if [ -n "${KEEP_SERVER:-}" ]; then trap - EXIT; fi
}

bench_cleanup() {
  if [ -n "${server_pid:-}" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}

# python_venv: the pinned Python environment of the loader tests (it/src/test/resources/python/
# requirements.txt), made once in the cache, with the AWS CLI (v1, from the Python package index)
# beside the pinned boto3 unless one is installed. Sets REQ, TOOL (model_tool.py), venv and PY.
python_venv() {
  REQ="$REPO/it/src/test/resources/python/requirements.txt"
  TOOL="$REPO/it/src/test/resources/python/model_tool.py"
  venv="${THERMOCLINE_PYTHON_CACHE:-$HOME/.cache/thermocline/python}/bench-$(sha256sum "$REQ" | cut -c1-16)"
  if [ ! -f "$venv/ready" ]; then
    rm -rf "$venv"; python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ" >&2
    if ! command -v aws >/dev/null; then
      "$venv/bin/python" -m pip install -q --disable-pip-version-check awscli >&2 2>/dev/null || echo "awscli did not install in the venv" >&2
    fi
    touch "$venv/ready"
  fi
  PY="$venv/bin/python"
}
