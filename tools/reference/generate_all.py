#!/usr/bin/env python3
"""Writes every PyTorch reference fixture the C++ tests read.

Runs the generate(out_dir) function of each tools/reference/ref_*.py module. Each module writes its cases as
safetensors files under out_dir/<op>/<case>.safetensors (see refio.py for the format). Needs Debian's
python3-torch (1.13); runs on the CPU in float32 and float64.
"""
import argparse
import importlib.util
import pathlib
import sys
import time

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, help="directory for the fixtures")
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    here = pathlib.Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    modules = sorted(here.glob("ref_*.py"))
    if not modules:
        sys.exit("no ref_*.py modules found")
    for path in modules:
        t0 = time.time()
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        n = mod.generate(out)
        print(f"{path.stem}: {n} cases in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
