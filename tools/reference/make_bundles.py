#!/usr/bin/env python3
"""Writes MaxViT golden bundles in the format of ../shared/reference (see its README.md).

Builds torchvision's own MaxVit (the installed torchvision, 0.14 on Debian bookworm) with a CAGE head,
overwrites its weights with the README's small-model rule, saves them with torch.save(model.state_dict())
and writes, next to the checkpoint:

  DIR/<name>.pth                        the state_dict
  DIR/<name>_forward.safetensors        kind "forward": eval-mode input and intermediate outputs
  DIR/<name>_train_step.safetensors     kind "train_step": one AdamW step (only for heads whose loss the
                                        C++ test can express: "combined" or "discrete")

The C++ test tests/models/test_maxvit_reference.cpp discovers and checks every bundle of a directory from
its metadata alone, so a new configuration needs an entry in CONFIGS below and no C++ code.

Conventions (shared README): tensors NCHW float32, integers int64; weights from torch.Generator seeded with
--seed (S), the forward input from torch.manual_seed(S + 1), the train batch from torch.manual_seed(S + 2)
(S = 0 gives the README's seeds 0, 1, 2). BatchNorm momentum is set to 0.01 (torchvision >= 0.18) after
construction; the train step also stores the running statistics momentum 0.99 (torchvision <= 0.17, the
installed one's default) would give, as after_bn_momentum_0.99.<key>.

Usage:
  make_bundles.py --out DIR [--seed S] [--config small,tiny-va,...|all] [--kinds forward,train_step]
                  [--compare REFDIR]

--config shared rebuilds the shared maxvit_small bundles; with --compare ../shared/reference the script
reports, per tensor, how far its output is from the same-named bundle there. With Debian's netlib BLAS
(--blas auto/reference; the default when libblas3 is installed) and 2 threads (--threads, default 2) it
reproduces them bit for bit; OpenBLAS's CPU-specific kernels or another thread count change the float32
results in the last bits (about 1e-6, far inside the C++ test's tolerances).
"""
import argparse
import copy
import hashlib
import json
import math
import os
import pathlib
import struct
import sys
import warnings

import torch
import torchvision
from torch import nn
from torchvision.models.maxvit import MaxVit

# Normalised inverse class frequencies of the CAGE paper's code (spec/cage-protocol.md).
AFFECTNET8_WEIGHTS = [0.015605, 0.008709, 0.046078, 0.083078, 0.185434, 0.305953, 0.046934, 0.30821]
AFFECTNET7_WEIGHTS = [0.022600, 0.012589, 0.066464, 0.120094, 0.265305, 0.444943, 0.068006]

