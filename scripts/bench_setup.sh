#!/usr/bin/env bash
# Benchmark-only environment: the current PyPI releases of torch, torchvision and onnxruntime in a virtual
# environment (.venv-bench), so speed is compared with what users install today. The tests never use it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CAGE_BENCH_VENV:-$here/.venv-bench}"
if ! "$venv/bin/python" -c "import torch, torchvision, onnxruntime" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet torch torchvision onnxruntime onnx numpy
fi
"$venv/bin/python" -c "import torch, torchvision, onnxruntime; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'onnxruntime', onnxruntime.__version__)"
