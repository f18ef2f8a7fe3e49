#!/usr/bin/env bash
# The README's first command: set up (packages + build of the `tandem` target only: no tests, no
# CUDA kernels) and run the main job, the simulation of the DeepSeek-V3 pretraining step on 2048 H800
# (falls back to `inspect` if the simulator is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh tandem
build_dir=${TANDEM_BUILD_DIR:-build}
scenario=${1:-scenarios/deepseek-v3-pretrain.json}
if "$build_dir/app/tandem" --help | grep -q '^  simulate'; then
  exec "$build_dir/app/tandem" simulate "$scenario"
else
  exec "$build_dir/app/tandem" inspect "$scenario"
fi
