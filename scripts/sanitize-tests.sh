#!/usr/bin/env bash
# The CPU test suite under AddressSanitizer and UndefinedBehaviorSanitizer (docs/robustness.md): builds
# every target in build-asan (TANDEM_SANITIZE_BUILD_DIR) with TANDEM_SANITIZE=address,undefined, CUDA and
# the viewer off, and runs CTest there. Every sanitizer report (a leak included) aborts its test, so the
# run fails on any. Arguments go to ctest (e.g. -R scenario).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${TANDEM_SANITIZE_BUILD_DIR:-build-asan}
jobs=${TANDEM_JOBS:-$(nproc)}
# Warnings are the ordinary build's to enforce (CI builds it with TANDEM_WERROR=ON): GCC's instrumented
# code can warn where nothing is wrong (cmake/sanitizers.cmake names one), so they do not stop this build.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_CUDA=OFF -DTANDEM_VIEWER=OFF \
  -DTANDEM_SANITIZE=address,undefined ${TANDEM_CMAKE_ARGS:-} -DTANDEM_WERROR=OFF
cmake --build "$build_dir" -j "$jobs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" "$@"
