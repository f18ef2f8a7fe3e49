#!/usr/bin/env bash
# Builds, on a machine with the CUDA Toolkit (no GPU needed), the GPU test and benchmark programs that
# scripts/gpu-check.sh runs on a GPU machine, and gathers them in build-gpu/bin (a few MiB: CUDA
# runtime static, fmt header-only; they need the driver, cuBLASLt and NCCL where they run).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${TANDEM_GPU_BUILD_DIR:-build-gpu}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DTANDEM_FOLDERS="ir;trace;kernels;backend" -DTANDEM_WERROR=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target kernels_cuda_tests kernels_cuda_bench backend_cuda_tests
mkdir -p "$BUILD/bin"
cp "$BUILD/kernels_cuda_tests" "$BUILD/kernels_cuda_bench" "$BUILD/backend_cuda_tests" "$BUILD/bin/"
du -sh "$BUILD/bin"
echo "carry: $BUILD/bin   then on the GPU machine: bash scripts/gpu-check.sh $BUILD/bin"
