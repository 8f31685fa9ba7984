#!/usr/bin/env python3
"""Inputs for tests/tools/run_infer.sh (cage_infer end to end), written into OUT:

  head10.pth, head9.pth, head2.pth   torchvision MaxVit state_dicts with random weights: a small configuration that
                                     runs at 224 x 224 (partition 7) with a CAGE head of 10, 9 or 2 outputs; the head's
                                     Linears are redrawn (std 0.5 and 1) so that the class probabilities are far from
                                     uniform
  images/                            a_crop.jpg (224 x 224), b_crop.png (300 x 290), c_gray.png (256 x 256, grayscale),
                                     d_corrupt.jpg (a truncated JPEG), e_wide.jpg (640 x 360, shapes, no face),
                                     notes.txt (not an image: ignored)
  faces.png                          800 x 400 with two drawn faces that OpenCV's Haar cascade detects
  noface.png                         640 x 360 with shapes only
  video.avi                          MJPG, 20 frames at 10 fps, 640 x 480, a drawn face moving left to right
  bad_only/                          one corrupt image
  reference.json                     per readable image of images/, classified whole: torchvision's eval transform
                                     (Resize(224), CenterCrop(224), ToTensor, Normalize) on PIL's decode, then each
                                     model's outputs, e.g. {"head10": {"a_crop.jpg": {"probabilities": [8 values],
                                     "valence": v, "arousal": a}}}

The drawn faces (shaded oval, brows, eyes, nose, mouth, hair, blurred) are detected by haarcascade_frontalface_default
with the parameters cage_infer uses; they test the plumbing (box, crop, one result per face), not detection quality.
Usage: make_infer_fixtures.py OUT
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter
from torchvision import transforms
from torchvision.models.maxvit import MaxVit

try:
    import cv2  # python3-opencv: only the face and video fixtures need it
except ImportError:
    cv2 = None


def model(outputs, seed):
    torch.manual_seed(seed)
    m = MaxVit(input_size=(224, 224), stem_channels=8, partition_size=7, block_channels=[8, 16], block_layers=[1, 1],
               head_dim=4, stochastic_depth_prob=0.0, num_classes=outputs)
    with torch.no_grad():  # torchvision's std 0.02 would leave every probability near 1/8
        m.classifier[3].weight.normal_(0, 0.5)
        m.classifier[-1].weight.normal_(0, 1.0)
    return m.eval()


def draw_face(img, cx, cy, s):
    """BGR drawing of a frontal face about s pixels wide."""
    def e(c, axes, colour, a0=0, a1=360):
        cv2.ellipse(img, c, axes, 0, a0, a1, colour, -1)
    e((cx, cy), (int(0.42 * s), int(0.55 * s)), (150, 170, 200))
    for dx in (-1, 1):
        x = cx + dx * int(0.18 * s)
        e((x, cy - int(0.2 * s)), (int(0.11 * s), int(0.03 * s)), (40, 50, 60))
        e((x, cy - int(0.1 * s)), (int(0.1 * s), int(0.05 * s)), (80, 95, 115))
        e((x, cy - int(0.1 * s)), (int(0.06 * s), int(0.035 * s)), (230, 230, 230))
        cv2.circle(img, (x, cy - int(0.1 * s)), int(0.03 * s), (30, 30, 30), -1)
    e((cx, cy + int(0.1 * s)), (int(0.06 * s), int(0.03 * s)), (90, 110, 140))
    e((cx, cy + int(0.27 * s)), (int(0.16 * s), int(0.04 * s)), (60, 60, 130))
    e((cx, cy - int(0.45 * s)), (int(0.45 * s), int(0.2 * s)), (30, 40, 50), 180, 360)


def finish(img, seed):
    img = cv2.GaussianBlur(img, (0, 0), 3)
    return np.clip(img + np.random.default_rng(seed).normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def shapes(h, w, seed):
    """RGB: blurred random rectangles, nothing face-like."""
    r = np.random.default_rng(seed)
    img = Image.new("RGB", (w, h), (110, 140, 120))
    draw = ImageDraw.Draw(img)
    for _ in range(8):
        x, y = sorted(int(v) for v in r.integers(0, w, 2)), sorted(int(v) for v in r.integers(0, h, 2))
        draw.rectangle((x[0], y[0], x[1], y[1]), fill=tuple(int(v) for v in r.integers(0, 255, 3)))
    img = np.asarray(img.filter(ImageFilter.GaussianBlur(3)), np.float64)
    return Image.fromarray(np.clip(img + r.normal(0, 4, img.shape), 0, 255).astype(np.uint8))


def smooth_rgb(h, w, seed):
    r = np.random.default_rng(seed)
    small = r.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3)).astype(np.uint8)
    return Image.fromarray(small).resize((w, h), Image.BICUBIC)


def main(out):
    os.makedirs(f"{out}/images", exist_ok=True)
    os.makedirs(f"{out}/bad_only", exist_ok=True)
    models = {f"head{n}": model(n, seed) for n, seed in ((10, 0), (9, 1), (2, 2))}
    for name, m in models.items():
        torch.save(m.state_dict(), f"{out}/{name}.pth")

    img = f"{out}/images"
    smooth_rgb(224, 224, 1).save(f"{img}/a_crop.jpg", quality=90)
    smooth_rgb(290, 300, 2).save(f"{img}/b_crop.png")
    smooth_rgb(256, 256, 3).convert("L").save(f"{img}/c_gray.png")
    buf = open(f"{img}/a_crop.jpg", "rb").read()
    open(f"{img}/d_corrupt.jpg", "wb").write(buf[: len(buf) // 3])
    open(f"{out}/bad_only/broken.png", "wb").write(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    shapes(360, 640, 4).save(f"{img}/e_wide.jpg", quality=90)
    open(f"{img}/notes.txt", "w").write("not an image\n")
    shapes(360, 640, 6).save(f"{out}/noface.png")
    write_references(out, models)
    if cv2 is None:
        print("make_infer_fixtures: no cv2, faces.png and video.avi not written", file=sys.stderr)
        return

    faces = np.full((400, 800, 3), (120, 140, 110), np.uint8)
    draw_face(faces, 200, 200, 200)
    draw_face(faces, 600, 220, 150)
    cv2.imwrite(f"{out}/faces.png", finish(faces, 5))

    writer = cv2.VideoWriter(f"{out}/video.avi", cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480))
    assert writer.isOpened(), "OpenCV cannot write MJPG video"
    for i in range(20):
        frame = np.full((480, 640, 3), (120, 140, 110), np.uint8)
        draw_face(frame, 200 + 12 * i, 240, 220)
        writer.write(finish(frame, 100 + i))
    writer.release()


def write_references(out, models):
    img = f"{out}/images"
    tf = transforms.Compose([transforms.Resize(224), transforms.CenterCrop(224), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    ref = {name: {} for name in models}
    for f in ("a_crop.jpg", "b_crop.png", "c_gray.png", "e_wide.jpg"):
        x = tf(Image.open(f"{img}/{f}").convert("RGB")).unsqueeze(0)
        for name, m in models.items():
            with torch.no_grad():
                y = m(x)[0].double()
            k = y.numel() - 2
            ref[name][f] = {"probabilities": torch.softmax(y[:k], 0).tolist() if k > 0 else [],
                            "valence": float(y[k]), "arousal": float(y[k + 1])}
    json.dump(ref, open(f"{out}/reference.json", "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