# Every configuration: `model` holds exactly the torchvision MaxVit constructor arguments (written as the
# bundle's `config`), `head_dropout` > 0 rebuilds the classifier as CAGE's valence-arousal head (recorded in
# `config` too: the C++ MaxVitConfig then expects the last Linear at classifier.6), `loss` is the train-step
# loss or None when the C++ test cannot express the head's real loss (forward bundle only), `layers` "first"
# hooks the MBconv / window / grid outputs of stage 0 layer 0 only (the shared bundle's set), "all" of every
# layer (a failing check then names the first layer that differs).
CONFIGS = {
    # The shared reference model; regenerating it checks this script against ../shared/reference.
    "shared": dict(
        name="maxvit_small",
        model=dict(input_size=[64, 64], stem_channels=16, partition_size=2, block_channels=[16, 32, 48, 64],
                   block_layers=[1, 2, 1, 1], head_dim=8, stochastic_depth_prob=0.0, num_classes=10),
        head_dropout=0.0,
        loss=dict(loss="combined", num_classes=8, alpha=5.0, class_weights=AFFECTNET8_WEIGHTS),
        layers="first",
        about="AffectNet-8 combined head (8 logits + V + A)",
    ),
    # A different small model: three stages, two layers in stage 0 (a stride-1 MBConv without projection),
    # 3 and 5 heads, AffectNet-7 combined head (7 logits + V + A).
    "small": dict(
        name="maxvit_small_an7",
        model=dict(input_size=[64, 64], stem_channels=12, partition_size=2, block_channels=[16, 24, 40],
                   block_layers=[2, 1, 1], head_dim=8, stochastic_depth_prob=0.0, num_classes=9),
        head_dropout=0.0,
        loss=dict(loss="combined", num_classes=7, alpha=5.0, class_weights=AFFECTNET7_WEIGHTS),
        layers="all",
        about="AffectNet-7 combined head (7 logits + V + A)",
    ),
    # CAGE's valence-arousal head (Tanh -> Dropout(0.3) -> Linear(C, 2, bias=False) = classifier.6) on a
    # model with the real partition size 7 (49-token windows, 13x13 bias tables; at 14x14 four windows and
    # a dilation-2 grid, at 7x7 a single 49-token window and grid group). Its loss (MSE + CCC) is not one the
    # C++ test knows: forward bundle only.
    "tiny-va": dict(
        name="maxvit_tiny_va",
        model=dict(input_size=[56, 56], stem_channels=8, partition_size=7, block_channels=[16, 32],
                   block_layers=[1, 2], head_dim=16, stochastic_depth_prob=0.0, num_classes=2),
        head_dropout=0.3,
        loss=None,
        layers="all",
        about="CAGE valence-arousal head (V, A), Dropout(0.3) before the last Linear",
    ),
    # Non-default MBConv / MLP widths (expansion 3, squeeze 0.5, MLP ratio 2) and a discrete AffectNet-8
    # head trained with the weighted cross entropy alone.
    "discrete": dict(
        name="maxvit_small_an8_discrete",
        model=dict(input_size=[32, 32], stem_channels=8, partition_size=2, block_channels=[16, 32],
                   block_layers=[1, 2], head_dim=8, stochastic_depth_prob=0.0, squeeze_ratio=0.5,
                   expansion_ratio=3, mlp_ratio=2, num_classes=8),
        head_dropout=0.0,
        loss=dict(loss="discrete", num_classes=8, class_weights=AFFECTNET8_WEIGHTS),
        layers="all",
        about="AffectNet-8 discrete head (8 logits), expansion 3, squeeze 0.5, MLP ratio 2",
    ),
}
DEFAULT_CONFIGS = ["small", "tiny-va", "discrete"]

# One AdamW step with the shared bundle's hyper-parameters (README).
ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)
BN_MOMENTUM = 0.01
BN_MOMENTUM_OLD = 0.99
FORWARD_BATCH, TRAIN_BATCH = 2, 4
REFERENCE_BLAS_DIR = "/usr/lib/x86_64-linux-gnu/blas"  # Debian's netlib libblas3

# torchvision 0.14's relative position index calls torch.meshgrid without indexing= (same result).
warnings.filterwarnings("ignore", message="torch.meshgrid")

_DTYPES = {torch.float32: "F32", torch.int64: "I64"}


