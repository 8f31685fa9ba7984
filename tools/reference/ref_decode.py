"""Pillow references for data/decode.h (read by tests/torch/test_decode_torch.cpp).

Each case holds an image file written by Pillow 9.4 and Pillow's decode of it, as torchvision's default loader
produces it (Image.open(f).convert("RGB")):
  in.file  U8 (n,)       the file's bytes
  out      U8 (H, W, 3)  the decoded pixels
Op "decode". Params: {"format": ..., "what": a description}. JPEG variants cover 4:2:0 / 4:2:2 / 4:4:4 chroma
subsampling, odd sizes (edge blocks and fancy upsampling at the borders), progressive and optimised files,
restart markers, grayscale and CMYK (Pillow writes Adobe-inverted CMYK with an Adobe marker); then PNG (RGB, RGBA,
L, LA, palette, palette with transparency), BMP, GIF, TGA, PPM and PGM.
"""
import io

import numpy as np
import torch
from PIL import Image

import refio


def photo_like(h, w, seed):
    """Gradients + edges + noise, uint8 (h, w, 3): JPEG artefacts need texture and hard edges to show."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.empty((h, w, 3))
    img[..., 0] = 255 * x / max(w - 1, 1)
    img[..., 1] = 128 + 100 * np.cos(x / 6.0 - y / 5.0)
    img[..., 2] = 255 * y / max(h - 1, 1)
    img[h // 5: h // 2, w // 6: w // 2] = [240, 30, 40]
    disc = (y - 0.6 * h) ** 2 + (x - 0.7 * w) ** 2 < (0.2 * min(h, w)) ** 2
    img[disc] = [20, 180, 230]
    img += rng.normal(0, 10, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _case(out_dir, name, pil_image, fmt, what, **save_args):
    buf = io.BytesIO()
    pil_image.save(buf, fmt, **save_args)
    data = buf.getvalue()
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8)
    refio.save(out_dir, "decode", name,
               {"in.file": torch.from_numpy(np.frombuffer(data, dtype=np.uint8).copy()),
                "out": torch.from_numpy(decoded.copy())},
               {"format": fmt.lower(), "what": what})
    return 1


def generate(out_dir):
    rgb = Image.fromarray(photo_like(37, 53, 1))
    big = Image.fromarray(photo_like(224, 224, 2))
    wide = Image.fromarray(photo_like(61, 90, 3))
    n = 0
    n += _case(out_dir, "jpeg_420_q90_odd", rgb, "JPEG", "4:2:0, quality 90, 53x37", quality=90)
    n += _case(out_dir, "jpeg_420_q75_224", big, "JPEG", "4:2:0, quality 75 (PIL default), 224x224")
    n += _case(out_dir, "jpeg_422_q85", wide, "JPEG", "4:2:2, quality 85, 90x61", quality=85, subsampling=1)
    n += _case(out_dir, "jpeg_444_q95", wide, "JPEG", "4:4:4, quality 95", quality=95, subsampling=0)
    n += _case(out_dir, "jpeg_progressive", big, "JPEG", "progressive, 4:2:0", quality=80, progressive=True)
    n += _case(out_dir, "jpeg_optimized_restart", wide, "JPEG", "optimised Huffman tables, restart markers",
               quality=70, optimize=True, restart_marker_blocks=2)
    n += _case(out_dir, "jpeg_gray", wide.convert("L"), "JPEG", "grayscale", quality=90)
    n += _case(out_dir, "jpeg_cmyk", wide.convert("CMYK"), "JPEG", "CMYK (Adobe-inverted, Adobe marker)", quality=90)
    n += _case(out_dir, "jpeg_cmyk_odd", rgb.convert("CMYK"), "JPEG", "CMYK, odd size", quality=75)
    n += _case(out_dir, "png_rgb", rgb, "PNG", "RGB")
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray(photo_like(37, 53, 4)[..., 0]))
    n += _case(out_dir, "png_rgba", rgba, "PNG", "RGBA: alpha dropped, not blended")
    n += _case(out_dir, "png_gray", rgb.convert("L"), "PNG", "L")
    n += _case(out_dir, "png_gray_alpha", rgba.convert("LA"), "PNG", "LA")
    n += _case(out_dir, "png_palette", wide.convert("P", palette=Image.ADAPTIVE, colors=50), "PNG", "palette")
    pal = wide.convert("P", palette=Image.ADAPTIVE, colors=16)
    n += _case(out_dir, "png_palette_transparency", pal, "PNG", "palette with a transparent index", transparency=3)
    n += _case(out_dir, "bmp_rgb", rgb, "BMP", "24-bit BMP (bottom-up rows, padded to 4 bytes)")
    n += _case(out_dir, "gif", wide.convert("P", palette=Image.ADAPTIVE, colors=64), "GIF", "GIF, 64 colours")
    n += _case(out_dir, "tga_rgb", rgb, "TGA", "uncompressed TGA")
    n += _case(out_dir, "tga_rle", rgb, "TGA", "RLE TGA", compression="tga_rle")
    n += _case(out_dir, "ppm", rgb, "PPM", "binary PPM (P6)")
    n += _case(out_dir, "pgm", rgb.convert("L"), "PPM", "binary PGM (P5)")
    return n


if __name__ == "__main__":
    import sys
    print(generate(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ref_decode"))
