"""PyTorch references for the losses of nn/functional.h (read by tests/torch/test_losses_torch.cpp).

Cases: cross_entropy (with and without class weights: AffectNet-8 / AffectNet-7 from spec/cage-protocol.md),
mse_loss, ccc_loss (CAGE's formula with unbiased variances and covariance, written out in torch) and
bce_with_logits (with and without EMOTIC-style pos_weight = (N - count) / count), each in f32 and f64, at odd and
batch-sized shapes. Every case stores in.<name> inputs, out (the scalar loss, shape []), gout (a random
upstream gradient, shape []) and grad.<name> for each differentiable input.

References are computed by torch in float64 from the case's inputs and rounded to the case's dtype, so a
float32 comparison measures the engine's own rounding only.
"""
import torch
import torch.nn.functional as F

import refio

F32, F64 = torch.float32, torch.float64
_NAMES = {F32: "f32", F64: "f64"}

AFFECTNET8 = [0.015605, 0.008709, 0.046078, 0.083078, 0.185434, 0.305953, 0.046934, 0.308210]
AFFECTNET7 = [0.022600, 0.012589, 0.066464, 0.120094, 0.265305, 0.444943, 0.068006]


def ccc_loss(pred, target):
    """CAGE's CCC loss: -(2 cov) / (var_p + var_t + (mean_p - mean_t)^2), unbiased (N - 1) var and cov."""
    p, t = pred, target
    mp, mt = p.mean(), t.mean()
    vp, vt = torch.var(p, unbiased=True), torch.var(t, unbiased=True)
    cov = ((p - mp) * (t - mt)).sum() / (p.numel() - 1)
    return -(2 * cov) / (vp + vt + (mp - mt) ** 2)


class _Gen:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, shape, scale=1.0, shift=0.0):
        return torch.randn(shape, generator=self.g, dtype=F64) * scale + shift

    def uniform(self, shape, lo, hi):
        return torch.rand(shape, generator=self.g, dtype=F64) * (hi - lo) + lo

    def randint(self, hi, shape):
        return torch.randint(0, hi, shape, generator=self.g)


def _case(out_dir, gen, op, case, dtype, fn, inputs, diff, params=None):
    """inputs: dict name -> float64 tensor or int64 labels; diff: names of the differentiable inputs."""
    stored, leaves = {}, {}
    for name, t in inputs.items():
        if t.is_floating_point():
            t = t.to(dtype)  # the case's values, exactly representable in float64 below
            stored[name] = t
            leaves[name] = t.to(F64).requires_grad_(name in diff)
        else:
            stored[name] = t
            leaves[name] = t
    out = fn(**leaves)
    gout = gen.normal([]).to(dtype)
    out.backward(gout.to(F64))
    tensors = {f"in.{n}": t for n, t in stored.items()}
    tensors["out"] = out.detach().to(dtype)
    tensors["gout"] = gout
    for n in diff:
        tensors[f"grad.{n}"] = leaves[n].grad.to(dtype)
    refio.save(out_dir, op, f"{case}_{_NAMES[dtype]}", tensors, params or {})
    return 1


def _cross_entropy(out_dir, gen, dtype):
    n = 0
    specs = [  # (case, N, K, weights, logit scale, shift)
        ("n5_k7", 5, 7, None, 2.0, 0.0),
        ("n64_k10", 64, 10, None, 2.0, 0.0),
        ("n5_k8_affectnet8", 5, 8, AFFECTNET8, 2.0, 0.0),
        ("n64_k8_affectnet8", 64, 8, AFFECTNET8, 2.0, 0.0),
        ("n33_k7_affectnet7", 33, 7, AFFECTNET7, 2.0, 0.0),
        ("n1_k3", 1, 3, None, 1.0, 0.0),
        ("n6_k7_large", 6, 7, None, 30.0, 100.0),  # exp would overflow without the max subtraction
        ("n128_k1000", 128, 1000, None, 3.0, 0.0),
    ]
    for case, rows, k, w, scale, shift in specs:
        logits = gen.normal([rows, k], scale, shift)
        labels = gen.randint(k, (rows,))
        inputs = {"logits": logits, "labels": labels}
        if w is not None:
            inputs["weight"] = torch.tensor(w, dtype=F64)
            fn = lambda logits, labels, weight: F.cross_entropy(logits, labels, weight=weight)
        else:
            fn = lambda logits, labels: F.cross_entropy(logits, labels)
        n += _case(out_dir, gen, "cross_entropy", case, dtype, fn, inputs, ["logits"], {"weighted": w is not None})
    return n


