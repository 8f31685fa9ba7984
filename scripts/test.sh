#!/usr/bin/env bash
# Sets everything up, builds, and runs the whole test suite (CPU ops against PyTorch, gradient checks, ...).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${CAGE_BUILD_DIR:-$here/build}"
bash "$here/scripts/setup.sh" "$build"
cd "$build"
ctest --output-on-failure -j "$(nproc)" --timeout 1200
