#!/usr/bin/env python3
"""MaxViT-T inference at 224x224, ours vs PyTorch (torchvision's maxvit_t), side by side in one run.

Run with the benchmark environment (scripts/bench_setup.sh installs the current PyPI torch/torchvision):
    .venv-bench/bin/python bench/compare_maxvit.py --build build --threads 2
Both sides use the same weights (torchvision's maxvit_t initialisation, saved with torch.save and loaded by
our engine from that .pth), the same input size and the same thread count; rounds alternate between the
two so that machine noise hits both alike. Prints the median ms/image per batch size and the ratio.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

import torch
import torchvision


def time_torch(model, batch, reps):
    x = torch.rand(batch, 3, 224, 224)
    with torch.inference_mode():
        model(x)  # warm-up
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1e3 / batch)
    return statistics.median(times)


def time_ours(build, weights, batch, threads):
    env = dict(os.environ, CAGE_BENCH_WEIGHTS=weights, CAGE_NUM_THREADS=str(threads))
    out = subprocess.run([os.path.join(build, "bench", "cage_bench"), f"--benchmark_filter=BM_MaxVitForward/batch:{batch}/fused:1",
                          "--benchmark_format=json"], env=env, check=True, capture_output=True, text=True).stdout
    runs = json.loads(out)["benchmarks"]
    return statistics.median(r["ms_per_image"] for r in runs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batches", default="1,8")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchvision.models.maxvit_t().eval()
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "maxvit_t.pth")
        torch.save(model.state_dict(), weights)
        print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {args.threads} threads, "
              f"{args.rounds} alternating rounds")
        print(f"{'batch':>5} {'ours ms/img':>12} {'torch ms/img':>13} {'ours/torch':>11}")
        for batch in [int(b) for b in args.batches.split(",")]:
            ours, theirs = [], []
            for _ in range(args.rounds):
                ours.append(time_ours(args.build, weights, batch, args.threads))
                theirs.append(time_torch(model, batch, max(2, 8 // batch)))
            o, t = statistics.median(ours), statistics.median(theirs)
            print(f"{batch:>5} {o:>12.1f} {t:>13.1f} {o / t:>11.2f}")


if __name__ == "__main__":
    main()
