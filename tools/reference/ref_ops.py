"""PyTorch references for the differentiable ops of nn/functional.h (read by tests/torch/test_ops_torch*.cpp).

Every case stores its inputs in the engine's layouts (NHWC activations, HWIO conv weights, (out, in) linear
weights) as in.<name>, the forward result as out, a random upstream gradient as gout and grad.<name> for every
differentiable input; params (JSON) holds what the C++ side needs to call the op.

The reference is computed by torch in float64 from the case's inputs (float32 inputs are exactly representable
in float64), then rounded to the case's dtype: the C++ side then measures its own rounding error, not the sum
of its error and torch's float32 error. Layout conversions (NHWC <-> NCHW, HWIO <-> OIHW) happen inside the
differentiated function, so the gradients come back in the engine's layouts through torch's autograd.
"""
import torch
import torch.nn.functional as F

import refio

F32, F64 = torch.float32, torch.float64
_NAMES = {F32: "f32", F64: "f64"}


class _Gen:
    """Deterministic random tensors (one torch.Generator for the whole module)."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, shape, dtype, scale=1.0, shift=0.0):
        return (torch.randn(shape, generator=self.g, dtype=F64) * scale + shift).to(dtype)

    def uniform(self, shape, dtype, lo, hi):
        return (torch.rand(shape, generator=self.g, dtype=F64) * (hi - lo) + lo).to(dtype)


def _case(out_dir, gen, op, case, fn, inputs, params=None, nondiff=()):
    """inputs: dict name -> tensor (the case's dtype). fn(**inputs as float64) -> output."""
    dtype = next(iter(inputs.values())).dtype
    leaves = {}
    for name, t in inputs.items():
        leaves[name] = t.detach().to(F64).requires_grad_(name not in nondiff)
    out = fn(**leaves)
    gout = gen.normal(out.shape, dtype)
    out.backward(gout.to(F64))
    tensors = {f"in.{n}": t for n, t in inputs.items()}
    tensors["out"] = out.detach().to(dtype)
    tensors["gout"] = gout
    for n, t in leaves.items():
        if n in nondiff:
            continue
        g = t.grad if t.grad is not None else torch.zeros_like(t)
        tensors[f"grad.{n}"] = g.to(dtype)
    refio.save(out_dir, op, f"{case}_{_NAMES[dtype]}", tensors, params or {})
    return 1


def _nchw(x):
    return x.permute(0, 3, 1, 2)


def _nhwc(x):
    return x.permute(0, 2, 3, 1)


def _elementwise(out_dir, gen):
    n = 0
    binary = {"add": torch.add, "sub": torch.sub, "mul": torch.mul}
    shapes = [((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)), ((1, 5, 7, 3), (1, 5, 7, 3)), ((5, 1, 3), (1, 6, 1))]
    for op, f in binary.items():
        for i, (sa, sb) in enumerate(shapes):
            a, b = gen.normal(sa, F32), gen.normal(sb, F32)
            name = "x".join(str(d) for d in sa) + "_" + "x".join(str(d) for d in sb)
            n += _case(out_dir, gen, op, name, lambda a, b, f=f: f(a, b), {"a": a, "b": b})
        a, b = gen.normal((2, 9, 6, 5), F64), gen.normal((6, 1), F64)
        n += _case(out_dir, gen, op, "2x9x6x5_6x1", lambda a, b, f=f: f(a, b), {"a": a, "b": b})
    unary = {"gelu": lambda x: F.gelu(x, approximate="none"), "silu": F.silu, "sigmoid": torch.sigmoid,
             "tanh": torch.tanh, "relu": F.relu}
    for op, f in unary.items():
        # Scale 3 reaches the saturated tails; relu's kink at 0 is never hit by continuous draws.
        for shape in [(1, 5, 7, 3), (2, 9, 6, 5)]:
            x = gen.normal(shape, F32, scale=3.0)
            n += _case(out_dir, gen, op, "x".join(map(str, shape)), lambda x, f=f: f(x), {"x": x})
        x = gen.normal((3, 4, 5), F64, scale=3.0)
        n += _case(out_dir, gen, op, "3x4x5", lambda x, f=f: f(x), {"x": x})
    for op, f in {"sum": torch.sum, "mean": torch.mean}.items():
        for shape, dt in [((3, 5, 7), F32), ((2, 9, 6, 5), F32), ((1, 5, 7, 3), F64), ((257,), F32)]:
            x = gen.normal(shape, dt, shift=0.5)
            n += _case(out_dir, gen, op, "x".join(map(str, shape)), lambda x, f=f: f(x), {"x": x})
    # The +1000 case overflows exp() unless the row maximum is subtracted first.
    for shape, dt, sc, shift in [((4, 7), F32, 3.0, 0.0), ((2, 3, 5, 9), F32, 3.0, 0.0), ((3, 49), F32, 10.0, 0.0),
                                 ((3, 8), F32, 3.0, 1000.0), ((2, 5, 6), F64, 3.0, 0.0)]:
        x = gen.normal(shape, dt, scale=sc, shift=shift)
        name = "x".join(map(str, shape)) + (f"_shift{shift:g}" if shift else "")
        n += _case(out_dir, gen, "softmax", name, lambda x: torch.softmax(x, -1), {"x": x})
    return n


def _linalg(out_dir, gen):
    n = 0
    for name, sa, sb, dt in [("2d_5x7x3", (5, 7), (7, 3), F32), ("batched_3x4x6x5", (3, 4, 6), (3, 6, 5), F32),
                             ("bcast_2x5x7x4", (2, 5, 7), (7, 4), F32), ("2d_33x65x17", (33, 65), (65, 17), F32),
                             ("batched_2x3x4x5", (2, 3, 4), (2, 4, 5), F64), ("bcast_3x2x6x4", (3, 2, 6), (6, 4), F64)]:
        a, b = gen.normal(sa, dt), gen.normal(sb, dt)
        n += _case(out_dir, gen, "matmul", name, lambda a, b: torch.matmul(a, b), {"a": a, "b": b})
    for name, sx, out_f, bias, dt in [("2d_bias", (5, 7), 3, True, F32), ("3d_nobias", (2, 5, 12), 9, False, F32),
                                      ("4d_bias", (2, 3, 5, 16), 10, True, F32), ("4d_nobias", (1, 3, 3, 8), 5, False, F32),
                                      ("3d_bias", (2, 3, 6), 4, True, F64)]:
        ins = {"x": gen.normal(sx, dt), "w": gen.normal((out_f, sx[-1]), dt, scale=sx[-1] ** -0.5)}
        if bias:
            ins["b"] = gen.normal((out_f,), dt)
        n += _case(out_dir, gen, "linear", name, lambda x, w, b=None: F.linear(x, w, b), ins, {"bias": bias})
    return n


def _conv(out_dir, gen):
    n = 0
    # (name, x shape NHWC, kh, kw, cout, stride, padding, groups, bias, dtype)
    specs = [("k3s1p1_bias", (2, 9, 6, 5), 3, 3, 4, 1, 1, 1, True, F32),
             ("k3s2p1_bias", (1, 7, 8, 3), 3, 3, 6, 2, 1, 1, True, F32),
             ("k1_nobias", (2, 5, 7, 6), 1, 1, 8, 1, 0, 1, False, F32),
             ("stem_k3s2p1_cin3", (2, 11, 10, 3), 3, 3, 8, 2, 1, 1, False, F32),
             ("dw_k3s1p1", (2, 7, 9, 6), 3, 3, 6, 1, 1, 6, True, F32),
             ("dw_k3s2p1", (1, 9, 8, 5), 3, 3, 5, 2, 1, 5, True, F32),
             ("grouped_g2", (2, 6, 5, 4), 3, 3, 6, 1, 1, 2, True, F32),
             ("k5p2", (1, 8, 7, 3), 5, 5, 4, 1, 2, 1, True, F32),
             ("k2x3", (2, 6, 7, 3), 2, 3, 5, 1, 0, 1, True, F32),
             ("k3s2p1_bias", (1, 7, 6, 3), 3, 3, 4, 2, 1, 1, True, F64),
             ("dw_k3s2p1", (1, 7, 6, 4), 3, 3, 4, 2, 1, 4, False, F64)]
    for name, sx, kh, kw, cout, stride, pad, groups, bias, dt in specs:
        cin = sx[-1]
        fan_in = kh * kw * cin // groups
        ins = {"x": gen.normal(sx, dt), "w": gen.normal((kh, kw, cin // groups, cout), dt, scale=fan_in ** -0.5)}
        if bias:
            ins["b"] = gen.normal((cout,), dt)

        def fn(x, w, b=None, stride=stride, pad=pad, groups=groups):
            return _nhwc(F.conv2d(_nchw(x), w.permute(3, 2, 0, 1), b, stride=stride, padding=pad, groups=groups))

        params = {"stride": stride, "padding": pad, "groups": groups, "bias": bias}
        n += _case(out_dir, gen, "conv2d", name, fn, ins, params)
    for name, sx, k, s, p, cip, dt in [("k3s2p1_even", (2, 8, 6, 5), 3, 2, 1, True, F32),
                                       ("k3s2p1_odd", (1, 7, 9, 3), 3, 2, 1, True, F32),
                                       ("k3s2p1_odd_nopadcount", (2, 7, 5, 4), 3, 2, 1, False, F32),
                                       ("k3s2p1_odd", (1, 5, 7, 3), 3, 2, 1, True, F64)]:
        x = gen.normal(sx, dt)

        def fn(x, k=k, s=s, p=p, cip=cip):
            return _nhwc(F.avg_pool2d(_nchw(x), k, s, p, count_include_pad=cip))

        params = {"kernel": k, "stride": s, "padding": p, "count_include_pad": cip}
        n += _case(out_dir, gen, "avg_pool2d", name, fn, {"x": x}, params)
    for sx, dt in [((2, 5, 7, 6), F32), ((1, 4, 4, 3), F32), ((2, 3, 5, 4), F64)]:
        x = gen.normal(sx, dt, shift=0.3)
        n += _case(out_dir, gen, "global_avg_pool", "x".join(map(str, sx)), lambda x: x.mean(dim=(1, 2)), {"x": x})
    return n


def _batch_norm(out_dir, gen):
    n = 0
    # (name, x shape, training, momentum, dtype, mean of x); mean 30: batch variance by cancellation would fail.
    for name, sx, training, momentum, dt, shift in [("train_m0.1", (2, 5, 7, 6), True, 0.1, F32, 1.5),
                                                    ("train_m0.01", (3, 4, 3, 5), True, 0.01, F32, 1.5),
                                                    ("train_m0.1_n1", (1, 5, 7, 3), True, 0.1, F32, 1.5),
                                                    ("train_m0.1_shift30", (2, 6, 5, 4), True, 0.1, F32, 30.0),
                                                    ("eval", (2, 9, 6, 5), False, 0.1, F32, 1.5),
                                                    ("eval_small", (1, 3, 4, 4), False, 0.01, F32, 1.5),
                                                    ("train_m0.1", (2, 3, 5, 4), True, 0.1, F64, 1.5),
                                                    ("eval", (2, 3, 3, 4), False, 0.1, F64, 1.5)]:
        eps = 1e-3
        x, weight, bias, rm, rv, rm64, rv64, leaves = _bn_inputs(gen, sx, dt, shift)
        out = _nhwc(F.batch_norm(_nchw(leaves["x"]), rm64, rv64, leaves["weight"], leaves["bias"], training=training,
                                 momentum=momentum, eps=eps))
        gout = gen.normal(out.shape, dt)
        out.backward(gout.to(F64))
        tensors = _bn_tensors(dt, x, weight, bias, rm, rv, out, gout, rm64, rv64, leaves)
        params = {"training": training, "momentum": momentum, "eps": eps}
        refio.save(out_dir, "batch_norm2d", f"{name}_{_NAMES[dt]}", tensors, params)
        n += 1
    # Shift 30 with scale 2: a one-pass E[x^2] - E[x]^2 in float32 would lose most of the variance's digits.
    for sx, dt, shift in [((2, 5, 7, 12), F32, 3.0), ((3, 7), F32, 0.0), ((4, 3, 64), F32, 0.5), ((2, 4, 96), F32, 30.0),
                          ((2, 3, 10), F64, 1.0)]:
        c = sx[-1]
        ins = {"x": gen.normal(sx, dt, scale=2.0, shift=shift), "weight": gen.normal((c,), dt, scale=0.5, shift=1.0),
               "bias": gen.normal((c,), dt)}
        n += _case(out_dir, gen, "layer_norm", "x".join(map(str, sx)),
                   lambda x, weight, bias: F.layer_norm(x, (x.shape[-1],), weight, bias, 1e-5), ins, {"eps": 1e-5})
    return n


def _bn_inputs(gen, sx, dt, shift):
    """A BatchNorm case's inputs (x of mean `shift`, affine, running statistics), their float64 copies (torch updates
    the running statistics in place, and .to() of a float64 tensor is itself) and the float64 leaves to grad."""
    c = sx[-1]
    x = gen.normal(sx, dt, scale=2.0, shift=shift)
    weight = gen.normal((c,), dt, scale=0.5, shift=1.0)
    bias = gen.normal((c,), dt)
    rm = gen.normal((c,), dt, scale=0.5)
    rv = gen.uniform((c,), dt, 0.5, 2.0)
    rm64, rv64 = rm.to(F64).clone(), rv.to(F64).clone()
    leaves = {k: v.to(F64).requires_grad_() for k, v in {"x": x, "weight": weight, "bias": bias}.items()}
    return x, weight, bias, rm, rv, rm64, rv64, leaves


def _bn_tensors(dt, x, weight, bias, rm, rv, out, gout, rm64, rv64, leaves):
    """A BatchNorm case's fixture tensors: inputs, output, its incoming gradient, updated statistics, gradients."""
    tensors = {"in.x": x, "in.weight": weight, "in.bias": bias, "in.running_mean": rm, "in.running_var": rv,
               "out": out.detach().to(dt), "gout": gout,
               "out.running_mean": rm64.to(dt), "out.running_var": rv64.to(dt)}
    for k, v in leaves.items():
        tensors[f"grad.{k}"] = v.grad.to(dt)
    return tensors


def _batch_norm_gelu(out_dir, gen):
    """F.batch_norm(training=True) followed by F.gelu (erf form): the fused nn::batch_norm2d_gelu."""
    n = 0
    # (name, x shape NHWC, momentum, dtype, mean of x); rows 2*9*7 and 3*13*11 (odd), channels 5 and 37.
    for name, sx, momentum, dt, shift in [("m0.1", (2, 9, 7, 5), 0.1, F32, 1.5),
                                          ("m0.01_shift30", (3, 13, 11, 37), 0.01, F32, 30.0),
                                          ("m0.1_n1", (1, 6, 5, 8), 0.1, F32, -0.5),
                                          ("m0.1", (2, 5, 3, 4), 0.1, F64, 1.5)]:
        eps = 1e-3
        x, weight, bias, rm, rv, rm64, rv64, leaves = _bn_inputs(gen, sx, dt, shift)
        out = _nhwc(F.gelu(F.batch_norm(_nchw(leaves["x"]), rm64, rv64, leaves["weight"], leaves["bias"],
                                        training=True, momentum=momentum, eps=eps)))
        gout = gen.normal(out.shape, dt)
        out.backward(gout.to(F64))
        tensors = _bn_tensors(dt, x, weight, bias, rm, rv, out, gout, rm64, rv64, leaves)
        refio.save(out_dir, "batch_norm2d_gelu", f"{name}_{_NAMES[dt]}", tensors,
                   {"momentum": momentum, "eps": eps})
        n += 1
    return n


def _shape_ops(out_dir, gen):
    n = 0
    for name, shapes, dim, dt in [("dim1_3in", [(2, 3, 5, 4), (2, 1, 5, 4), (2, 4, 5, 4)], 1, F32),
                                  ("dimlast_2in", [(2, 3, 5, 4), (2, 3, 5, 7)], -1, F32),
                                  ("dim0_2in", [(1, 5, 3), (3, 5, 3)], 0, F32),
                                  ("dimlast_3in", [(3, 2), (3, 5), (3, 1)], 1, F64)]:
        ins = {f"x{i}": gen.normal(s, dt) for i, s in enumerate(shapes)}
        n += _case(out_dir, gen, "concat", name, lambda **xs: torch.cat([xs[k] for k in sorted(xs)], dim), ins,
                   {"dim": dim, "n": len(shapes)})

    # Views composed with ops: `kind` selects the composition, mirrored in tests/torch/test_ops_torch.cpp.
    def views(kind, ins, fn, dt, params=None):
        p = {"kind": kind}
        p.update(params or {})
        return _case(out_dir, gen, "views", kind, fn, ins, p)

    for dt in (F32, F64):
        # gelu of an NHWC -> NCHW permutation (non-contiguous input to a unary op).
        n += views("permute_gelu", {"x": gen.normal((2, 5, 7, 3), dt)}, lambda x: F.gelu(x.permute(0, 3, 1, 2)), dt)
        if dt == F64:
            continue
        # slice along H and W, then mul with a broadcast row: strided inputs to a binary op.
        n += views("slice_mul", {"x": gen.normal((2, 9, 6, 5), dt), "y": gen.normal((5,), dt)},
                   lambda x, y: x[:, 2:7, 1:5, :] * y, dt)
        # reshape of a non-contiguous (transposed) tensor: a copy, then tanh.
        n += views("transpose_reshape_tanh", {"x": gen.normal((3, 4, 6), dt)},
                   lambda x: torch.tanh(x.transpose(1, 2).reshape(3, 24)), dt)
        # chunk the last dim into 3 (the q, k, v split): a*b + c on the chunks.
        n += views("chunk_mul_add", {"x": gen.normal((2, 5, 9), dt)},
                   lambda x: x.chunk(3, -1)[0] * x.chunk(3, -1)[1] + x.chunk(3, -1)[2], dt)
        # q @ k^T with k transposed as a view.
        n += views("matmul_transposed", {"a": gen.normal((2, 5, 4), dt), "b": gen.normal((2, 6, 4), dt)},
                   lambda a, b: torch.matmul(a, b.transpose(1, 2)), dt)
        # linear of a sliced (channel-strided) input.
        n += views("slice_linear", {"x": gen.normal((2, 3, 10), dt), "w": gen.normal((4, 6), dt)},
                   lambda x, w: F.linear(x[..., 2:8], w), dt)
        # conv2d on an NHWC view obtained by permuting an NCHW tensor.
        n += views("permuted_conv2d", {"x": gen.normal((2, 4, 6, 5), dt), "w": gen.normal((3, 3, 4, 3), dt, 0.3)},
                   lambda x, w: _nhwc(F.conv2d(x, w.permute(3, 2, 0, 1), padding=1)), dt)
        # softmax and layer_norm over a transposed last dim.
        n += views("transposed_softmax", {"x": gen.normal((2, 6, 5), dt, scale=2.0)},
                   lambda x: torch.softmax(x.transpose(1, 2), -1), dt)
        n += views("transposed_layer_norm", {"x": gen.normal((2, 6, 5), dt, shift=1.0),
                                             "weight": gen.normal((6,), dt, 0.5, 1.0), "bias": gen.normal((6,), dt)},
                   lambda x, weight, bias: F.layer_norm(x.transpose(1, 2), (6,), weight, bias, 1e-5), dt)
        # sum of a slice of a permutation: the gradient scatters back through two views.
        n += views("permute_slice_sum", {"x": gen.normal((2, 5, 7, 3), dt)},
                   lambda x: x.permute(0, 3, 1, 2)[:, 1:3, :, 2:6].sum(), dt)
    return n


def generate(out_dir):
    gen = _Gen(20240611)
    n = _elementwise(out_dir, gen) + _linalg(out_dir, gen) + _conv(out_dir, gen) + _batch_norm(out_dir, gen) + \
        _shape_ops(out_dir, gen)
    # Its own generator, so the cases above keep their data.
    return n + _batch_norm_gelu(out_dir, _Gen(20261124))
