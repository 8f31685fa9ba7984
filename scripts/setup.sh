#!/usr/bin/env bash
# Installs what the build and the tests need (Debian packages), then configures and builds.
# Idempotent: packages already present are not reinstalled, the build is incremental (ccache).
# Usage: scripts/setup.sh [build-dir]   (default: build)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$here/build}"

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libopenblas-dev libopenblas0-pthread          # GEMMs (the pthread variant: the fast, threaded one)
  libgtest-dev libgmock-dev libbenchmark-dev    # tests and microbenchmarks
  nlohmann-json3-dev libcli11-dev libzip-dev    # headers/JSON, command lines, .pth archives
  libboost-context-dev                          # fibers of the CUDA emulator
  libturbojpeg0-dev libjpeg62-turbo-dev libstb-dev zlib1g-dev  # image and data decoding
  python3 python3-numpy python3-torch python3-torchvision      # reference side of the tests
  python3-sklearn                               # second check of the metric references (optional in ref_metrics.py)
  dataset-fashion-mnist                         # the main job's data
  libopencv-dev opencv-data python3-opencv      # cage_infer: Haar face detector, video input; its tests' video
  clang-14 libclang-rt-14-dev                   # libFuzzer + AddressSanitizer for the reader fuzz tests
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release ${CAGE_CMAKE_ARGS:-} > "$build.cmake.log" 2>&1 \
  || { cat "$build.cmake.log"; exit 1; }
cmake --build "$build" -j "$(nproc)"
