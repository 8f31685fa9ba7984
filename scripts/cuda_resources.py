#!/usr/bin/env python3
"""Per-kernel resources of the CUDA backend, from ptxas: registers, static shared memory, stack and spill bytes.

Compiles every kernels/cuda/*.cu with nvcc -Xptxas -v for the listed architectures (the same flags as the build:
C++17, the repository as include root) and prints one row per (kernel, architecture). With --no-spills PATTERN
(repeatable), exits 1 when a kernel whose name contains PATTERN spills on any architecture.

    python3 scripts/cuda_resources.py                              # the table
    python3 scripts/cuda_resources.py --no-spills attention --no-spills adamw --no-spills ccc
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(sm_\d+)'")
FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
USED = re.compile(r"Used (\d+) registers(?:.*?(\d+) bytes smem)?")


def demangle(names):
    if not names:
        return {}
    filt = shutil.which("c++filt")
    if not filt:
        return {n: n for n in names}
    out = subprocess.run([filt], input="\n".join(names), capture_output=True, text=True, check=True).stdout
    return dict(zip(names, out.splitlines()))


def short_name(demangled):
    # "void cage::cuda::(anonymous namespace)::softmax_forward_kernel(float const*, ...)" -> softmax_forward_kernel
    name = demangled.replace("(anonymous namespace)::", "").replace("cage::cuda::", "")
    name = re.sub(r"^void ", "", name)
    depth, cut = 0, len(name)
    for i, ch in enumerate(name):  # the parameter list starts at the first '(' outside template brackets
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0:
            cut = i
            break
    return name[:cut]


def compile_file(nvcc, root, path, archs):
    gencode = []
    for a in archs:
        gencode += ["-gencode", f"arch=compute_{a},code=sm_{a}"]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [nvcc, "-std=c++17", "-O3", "-I", root, "-c", path, "-o", os.path.join(tmp, "k.o"), "-Xptxas", "-v"]
        cmd += gencode
        r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit(f"cuda_resources: nvcc failed on {path}")
    rows, current = [], None
    for line in r.stderr.splitlines():
        m = ENTRY.search(line)
        if m:
            current = {"mangled": m.group(1), "arch": m.group(2), "file": os.path.basename(path)}
            continue
        if current is None:
            continue
        m = FRAME.search(line)
        if m:
            current.update(stack=int(m.group(1)), spill_st=int(m.group(2)), spill_ld=int(m.group(3)))
            continue
        m = USED.search(line)
        if m:
            current.update(regs=int(m.group(1)), smem=int(m.group(2) or 0))
            rows.append(current)
            current = None
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--arch", action="append", help="architecture number (default: 80, 89, 90)")
    ap.add_argument("--no-spills", action="append", default=[], metavar="PATTERN",
                    help="fail when a kernel whose name contains PATTERN spills")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--compact", action="store_true",
                    help="one row per kernel: registers per architecture, the largest smem, stack and spills")
    args = ap.parse_args()
    archs = args.arch or ["80", "89", "90"]
    nvcc = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    if not os.path.exists(nvcc):
        raise SystemExit("cuda_resources: nvcc not found (the CUDA toolkit is needed)")
    cu_dir = os.path.join(args.root, "kernels", "cuda")
    rows = []
    for f in sorted(os.listdir(cu_dir)):
        if f.endswith(".cu"):
            rows += compile_file(nvcc, args.root, os.path.join(cu_dir, f), archs)
    names = demangle(sorted({r["mangled"] for r in rows}))
    for r in rows:
        r["name"] = short_name(names.get(r["mangled"], r["mangled"]))
    rows.sort(key=lambda r: (r["file"], r["name"], r["arch"]))

    header = ("file", "kernel", "arch", "regs", "smem B", "stack B", "spill st B", "spill ld B")
    table = [(r["file"], r["name"], r["arch"], r["regs"], r["smem"], r["stack"], r["spill_st"], r["spill_ld"])
             for r in rows]
    if args.compact:
        grouped = {}
        for r in rows:
            grouped.setdefault((r["file"], r["name"]), []).append(r)
        header = ("file", "kernel", "regs " + "/".join("sm_" + a for a in archs), "smem B", "stack B", "spill B")
        table = [(f, k, "/".join(str(r["regs"]) for r in rs), max(r["smem"] for r in rs), max(r["stack"] for r in rs),
                  max(r["spill_st"] + r["spill_ld"] for r in rs)) for (f, k), rs in grouped.items()]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for t in table:
            print("| " + " | ".join(str(x) for x in t) + " |")
    else:
        w = [max(len(str(x)) for x in col) for col in zip(header, *table)]
        for t in [header] + table:
            print("  ".join(str(x).ljust(w[i]) if i < 2 else str(x).rjust(w[i]) for i, x in enumerate(t)))
    spilling = [r for r in rows if r["spill_st"] or r["spill_ld"]]
    print(f"\n{len(rows)} kernel builds over {len(archs)} architectures; {len(spilling)} with spills")
    bad = [r for r in spilling if any(p in r["name"] or p in r["file"] for p in args.no_spills)]
    for r in bad:
        print(f"cuda_resources: {r['name']} ({r['file']}, {r['arch']}) spills {r['spill_st']} B stores, "
              f"{r['spill_ld']} B loads", file=sys.stderr)
    missing = [p for p in args.no_spills if not any(p in r["name"] or p in r["file"] for r in rows)]
    for p in missing:
        print(f"cuda_resources: no kernel matches '{p}'", file=sys.stderr)
    return 1 if bad or missing else 0


if __name__ == "__main__":
    sys.exit(main())
