#!/usr/bin/env bash
# Rewrites the golden reports of tests/golden/ from the current build of `tandem simulate --json`
# and prints, per report, every field that moved (old, new, change; times in ns) for the commit.
# usage: scripts/refresh-golden.sh [BUILD_DIR]   (default: $TANDEM_BUILD_DIR, else build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-${TANDEM_BUILD_DIR:-build}}
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  echo "refresh-golden.sh: BUILD_DIR: expected a configured CMake build folder, found none at $build_dir" >&2
  exit 2
fi

# The scenarios pinned, each as tests/golden/<name>.json.
scenarios=(tiny deepseek-v3-128)

if ! log=$(cmake --build "$build_dir" --target tandem golden_report 2>&1); then
  echo "$log" >&2
  echo "refresh-golden.sh: the build of tandem and golden_report failed (above)" >&2
  exit 1
fi
tandem="$build_dir/app/tandem"
tool="$build_dir/tests/golden_report"
cd "$root"
for name in "${scenarios[@]}"; do
  "$tool" write "$tandem" "$root" "tests/golden/$name.json" -- simulate "scenarios/$name.json" --json
done