def _mse(out_dir, gen, dtype):
    n = 0
    for case, shape in [("n5_k7", [5, 7]), ("n64_k2", [64, 2]), ("n1001", [1001]), ("d3x4x5", [3, 4, 5]),
                        ("n20000", [20000])]:
        inputs = {"pred": gen.normal(shape), "target": gen.uniform(shape, -1, 1)}
        n += _case(out_dir, gen, "mse_loss", case, dtype, lambda pred, target: F.mse_loss(pred, target), inputs,
                   ["pred", "target"])
    return n


def _ccc(out_dir, gen, dtype):
    n = 0
    specs = [  # (case, N, how)
        ("n2", 2, "plain"), ("n5", 5, "plain"), ("n64", 64, "correlated"), ("n128", 128, "correlated"),
        ("n37_offset", 37, "offset"), ("n9000", 9000, "correlated"),
    ]
    for case, rows, how in specs:
        t = gen.uniform([rows], -1, 1)
        if how == "plain":
            p = gen.uniform([rows], -1, 1)
        elif how == "correlated":  # a realistic VA head: correlated with the target, shrunk, biased
            p = 0.6 * t + 0.3 * gen.normal([rows]) + 0.05
        else:  # means far from zero relative to the spread
            t = t * 0.1 + 3.0
            p = 0.5 * t + 0.05 * gen.normal([rows]) + 1.4
        inputs = {"pred": p, "target": t}
        n += _case(out_dir, gen, "ccc_loss", case, dtype, ccc_loss, inputs, ["pred", "target"])
    return n


def _bce(out_dir, gen, dtype):
    n = 0
    specs = [  # (case, N, K, pos_weight, logit scale)
        ("n5_k7", 5, 7, False, 2.0), ("n64_k26", 64, 26, False, 2.0), ("n64_k26_posw", 64, 26, True, 2.0),
        ("n9_k26_posw_large", 9, 26, True, 40.0), ("n7_k3_soft", 7, 3, False, 3.0),
    ]
    for case, rows, k, posw, scale in specs:
        logits = gen.normal([rows, k], scale)
        if case.endswith("soft"):
            targets = gen.uniform([rows, k], 0, 1)
        else:
            targets = (gen.uniform([rows, k], 0, 1) < 0.3).to(F64)
        inputs = {"logits": logits, "targets": targets}
        if posw:
            count = targets.sum(0).clamp_min(1)
            inputs["pos_weight"] = (rows - count) / count
            fn = lambda logits, targets, pos_weight: F.binary_cross_entropy_with_logits(logits, targets,
                                                                                        pos_weight=pos_weight)
        else:
            fn = lambda logits, targets: F.binary_cross_entropy_with_logits(logits, targets)
        n += _case(out_dir, gen, "bce_with_logits", case, dtype, fn, inputs, ["logits", "targets"],
                   {"pos_weight": posw})
    return n


def generate(out_dir):
    n = 0
    for dtype in (F32, F64):
        gen = _Gen(20240611 if dtype == F32 else 20240612)
        n += _cross_entropy(out_dir, gen, dtype)
        n += _mse(out_dir, gen, dtype)
        n += _ccc(out_dir, gen, dtype)
        n += _bce(out_dir, gen, dtype)
    return n
