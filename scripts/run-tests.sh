#!/usr/bin/env bash
# The README's second command: set up (packages + build of every target, CUDA tests and the CUDA
# device module included when a toolkit is found), run every test through CTest, then fuzz every reader
# for a bounded time (scripts/fuzz.sh, TANDEM_FUZZ_SECONDS per target, default 10; 0 skips it; it skips
# itself without clang) and, when TANDEM_SANITIZE_TESTS=1, run the suite again under ASan and UBSan.
# Tests tagged [.slow] stay out of this run; `ctest -L slow` style runs are described in README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build_dir=${TANDEM_BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure -j "${TANDEM_JOBS:-$(nproc)}" "$@"
fuzz_seconds=${TANDEM_FUZZ_SECONDS:-10}
if [ "$fuzz_seconds" != 0 ]; then
  bash scripts/fuzz.sh "$fuzz_seconds"
fi
if [ "${TANDEM_SANITIZE_TESTS:-0}" = 1 ]; then
  bash scripts/sanitize-tests.sh "$@"
fi
