#!/usr/bin/env python3
"""Golden inputs and outputs for the CLIP parity test (tests/test-clip.c).

usage: make_clip_golden.py MODEL_DIR OUT_DIR [--images N] [--texts M] [--seed S]

Writes into OUT_DIR, as raw little-endian arrays the C test reads directly:
  pixels.f32        [N, 3, S, S] preprocessed images (uniform in the normalised range)
  ids.i32           [M, 77] token ids: sot, random tokens, eot, padding of 0 after it
  image_embeds.f32  [N, P] reference image embeddings (L2-normalised)
  text_embeds.f32   [M, P] reference text embeddings (L2-normalised)
  logits.f32        [N, M] exp(logit_scale) * cosine
  shapes.txt        "N M S P L" for the test to check against the model
The reference is tests/clip_reference.py (float64 numpy, independent of the engine).
Also writes broken copies of MODEL_DIR under OUT_DIR/bad-* for the error tests."""
import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models"))
from clip_reference import ClipReference  # noqa: E402
import safetensors_io  # noqa: E402


def make_inputs(ref: ClipReference, n_images: int, n_texts: int, rng: np.random.Generator):
    """Deterministic pixels and token rows of varied lengths."""
    cfg = ref.config
    s = cfg.image_size
    pixels = rng.uniform(-1.8, 2.1, size=(n_images, 3, s, s)).astype(np.float32)
    length = cfg.max_positions
    eot = cfg.vocab_size - 1 if cfg.eos_token_id == 2 else cfg.eos_token_id
    sot = eot - 1
    ids = np.zeros((n_texts, length), dtype=np.int32)
    for row in range(n_texts):
        n = int(rng.integers(0, length - 1)) if row else length - 2   # one full-length row
        ids[row, 0] = sot
        ids[row, 1:n + 1] = rng.integers(0, sot, size=n)
        ids[row, n + 1] = eot
    return pixels, ids


def write_broken(model_dir: Path, out: Path) -> None:
    """Copies of the model with one defect each, for the loader's error tests."""
    st = safetensors_io.load(str(model_dir / "model.safetensors"))
    tensors = {name: np.array(st[name]) for name in st}
    dtypes = {name: st.dtype(name) for name in st}
    meta = st.metadata

    def save(path: Path, t: dict) -> None:
        safetensors_io.save(str(path), t, meta, {k: dtypes[k] for k in t})

    def copy(name: str) -> Path:
        dst = out / f"bad-{name}"
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(model_dir, dst)
        return dst

    dst = copy("missing-tensor")
    t = dict(tensors)
    del t["text_model.final_layer_norm.bias"]
    save(dst / "model.safetensors", t)

    dst = copy("wrong-shape")
    t = dict(tensors)
    w = t["vision_model.encoder.layers.0.mlp.fc1.weight"]
    t["vision_model.encoder.layers.0.mlp.fc1.weight"] = w[:-1].copy()
    save(dst / "model.safetensors", t)

    dst = copy("truncated")
    data = (dst / "model.safetensors").read_bytes()
    (dst / "model.safetensors").write_bytes(data[: len(data) // 2])

    dst = copy("config-mismatch")
    cfg = json.loads((dst / "config.json").read_text())
    cfg["text_config"]["hidden_size"] = cfg["text_config"]["hidden_size"] * 2
    (dst / "config.json").write_text(json.dumps(cfg, indent=2))

    dst = copy("no-config")
    os.remove(dst / "config.json")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model_dir", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--images", type=int, default=3)
    p.add_argument("--texts", type=int, default=4)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-broken", action="store_true", help="skip the broken model copies")
    a = p.parse_args()
    ref = ClipReference(a.model_dir)
    pixels, ids = make_inputs(ref, a.images, a.texts, np.random.default_rng(a.seed))
    out = ref.forward(pixels, ids)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    pixels.tofile(a.out_dir / "pixels.f32")
    ids.tofile(a.out_dir / "ids.i32")
    for key, name in (("image_embeds", "image_embeds"), ("text_embeds", "text_embeds"),
                      ("logits_per_image", "logits")):
        out[key].astype("<f4").tofile(a.out_dir / f"{name}.f32")
    cfg = ref.config
    (a.out_dir / "shapes.txt").write_text(
        f"{a.images} {a.texts} {cfg.image_size} {cfg.projection_dim} {cfg.max_positions}\n")
    if not a.no_broken:
        write_broken(a.model_dir, a.out_dir)
    print(f"make_clip_golden: {a.images} images, {a.texts} texts -> {a.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
