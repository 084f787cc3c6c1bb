#!/usr/bin/env python3
"""How far our preprocessing is from PIL's (what Hugging Face's CLIPImageProcessor uses).

usage: preprocess_vs_pil.py BUILD_DIR MODEL_DIR [IMAGE…]

For each image (default: the photographs Debian's python3-skimage ships),
preprocesses it with PIL exactly as CLIPImageProcessor does (short side to
the model size with PIL's antialiased BICUBIC, which rounds to 8 bits, then
centre crop, /255, mean/std) and runs BUILD_DIR/bench/preprocess-vs-pil,
which compares that with the engine's preprocessing (antialiased bicubic in
f32, no 8-bit rounding) in normalised pixels and in CLIP image embeddings.
Needs python3-pil (and python3-skimage for the default images)."""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def pil_pixels(img: Image.Image, cfg: dict) -> np.ndarray:
    size = cfg["size"]["shortest_edge"] if isinstance(cfg["size"], dict) else cfg["size"]
    crop = cfg["crop_size"]["height"] if isinstance(cfg["crop_size"], dict) else cfg["crop_size"]
    w, h = img.size
    if w <= h:
        nw, nh = size, int(size * h / w)
    else:
        nw, nh = int(size * w / h), size
    img = img.resize((nw, nh), Image.BICUBIC)
    top, left = (nh - crop) // 2, (nw - crop) // 2
    a = np.asarray(img, dtype=np.float64)[top:top + crop, left:left + crop] / 255.0
    a = (a - np.array(cfg["image_mean"])) / np.array(cfg["image_std"])
    return a.transpose(2, 0, 1).astype(np.float32)


def default_images() -> list[Path]:
    import skimage
    data = Path(skimage.__file__).parent / "data"
    names = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
             "hubble_deep_field.jpg", "coins.png", "camera.png"]
    return [data / n for n in names if (data / n).exists()]


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    build, model = Path(sys.argv[1]), Path(sys.argv[2])
    cfg = json.loads((model / "preprocessor_config.json").read_text())
    images = [Path(p) for p in sys.argv[3:]] or default_images()
    tool = build / "bench" / "preprocess-vs-pil"
    with tempfile.TemporaryDirectory() as tmp:
        for path in images:
            img = Image.open(path).convert("RGB")
            rgb, pix = Path(tmp) / "rgb", Path(tmp) / "pil.f32"
            rgb.write_bytes(np.asarray(img, dtype=np.uint8).tobytes())
            pil_pixels(img, cfg).tofile(pix)
            out = subprocess.run([str(tool), str(model), str(rgb), str(img.size[0]),
                                  str(img.size[1]), str(pix)], capture_output=True, text=True)
            line = out.stdout.strip() or out.stderr.strip()
            print(f"{path.name:26s} {img.size[0]:5d}x{img.size[1]:<5d} {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
