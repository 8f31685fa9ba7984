"""PyTorch references for train/optim.h and train/schedule.h (read by tests/torch/test_optim_torch.cpp).

* adamw/<case>, sgd/<case>: torch.optim.AdamW / SGD (foreach=False: the single-tensor code the engine
  mirrors) run for several steps on a few parameter tensors in the case's dtype, with a fixed sequence of random
  gradients. Stored: in.<i> (initial parameters), grad.<step>.<i> (the gradient given at that step; absent when
  parameter i has no gradient at that step, which torch skips), after.<step>.<i> (parameters after the step).
  params: the hyper-parameters, "num_params", "steps".
* lr_schedule/<case>: the lr torch's schedulers give for each optimizer step 0..T (f64 "lr"), for
  CosineAnnealingLR alone and SequentialLR([LinearLR, CosineAnnealingLR]) (linear warmup, then cosine).
* adamw_golden/maxvit_small: the project's golden train step (../shared/reference, README there) with the
  parameters before the step read by torch.load from maxvit_small.pth: before.<key>, grad.<key>, after.<key>
  for every parameter, plus the step's logits, labels, va_targets, class_weights and loss terms.
"""
import json
import os
import pathlib
import struct
import warnings

import numpy as np
import torch

import refio

F32, F64 = torch.float32, torch.float64
_NAMES = {F32: "f32", F64: "f64"}
_SHAPES = [[7], [5, 3], [64, 33], [1], [4, 3, 3, 16]]


def _params_and_grads(seed, dtype, steps, skip):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g, dtype=F64).to(dtype) for s in _SHAPES]
    grads = []
    for step in range(steps):
        row = []
        for i, s in enumerate(_SHAPES):
            # Scales from 1e-6 (where eps matters) to 10; one tensor mixes them element by element.
            scale = [1.0, 1e-3, 1.0, 10.0, 1.0][i]
            gi = torch.randn(s, generator=g, dtype=F64) * scale
            if i == 4:
                gi = gi * torch.pow(10.0, -6 * torch.rand(s, generator=g, dtype=F64))
            row.append(None if (step, i) in skip else gi.to(dtype))
        grads.append(row)
    return params, grads


def _run(out_dir, op, case, dtype, make_opt, hyper, seed, steps=5, skip=()):
    params, grads = _params_and_grads(seed, dtype, steps, set(skip))
    leaves = [p.clone().requires_grad_(True) for p in params]
    opt = make_opt(leaves)
    tensors = {f"in.{i}": p for i, p in enumerate(params)}
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        for i, gi in enumerate(grads[step]):
            if gi is not None:
                leaves[i].grad = gi.clone()
                tensors[f"grad.{step}.{i}"] = gi
        opt.step()
        for i, p in enumerate(leaves):
            tensors[f"after.{step}.{i}"] = p.detach().clone()
    meta = dict(hyper, num_params=len(params), steps=steps)
    refio.save(out_dir, op, f"{case}_{_NAMES[dtype]}", tensors, meta)
    return 1


def _optimizers(out_dir):
    n = 0
    adamw = [  # (case, hyper-parameters, parameters without a gradient at (step, index))
        ("wd005", dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.05, amsgrad=False), ()),
        ("cage_wd001", dict(lr=4e-5, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, amsgrad=False), ()),
        ("other_skip", dict(lr=5e-3, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1, amsgrad=False),
         ((0, 1), (2, 0), (3, 0))),
        ("amsgrad", dict(lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.05, amsgrad=True), ((1, 2),)),
    ]
    sgd = [
        ("momentum09_wd", dict(lr=0.05, momentum=0.9, dampening=0.0, weight_decay=1e-4, nesterov=False), ()),
        ("nesterov_wd", dict(lr=0.05, momentum=0.9, dampening=0.0, weight_decay=5e-4, nesterov=True), ((2, 1),)),
        ("dampening", dict(lr=0.1, momentum=0.5, dampening=0.1, weight_decay=0.0, nesterov=False), ((0, 3),)),
        ("plain", dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.01, nesterov=False), ()),
    ]
    for dtype in (F32, F64):
        for k, (case, h, skip) in enumerate(adamw):
            make = lambda ps, h=h: torch.optim.AdamW(ps, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"],
                                                     weight_decay=h["weight_decay"], amsgrad=h["amsgrad"],
                                                     foreach=False)
            n += _run(out_dir, "adamw", case, dtype, make, h, 100 + k, skip=skip)
        for k, (case, h, skip) in enumerate(sgd):
            make = lambda ps, h=h: torch.optim.SGD(ps, lr=h["lr"], momentum=h["momentum"], dampening=h["dampening"],
                                                   weight_decay=h["weight_decay"], nesterov=h["nesterov"],
                                                   foreach=False)
            n += _run(out_dir, "sgd", case, dtype, make, h, 200 + k, skip=skip)
    return n


