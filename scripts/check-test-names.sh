#!/usr/bin/env bash
# Test names CTest can run: a Catch TEST_CASE name with ';' is split by CTest into two tests that both
# fail, and one starting with '-' is read by Catch as an option. Lists every such name (file:line) and
# exits 1; exits 0 when there is none. Run by CTest as test_names_ctest_can_run.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(grep -rnE --include='*.cpp' --include='*.cu' 'TEST_CASE\("(-|[^"]*;)' \
  io ir hw sim trace calib sweep kernels backend app viewer tests fuzz 2>/dev/null || true)
if [ -n "$bad" ]; then
  echo "test names CTest cannot run (';' splits a name, a leading '-' is a Catch option):"
  echo "$bad"
  exit 1
fi
echo "test names: none with ';' or a leading '-'"
