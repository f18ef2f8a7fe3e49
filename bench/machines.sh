#!/usr/bin/env bash
# DeepSeek-V3's published plan on every machine of the catalogue (docs/machines.md, "DeepSeek-V3 on each
# machine"): the H800 row as published, the others with the communication SMs at DeepSeek's share of the
# chip and pp 18 on the 2304-GPU presets. Prints the table's rows (markdown) with the commit it ran at.
# Usage: bench/machines.sh [TANDEM]   (run from anywhere; TANDEM defaults to build/app/tandem)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tandem=${1:-$root/build/app/tandem}
[[ -x $tandem ]] || { echo "error: $tandem is not an executable (pass the tandem binary as the first argument)" >&2; exit 2; }
# label | cluster preset (empty: the scenario's own) | plan.comm_sms (empty: the scenario's) | plan.pp (empty: the scenario's)
rows=(
  "H800 (published plan)|||"
  "A100|a100|16|"
  "H20|h20|12|"
  "B200|b200|22|"
  "GB200 NVL72|gb200-nvl72|22|18"
  "GB300 NVL72|gb300-nvl72|24|18"
  "MI300X|mi300x|46|"
  "MI325X|mi325x|46|"
  "MI355X|mi355x|39|"
  "Ascend 910B|ascend-910b|4|"
  "Ascend 910C|ascend-910c|7|"
  "CloudMatrix384|cloudmatrix384|7|18"
)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "commit $(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo unknown)"
echo "| machine | GPUs | path | step | MFU (BF16 peak) | bubble | exposed comm. | peak memory / HBM |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for row in "${rows[@]}"; do
  IFS='|' read -r label cluster sms pp <<< "$row"
  args=()
  [[ -n $cluster ]] && args+=(--set "cluster=$cluster")
  [[ -n $sms ]] && args+=(--set "plan.comm_sms=$sms")
  [[ -n $pp ]] && args+=(--set "plan.pp=$pp")
  "$tandem" simulate "$root/scenarios/deepseek-v3-pretrain.json" "${args[@]}" --json > "$work/r.json" 2> "$work/err.log" ||
    { echo "error: simulate of '$label' failed: $(head -c 300 "$work/err.log")" >&2; exit 1; }
  python3 - "$work/r.json" "$label" << 'PY'
import json, sys
r = json.load(open(sys.argv[1]))
hbm = f"{r['gpu_memory_bytes'] / 1e9:.1f}".rstrip('0').rstrip('.')
mem = f"{max(r['memory_peak_bytes']) / 1e9:.1f} / {hbm} GB"
if r['out_of_memory']: mem += ", out of memory"
print(f"| {sys.argv[2]} | {r['gpus']} | {r['mode']} | {r['step_time_s']:.2f} s | {100 * r['mfu_bf16']:.1f}% | "
      f"{100 * r['bubble_fraction']:.1f}% | {100 * r['exposed_comm_fraction']:.1f}% | {mem} |")
PY
done
