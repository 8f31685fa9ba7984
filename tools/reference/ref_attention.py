"""References for nn::relpos_attention from torchvision's own MaxViT code.

Read by tests/torch/test_attention_torch.cpp.

The computation is torchvision's: RelativePositionalMultiHeadAttention (its bias table gather, k * C^-0.5,
softmax, einsums) between PartitionAttentionLayer's partition (WindowPartition, plus SwapAxes(-2, -3) for
grid) and departition (SwapAxes, WindowDepartition). Only the ends are adapted so the op's inputs can be
stored: a forward hook makes to_qkv return the case's qkv (given NHWC, partitioned on the way in), merge is
the identity, and the output is departitioned back to NHWC. Gradients reach the NHWC qkv leaf and the bias
table through torch's autograd of that whole path.

torchvision's grid partition uses grid_size[0] for both axes, so it exists only for square maps; for H != W
the grid cases use the same dilated grid with steps (H/P, W/P) written with reshape/permute (params
"grid_impl": "generalised"), the attention module itself unchanged.

Like ref_ops.py, the reference runs in float64 from inputs rounded to the case's dtype and is then rounded
to it; params "torch_f32_max_abs" records how far torch's own float32 run is from that reference, a yardstick
for the C++ errors.
"""
import warnings

import torch
from torchvision.models.maxvit import (RelativePositionalMultiHeadAttention, SwapAxes, WindowDepartition,
                                       WindowPartition)

import refio

F32, F64 = torch.float32, torch.float64
# torchvision 0.14's _get_relative_position_index calls meshgrid without indexing= (its default, "ij", is meant)
warnings.filterwarnings("ignore", message="torch.meshgrid")


def _partition(x, kind, P):
    """(B, C, H, W) -> (B, G, P*P, C) in PartitionAttentionLayer's order."""
    B, C, H, W = x.shape
    if kind == "window":
        return WindowPartition()(x, P)
    if H == W:
        return SwapAxes(-2, -3)(WindowPartition()(x, H // P))
    ph, pw = H // P, W // P
    x = x.reshape(B, C, P, ph, P, pw).permute(0, 3, 5, 2, 4, 1)  # (B, ph, pw, P, P, C)
    return x.reshape(B, ph * pw, P * P, C)


def _departition(x, kind, P, H, W):
    """(B, G, P*P, C) -> (B, C, H, W), the inverse of _partition."""
    B, G, N, C = x.shape
    if kind == "window":
        return WindowDepartition()(x, P, H // P, W // P)
    if H == W:
        p = H // P
        return WindowDepartition()(SwapAxes(-2, -3)(x), p, H // p, W // p)
    ph, pw = H // P, W // P
    x = x.reshape(B, ph, pw, P, P, C).permute(0, 5, 3, 1, 4, 2)  # (B, C, P, ph, P, pw)
    return x.reshape(B, C, H, W)


def _run(kind, P, heads, qkv_nhwc, table, gout_nhwc, dtype):
    """torchvision's attention in `dtype`; returns out, grad qkv, grad table (NHWC where spatial)."""
    B, H, W, C3 = qkv_nhwc.shape
    C = C3 // 3
    m = RelativePositionalMultiHeadAttention(C, C // heads, P * P).to(dtype)
    with torch.no_grad():
        m.relative_position_bias_table.copy_(table)
        m.merge.weight.copy_(torch.eye(C, dtype=dtype))
        m.merge.bias.zero_()
    qkv = qkv_nhwc.detach().to(dtype).requires_grad_(True)
    parted = _partition(qkv.permute(0, 3, 1, 2), kind, P)  # (B, G, N, 3C)
    m.to_qkv.register_forward_hook(lambda mod, inp, out: parted)
    x = torch.zeros(parted.shape[:-1] + (C,), dtype=dtype)
    y = m(x)  # (B, G, N, C)
    out = _departition(y, kind, P, H, W).permute(0, 2, 3, 1)
    out.backward(gout_nhwc.to(dtype))
    return out.detach(), qkv.grad, m.relative_position_bias_table.grad, m.scale_factor


def _case(out_dir, g, kind, B, H, W, C, heads, P, dtype):
    qkv = torch.randn((B, H, W, 3 * C), generator=g, dtype=F64).to(dtype)
    table = (torch.randn(((2 * P - 1) ** 2, heads), generator=g, dtype=F64) * 0.5).to(dtype)
    gout = torch.randn((B, H, W, C), generator=g, dtype=F64).to(dtype)
    out, gq, gt, scale = _run(kind, P, heads, qkv, table, gout, F64)
    params = {"kind": kind, "partition": P, "heads": heads, "scale": scale}
    if kind == "grid" and H != W:
        params["grid_impl"] = "generalised"
    if dtype == F32:
        o32, q32, t32, _ = _run(kind, P, heads, qkv, table, gout, F32)
        params["torch_f32_max_abs"] = {
            "out": (o32.double() - out).abs().max().item(),
            "grad.qkv": (q32.double() - gq).abs().max().item(),
            "grad.bias_table": (t32.double() - gt).abs().max().item(),
        }
    name = f"{kind}_b{B}_{H}x{W}_c{C}_h{heads}_p{P}_{'f32' if dtype == F32 else 'f64'}"
    tensors = {"in.qkv": qkv, "in.bias_table": table, "out": out.to(dtype), "gout": gout,
               "grad.qkv": gq.to(dtype), "grad.bias_table": gt.to(dtype)}
    refio.save(out_dir, "relpos_attention", name, tensors, params)
    return 1


def generate(out_dir):
    g = torch.Generator().manual_seed(7031)
    cases = [
        # (kind, B, H, W, C, heads, P, dtype)
        ("window", 2, 14, 14, 32, 4, 7, F32),
        ("grid", 2, 14, 14, 32, 4, 7, F32),
        ("grid", 1, 21, 21, 32, 2, 7, F32),
        ("window", 1, 7, 7, 64, 2, 7, F32),
        ("window", 1, 6, 9, 12, 3, 3, F32),
        ("grid", 1, 6, 9, 12, 3, 3, F32),
        ("window", 2, 9, 9, 8, 2, 3, F64),
        ("grid", 2, 9, 9, 8, 2, 3, F64),
        ("grid", 1, 6, 9, 12, 3, 3, F64),
    ]
    return sum(_case(out_dir, g, *c) for c in cases)


if __name__ == "__main__":
    import sys
    print(generate(sys.argv[1] if len(sys.argv) > 1 else "op_reference"), "cases")
