#!/usr/bin/env bash
# Makes the shipped H800 calibration table data/calibrations/h800-deepseek-v3.json: DeepSeek's H800
# profile read through data/kineto-maps/deepseek-h800.json and lined up, kernel class by class, with
# tandem's simulation of the same chunk pair (a middle stage of deepseek-v3-pretrain, simulate
# --trace-pair), then prints the pair's per-class table with the table (trace/bench/h800-pair.sh).
# Usage: trace/bench/h800-calibrate.sh [TRACE] [TANDEM] [OUT]   (run from the repository root;
# docs/calibrate.md, "A Kineto trace with the shapes of a simulation")
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
trace=${1:-$root/../shared/data/deepseek-h800-train-profile.json}
tandem=${2:-$root/build/app/tandem}
out=${3:-$root/data/calibrations/h800-deepseek-v3.json}
if [[ ! -f $trace ]]; then
  echo "skipped: $trace is absent (the profile lives in ../shared/data beside the repository)"
  exit 0
fi
[[ -x $tandem ]] || { echo "error: $tandem is not an executable (pass the tandem binary as the second argument)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The shapes: the pair the profile measured, as tandem simulates it (stage 8 of pp 16, 4 MoE layers).
"$tandem" simulate "$root/scenarios/deepseek-v3-pretrain.json" --trace "$work/pair.json" --trace-pair 8 > /dev/null
"$tandem" calibrate "$trace" --map "$root/data/kineto-maps/deepseek-h800.json" --shapes "$work/pair.json" --device H800 \
  --out "$work/table.json" > "$work/calibrate.txt"
# The source line says how the table was made without naming this machine's paths.
mkdir -p "$(dirname "$out")"
python3 - "$work/table.json" "$out" << 'PY'
import json, sys
t = json.load(open(sys.argv[1]))
t["source"] = ("tandem calibrate deepseek-h800-train-profile.json (deepseek-ai/profile-data train.json, ../shared/data) "
               "--map data/kineto-maps/deepseek-h800.json --shapes PAIR --device H800, PAIR = tandem simulate "
               "scenarios/deepseek-v3-pretrain.json --trace PAIR --trace-pair 8 (trace/bench/h800-calibrate.sh)")
open(sys.argv[2], "w").write(json.dumps(t, indent=1) + "\n")
PY
cat "$work/calibrate.txt"
echo
"$root/trace/bench/h800-pair.sh" "$trace" "$tandem" "$out"
