"""torchvision 0.14 / Pillow references for data/transforms_color.h (read by tests/torch/test_transforms_color_torch.cpp).

Every image is stored (H, W, C) as the engine holds it: U8 for PIL-stage ops, F32 for tensor-stage ops (torch's
(C, H, W) results are permuted to (H, W, C) here). Inputs look like photos where it matters: smooth gradients,
hard-edged shapes, flat gray and saturated areas (the s == 0 and clamping paths) and sensor-like noise.

Ops (one directory each): color_grayscale, color_brightness, color_contrast, color_saturation, color_hue
(plus a 512x512 image holding 2^18 colours that reach every residue of every channel; a 2^15-colour
cube for extreme blend factors), color_jitter (fixed order
and factors through torchvision's functional ops, as ColorJitter.forward applies them), color_normalize
(F.to_tensor + F.normalize in float32) and color_erase (F.erase with fixed boxes and values).
Params: the op's arguments; in.img the input, out the torchvision result.
"""
import numpy as np
import torch
import torchvision.transforms.functional as F
from PIL import Image

import refio

FACTORS = [0.5, 0.8, 1.0, 1.2, 1.7]
HUES = [-0.1, 0.05, 0.1]
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def photo_like(h, w, seed, channels=3):
    """Gradients + edges + noise, uint8 (h, w, channels)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((h, w, 3))
    img[..., 0] = 255 * x / max(w - 1, 1)
    img[..., 1] = 255 * y / max(h - 1, 1)
    img[..., 2] = 128 + 120 * np.sin(x / 5.0 + y / 9.0)
    # hard-edged shapes: a saturated red box, a mid-gray box (r == g == b), a dark disc, a white stripe
    img[h // 8: h // 3, w // 8: w // 2] = [250, 12, 30]
    img[h // 2: 3 * h // 4, w // 2: 7 * w // 8] = 117
    disc = (y - 0.7 * h) ** 2 + (x - 0.25 * w) ** 2 < (0.15 * min(h, w)) ** 2
    img[disc] = [20, 35, 10]
    img[:, (w * 9) // 10:] = 255
    img += rng.normal(0, 6, img.shape)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if channels == 1:
        img = np.asarray(Image.fromarray(img).convert("L"))[..., None]
    return img


def colour_cube(n=64):
    """RGB image of n^3 colours (n = 64: 512 x 512; n = 32: 128 x 256); levels step 256 / n with a varying
    offset (4k + (7k mod 4) for n = 64) so every residue of each channel occurs."""
    step = 256 // n
    levels = np.array([step * k + (7 * k) % step for k in range(n)], dtype=np.uint8)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    rows = 512 if n == 64 else 128
    return np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1).reshape(rows, -1, 3)


def to_pil(a):
    return Image.fromarray(a[..., 0] if a.shape[2] == 1 else a, "L" if a.shape[2] == 1 else "RGB")


def from_pil(img):
    a = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy((a[..., None] if a.ndim == 2 else a).copy())


def images():
    return {
        "rgb37x53": photo_like(37, 53, 1),
        "rgb224x224": photo_like(224, 224, 2),
        "gray37x53": photo_like(37, 53, 3, channels=1),
    }


def _u8_case(out_dir, op, case, img, out_pil, params):
    refio.save(out_dir, op, case, {"in.img": torch.from_numpy(img.copy()), "out": from_pil(out_pil)}, params)
    return 1


def _pil_ops(out_dir):
    n = 0
    for name, img in images().items():
        pil = to_pil(img)
        for channels in (1, 3):
            n += _u8_case(out_dir, "color_grayscale", f"{name}_c{channels}", img,
                          F.to_grayscale(pil, channels), {"num_output_channels": channels})
        for factor in FACTORS:
            for op, fn in (("brightness", F.adjust_brightness), ("contrast", F.adjust_contrast),
                           ("saturation", F.adjust_saturation)):
                n += _u8_case(out_dir, f"color_{op}", f"{name}_f{factor}", img, fn(pil, factor), {"factor": factor})
        for hue in HUES:
            n += _u8_case(out_dir, "color_hue", f"{name}_h{hue}", img, F.adjust_hue(pil, hue), {"hue": hue})
    cube = colour_cube()
    for hue in [-0.5, -0.1, 0.0, 0.05, 0.1, 0.37, 0.5]:
        n += _u8_case(out_dir, "color_hue", f"cube512_h{hue}", cube, F.adjust_hue(to_pil(cube), hue), {"hue": hue})
    # Extreme factors on a smaller cube: every clamping path of the blend.
    cube = colour_cube(32)
    for factor in (0.0, 0.3, 2.5):
        for op, fn in (("brightness", F.adjust_brightness), ("contrast", F.adjust_contrast),
                       ("saturation", F.adjust_saturation)):
            n += _u8_case(out_dir, f"color_{op}", f"cube32k_f{factor}", cube, fn(to_pil(cube), factor),
                          {"factor": factor})
    return n


def _jitter(out_dir):
    """ColorJitter.forward with fixed (order, factors): factors are float32 values, as get_params draws them."""
    n = 0
    gen = torch.Generator().manual_seed(20240701)
    imgs = images()
    for k, (name, img) in enumerate(list(imgs.items()) * 2):
        order = torch.randperm(4, generator=gen).tolist()
        b, c, s = (float(torch.empty(1).uniform_(0.8, 1.2, generator=gen)) for _ in range(3))
        h = float(torch.empty(1).uniform_(-0.1, 0.1, generator=gen))
        out = to_pil(img)
        for fn_id in order:
            out = [lambda i: F.adjust_brightness(i, b), lambda i: F.adjust_contrast(i, c),
                   lambda i: F.adjust_saturation(i, s), lambda i: F.adjust_hue(i, h)][fn_id](out)
        params = {"order": order, "brightness": b, "contrast": c, "saturation": s, "hue": h}
        n += _u8_case(out_dir, "color_jitter", f"{name}_{k}", img, out, params)
    return n


def _normalize(out_dir):
    n = 0
    imgs = images()
    specs = [("rgb37x53", IMAGENET), ("rgb224x224", IMAGENET), ("rgb37x53", ([0.5, 0.4, 0.3], [0.2, 0.7, 1.3])),
             ("gray37x53", ([0.5], [0.25]))]
    for name, (mean, std) in specs:
        img = imgs[name]
        t = F.normalize(F.to_tensor(to_pil(img)), mean, std)
        case = f"{name}_{'imagenet' if mean == IMAGENET[0] else 'custom'}"
        refio.save(out_dir, "color_normalize", case,
                   {"in.img": torch.from_numpy(img.copy()), "out": t.permute(1, 2, 0).contiguous()},
                   {"mean": mean, "std": std})
        n += 1
    # ToTensor alone: mean 0, std 1 is the identity in float32, so the same check covers x / 255.
    t = F.to_tensor(to_pil(imgs["rgb224x224"]))
    refio.save(out_dir, "color_normalize", "rgb224x224_to_tensor",
               {"in.img": torch.from_numpy(imgs["rgb224x224"].copy()), "out": t.permute(1, 2, 0).contiguous()},
               {"mean": [0.0], "std": [1.0]})
    return n + 1


def _erase(out_dir):
    n = 0
    gen = torch.Generator().manual_seed(20240702)
    imgs = images()
    specs = [  # (image, i, j, h, w, value kind)
        ("rgb37x53", 3, 5, 10, 20, "random"), ("rgb37x53", 0, 0, 36, 52, "random"),
        ("rgb224x224", 50, 70, 90, 41, "random"), ("rgb224x224", 120, 8, 33, 150, "channel"),
        ("rgb224x224", 10, 10, 5, 5, "scalar"), ("gray37x53", 30, 40, 7, 13, "random"),
    ]
    for k, (name, i, j, h, w, kind) in enumerate(specs):
        img = imgs[name]
        x = F.normalize(F.to_tensor(to_pil(img)), *((IMAGENET) if img.shape[2] == 3 else ([0.5], [0.25])))
        c = x.shape[0]
        if kind == "random":
            v = torch.empty([c, h, w], dtype=torch.float32).normal_(generator=gen)
        elif kind == "channel":
            v = torch.tensor([1.5, -0.25, 0.75][:c])[:, None, None]
        else:
            v = torch.tensor([-1.0])[:, None, None]
        out = F.erase(x, i, j, h, w, v)
        # Values as the engine takes them: (h, w, C) per element, else one per channel / one scalar.
        vals = v.permute(1, 2, 0).contiguous() if kind == "random" else v.flatten()
        refio.save(out_dir, "color_erase", f"{name}_{k}_{kind}",
                   {"in.img": x.permute(1, 2, 0).contiguous(), "in.values": vals, "out": out.permute(1, 2, 0).contiguous()},
                   {"i": i, "j": j, "h": h, "w": w, "kind": kind})
        n += 1
    return n


def generate(out_dir):
    return _pil_ops(out_dir) + _jitter(out_dir) + _normalize(out_dir) + _erase(out_dir)
