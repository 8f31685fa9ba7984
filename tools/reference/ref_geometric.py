"""torchvision 0.14 / Pillow references for data/transforms_geometric.h (read by
tests/torch/test_transforms_geometric_torch.cpp).

Every case applies one torchvision.transforms.functional op to a PIL image with fixed parameters. Images are
stored (H, W, C) uint8, as the engine holds them: in.img the input, out the torchvision result. Inputs look like
photos where it matters for resampling: smooth gradients, hard edges (saturated boxes, a disc, a white stripe)
and sensor-like noise, at odd, square and landscape/portrait sizes, RGB and grayscale.

Ops (one directory each), params in the case's metadata:
  geometric_resize          F.resize(img, [h, w], interpolation)                    {height, width, interpolation}
  geometric_resize_shorter  F.resize(img, size, interpolation) (shorter side)       {size, interpolation}
  geometric_center_crop     F.center_crop(img, [h, w]) (with padding when larger)   {height, width}
  geometric_crop            F.crop(img, top, left, h, w) (outside the image: 0)     {top, left, height, width}
  geometric_hflip           F.hflip(img)                                            {}
  geometric_rotate          F.rotate(img, angle, interpolation) (expand=False, fill 0) {angle, interpolation}
  geometric_perspective     F.perspective(img, start, end, interpolation, fill=0)  {startpoints, endpoints,
                            interpolation}; also "coeffs" (F64): torchvision's _get_perspective_coeffs, float32 values
"""
import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

import refio

MODES = {"nearest": F.InterpolationMode.NEAREST, "bilinear": F.InterpolationMode.BILINEAR,
         "bicubic": F.InterpolationMode.BICUBIC}


