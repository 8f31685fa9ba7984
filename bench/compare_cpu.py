#!/usr/bin/env python3
"""CPU speed, side by side in one run: ours vs ONNX Runtime vs PyTorch (current PyPI releases).

    bash scripts/bench_setup.sh                       # once
    .venv-bench/bin/python bench/compare_cpu.py --build build --threads 2

* MaxViT-T inference at 224x224, batch 1 and 8: ours (from the same torch.save'd weights), ONNX Runtime on the
  ONNX export of torchvision's maxvit_t, PyTorch eager; rounds alternate between the three. "ours bf16" is our
  fast path with its GEMMs in bf16 (models::Precision::bf16; nan on CPUs without AVX-512 BF16); the ratios are
  for fp32.
* A training step (forward + backward + AdamW, cross-entropy): MaxViT-T at batch 8, and the Fashion-MNIST MaxViT
  (input 32, stem 32, channels [32, 64, 128], one layer per stage, head_dim 16, partition 2) at batch 128; each in
  float32 and in bf16 mixed precision (ours: GEMM and attention operands in bf16, `cage_train --precision bf16`;
  PyTorch: CPU autocast to bfloat16), rounds alternating between the four.
Prints medians and ratios (ours / other: below 1 means we are faster); for training also the minima over the
rounds (on a shared machine the least load-disturbed samples). --training-only skips inference (and ONNX Runtime).
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


def median_time(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ours(build, filt, key, env):
    out = subprocess.run([os.path.join(build, "bench", "cage_bench"), f"--benchmark_filter={filt}",
                          "--benchmark_format=json"], env=env, check=True, capture_output=True, text=True).stdout
    values = [b[key] for b in json.loads(out)["benchmarks"] if key in b]  # none when skipped (no AVX-512 BF16)
    return statistics.median(values) if values else float("nan")


def fashion_model():
    from torchvision.models.maxvit import MaxVit
    return MaxVit(input_size=(32, 32), stem_channels=32, partition_size=2, block_channels=[32, 64, 128],
                  block_layers=[1, 1, 1], head_dim=16, stochastic_depth_prob=0.0, num_classes=10)


def maxvit_t_no_drop():
    # maxvit_t() fixes stochastic_depth_prob itself; the engine's benchmark runs without it (same work every step)
    m = torchvision.models.maxvit_t(num_classes=10)
    for mod in m.modules():
        if isinstance(mod, torchvision.ops.StochasticDepth):
            mod.p = 0.0
    return m


def torch_train_step(model, batch, size, channels, classes, bf16=False):
    """PyTorch's step; bf16: forward and loss under CPU autocast (bf16 GEMMs/convolutions), as the engine's bf16."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.full((batch, channels, size, size), 0.25)
    y = torch.arange(batch) % classes
    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--training-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.training_only:
        print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {args.threads} threads, "
              f"{args.rounds} alternating rounds")
        training(args, dict(os.environ, CAGE_NUM_THREADS=str(args.threads)))
        return
    import onnxruntime as ort
    model = torchvision.models.maxvit_t().eval()
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, onnxruntime {ort.__version__}, "
          f"{args.threads} threads, {args.rounds} alternating rounds")
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "maxvit_t.pth")
        torch.save(model.state_dict(), weights)
        onnx_path = os.path.join(tmp, "maxvit_t.onnx")
        torch.onnx.export(model, torch.rand(1, 3, 224, 224), onnx_path, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "b"}, "y": {0: "b"}}, opset_version=17, dynamo=False)
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        env = dict(os.environ, CAGE_BENCH_WEIGHTS=weights, CAGE_NUM_THREADS=str(args.threads))

        print("\nMaxViT-T inference, 224x224 (ms per image)")
        print(f"{'batch':>5} {'ours':>8} {'ours bf16':>9} {'ONNX RT':>8} {'PyTorch':>8} {'ours/ORT':>9} {'ours/torch':>10}")
        for batch in (1, 8):
            x = torch.rand(batch, 3, 224, 224)
            o, h, r, t = [], [], [], []
            for _ in range(args.rounds):
                o.append(ours(args.build, f"BM_MaxVitForward/batch:{batch}/fused:1/bf16:0", "ms_per_image", env))
                h.append(ours(args.build, f"BM_MaxVitForward/batch:{batch}/fused:1/bf16:1", "ms_per_image", env))
                r.append(1e3 * median_time(lambda: sess.run(None, {"x": x.numpy()}), max(3, 16 // batch)) / batch)
                with torch.inference_mode():
                    t.append(1e3 * median_time(lambda: model(x), max(3, 16 // batch)) / batch)
            o, h, r, t = statistics.median(o), statistics.median(h), statistics.median(r), statistics.median(t)
            print(f"{batch:>5} {o:>8.1f} {h:>9.1f} {r:>8.1f} {t:>8.1f} {o / r:>9.2f} {o / t:>10.2f}")

        training(args, env)


def training(args, env):
    print("\nTraining step: forward + backward + AdamW (ms per step; medians over the rounds, minima below)")
    print("bf16 = mixed precision: the engine's --precision bf16 (GEMM and attention operands bf16, fp32 accumulation),")
    print("PyTorch's torch.autocast('cpu', dtype=torch.bfloat16); nan where the CPU has no AVX-512 BF16")
    head = (f"{'model':>22} {'ours':>8} {'ours bf16':>9} {'PyTorch':>8} {'torch bf16':>10} {'ours/torch':>10} "
            f"{'bf16/torch':>10} {'bf16/torch bf16':>15}")
    print(head)
    cases = [("MaxViT-T, batch 8", "BM_TrainStepMaxVitT/batch:8/bf16:",
              lambda bf16: torch_train_step(maxvit_t_no_drop(), 8, 224, 3, 10, bf16), 3),
             ("Fashion MaxViT, b 128", "BM_TrainStepFashion/batch:128/bf16:",
              lambda bf16: torch_train_step(fashion_model(), 128, 32, 3, 10, bf16), 5)]
    minima = []
    for name, filt, make, reps in cases:
        step32, step16 = make(False), make(True)
        o, h, t, tb = [], [], [], []
        for _ in range(args.rounds):
            o.append(ours(args.build, filt + "0", "ms_per_step", env))
            h.append(ours(args.build, filt + "1", "ms_per_step", env))
            t.append(1e3 * median_time(step32, reps))
            tb.append(1e3 * median_time(step16, reps))
        row = lambda f: (f(o), f(h), f(t), f(tb))
        for label, (a, b, c, d) in ((name, row(statistics.median)), (name + " (min)", row(min))):
            line = (f"{label:>22} {a:>8.1f} {b:>9.1f} {c:>8.1f} {d:>10.1f} {a / c:>10.2f} {b / c:>10.2f} "
                    f"{b / d:>15.2f}")
            (print if label == name else minima.append)(line)
    print("minima:")
    for line in minima:
        print(line)

if __name__ == "__main__":
    main()