def _schedules(out_dir):
    n = 0
    specs = [  # (case, base lr, T, eta_min, warmup steps, warmup start factor)
        ("cosine_t37", 1e-3, 37, 0.0, 0, 1.0),
        ("cosine_t20_etamin", 4e-5, 20, 1e-6, 0, 1.0),
        ("warmup5_cosine_t37", 5e-5, 37, 0.0, 5, 1.0 / 3),
        ("warmup10_cosine_t37_etamin", 1e-3, 37, 1e-5, 10, 0.01),
        ("warmup1_cosine_t4", 0.1, 4, 0.0, 1, 0.5),
    ]
    for case, base, total, eta_min, warmup, start in specs:
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=base)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about step(epoch) inside SequentialLR
            if warmup == 0:
                sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=eta_min)
            else:
                lin = torch.optim.lr_scheduler.LinearLR(opt, start_factor=start, total_iters=warmup)
                cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=eta_min)
                sched = torch.optim.lr_scheduler.SequentialLR(opt, [lin, cos], milestones=[warmup])
            lrs = []
            for _ in range(total + 1):
                lrs.append(opt.param_groups[0]["lr"])
                opt.step()
                sched.step()
        params = dict(base_lr=base, total_steps=total, eta_min=eta_min, warmup_steps=warmup,
                      warmup_start_factor=start)
        refio.save(out_dir, "lr_schedule", case, {"lr": torch.tensor(lrs, dtype=F64)}, params)
        n += 1
    return n


def _read_safetensors(path):
    raw = pathlib.Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    dt = {"F32": "<f4", "I64": "<i8"}
    out = {}
    for k, h in header.items():
        a = np.frombuffer(raw, dt[h["dtype"]], int(np.prod(h["shape"])), 8 + n + h["data_offsets"][0])
        out[k] = torch.from_numpy(a.reshape(h["shape"]).copy())
    return out, meta


def _golden(out_dir):
    here = pathlib.Path(__file__).resolve().parent
    ref = pathlib.Path(os.environ.get("CAGE_REFERENCE_DIR") or here.parents[2] / "shared" / "reference")
    step_file, pth = ref / "maxvit_small_train_step.safetensors", ref / "maxvit_small.pth"
    if not step_file.exists() or not pth.exists():
        print(f"ref_optim: no golden train step in {ref}; adamw_golden not written")
        return 0
    golden, meta = _read_safetensors(step_file)
    before = torch.load(pth, map_location="cpu")
    hyper = json.loads(meta["train_step"])
    tensors = {}
    for name in ("logits", "labels", "va_targets", "class_weights"):
        tensors[name] = golden[name]
    for name in ("loss", "loss_ce", "loss_va_mse"):
        tensors[name] = golden[name].reshape([])
    keys = [k[len("grad."):] for k in golden if k.startswith("grad.")]
    for k in keys:
        tensors[f"before.{k}"] = before[k]
        tensors[f"grad.{k}"] = golden[f"grad.{k}"]
        tensors[f"after.{k}"] = golden[f"after.{k}"]
    params = dict(lr=hyper["lr"], beta1=hyper["betas"][0], beta2=hyper["betas"][1], eps=hyper["eps"],
                  weight_decay=hyper["weight_decay"], alpha=hyper["alpha"], num_classes=hyper["num_classes"],
                  keys=keys, source=str(step_file))
    refio.save(out_dir, "adamw_golden", "maxvit_small", tensors, params)
    return 1


def generate(out_dir):
    return _optimizers(out_dir) + _schedules(out_dir) + _golden(out_dir)
