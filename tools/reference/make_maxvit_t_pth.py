#!/usr/bin/env python3
"""Saves torchvision's maxvit_t (ImageNet architecture, 30,919,624 parameters, its own initialisation with a
fixed seed) with torch.save, plus an input and torchvision's eval-mode logits for it, so the C++ side can
import the .pth and compare (tests/models/run_maxvit_t_import.sh).

Usage: make_maxvit_t_pth.py OUT_DIR  -> OUT_DIR/maxvit_t.pth, OUT_DIR/maxvit_t_expected.safetensors
"""
import pathlib
import sys

import torch
import torchvision

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import refio  # noqa: E402


def main():
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = torchvision.models.maxvit_t().eval()
    n = sum(p.numel() for p in model.parameters())
    assert n == 30919624, n
    # torchvision's init leaves the position-bias tables ~0.02 and BN stats trivial: give them real values so
    # that a mistake in either would show in the logits.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("relative_position_bias_table"):
                t.copy_(torch.rand(t.shape, generator=g) - 0.5)
            elif name.endswith("running_mean"):
                t.copy_(0.2 * (torch.rand(t.shape, generator=g) - 0.5))
            elif name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
    torch.save(model.state_dict(), out / "maxvit_t.pth")
    x = torch.rand(2, 3, 224, 224, generator=g) * 2 - 1
    with torch.no_grad():
        logits = model(x)
    refio.save(out, ".", "maxvit_t_expected", {"input": x, "logits": logits}, {"parameters": n})
    print(f"maxvit_t: {n} parameters, logits {tuple(logits.shape)}, max |logit| {logits.abs().max():.3f}")


if __name__ == "__main__":
    main()
