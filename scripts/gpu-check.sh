#!/usr/bin/env bash
# Runs on a GPU machine: the GPU tests of kernels/ and backend/ (CPU references as the oracle) and the
# benchmarks (FP8 GEMM against cuBLASLt FP8 and BF16, MLA attention, memory-bound kernels). Full logs go
# to $OUT (or ./gpu-check-out); a summary table is printed last. Usage: gpu-check.sh BIN_DIR
set -uo pipefail
BIN=${1:?usage: gpu-check.sh BIN_DIR (from scripts/gpu-build.sh)}
OUT=${OUT:-gpu-check-out}
mkdir -p "$OUT"
# The tests read scenarios and the corpus from the checkout they run in, not the one they were built in.
export TANDEM_SOURCE_DIR=${TANDEM_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
# cuBLASLt and NCCL from the CUDA toolkit or from NVIDIA's Python wheels, whichever the machine has.
WHEEL_LIBS=$(python3 - <<'PY' 2>/dev/null
import os
try:
    import nvidia
    root = os.path.dirname(nvidia.__path__[0])
    print(":".join(os.path.join(r, d) for r, ds, _ in os.walk(os.path.join(root, "nvidia")) for d in ds if d == "lib"))
except Exception:
    pass
PY
)
export LD_LIBRARY_PATH="${WHEEL_LIBS:+$WHEEL_LIBS:}/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
{ nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv; } > "$OUT/gpu.txt" 2>&1
missing=0
for b in kernels_cuda_tests kernels_cuda_bench backend_cuda_tests; do
  if ldd "$BIN/$b" | grep -q "not found"; then ldd "$BIN/$b" | grep "not found"; missing=1; fi
done
[ "$missing" = 0 ] || { echo "libraries missing; see above"; exit 1; }

status() { if [ "$1" = 0 ]; then echo pass; else echo "FAIL ($1)"; fi; }
last_line() { grep -v '^[[:space:]]*$' "$1" | tail -1; }
"$BIN/kernels_cuda_tests" > "$OUT/kernels_cuda_tests.log" 2>&1; kt=$?
"$BIN/backend_cuda_tests" > "$OUT/backend_cuda_tests.log" 2>&1; bt=$?
"$BIN/kernels_cuda_bench" --json "$OUT/fp8_gemm.jsonl" > "$OUT/fp8_gemm_bench.log" 2>&1; gb=$?
"$BIN/kernels_cuda_bench" attention > "$OUT/attention_bench.log" 2>&1; ab=$?
"$BIN/kernels_cuda_bench" memory > "$OUT/memory_bench.log" 2>&1; mb=$?

echo "== $(head -2 "$OUT/gpu.txt" | tail -1)"
printf '%-24s %s  %s\n' kernels_cuda_tests "$(status $kt)" "$(grep -c 'SKIPPED: ' "$OUT/kernels_cuda_tests.log") skip messages; $(last_line "$OUT/kernels_cuda_tests.log")"
printf '%-24s %s  %s\n' backend_cuda_tests "$(status $bt)" "$(grep -c 'SKIPPED: ' "$OUT/backend_cuda_tests.log") skip messages; $(last_line "$OUT/backend_cuda_tests.log")"
printf '%-24s %s\n' fp8_gemm_bench "$(status $gb)"; tail -15 "$OUT/fp8_gemm_bench.log"
printf '%-24s %s\n' attention_bench "$(status $ab)"; tail -6 "$OUT/attention_bench.log"
printf '%-24s %s\n' memory_bench "$(status $mb)"; tail -12 "$OUT/memory_bench.log"
