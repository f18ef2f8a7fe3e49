#!/usr/bin/env bash
# The simulated DeepSeek-V3 chunk pair against DeepSeek's H800 profile, per kernel class: a middle
# stage's steady-state DualPipe pair (simulate --trace-pair) compared with the real trace read through
# data/kineto-maps/deepseek-h800.json; times per layer (the pair holds 4 MoE layers each way).
# Usage: trace/bench/h800-pair.sh [TRACE] [TANDEM] [CALIBRATION]   (run from the repository root;
# docs/h800-pair.md); CALIBRATION: a calibration table the simulation reads (simulate --calibration).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
trace=${1:-$root/../shared/data/deepseek-h800-train-profile.json}
tandem=${2:-$root/build/app/tandem}
calibration=${3:-}
if [[ ! -f $trace ]]; then
  echo "skipped: $trace is absent (the profile lives in ../shared/data beside the repository)"
  exit 0
fi
[[ -x $tandem ]] || { echo "error: $tandem is not an executable (pass the tandem binary as the second argument)" >&2; exit 2; }
scenario=$root/scenarios/deepseek-v3-pretrain.json
stage=8          # a middle stage of pp 16
layers=4         # MoE layers per chunk in the profile (data/README.md)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$tandem" simulate "$scenario" --trace "$work/pair.json" --trace-pair "$stage" ${calibration:+--calibration "$calibration"} \
  > /dev/null 2> "$work/simulate.log"
"$tandem" compare "$work/pair.json" "$trace" --map "$root/data/kineto-maps/deepseek-h800.json" --json \
  > "$work/compare.json" 2> "$work/compare.log"
commit=$(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo unknown)
python3 - "$work/compare.json" "$layers" "$commit" "$stage" "${calibration:-none}" << 'PY'
import json, sys
c = json.load(open(sys.argv[1])); layers = int(sys.argv[2])
print(f"commit {sys.argv[3]}; simulated stage {sys.argv[4]} pair vs {c['measured']['path'].split('/')[-1]}; ms per layer (pair / {layers}); calibration {sys.argv[5].split('/')[-1]}")
print(f"| {'class':<20} | {'simulated':>9} | {'real':>9} | {'error':>7} | {'count sim/real':>14} |")
print(f"|{'-'*22}|{'-'*11}|{'-'*11}|{'-'*9}|{'-'*16}|")
def err(e): return "n/a" if e is None else f"{e*100:+.1f}%"
def row(name, p, m, e, count):
    print(f"| {name:<20} | {p*1e3/layers:9.3f} | {m*1e3/layers:9.3f} | {err(e):>7} | {count:>14} |")
for r in c["classes"]:
    row(r["class"], r["predicted_s"], r["measured_s"], r["error"], f"{r['count']['predicted']}/{r['count']['measured']}")
for r in c["streams"]:
    row("stream " + r["stream"], r["predicted_s"], r["measured_s"], r["error"], f"{r['count']['predicted']}/{r['count']['measured']}")
s = c["step_time"]
row("span", s["predicted_s"], s["measured_s"], s["error"], "")
PY
