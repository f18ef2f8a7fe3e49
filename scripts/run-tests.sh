#!/usr/bin/env bash
# The README's second command: set up (packages + build of every target, CUDA tests and the CUDA
# device module included when a toolkit is found) and run every test through CTest.
# Tests tagged [.slow] stay out of this run; `ctest -L slow` style runs are described in README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build_dir=${TANDEM_BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure -j "${TANDEM_JOBS:-$(nproc)}" "$@"
