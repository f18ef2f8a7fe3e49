#!/usr/bin/env bash
# Installs what tandem needs from Debian packages (only what is missing) and builds it: the targets
# named as arguments (`setup.sh tandem`: the command and what it links), or every target without any.
# Used by the README's two commands and by CI; CUDA is used when /usr/local/cuda (or nvcc) is present.
# clang and libclang-rt-14-dev (libFuzzer) are for scripts/fuzz.sh, the bounded fuzz run of the test command;
# Open MPI for `mpirun tandem sweep`. Both for full builds only.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build ccache pkg-config python3
          libboost-graph-dev libfmt-dev libcli11-dev nlohmann-json3-dev catch2
          libimgui-dev libglfw3-dev libegl-dev libgl-dev libgles-dev libegl-mesa0 libgl1-mesa-dri libpng-dev)
# The fuzz targets (scripts/fuzz.sh, part of the test command) need clang and libFuzzer's runtime; a
# build of some targets only (the README's first command) does not.
(($#)) || packages+=(clang libclang-rt-14-dev)
# Open MPI lets `tandem sweep` share points among MPI ranks (docs/sweep.md); tandem builds without it.
(($#)) || packages+=(libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build_dir=${TANDEM_BUILD_DIR:-build}
jobs=${TANDEM_JOBS:-$(nproc)}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${TANDEM_BUILD_TYPE:-Release} ${TANDEM_CMAKE_ARGS:-}
targets=()
(($#)) && targets=(--target "$@")
cmake --build "$build_dir" -j "$jobs" "${targets[@]}"