def photo_like(h, w, seed, gray=False):
    """Gradients + edges + noise, uint8 (h, w, 3) or (h, w, 1)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((h, w, 3))
    img[..., 0] = 255 * x / max(w - 1, 1)
    img[..., 1] = 255 * (1 - y / max(h - 1, 1))
    img[..., 2] = 128 + 110 * np.sin(x / 4.0 + y / 7.0)
    img[h // 6: h // 3, w // 7: w // 2] = [245, 20, 35]
    img[h // 2: 4 * h // 5, w // 2: 6 * w // 7] = [30, 200, 60]
    disc = (y - 0.65 * h) ** 2 + (x - 0.3 * w) ** 2 < (0.18 * min(h, w)) ** 2
    img[disc] = [15, 25, 110]
    img[:, (w * 9) // 10:] = 255
    img[(h * 9) // 10:, : w // 3] = 0
    img += rng.normal(0, 8, img.shape)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if gray:
        return np.asarray(Image.fromarray(img).convert("L"))[..., None].copy()
    return img


def images():
    return {
        "rgb37x53": photo_like(37, 53, 11),
        "rgb224x224": photo_like(224, 224, 12),
        "rgb200x300": photo_like(200, 300, 13),
        "rgb64x48": photo_like(64, 48, 14),
        "gray45x31": photo_like(45, 31, 15, gray=True),
    }


def to_pil(a):
    return Image.fromarray(a[..., 0], "L") if a.shape[2] == 1 else Image.fromarray(a, "RGB")


def from_pil(img):
    a = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy((a[..., None] if a.ndim == 2 else a).copy())


def _save(out_dir, op, case, img, out, params, extra=None):
    tensors = {"in.img": torch.from_numpy(img.copy()), "out": from_pil(out)}
    tensors.update(extra or {})
    refio.save(out_dir, op, case, tensors, params)
    return 1


def _resize_cases(out_dir, imgs):
    n = 0
    sizes = {
        "rgb37x53": [(74, 106), (50, 61), (20, 25), (9, 13), (37, 80), (60, 53), (1, 1)],
        "rgb224x224": [(112, 112), (100, 150), (299, 299), (7, 7), (224, 100)],
        "rgb200x300": [(224, 224), (150, 100), (400, 450), (67, 301)],
        "rgb64x48": [(224, 224), (32, 24), (21, 17)],
        "gray45x31": [(90, 62), (20, 14), (45, 70)],
    }
    for name, targets in sizes.items():
        img = imgs[name]
        for h, w in targets:
            for mode in ("bilinear", "bicubic", "nearest"):
                out = F.resize(to_pil(img), [h, w], MODES[mode])
                n += _save(out_dir, "geometric_resize", f"{name}_{h}x{w}_{mode}", img, out,
                           {"height": h, "width": w, "interpolation": mode})
    for name, size in [("rgb200x300", 224), ("rgb37x53", 32), ("rgb64x48", 50), ("gray45x31", 100),
                       ("rgb224x224", 224), ("rgb37x53", 37)]:
        img = imgs[name]
        for mode in ("bilinear", "bicubic"):
            out = F.resize(to_pil(img), size, MODES[mode])
            n += _save(out_dir, "geometric_resize_shorter", f"{name}_{size}_{mode}", img, out,
                       {"size": size, "interpolation": mode})
    return n


def _crop_cases(out_dir, imgs):
    n = 0
    crops = {
        "rgb224x224": [(200, 200), (223, 223), (224, 224), (231, 240), (100, 225)],
        "rgb37x53": [(20, 31), (36, 52), (40, 60), (50, 50), (37, 52)],
        "gray45x31": [(30, 20), (46, 32)],
    }
    for name, sizes in crops.items():
        for h, w in sizes:
            out = F.center_crop(to_pil(imgs[name]), [h, w])
            n += _save(out_dir, "geometric_center_crop", f"{name}_{h}x{w}", imgs[name], out, {"height": h, "width": w})
    boxes = [("rgb200x300", 10, 20, 100, 150), ("rgb200x300", -15, -20, 80, 90), ("rgb200x300", 150, 250, 100, 120),
             ("rgb37x53", -5, 40, 50, 30), ("gray45x31", 3, 4, 5, 6)]
    for name, top, left, h, w in boxes:
        out = F.crop(to_pil(imgs[name]), top, left, h, w)
        n += _save(out_dir, "geometric_crop", f"{name}_{top}_{left}_{h}x{w}", imgs[name], out,
                   {"top": top, "left": left, "height": h, "width": w})
    for name, img in imgs.items():
        n += _save(out_dir, "geometric_hflip", name, img, F.hflip(to_pil(img)), {})
    return n


def _rotate_cases(out_dir, imgs):
    n = 0
    angles = [10, -7.5, 33, 90, -90, 180, 270.5, 0.3, -359.0, 45]
    # angles as RandomRotation(10) draws them: float32 values from uniform_(-10, 10)
    g = torch.Generator().manual_seed(5)
    angles += [float(torch.empty(1).uniform_(-10.0, 10.0, generator=g).item()) for _ in range(3)]
    for name, img in imgs.items():
        for angle in angles:
            out = F.rotate(to_pil(img), angle, F.InterpolationMode.NEAREST, fill=0)
            n += _save(out_dir, "geometric_rotate", f"{name}_{angle:+.6f}_nearest", img, out,
                       {"angle": angle, "interpolation": "nearest"})
        for angle in (10, -33):
            for mode in ("bilinear", "bicubic"):
                out = F.rotate(to_pil(img), angle, MODES[mode], fill=0)
                n += _save(out_dir, "geometric_rotate", f"{name}_{angle:+.6f}_{mode}", img, out,
                           {"angle": angle, "interpolation": mode})
    return n


def _perspective_cases(out_dir, imgs):
    n = 0
    for name, img in imgs.items():
        h, w = img.shape[:2]
        start = [[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]
        fixed = [
            ("fixed_a", [[w // 10, h // 12], [w - 1 - w // 8, h // 20], [w - 1 - w // 15, h - 1 - h // 9],
                         [w // 20, h - 1 - h // 7]]),
            ("fixed_b", [[0, h // 5], [w - 1, 0], [w - 1 - w // 5, h - 1], [w // 9, h - 1 - h // 10]]),
        ]
        torch.manual_seed(100 + len(name) + h)
        for i in range(3):  # RandomPerspective(0.2)'s own draws (the CAGE training setting) and a stronger one
            s, e = T.RandomPerspective.get_params(w, h, 0.2 if i < 2 else 0.5)
            fixed.append((f"random{i}", e))
        for tag, end in fixed:
            coeffs = F._get_perspective_coeffs(start, end)
            modes = ("bilinear", "nearest", "bicubic") if tag == "fixed_a" else ("bilinear",)
            for mode in modes:
                out = F.perspective(to_pil(img), start, end, MODES[mode], fill=0)
                n += _save(out_dir, "geometric_perspective", f"{name}_{tag}_{mode}", img, out,
                           {"startpoints": start, "endpoints": [list(map(int, p)) for p in end],
                            "interpolation": mode},
                           {"coeffs": torch.tensor(coeffs, dtype=torch.float64)})
    return n


def generate(out_dir):
    imgs = images()
    return (_resize_cases(out_dir, imgs) + _crop_cases(out_dir, imgs) + _rotate_cases(out_dir, imgs) +
            _perspective_cases(out_dir, imgs))


if __name__ == "__main__":
    import sys
    print(generate(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ref_geo"))
