"""torch.save checkpoints for core/pth.h (read by tests/torch/test_pth_torch.cpp).

Each pth/<case> writes out_dir/pth/<case>.pth with torch.save (PyTorch 1.13, zip format, pickle protocol 2
unless noted) and a refio case pth/<case>.safetensors holding what the reader must return: every tensor of the
state dict, in its order, converted the way core/pth.h documents (float16 and bfloat16 -> F32, int32 / int16 /
int8 -> I64, bool -> U8; the others as they are). params: {"pth": file name next to the case, "info": expected
scalar entries of the top-level dict}; error cases instead have {"pth": ..., "error": text the Error must
contain} and no tensors.

Cases: mixed dtypes; non-contiguous tensors saved as views (transposed, permuted, stepped slices, a transposed
float16); tensors sharing one storage at offsets; 0-d scalars; nn.Parameters (_rebuild_parameter); a
{"state_dict": ..., "epoch": 3} wrapper; a {"model": ..., "optimizer": ...} wrapper whose optimizer state is
full of lists, tuples, floats and None; a real module's state_dict (OrderedDict with _metadata); the
"archive" prefix torch uses when saving to a buffer (files saved by path get their basename); pickle protocol
4 (STACK_GLOBAL, MEMOIZE, FRAME); and two checkpoints that must be refused: one whose unpickling would call
os.system, one holding an argparse.Namespace.
"""
import argparse
import collections
import io
import os
import pathlib

import torch

import refio

_EXPECTED_DTYPE = {torch.float16: torch.float32, torch.bfloat16: torch.float32, torch.int32: torch.int64,
                   torch.int16: torch.int64, torch.int8: torch.int64, torch.bool: torch.uint8}


def _expected(t):
    t = t.detach()
    return t.to(_EXPECTED_DTYPE.get(t.dtype, t.dtype)).contiguous().clone()


def _case(out_dir, case, obj, state, info=None, save=None):
    """Saves obj as <case>.pth; `state` is the dict whose tensors the reader must return."""
    d = pathlib.Path(out_dir) / "pth"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{case}.pth"
    (save or torch.save)(obj, path)
    back = torch.load(path)  # torch reads it back: the expectations are checked against torch.load too
    assert back is not None
    tensors = {k: _expected(v) for k, v in state.items() if isinstance(v, torch.Tensor)}
    refio.save(out_dir, "pth", case, tensors, {"pth": path.name, "info": info or {}})


def _error_case(out_dir, case, obj, error):
    d = pathlib.Path(out_dir) / "pth"
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{case}.pth"
    torch.save(obj, path)
    refio.save(out_dir, "pth", case, {}, {"pth": path.name, "error": error})


class _RunsCode:
    """What a malicious checkpoint carries: unpickling it calls os.system (never run here)."""

    def __reduce__(self):
        return (os.system, ("echo this checkpoint ran code",))


def generate(out_dir):
    g = torch.Generator().manual_seed(1234)
    rnd = lambda *s: torch.randn(*s, generator=g)
    n = 0

    mixed = collections.OrderedDict()
    mixed["f32"] = rnd(3, 4)
    mixed["f64"] = rnd(5).double() * 1e-300
    mixed["f16"] = (rnd(2, 3) * 1000).half()
    mixed["f16_special"] = torch.tensor([65504.0, -6.1e-5, 5.96e-8, float("inf"), float("-inf"), 0.0, -0.0],
                                        dtype=torch.float16)
    mixed["bf16"] = (rnd(4, 2) * 1e30).bfloat16()
    mixed["i64"] = torch.tensor([-(2 ** 62), -1, 0, 2 ** 62 + 12345], dtype=torch.int64)
    mixed["u8"] = torch.arange(0, 256, 17, dtype=torch.uint8)
    mixed["i32"] = torch.tensor([-(2 ** 31), 2 ** 31 - 1, 5], dtype=torch.int32)
    mixed["i16"] = torch.tensor([-32768, 32767], dtype=torch.int16)
    mixed["i8"] = torch.tensor([-128, 127, 3], dtype=torch.int8)
    mixed["bool"] = torch.tensor([True, False, True])
    mixed["empty"] = torch.empty(0, 3)
    _case(out_dir, "mixed_dtypes", mixed, mixed)
    n += 1

    base = rnd(6, 5)
    cube = rnd(2, 3, 4)
    half = (rnd(3, 4) * 10).half()
    views = collections.OrderedDict()
    views["transposed"] = base.t()
    views["permuted"] = cube.permute(2, 0, 1)
    views["stepped"] = base[1::2, ::3]
    views["half_transposed"] = half.t()
    views["column"] = base[:, 2]
    views["expanded"] = rnd(1, 3).expand(4, 3)
    assert not views["transposed"].is_contiguous() and views["expanded"].stride() == (0, 1)
    _case(out_dir, "non_contiguous", views, views)
    n += 1

    flat = torch.arange(40, dtype=torch.float32) * 0.5
    shared = collections.OrderedDict()
    shared["head"] = flat[:7]
    shared["tail"] = flat[29:]
    shared["block"] = flat.view(5, 8)[1:4, 2:6]
    shared["whole"] = flat
    ints = torch.arange(12, dtype=torch.int64)
    shared["ints_a"] = ints[3:5]
    shared["ints_b"] = ints.view(3, 4)[:, 1]
    assert shared["head"].storage().data_ptr() == shared["tail"].storage().data_ptr()
    _case(out_dir, "shared_storage", shared, shared)
    n += 1

    scalars = {"f": torch.tensor(3.25), "i": torch.tensor(-7), "h": torch.tensor(1.5, dtype=torch.float16),
               "one_elem": torch.tensor([2.0]), "from_vec": torch.arange(5.0)[3]}
    _case(out_dir, "scalars", scalars, scalars)
    n += 1

    params = {"weight": torch.nn.Parameter(rnd(3, 2)),
              "frozen": torch.nn.Parameter(rnd(4), requires_grad=False),
              "buffer": torch.ones(2, dtype=torch.int64)}
    _case(out_dir, "parameters", params, params)
    n += 1

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                              torch.nn.Linear(4, 2))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(rnd(*p.shape))
        net[1].running_mean.copy_(rnd(4))
    sd = net.state_dict()
    _case(out_dir, "module_state_dict", sd, sd)
    n += 1
    _case(out_dir, "wrapper_state_dict", {"state_dict": sd, "epoch": 3, "best_acc": 0.625, "arch": "tiny"}, sd,
          info={"epoch": "3", "best_acc": "0.625", "arch": "tiny"})
    n += 1

    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, betas=(0.9, 0.999))
    net(rnd(2, 3, 3, 3)).sum().backward()
    opt.step()
    _case(out_dir, "wrapper_model_optimizer",
          {"model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": None, "step": 1},
          net.state_dict(), info={"scheduler": "None", "step": "1"})
    n += 1

    def to_buffer(obj, path):  # saving to a file object names the archive's folder "archive"
        buf = io.BytesIO()
        torch.save(obj, buf)
        pathlib.Path(path).write_bytes(buf.getvalue())

    _case(out_dir, "archive_prefix", sd, sd, save=to_buffer)
    n += 1
    _case(out_dir, "protocol4", shared, shared, save=lambda o, p: torch.save(o, p, pickle_protocol=4))
    n += 1

    _error_case(out_dir, "error_runs_code", {"weight": rnd(2), "payload": _RunsCode()}, "posix.system")
    n += 1
    _error_case(out_dir, "error_namespace", {"state_dict": sd, "args": argparse.Namespace(lr=0.1)},
                "argparse.Namespace")
    n += 1
    return n
