#!/usr/bin/env bash
# The CPU loop as a benchmark: measure this machine (tandem probe), calibrate from `tandem run` of ONE
# configuration of the tiny model, predict others that differ in schedule, micro-batches, pp, ep, width
# and sequence length with `tandem simulate --set cluster=host`, run each for real and compare.
# Each run holds TANDEM_LOOP_STEPS steps (default 5); the first is warm-up, each later one is compared
# (`tandem compare --step S`) and the row shows the step of median measured time, with the range the
# measured steps spanned: a run's steps differ by 10-20% on a 2-core machine, even a quiet one.
# Usage: bench/host_loop.sh [BUILD_DIR] [WORK_DIR]   (prints a Markdown table; docs/host.md holds one)
set -euo pipefail
BUILD=${1:-build}
WORK=${2:-$(mktemp -d)}
T="$BUILD/app/tandem"
STEPS=${TANDEM_LOOP_STEPS:-5}
mkdir -p "$WORK"
HOST="$WORK/host.json"
"$T" probe --out "$HOST" >/dev/null

# name|overrides (each is --set'd on both the run and the simulation)
CONFIGS=(
  "base-1f1b|"
  "zb1p|plan.schedule=zb1p"
  "dualpipe|plan.schedule=dualpipe"
  "dualpipev|plan.schedule=dualpipev"
  "mb16|plan.global_batch_seqs=64"
  "pp4|plan.pp=4 cluster={\"base\":\"host\",\"gpus_per_node\":8,\"nics_per_node\":8}"
  "ep1|plan.ep=1"
  "width128|model.hidden_size=128"
  "seq128|plan.seq_len=128"
)

sets() { local s; for s in $1; do printf -- '--set\0%s\0' "$s"; done; }

row() {
  local name=$1 over=$2 cal=$3
  local args=()
  while IFS= read -r -d '' a; do args+=("$a"); done < <(sets "cluster=host $over")
  "$T" run scenarios/tiny.json "${args[@]}" --steps "$STEPS" --trace "$WORK/$name.run.json" >/dev/null
  "$T" simulate scenarios/tiny.json "${args[@]}" --host "$HOST" ${cal:+--calibration "$cal"} \
    --trace "$WORK/$name.sim.json" >/dev/null 2>&1
  local s
  for ((s = 2; s <= STEPS; ++s)); do
    "$T" compare "$WORK/$name.sim.json" "$WORK/$name.run.json" --ranks all --step "$s" --json \
      >"$WORK/$name.compare.$s.json"
  done
  python3 - "$name" "$WORK/$name".compare.*.json <<'PY'
import json, sys
name, paths = sys.argv[1], sys.argv[2:]
runs = sorted((json.load(open(p)) for p in paths), key=lambda c: c["step_time"]["measured_s"])
c = runs[(len(runs) - 1) // 2]   # the step of median measured time (the lower middle of an even count)
lo, hi = runs[0]["step_time"]["measured_s"], runs[-1]["step_time"]["measured_s"]
s = c["step_time"]
step = s["measured_s"]
big = [k for k in c["kinds"] if k["measured_s"] >= 0.05 * step * len(c["measured"]["ranks"])]
kinds = ", ".join(f'{k["kind"]} {k["error"]*100:+.0f}%' for k in sorted(big, key=lambda k: -k["measured_s"]))
print(f'| {name} | {s["predicted_s"]*1e3:.1f} ms | {step*1e3:.1f} ms ({lo*1e3:.0f}-{hi*1e3:.0f}) | {s["error"]*100:+.1f}% | {kinds} |')
PY
}

BASE_OVER=""
row base-1f1b "$BASE_OVER" "" >/dev/null
"$T" calibrate "$WORK/base-1f1b.run.json" --host "$HOST" --out "$WORK/cal.json" >/dev/null
echo "| config | predicted | measured: median step (range) | step error | op kinds >= 5% of busy time (error) |"
echo "| --- | --- | --- | --- | --- |"
for c in "${CONFIGS[@]}"; do
  row "${c%%|*}" "${c#*|}" "$WORK/cal.json"
done
