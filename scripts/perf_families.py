#!/usr/bin/env python3
"""A `perf record` profile of the engine summed by op family (docs/performance_training.md).

Usage: scripts/perf_families.py PERF_DATA [TIME]
TIME is passed to `perf report --time`, e.g. 50%-100% for the second half of the recording (the steady state of a
benchmark whose first part is model initialisation and the cold warm-up step).
Prints each family's share of the samples and its size in "units": samples divided by those of OpenBLAS's
SGEMM kernel, whose work (the model's GEMM FLOPs) does not change with the engine's other code, so units
compare profiles taken under different machine load (a bf16 mixed-precision profile has no SGEMM: shares only). Families are matched on symbol names, first match wins.
"""
import subprocess, sys, re, collections
fams = [
 ("OpenBLAS SGEMM kernel", r"sgemm_kernel"),
 ("OpenBLAS packing", r"sgemm_.*copy"),
 ("bf16 GEMM micro kernel", r"micro<"),
 ("bf16 GEMM packing / rounding", r"pack_kmajor|pack_kcontig|convert_rows|gemm_bf16"),
 ("squeeze-excitation (fused op)", r"squeeze|gate|dgemm"),
 ("attention (softmax, products, gathers)", r"probabilities|attention|attn_bf16|backward_impl|forward_impl|gemm_rows|small_gemm"),
 ("GELU forward + backward", r"unary_(forward|backward)|gelu_bf16\(|gelu_backward_bf16"),
 ("BatchNorm forward + backward (incl. fused + GELU)", r"batch_norm|batch_stats|bn_backward_input|bn_gelu_input|affine_gelu"),
 ("LayerNorm forward + backward", r"layer_norm"),
 ("depthwise conv forward + backward", r"depthwise"),
 ("bias / broadcast reductions (sum_to)", r"sum_to"),
 ("broadcast add / mul forward", r"binary_loop"),
 ("gradient accumulation (cpu_add)", r"cpu_add"),
 ("im2col / col2im", r"im2col|col2im"),
 ("memset (GEMM beta = 0, zero fills, cpu_fill)", r"memset|cpu_fill"),
 ("memcpy / contiguous copies", r"memmove|memcpy|cpu_copy"),
 ("AdamW", r"adamw"),
 ("cross-entropy / softmax / pooling", r"cross_entropy|softmax|pool|loss"),
 ("weight initialisation (not part of a step)", r"philox|Philox|log1p|__cos|__sin|init_weights"),
 ("kernel: page faults, fresh pages, scheduler", r"^\[k\]"),
]
f = sys.argv[1]
cmd = ["perf", "report", "-i", f, "--no-children", "--sort", "symbol", "-g", "none", "--percent-limit", "0"]
if len(sys.argv) > 2:
    cmd += ["--time", sys.argv[2]]
out = subprocess.run(cmd, capture_output=True, text=True).stdout
tot = collections.OrderedDict((n,0.0) for n,_ in fams); tot["other"]=0.0
for line in out.splitlines():
    m = re.match(r"\s+([\d.]+)%\s+(\[.\])\s+(.*)", line)
    if not m: continue
    p=float(m.group(1)); sym=m.group(2)+" "+m.group(3)
    for n,rx in fams:
        if re.search(rx, sym if rx.startswith("^") else m.group(3)):
            tot[n]+=p; break
    else: tot["other"]+=p
unit = tot["OpenBLAS SGEMM kernel"]  # 0 when every GEMM ran in bf16: shares only
for n,v in tot.items(): print(f"{n:48s} {v:6.1f}%  " + (f"{v/unit:6.3f}" if unit else "-"))
if unit: print(f"{'total units':48s} {100/unit:6.3f}")
