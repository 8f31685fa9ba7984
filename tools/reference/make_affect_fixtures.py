#!/usr/bin/env python3
"""Small datasets in the AffectNet and EMOTIC layouts for the binaries' end-to-end tests, written with PIL.

Usage: make_affect_fixtures.py OUT_DIR
  OUT_DIR/affectnet/train_set/images/{number}.jpg + train.csv (number,exp,val,aro): 48 images, 6 per class,
      plus one corrupt JPEG (truncated) and one row whose image is missing -> 48 usable, 1 corrupt, 1 missing
  OUT_DIR/emotic/{folder}/{file}.jpg + emotic.csv (Index,Folder,Filename,Image Size,BBox,Categorical_Labels,
      Continuous_Labels,Gender,Age): 24 usable people, 1 missing image
Each class gets its own colour and pattern so that a model can learn something in a few steps.
"""
import pathlib
import random
import sys

from PIL import Image, ImageDraw

EMOTIC = ["Affection", "Anger", "Annoyance", "Anticipation", "Aversion", "Confidence", "Disapproval",
          "Disconnection", "Disquietment", "Doubt/Confusion", "Embarrassment", "Engagement", "Esteem", "Excitement",
          "Fatigue", "Fear", "Happiness", "Pain", "Peace", "Pleasure", "Sadness", "Sensitivity", "Suffering",
          "Surprise", "Sympathy", "Yearning"]


def face(cls, size, rng):
    img = Image.new("RGB", (size, size), (20 * cls, 255 - 25 * cls, (60 * cls) % 256))
    d = ImageDraw.Draw(img)
    for _ in range(3):
        x, y = rng.randrange(size), rng.randrange(size)
        d.ellipse([x - 6, y - 6, x + 6, y + 6], fill=(255, 255, 255) if cls % 2 else (0, 0, 0))
    d.rectangle([cls * 4, cls * 4, cls * 4 + 10, cls * 4 + 10], fill=(250, 10 * cls, 0))
    return img


def main():
    out = pathlib.Path(sys.argv[1])
    rng = random.Random(0)
    an = out / "affectnet" / "train_set" / "images"
    an.mkdir(parents=True, exist_ok=True)
    rows = ["number,exp,val,aro"]
    n = 0
    for cls in range(8):
        for _ in range(6):
            n += 1
            face(cls, 64, rng).save(an / f"{n}.jpg", quality=90)
            rows.append(f"{n},{cls},{(cls - 3.5) / 4:.3f},{(3.5 - cls) / 5:.3f}")
    good = (an / "1.jpg").read_bytes()
    (an / "9001.jpg").write_bytes(good[: len(good) // 3])  # truncated: corrupt
    rows.append("9001,2,0.1,0.1")
    rows.append("9002,3,0.2,0.2")  # no such image: missing
    (out / "affectnet" / "train.csv").write_text("\n".join(rows) + "\n")

    em = out / "emotic"
    (em / "mscoco").mkdir(parents=True, exist_ok=True)
    rows = ["Index,Folder,Filename,Image Size,BBox,Categorical_Labels,Continuous_Labels,Gender,Age"]
    for i in range(24):
        img = face(i % 8, 96, rng)
        img.save(em / "mscoco" / f"p{i}.jpg", quality=90)
        cats = [EMOTIC[i % 26], EMOTIC[(3 * i + 5) % 26]]
        box = [4, 4, 90 + (i % 3) * 10, 80]  # partly outside the 96x96 image: clipped
        rows.append(f'{i},mscoco,p{i}.jpg,"[96, 96]","{box}","{cats}","[{1 + i % 10}, {10 - i % 10}, 5]",Male,Adult')
    rows.append('24,mscoco,gone.jpg,"[96, 96]","[0, 0, 50, 50]","[\'Peace\']","[5, 5, 5]",Female,Kid')
    (em / "emotic.csv").write_text("\n".join(rows) + "\n")
    print(f"fixtures in {out}")


if __name__ == "__main__":
    main()
