#!/usr/bin/env bash
# A torch.save checkpoint of torchvision's maxvit_t imports (cage_import) and runs (cage_infer) with
# torchvision's logits. Usage: run_maxvit_t_import.sh PYTHON CAGE_IMPORT CAGE_INFER
set -euo pipefail
python=$1 import=$2 infer=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" "$here/tools/reference/make_maxvit_t_pth.py" "$work"
"$import" "$work/maxvit_t.pth" "$work/maxvit_t.safetensors" | tee "$work/import.log"
grep -q "parameters: 30919624 " "$work/import.log" || { echo "FAIL: parameter count"; exit 1; }
"$infer" --weights "$work/maxvit_t.pth" --tensor "$work/maxvit_t_expected.safetensors:input" --dump "$work/ours.safetensors"
"$python" - "$work" <<'PY'
import json, struct, sys
import numpy as np
def read(path):
    raw = open(path, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n]); h.pop("__metadata__", None)
    return {k: np.frombuffer(raw, "<f4", int(np.prod(v["shape"])), 8 + n + v["data_offsets"][0]).reshape(v["shape"])
            for k, v in h.items() if v["dtype"] == "F32"}
work = sys.argv[1]
ours, ref = read(f"{work}/ours.safetensors")["logits"], read(f"{work}/maxvit_t_expected.safetensors")["logits"]
err = float(np.abs(ours - ref).max()); scale = float(np.abs(ref).max())
print(f"[reference] maxvit_t.pth (torch.save) logits {ours.shape}: max abs error {err:.3g} (max |logit| {scale:.3g})")
sys.exit(0 if err <= 2e-5 * max(1.0, scale) else 1)
PY
