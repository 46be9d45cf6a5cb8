#!/usr/bin/env bash
# Fast-tier byte hit ratio of Thermocline's placement policy against LRU, W-TinyLFU (Caffeine) and
# Belady's clairvoyant reference, on the generated trace mix (zipf, scan, model-load, checkpoint,
# mix) at fast-tier capacities of 10% and 25% of each trace's objects. Runs `thermocline simulate`;
# hit ratios are deterministic (Caffeine's W-TinyLFU aside, whose admission has a small random
# element), so one run is enough.
#   SEED=42 ACCESSES=40000 CAPACITIES=0.1,0.25 bench/placement-sim.sh
# Every trace x capacity x policy figure is printed; the last line is
#   RESULT placement-sim ratio=<worst over traces and capacities of thermocline/belady> ...
# with whether Thermocline beat LRU and W-TinyLFU everywhere, and where it did not.
source "$(dirname "$0")/lib.sh"
SEED=${SEED:-42}
ACCESSES=${ACCESSES:-40000}
CAPACITIES=${CAPACITIES:-0.1,0.25}
KINDS=${KINDS:-zipf scan model-load checkpoint mix}

JAVA_HOME=$(find_jdk25)
export JAVA_HOME
echo "machine: $(machine_line)"
echo "seed $SEED, $ACCESSES accesses per trace, fast capacity $CAPACITIES of each trace's objects"
printf '%-11s %-9s %-12s %10s %16s\n' trace capacity policy byte-hit bytes-moved
table=""
for kind in $KINDS; do
  out=$("$REPO/bin/thermocline" simulate --generate "$kind" --seed "$SEED" --accesses "$ACCESSES" \
        --fast-capacity "$CAPACITIES")
  rows=$(echo "$out" | awk -v kind="$kind" '
    /^fast capacity / { cap = $3 }
    /^(thermocline|lru|w-tinylfu|belady) / { printf "%s %s %s %s %s %s\n", kind, cap, $1, $2, $4, $5 }')
  echo "$rows" | awk '{ printf "%-11s %-9s %-12s %10s %12s %s\n", $1, $2, $3, $4, $5, $6 }'
  table+="$rows"$'\n'
done
echo "$table" | awk '
  NF >= 4 { key = $1 "@" $2; r[key, $3] = $4; keys[key] = 1 }
  END {
    worst = 2; where = ""; lost_lru = ""; lost_w = ""
    for (k in keys) {
      ours = r[k, "thermocline"]; bel = r[k, "belady"]
      ratio = bel > 0 ? ours / bel : 1
      if (ratio < worst) { worst = ratio; where = k }
      if (!(ours > r[k, "lru"])) lost_lru = lost_lru (lost_lru == "" ? "" : ",") k
      if (!(ours > r[k, "w-tinylfu"])) lost_w = lost_w (lost_w == "" ? "" : ",") k
    }
    printf "RESULT placement-sim ratio=%.4f worst=%s beats_lru=%s beats_wtinylfu=%s", worst, where,
      lost_lru == "" ? "all" : "not:" lost_lru, lost_w == "" ? "all" : "not:" lost_w
    printf " target: ratio>=0.8 and beats both everywhere\n"
  }'
