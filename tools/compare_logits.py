#!/usr/bin/env python3
"""Compares two logit CSV files written by `cage_eval --logits` (e.g. --precision fp32 and bf16 on the same
checkpoint and data): max and mean absolute logit difference, max relative to the largest logit, and top-1
agreement."""
import argparse
import csv


def read(path):
    with open(path) as f:
        return [[float(v) for v in row] for row in csv.reader(f) if row]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("reference", help="logits CSV of the reference run (fp32)")
    ap.add_argument("other", help="logits CSV of the run to compare (bf16)")
    a = ap.parse_args()
    ref, oth = read(a.reference), read(a.other)
    assert len(ref) == len(oth) and all(len(r) == len(o) for r, o in zip(ref, oth)), "files differ in shape"
    diffs = [abs(x - y) for r, o in zip(ref, oth) for x, y in zip(r, o)]
    scale = max(abs(x) for r in ref for x in r)
    argmax = lambda row: max(range(len(row)), key=row.__getitem__)
    agree = sum(argmax(r) == argmax(o) for r, o in zip(ref, oth))
    print(f"samples {len(ref)}, outputs {len(ref[0])}")
    print(f"max |logit diff| {max(diffs):.4g} (max |logit| {scale:.4g}, relative {max(diffs) / scale:.3g}), "
          f"mean {sum(diffs) / len(diffs):.3g}")
    print(f"top-1 agreement {agree}/{len(ref)} = {agree / len(ref):.4%}")


if __name__ == "__main__":
    main()
