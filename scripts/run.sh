#!/usr/bin/env bash
# Sets everything up, builds, and runs the main job.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${CAGE_BUILD_DIR:-$here/build}"
bash "$here/scripts/setup.sh" "$build"
"$build/bench/cage_bench" --benchmark_min_time=0.2 "$@"