def write_safetensors(path, tensors, metadata):
    """The shared bundles' layout: compact JSON header padded with spaces to a multiple of 8, tensors stored
    contiguously in header order. Shapes are kept: callers store losses as [1], while state_dict entries keep
    theirs (num_batches_tracked is [] in the shared train-step bundle)."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype not in _DTYPES:
            raise ValueError(f"{name}: dtype {t.dtype} is not stored in bundles")
        raw = t.numpy().astype("<f4" if t.dtype == torch.float32 else "<i8").tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    raw = pathlib.Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for k, h in header.items():
        dt = {"F32": torch.float32, "I64": torch.int64}[h["dtype"]]
        b, e = h["data_offsets"]
        out[k] = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e]), dtype=dt).reshape(h["shape"]) if e > b \
            else torch.empty(h["shape"], dtype=dt)
    return out, meta


def build_model(cfg):
    """torchvision's MaxVit with the configuration's head, BatchNorm momentum 0.01."""
    model = MaxVit(**cfg["model"])
    if cfg["head_dropout"] > 0:
        # CAGE's VA model replaces the whole classifier; the Dropout shifts the last Linear to classifier.6.
        c = cfg["model"]["block_channels"][-1]
        model.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LayerNorm(c), nn.Linear(c, c), nn.Tanh(),
            nn.Dropout(cfg["head_dropout"]), nn.Linear(c, cfg["model"]["num_classes"], bias=False))
    set_bn_momentum(model, BN_MOMENTUM)
    return model


def set_bn_momentum(model, momentum):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = momentum


def overwrite_weights(model, seed):
    """README small-model rule: torchvision's init (std 0.02, zero biases, unit norms) hides mistakes below
    float32 noise, so every float state_dict tensor gets O(1)-scaled uniform values, one torch.rand call per
    tensor in state_dict order, computed in float64 and rounded to float32."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if not t.is_floating_point():
                continue  # relative_position_index, num_batches_tracked keep their values and take no draws
            u = torch.rand(t.shape, dtype=torch.float64, generator=g)
            if key.endswith("relative_position_bias_table"):
                v = 0.5 * (2 * u - 1)
            elif key.endswith("running_mean"):
                v = 0.2 * (2 * u - 1)
            elif key.endswith("running_var"):
                v = 0.5 + u
            elif t.dim() > 1:
                v = (2 * u - 1) * math.sqrt(3.0 / (t.numel() // t.shape[0]))
            elif key.endswith(".weight"):
                v = 1 + 0.2 * (2 * u - 1)
            else:
                v = 0.1 * (2 * u - 1)
            t.copy_(v.to(torch.float32))


def hooked_modules(model, cfg):
    """Output name (as the C++ observer names it) -> module whose forward output it is."""
    mods = {"stem": model.stem}
    for s, block in enumerate(model.blocks):
        for l, layer in enumerate(block.layers):
            if cfg["layers"] == "all" or (s == 0 and l == 0):
                for part in ("MBconv", "window_attention", "grid_attention"):
                    mods[f"stage{s}.layer{l}.{part}"] = getattr(layer.layers, part)
        mods[f"stage{s}"] = block
    mods["pooled"] = model.classifier[1]
    mods["pre_logits"] = model.classifier[4]
    return mods


def module_paths(model, mods):
    names = {id(m): n for n, m in model.named_modules()}
    paths = {k: names[id(m)] for k, m in mods.items()}
    paths["pooled"] += " (Flatten)"
    paths["pre_logits"] += " (Tanh)"
    paths["logits"] = "model output"
    return paths


def installed_maxvit():
    path = pathlib.Path(sys.modules[MaxVit.__module__].__file__)
    return f"torchvision {torchvision.__version__} {path} (sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}), " \
           f"BatchNorm2d momentum set to {BN_MOMENTUM} after construction"


def common_metadata(cfg, seed):
    config = dict(cfg["model"])
    if cfg["head_dropout"] > 0:
        config["head_dropout"] = cfg["head_dropout"]
    return {
        "config": json.dumps(config),
        "versions": f"torch {torch.__version__}, torchvision {torchvision.__version__}, mapped BLAS/LAPACK libraries "
                    f"{' '.join(loaded_blas())}, {torch.get_num_threads()} threads",
        "maxvit_ref": installed_maxvit(),
        "weights": f"{cfg['name']}.pth (seed {seed}): torch.Generator().manual_seed({seed}), one torch.rand(float64) "
                   "per float state_dict tensor in order; bias tables 0.5(2u-1), running_mean 0.2(2u-1), running_var "
                   "0.5+u, dim>1 (2u-1)sqrt(3/fan_in), 1-D weight 1+0.2(2u-1), 1-D bias 0.1(2u-1)",
        "seeds": json.dumps({"weights": seed, "forward_input": seed + 1, "train_batch": seed + 2}),
    }


def make_forward(cfg, model, seed, size, out):
    model.eval()
    torch.manual_seed(seed + 1)
    x = torch.randn(FORWARD_BATCH, 3, size, size)
    mods = hooked_modules(model, cfg)
    seen, handles = {}, []
    for name, m in mods.items():
        handles.append(m.register_forward_hook(lambda _m, _i, o, name=name: seen.__setitem__(name, o.detach().clone())))
    with torch.no_grad():
        seen["logits"] = model(x)
    for h in handles:
        h.remove()
    names = list(mods) + ["logits"]
    meta = {"description": f"eval-mode forward of {cfg['name']}.pth ({cfg['about']}; NCHW float32)"}
    meta.update(common_metadata(cfg, seed))
    meta.update({
        "input_seed": f"torch.manual_seed({seed + 1}); input = torch.randn({FORWARD_BATCH},3,{size},{size})",
        "module_paths": json.dumps(module_paths(model, mods)),
        "kind": "forward",
        "checkpoint": f"{cfg['name']}.pth",
        "input": "input",
        "outputs": ",".join(names),
    })
    tensors = {"input": x}
    tensors.update({n: seen[n] for n in names})
    path = out / f"{cfg['name']}_forward.safetensors"
    write_safetensors(path, tensors, meta)
    return path


def make_train_step(cfg, initial_state, seed, size, out):
    spec = cfg["loss"]
    K = spec["num_classes"]
    torch.manual_seed(seed + 2)
    x = torch.randn(TRAIN_BATCH, 3, size, size)
    labels = torch.randint(0, K, (TRAIN_BATCH,))
    combined = spec["loss"] == "combined"
    va = torch.rand(TRAIN_BATCH, 2) * 2 - 1 if combined else None
    weights = torch.tensor(spec["class_weights"], dtype=torch.float32)

    model = build_model(cfg)
    model.load_state_dict(initial_state)
    model.train()  # dropouts and stochastic depth are 0 in every train-step config: nothing random here
    logits = model(x)
    loss_ce = nn.CrossEntropyLoss(weight=weights)(logits[:, :K], labels)
    if combined:
        loss_mse = nn.MSELoss()(logits[:, K:K + 2], va)
        loss = loss_ce + spec["alpha"] * loss_mse
    else:
        loss = loss_ce
    opt = torch.optim.AdamW(model.parameters(), lr=ADAMW["lr"], betas=ADAMW["betas"], eps=ADAMW["eps"],
                            weight_decay=ADAMW["weight_decay"])
    opt.zero_grad()
    loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    opt.step()
    after = {k: v.detach().clone() for k, v in model.state_dict().items()}

    # The same train-mode forward under torchvision <= 0.17's momentum: only the running statistics differ.
    old = build_model(cfg)
    old.load_state_dict(initial_state)
    set_bn_momentum(old, BN_MOMENTUM_OLD)
    old.train()
    with torch.no_grad():
        old(x)
    old_stats = {k: v.detach().clone() for k, v in old.state_dict().items()
                 if k.endswith("running_mean") or k.endswith("running_var")}

    ts = {"loss": spec["loss"], "num_classes": K}
    if combined:
        ts["alpha"] = spec["alpha"]
    ts.update({"class_weights": "class_weights", "inputs": "input", "labels": "labels"})
    if combined:
        ts["va_targets"] = "va_targets"
    ts.update({"optimizer": "adamw", "lr": ADAMW["lr"], "betas": list(ADAMW["betas"]), "eps": ADAMW["eps"],
               "weight_decay": ADAMW["weight_decay"], "bn_momentum": BN_MOMENTUM, "grad_prefix": "grad.",
               "after_prefix": "after."})
    n_out = cfg["model"]["num_classes"]
    if combined:
        loss_text = (f"loss = CrossEntropyLoss(weight=class_weights, reduction='mean')(logits[:, :{K}], labels) + "
                     f"{spec['alpha']} * MSELoss(reduction='mean')(logits[:, {K}:{K + 2}], va_targets); loss_ce and "
                     "loss_va_mse are the two unweighted terms")
        batch = (f"torch.manual_seed({seed + 2}); input = torch.randn({TRAIN_BATCH},3,{size},{size}); labels = "
                 f"torch.randint(0,{K},({TRAIN_BATCH},)); va_targets = torch.rand({TRAIN_BATCH},2)*2-1")
    else:
        loss_text = f"loss = loss_ce = CrossEntropyLoss(weight=class_weights, reduction='mean')(logits[:, :{K}], labels)"
        batch = (f"torch.manual_seed({seed + 2}); input = torch.randn({TRAIN_BATCH},3,{size},{size}); labels = "
                 f"torch.randint(0,{K},({TRAIN_BATCH},))")
    meta = {"description": f"one training step from {cfg['name']}.pth ({cfg['about']}, {n_out} outputs): train mode "
                           f"(BN batch statistics, BN momentum {BN_MOMENTUM}, eps 1e-3), stochastic depth 0, dropouts 0"}
    meta.update(common_metadata(cfg, seed))
    meta.update({
        "batch_seed": batch,
        "loss": loss_text,
        "optimizer": (f"torch.optim.AdamW(model.parameters(), lr={ADAMW['lr']}, betas={ADAMW['betas']}, "
                      f"eps={ADAMW['eps']}, weight_decay={ADAMW['weight_decay']}, amsgrad=False), one step after "
                      "zero_grad + loss.backward()"),
        "naming": (f"grad.<param key>: gradient; after.<state_dict key>: full state_dict after the step (BN running "
                   f"stats updated by the train-mode forward with momentum {BN_MOMENTUM}); after_bn_momentum_0.99.<key>: "
                   "running stats that BN momentum 0.99 (torchvision <= 0.17 default) would give instead"),
        "kind": "train_step",
        "checkpoint": f"{cfg['name']}.pth",
        "train_step": json.dumps(ts),
    })
    tensors = {"input": x, "labels": labels}
    if combined:
        tensors["va_targets"] = va
    tensors.update({"class_weights": weights, "logits": logits, "loss": loss.reshape(1)})
    if combined:
        tensors.update({"loss_ce": loss_ce.reshape(1), "loss_va_mse": loss_mse.reshape(1)})
    tensors.update({"grad." + k: g for k, g in grads.items()})
    tensors.update({"after." + k: v for k, v in after.items()})  # num_batches_tracked keeps shape [] as in the state_dict
    tensors.update({"after_bn_momentum_0.99." + k: v for k, v in old_stats.items()})
    path = out / f"{cfg['name']}_train_step.safetensors"
    write_safetensors(path, tensors, meta)
    return path


def compare_bundle(ours_path, ref_dir):
    """Per-tensor distance of one written bundle to the same-named bundle of ref_dir."""
    ref_path = pathlib.Path(ref_dir) / ours_path.name
    if not ref_path.exists():
        print(f"  compare: no {ref_path}")
        return
    ours, ours_meta = read_safetensors(ours_path)
    ref, ref_meta = read_safetensors(ref_path)
    if set(ours) != set(ref) or list(ours) != list(ref):
        print(f"  compare {ours_path.name}: tensor names or order differ "
              f"(only ours: {sorted(set(ours) - set(ref))[:5]}, only ref: {sorted(set(ref) - set(ours))[:5]})")
    for key in ("kind", "checkpoint", "input", "outputs", "config", "train_step"):
        if ours_meta.get(key) != ref_meta.get(key):
            print(f"  compare {ours_path.name}: metadata '{key}' differs")
    identical, worst, worst_key = 0, 0.0, None
    common = [k for k in ours if k in ref]
    for k in common:
        a, b = ours[k], ref[k]
        if a.shape != b.shape or a.dtype != b.dtype:
            print(f"  compare {ours_path.name}: {k} shape/dtype {tuple(a.shape)} {a.dtype} vs {tuple(b.shape)} {b.dtype}")
            continue
        if torch.equal(a, b):
            identical += 1
            continue
        d = (a.double() - b.double()).abs().max().item()
        if d > worst:
            worst, worst_key = d, k
    print(f"  compare {ours_path.name}: {identical}/{len(common)} tensors bit-identical"
          + (f", worst max abs diff {worst:.3g} ({worst_key})" if worst_key else ""))


def loaded_blas():
    """Paths of the BLAS libraries mapped into this process."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "blas" in pathlib.Path(path).name:
                libs.add(path)
    return sorted(libs)


def pin_blas(choice):
    """GEMM summation order depends on the BLAS and, for OpenBLAS, on the kernel it picks for the CPU, so the
    same script gives float32 results that differ in the last bits from machine to machine. Debian's netlib
    libblas3 has one code path everywhere, and with it (and 2 threads) the shared bundles are reproduced
    bit for bit. The dynamic loader picks the library at start-up, hence the re-exec with LD_LIBRARY_PATH."""
    if choice == "system" or any(p.startswith(REFERENCE_BLAS_DIR + "/") for p in loaded_blas()):
        return
    if not pathlib.Path(REFERENCE_BLAS_DIR, "libblas.so.3").exists():
        if choice == "reference":
            sys.exit(f"--blas reference: {REFERENCE_BLAS_DIR}/libblas.so.3 not found (Debian package libblas3)")
        print(f"note: {REFERENCE_BLAS_DIR}/libblas.so.3 not found, using the system BLAS {loaded_blas()}: "
              "outputs are correct but not bit-identical to bundles made elsewhere", file=sys.stderr)
        return
    if os.environ.get("CAGE_MAKE_BUNDLES_REEXEC"):
        sys.exit(f"LD_LIBRARY_PATH={REFERENCE_BLAS_DIR} did not make torch load its libblas (loaded: {loaded_blas()})")
    env = dict(os.environ, CAGE_MAKE_BUNDLES_REEXEC="1")
    env["LD_LIBRARY_PATH"] = REFERENCE_BLAS_DIR + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="directory for the .pth and .safetensors files")
    ap.add_argument("--seed", type=int, default=0, help="weight seed S; inputs use S+1 (forward), S+2 (train batch)")
    ap.add_argument("--config", default=",".join(DEFAULT_CONFIGS),
                    help=f"comma list of {', '.join(CONFIGS)} or 'all' (default: {','.join(DEFAULT_CONFIGS)})")
    ap.add_argument("--kinds", default="forward,train_step", help="comma list of forward, train_step")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the shared set used 2)")
    ap.add_argument("--compare", metavar="REFDIR", help="report per-tensor distances to same-named bundles there")
    ap.add_argument("--blas", choices=("auto", "reference", "system"), default="auto",
                    help="reference: Debian's netlib libblas3 (bit-reproducible, re-executes with LD_LIBRARY_PATH); "
                         "system: whatever torch loaded; auto (default): reference when installed")
    args = ap.parse_args()
    pin_blas(args.blas)

    names = list(CONFIGS) if args.config == "all" else [c for c in args.config.split(",") if c]
    kinds = [k for k in args.kinds.split(",") if k]
    for c in names:
        if c not in CONFIGS:
            sys.exit(f"unknown config '{c}' (known: {', '.join(CONFIGS)})")
    for k in kinds:
        if k not in ("forward", "train_step"):
            sys.exit(f"unknown kind '{k}' (known: forward, train_step)")
    torch.set_num_threads(args.threads)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    for c in names:
        cfg = CONFIGS[c]
        size = cfg["model"]["input_size"][0]
        torch.manual_seed(args.seed)  # torchvision's own init is overwritten; seeded anyway, as the README does
        model = build_model(cfg)
        overwrite_weights(model, args.seed)
        initial = copy.deepcopy(model.state_dict())
        pth = out / f"{cfg['name']}.pth"
        torch.save(model.state_dict(), pth)
        written = [pth]
        if "forward" in kinds:
            written.append(make_forward(cfg, model, args.seed, size, out))
        if "train_step" in kinds:
            if cfg["loss"] is None:
                print(f"{c}: no train_step bundle (its loss is not one the C++ test expresses)")
            else:
                written.append(make_train_step(cfg, initial, args.seed, size, out))
        for p in written:
            print(f"{c}: wrote {p} ({p.stat().st_size} bytes)")
        if args.compare:
            for p in written:
                if p.suffix == ".pth":
                    ref = pathlib.Path(args.compare) / p.name
                    if ref.exists():
                        same = ref.read_bytes() == p.read_bytes()
                        print(f"  compare {p.name}: {'byte-identical' if same else 'bytes differ'}")
                        if not same:
                            a, b = torch.load(p), torch.load(ref)
                            diff = [k for k in b if k not in a or not torch.equal(a[k], b[k])]
                            print(f"  compare {p.name}: {len(diff)} of {len(b)} entries differ {diff[:5]}")
                else:
                    compare_bundle(p, args.compare)


if __name__ == "__main__":
    main()
