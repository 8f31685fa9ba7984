"""Fixture format shared by the ref_*.py generators and the C++ tests (tests/support/reference.h).

One case = one safetensors file out_dir/<op>/<case>.safetensors holding named tensors (inputs, outputs,
gradients; any float dtype F32/F64, integers I64) and __metadata__ {"op": <op>, "case": <case>,
"params": <JSON object>}. Names used by convention: "in.<name>" inputs, "out" the forward result,
"gout" the upstream gradient fed to backward, "grad.<name>" the gradient of each input.
"""
import json
import pathlib
import struct

import numpy as np
import torch

_DT = {torch.float32: ("F32", "<f4"), torch.float64: ("F64", "<f8"), torch.int64: ("I64", "<i8"),
       torch.uint8: ("U8", "u1")}


def save(out_dir, op, case, tensors, params=None):
    """tensors: dict name -> torch.Tensor (saved contiguous, in insertion order)."""
    d = pathlib.Path(out_dir) / op
    d.mkdir(parents=True, exist_ok=True)
    header, blobs, offset = {}, [], 0
    meta = {"op": op, "case": case, "params": json.dumps(params or {})}
    header["__metadata__"] = meta
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        tag, npdt = _DT[t.dtype]
        raw = t.numpy().astype(npdt).tobytes()
        shape = list(t.shape)
        header[name] = {"dtype": tag, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    path = d / f"{case}.safetensors"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return path
