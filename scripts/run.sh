#!/usr/bin/env bash
# Sets everything up, builds, and runs the main job: cage_train trains the Fashion-MNIST MaxViT (torchvision's
# MaxVit at input 32, 0.75 M parameters) on Debian's dataset-fashion-mnist on the CPU, choosing the best epoch on
# a held-out 10% of the training set, then cage_eval reports every metric on the 10,000 test images and writes
# a report with pictures. Extra arguments go to cage_train (e.g. --epochs 3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${CAGE_BUILD_DIR:-$here/build}"
run="${CAGE_RUN_DIR:-$here/runs/fashion-mnist}"
bash "$here/scripts/setup.sh" "$build"
rm -rf "$run"
start=$(date +%s)
"$build/tools/cage_train" --data fashion-mnist --run-dir "$run" "$@"
"$build/tools/cage_eval" --weights "$run/best.safetensors" --data fashion-mnist@t10k --json "$run/test_metrics.json" \
  --report "$run/report"
echo "main job: $(( $(date +%s) - start )) s for training and evaluation; run directory $run"
