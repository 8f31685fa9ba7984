#!/usr/bin/env python3
"""Data pipeline throughput, ours vs torchvision + PIL, on the same 224x224 JPEGs and the same thread counts.

Run with the benchmark environment (scripts/bench_setup.sh installs the current PyPI torch/torchvision/PIL):
    .venv-bench/bin/python bench/data_throughput.py --build build
Writes N photo-like 224x224 JPEGs (quality 90) to a temporary folder, then alternates rounds of
  ours:  bench/cage_bench's BM_data_* benchmarks (bench/bench_data.cpp) on those files, CAGE_NUM_THREADS=1;
  torch: PIL decode (Image.open().convert("RGB")) and the paper's torchvision training transform, in 1 and 2
         worker processes (torch.set_num_threads(1) each: a DataLoader worker's setting), and a DataLoader with 1 and 2
         persistent workers, batch 32;
and prints the median images/s of each configuration side by side with the ratio ours/torch (> 1: ours is faster).
  decode          decode only, 1 thread
  augment         kPaperTrainSpec on one decoded image, 1 thread
  decode+augment  both, per-thread loops, 1 and 2 threads (images/s in total and per thread)
  loader          one epoch through the loader (ours: data/loader.h, threads; torch: DataLoader, processes)
"""
import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def paper_train_transform():
    # spec/cage-protocol.md, "Training": the same steps as data/pipeline.h's kPaperTrainSpec.
    return T.Compose([
        T.RandomHorizontalFlip(0.5), T.RandomGrayscale(0.01), T.RandomRotation(10),
        T.ColorJitter(0.2, 0.2, 0.2, 0.1), T.RandomPerspective(distortion_scale=0.2, p=0.5),
        T.ToTensor(), T.Normalize(MEAN, STD),
        T.RandomErasing(p=0.5, scale=(0.02, 0.2), ratio=(0.3, 3.3), value="random"),
    ])


def write_images(folder, n):
    # Smooth colour fields plus mild noise: JPEGs of roughly AffectNet's size (~20 KB), not pure noise.
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:224, 0:224]
    for i in range(n):
        img = np.stack([(x * (c + 1) + y * (3 - c) + i * 31) % 200 for c in range(3)], axis=-1)
        img = np.clip(img + rng.integers(0, 24, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(folder, f"{i}.jpg"), quality=90)
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".jpg"))


def load_rgb(path):
    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


def _worker(files, start, stride, seconds, mode, barrier, out):
    torch.set_num_threads(1)
    tf = paper_train_transform()
    torch.manual_seed(start)
    img0 = load_rgb(files[0])
    barrier.wait()
    t0 = time.perf_counter()
    n, i = 0, start
    while time.perf_counter() - t0 < seconds:
        if mode == "decode":
            load_rgb(files[i % len(files)])
        elif mode == "augment":
            tf(img0)
        else:
            tf(load_rgb(files[i % len(files)]))
        i += stride
        n += 1
    out.put((n, time.perf_counter() - t0))


def torch_loop(files, procs, mode, seconds):
    """images/s over `procs` worker processes, each with its own loop (as DataLoader workers are)."""
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(procs), ctx.Queue()
    ps = [ctx.Process(target=_worker, args=(files, k, procs, seconds, mode, barrier, out)) for k in range(procs)]
    for p in ps:
        p.start()
    results = [out.get() for _ in ps]
    for p in ps:
        p.join()
    return sum(n for n, _ in results) / max(t for _, t in results)


class Files(torch.utils.data.Dataset):
    def __init__(self, files):
        self.files, self.tf = files, paper_train_transform()

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return self.tf(load_rgb(self.files[i])), 0


def torch_loader(files, workers, epochs):
    loader = torch.utils.data.DataLoader(Files(files), batch_size=32, shuffle=True, num_workers=workers,
                                         persistent_workers=True)
    for _ in loader:  # warm-up epoch: worker start-up is not part of the steady state
        pass
    t0 = time.perf_counter()
    n = 0
    for _ in range(epochs):
        for x, _ in loader:
            n += x.shape[0]
    return n / (time.perf_counter() - t0)


def ours(build, folder, min_time):
    env = dict(os.environ, CAGE_BENCH_DATA_DIR=folder, CAGE_NUM_THREADS="1")
    out = subprocess.run([os.path.join(build, "bench", "cage_bench"), "--benchmark_filter=BM_data_",
                          "--benchmark_format=json", f"--benchmark_min_time={min_time}"],
                         env=env, check=True, capture_output=True, text=True).stdout
    rates = {}
    for r in json.loads(out)["benchmarks"]:
        name = r["name"]
        if name.startswith("BM_data_loader/workers:"):
            key = ("loader", int(name.split(":")[1].split("/")[0]))
        else:
            kind = {"BM_data_decode": "decode", "BM_data_augment": "augment",
                    "BM_data_decode_augment": "decode+augment"}[name.split("/")[0]]
            key = (kind, int(name.rsplit(":", 1)[1]))
        rates[key] = r["items_per_second"]
    return rates


def theirs(files, seconds, loader_epochs):
    rates = {("decode", 1): torch_loop(files, 1, "decode", seconds),
             ("augment", 1): torch_loop(files, 1, "augment", seconds)}
    for t in (1, 2):
        rates[("decode+augment", t)] = torch_loop(files, t, "decode+augment", seconds)
        rates[("loader", t)] = torch_loader(files, t, loader_epochs)
    return rates


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="CMake build folder holding bench/cage_bench")
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0, help="time per torch measurement")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        files = write_images(folder, args.images)
        size_kb = statistics.mean(os.path.getsize(f) for f in files) / 1024
        print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, PIL {Image.__version__}; "
              f"{len(files)} JPEGs 224x224 (mean {size_kb:.1f} KB); {args.rounds} alternating rounds, median; "
              f"{os.cpu_count()} cores")
        ours_runs, torch_runs = [], []
        for _ in range(args.rounds):
            ours_runs.append(ours(args.build, folder, args.seconds / 2))
            torch_runs.append(theirs(files, args.seconds, loader_epochs=max(1, 256 // len(files))))
        print(f"{'configuration':<24} {'ours img/s':>11} {'torch img/s':>12} {'per thread ours':>16} "
              f"{'per thread torch':>17} {'ours/torch':>11}")
        for key in [("decode", 1), ("augment", 1), ("decode+augment", 1), ("decode+augment", 2), ("loader", 1),
                    ("loader", 2)]:
            a = statistics.median(r[key] for r in ours_runs)
            b = statistics.median(r[key] for r in torch_runs)
            label = f"{key[0]}, {key[1]} thread{'s' if key[1] > 1 else ''}"
            print(f"{label:<24} {a:>11.1f} {b:>12.1f} {a / key[1]:>16.1f} {b / key[1]:>17.1f} {a / b:>11.2f}")


if __name__ == "__main__":
    main()
