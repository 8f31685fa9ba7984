#!/usr/bin/env bash
# Sets everything up, builds, and runs the main job: a small MaxViT (0.75 M parameters) trained on
# Fashion-MNIST (Debian's dataset-fashion-mnist) on the CPU with the engine's own ops, autograd, AdamW and
# cosine schedule, then evaluated on the 10,000 test images. Extra arguments go to cage_demo (--epochs N, ...).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${CAGE_BUILD_DIR:-$here/build}"
bash "$here/scripts/setup.sh" "$build"
"$build/tools/cage_demo" "$@"
