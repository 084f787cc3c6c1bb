#!/usr/bin/env python3
"""Independent float64 numpy reference of the Hugging Face CLIPModel forward pass.

Reads a model folder (config.json + model.safetensors, through
models/safetensors_io.py) and computes, in float64:

* vision tower: patch "convolution" as reshape + matmul (no bias), class
  token, position embeddings, pre_layrnorm, pre-LN encoder layers,
  post_layernorm on token 0, visual_projection;
* text tower: token + position embeddings, causal self-attention,
  final_layer_norm, pooling at the first end-of-text token, text_projection;
* L2-normalised embeddings and logits = exp(logit_scale) * cosine.

Inputs are already preprocessed: pixels [B, 3, S, S] (.npy) and token ids
[B, L] (.npy, L <= max_position_embeddings); tokenizer and image
preprocessing are tested elsewhere.

    clip_reference.py MODEL_DIR --pixels P.npy --ids I.npy --out OUT.npz

writes image_embeds, text_embeds, logits_per_image, logits_per_text,
probs_per_image, the pooled (pre-projection) states, the unnormalised
projections, and for debugging the hidden states after the embeddings and
after encoder layer 0 of each tower (see OUTPUT_KEYS).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models"))
import safetensors_io  # noqa: E402  (models/safetensors_io.py)

OUTPUT_KEYS = {
    "image_embeds": "[B_img, P] L2-normalised image embeddings",
    "text_embeds": "[B_txt, P] L2-normalised text embeddings",
    "logits_per_image": "[B_img, B_txt] exp(logit_scale) * cosine",
    "logits_per_text": "[B_txt, B_img] transpose of logits_per_image",
    "probs_per_image": "[B_img, B_txt] softmax of logits_per_image over the texts",
    "logit_scale": "[] the raw logit_scale tensor",
    "image_embeds_raw": "[B_img, P] visual_projection output before normalisation",
    "text_embeds_raw": "[B_txt, P] text_projection output before normalisation",
    "image_pooled": "[B_img, Dv] post_layernorm(token 0)",
    "text_pooled": "[B_txt, Dt] final_layer_norm state at the eot position",
    "text_eot_positions": "[B_txt] index of the pooled (first eot) token",
    "vision_embeddings": "[B_img, N, Dv] class+patch embeddings + positions",
    "vision_hidden_0": "[B_img, N, Dv] after pre_layrnorm (HF hidden_states[0])",
    "vision_layer0": "[B_img, N, Dv] after encoder layer 0 (HF hidden_states[1])",
    "text_embeddings": "[B_txt, L, Dt] token + position embeddings (hidden_states[0])",
    "text_layer0": "[B_txt, L, Dt] after encoder layer 0 (HF hidden_states[1])",
}


class ReferenceError(Exception):
    """Bad model folder or inputs; the message names the file and reason."""


# ---------------------------------------------------------------------------
# Config and weights
# ---------------------------------------------------------------------------

TEXT_DEFAULTS = {"vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048,
                 "num_hidden_layers": 12, "num_attention_heads": 8,
                 "max_position_embeddings": 77, "hidden_act": "quick_gelu",
                 "layer_norm_eps": 1e-5, "eos_token_id": 49407}
VISION_DEFAULTS = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                   "num_attention_heads": 12, "num_channels": 3, "image_size": 224,
                   "patch_size": 32, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5}


@dataclass
class Tower:
    """Geometry of one tower."""

    hidden: int
    mlp: int
    layers: int
    heads: int
    act: str
    eps: float


@dataclass
class ClipConfig:
    """What the forward pass needs from config.json (HF defaults for absent keys)."""

    vision: Tower
    text: Tower
    image_size: int
    patch_size: int
    channels: int
    vocab_size: int
    max_positions: int
    eos_token_id: int
    projection_dim: int


def _tower(section: dict) -> Tower:
    """Tower geometry from a text_config/vision_config section with defaults."""
    return Tower(section["hidden_size"], section["intermediate_size"],
                 section["num_hidden_layers"], section["num_attention_heads"],
                 section["hidden_act"], float(section["layer_norm_eps"]))


def load_config(model_dir: Path) -> ClipConfig:
    """Parse MODEL_DIR/config.json."""
    path = model_dir / "config.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ReferenceError(f"{path}: cannot read: {e.strerror or e}") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise ReferenceError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(raw, dict) or raw.get("model_type", "clip") != "clip":
        raise ReferenceError(f"{path}: not a CLIPModel config (model_type must be 'clip')")
    text = {**TEXT_DEFAULTS, **(raw.get("text_config") or raw.get("text_config_dict") or {})}
    vision = {**VISION_DEFAULTS,
              **(raw.get("vision_config") or raw.get("vision_config_dict") or {})}
    cfg = ClipConfig(_tower(vision), _tower(text), vision["image_size"], vision["patch_size"],
                     vision["num_channels"], text["vocab_size"],
                     text["max_position_embeddings"], text["eos_token_id"],
                     raw.get("projection_dim", 512))
    for name, tower in (("vision_config", cfg.vision), ("text_config", cfg.text)):
        if tower.hidden % tower.heads:
            raise ReferenceError(f"{path}: {name}.hidden_size {tower.hidden} is not divisible"
                                 f" by num_attention_heads {tower.heads}")
        if tower.act not in ACTIVATIONS:
            raise ReferenceError(f"{path}: {name}.hidden_act {tower.act!r} is not supported"
                                 f" ({', '.join(sorted(ACTIVATIONS))})")
    if cfg.image_size % cfg.patch_size:
        raise ReferenceError(f"{path}: image_size {cfg.image_size} is not a multiple of"
                             f" patch_size {cfg.patch_size}")
    return cfg


class Weights:
    """Tensors of model.safetensors, converted to float64 on request."""

    def __init__(self, model_dir: Path):
        self.path = model_dir / "model.safetensors"
        try:
            self.file = safetensors_io.load(str(self.path))
        except safetensors_io.SafetensorsError as e:
            raise ReferenceError(str(e)) from e

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Tensor ``name`` as float64, checked against the expected shape."""
        if name not in self.file:
            raise ReferenceError(f"{self.path}: missing tensor {name!r}")
        found = self.file.info(name).shape
        if tuple(found) != tuple(shape):
            raise ReferenceError(f"{self.path}: tensor {name!r} has shape {list(found)},"
                                 f" expected {list(shape)}")
        return self.file.get_float(name, np.float64)


# ---------------------------------------------------------------------------
# Building blocks (all float64)
# ---------------------------------------------------------------------------

_erf_ufunc = np.frompyfunc(math.erf, 1, 1)


def erf(x: np.ndarray) -> np.ndarray:
    """math.erf applied elementwise (exact to double precision)."""
    return _erf_ufunc(x).astype(np.float64)


def quick_gelu(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(1.702 x), the OpenAI CLIP activation."""
    return x / (1.0 + np.exp(-1.702 * x))


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU: 0.5 x (1 + erf(x / sqrt 2))."""
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """tanh approximation of GELU (HF 'gelu_new' / 'gelu_pytorch_tanh')."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


ACTIVATIONS = {"quick_gelu": quick_gelu, "gelu": gelu, "gelu_new": gelu_tanh,
               "gelu_pytorch_tanh": gelu_tanh}


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm over the last axis (population variance)."""
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """x @ W^T + b with HF's [out, in] weight layout."""
    y = x @ weight.T
    return y if bias is None else y + bias


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax; rows that are all -inf are not expected."""
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def attention(x: np.ndarray, p: dict[str, np.ndarray], heads: int, causal: bool) -> np.ndarray:
    """Multi-head self-attention of x [B, T, D] (HF CLIPAttention)."""
    b, t, d = x.shape
    hd = d // heads

    def split(y: np.ndarray) -> np.ndarray:
        return y.reshape(b, t, heads, hd).transpose(0, 2, 1, 3)

    q = split(linear(x, p["q_w"], p["q_b"]) * hd ** -0.5)
    k = split(linear(x, p["k_w"], p["k_b"]))
    v = split(linear(x, p["v_w"], p["v_b"]))
    scores = q @ k.transpose(0, 1, 3, 2)
    if causal:
        mask = np.triu(np.ones((t, t), dtype=bool), k=1)
        scores = np.where(mask, -np.inf, scores)
    out = (softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
    return linear(out, p["o_w"], p["o_b"])


def encoder_layer(x: np.ndarray, p: dict[str, np.ndarray], tower: Tower,
                  causal: bool) -> np.ndarray:
    """Pre-LN block: x += attn(ln1(x)); x += fc2(act(fc1(ln2(x))))."""
    act = ACTIVATIONS[tower.act]
    x = x + attention(layer_norm(x, p["ln1_w"], p["ln1_b"], tower.eps), p, tower.heads, causal)
    h = act(linear(layer_norm(x, p["ln2_w"], p["ln2_b"], tower.eps), p["fc1_w"], p["fc1_b"]))
    return x + linear(h, p["fc2_w"], p["fc2_b"])


def layer_params(w: Weights, prefix: str, tower: Tower, i: int) -> dict[str, np.ndarray]:
    """The tensors of encoder layer i under short names."""
    base = f"{prefix}.encoder.layers.{i}"
    d, m = tower.hidden, tower.mlp
    p = {}
    for short, proj in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("o", "out_proj")):
        p[f"{short}_w"] = w.get(f"{base}.self_attn.{proj}.weight", (d, d))
        p[f"{short}_b"] = w.get(f"{base}.self_attn.{proj}.bias", (d,))
    for short, ln in (("ln1", "layer_norm1"), ("ln2", "layer_norm2")):
        p[f"{short}_w"] = w.get(f"{base}.{ln}.weight", (d,))
        p[f"{short}_b"] = w.get(f"{base}.{ln}.bias", (d,))
    p["fc1_w"] = w.get(f"{base}.mlp.fc1.weight", (m, d))
    p["fc1_b"] = w.get(f"{base}.mlp.fc1.bias", (m,))
    p["fc2_w"] = w.get(f"{base}.mlp.fc2.weight", (d, m))
    p["fc2_b"] = w.get(f"{base}.mlp.fc2.bias", (d,))
    return p


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows divided by their Euclidean norm."""
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------

class ClipReference:
    """The CLIPModel forward pass on a Hugging Face model folder."""

    def __init__(self, model_dir: str | Path):
        self.dir = Path(model_dir)
        self.config = load_config(self.dir)
        self.weights = Weights(self.dir)
        self.logit_scale = float(self.weights.get("logit_scale", ()))

    # -- vision -------------------------------------------------------------

    def check_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels as float64 [B, C, S, S], or ReferenceError."""
        c, s = self.config.channels, self.config.image_size
        pixels = np.asarray(pixels)
        if pixels.ndim != 4 or pixels.shape[1:] != (c, s, s):
            raise ReferenceError(f"pixels have shape {list(pixels.shape)}, expected [B, {c}, {s}, {s}]")
        if pixels.dtype.kind != "f":
            raise ReferenceError(f"pixels must be floating point, got {pixels.dtype}")
        return pixels.astype(np.float64)

    def patch_embed(self, pixels: np.ndarray) -> np.ndarray:
        """Non-overlapping P x P convolution (stride P, no bias) as reshape + matmul."""
        cfg, d = self.config, self.config.vision.hidden
        pp, c = cfg.patch_size, cfg.channels
        weight = self.weights.get("vision_model.embeddings.patch_embedding.weight", (d, c, pp, pp))
        b = pixels.shape[0]
        g = cfg.image_size // pp
        patches = pixels.reshape(b, c, g, pp, g, pp).transpose(0, 2, 4, 1, 3, 5)
        return patches.reshape(b, g * g, c * pp * pp) @ weight.reshape(d, -1).T

    def vision_embeddings(self, pixels: np.ndarray) -> np.ndarray:
        """[class ; patches] + position embeddings: [B, N, D]."""
        d = self.config.vision.hidden
        patches = self.patch_embed(pixels)
        n = patches.shape[1] + 1
        cls = self.weights.get("vision_model.embeddings.class_embedding", (d,))
        pos = self.weights.get("vision_model.embeddings.position_embedding.weight", (n, d))
        cls_rows = np.broadcast_to(cls, (patches.shape[0], 1, d))
        return np.concatenate([cls_rows, patches], axis=1) + pos

    def encode_image(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        """Vision tower outputs and intermediates for pixels [B, C, S, S]."""
        tower, w = self.config.vision, self.weights
        d = tower.hidden
        out = {"vision_embeddings": self.vision_embeddings(self.check_pixels(pixels))}
        x = layer_norm(out["vision_embeddings"], w.get("vision_model.pre_layrnorm.weight", (d,)),
                       w.get("vision_model.pre_layrnorm.bias", (d,)), tower.eps)
        out["vision_hidden_0"] = x
        for i in range(tower.layers):
            x = encoder_layer(x, layer_params(w, "vision_model", tower, i), tower, causal=False)
            if i == 0:
                out["vision_layer0"] = x
        pooled = layer_norm(x[:, 0], w.get("vision_model.post_layernorm.weight", (d,)),
                            w.get("vision_model.post_layernorm.bias", (d,)), tower.eps)
        out["image_pooled"] = pooled
        proj = w.get("visual_projection.weight", (self.config.projection_dim, d))
        out["image_embeds_raw"] = linear(pooled, proj)
        out["image_embeds"] = l2_normalize(out["image_embeds_raw"])
        return out

    # -- text ---------------------------------------------------------------

    def check_ids(self, ids: np.ndarray) -> np.ndarray:
        """Token ids as int64 [B, L], or ReferenceError."""
        ids = np.asarray(ids)
        if ids.ndim == 1:
            ids = ids[None, :]
        if ids.ndim != 2 or ids.shape[1] == 0 or ids.dtype.kind not in "iu":
            raise ReferenceError(f"token ids must be an integer array [B, L], got"
                                 f" {ids.dtype} {list(ids.shape)}")
        if ids.shape[1] > self.config.max_positions:
            raise ReferenceError(f"{ids.shape[1]} tokens exceed max_position_embeddings"
                                 f" {self.config.max_positions}")
        if ids.min() < 0 or ids.max() >= self.config.vocab_size:
            raise ReferenceError(f"token ids must lie in [0, {self.config.vocab_size})")
        return ids.astype(np.int64)

    def eot_positions(self, ids: np.ndarray) -> np.ndarray:
        """Index of the pooled token per row: the first eos (argmax if eos_token_id is 2,
        as HF does for legacy configs)."""
        eos = self.config.eos_token_id
        if eos == 2:
            return ids.argmax(axis=1)
        hits = ids == eos
        missing = np.flatnonzero(~hits.any(axis=1))
        if missing.size:
            raise ReferenceError(f"token row {int(missing[0])} has no end-of-text token {eos}")
        return hits.argmax(axis=1)

    def encode_text(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Text tower outputs and intermediates for token ids [B, L]."""
        cfg, tower, w = self.config, self.config.text, self.weights
        ids = self.check_ids(ids)
        d, length = tower.hidden, ids.shape[1]
        tok = w.get("text_model.embeddings.token_embedding.weight", (cfg.vocab_size, d))
        pos = w.get("text_model.embeddings.position_embedding.weight", (cfg.max_positions, d))
        x = tok[ids] + pos[:length]
        out = {"text_embeddings": x}
        for i in range(tower.layers):
            x = encoder_layer(x, layer_params(w, "text_model", tower, i), tower, causal=True)
            if i == 0:
                out["text_layer0"] = x
        x = layer_norm(x, w.get("text_model.final_layer_norm.weight", (d,)),
                       w.get("text_model.final_layer_norm.bias", (d,)), tower.eps)
        where = self.eot_positions(ids)
        out["text_eot_positions"] = where
        out["text_pooled"] = x[np.arange(ids.shape[0]), where]
        proj = w.get("text_projection.weight", (cfg.projection_dim, d))
        out["text_embeds_raw"] = linear(out["text_pooled"], proj)
        out["text_embeds"] = l2_normalize(out["text_embeds_raw"])
        return out

    # -- both ---------------------------------------------------------------

    def forward(self, pixels: np.ndarray | None, ids: np.ndarray | None) -> dict[str, np.ndarray]:
        """Everything in OUTPUT_KEYS that the given inputs allow."""
        out: dict[str, np.ndarray] = {"logit_scale": np.array(self.logit_scale)}
        if pixels is not None:
            out.update(self.encode_image(pixels))
        if ids is not None:
            out.update(self.encode_text(ids))
        if pixels is not None and ids is not None:
            logits = math.exp(self.logit_scale) * out["image_embeds"] @ out["text_embeds"].T
            out["logits_per_image"] = logits
            out["logits_per_text"] = logits.T.copy()
            out["probs_per_image"] = softmax(logits, axis=1)
        return out


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def load_npy(path: str, what: str) -> np.ndarray:
    """np.load without pickles, with errors naming the file."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ReferenceError(f"{path}: cannot read {what} .npy: {e}") from e


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        description="float64 numpy reference of the HF CLIPModel forward pass; writes golden"
                    " outputs to an .npz.",
        epilog="Output arrays: " + "; ".join(f"{k} {v}" for k, v in OUTPUT_KEYS.items()))
    parser.add_argument("model_dir", metavar="MODEL_DIR",
                        help="folder with config.json and model.safetensors")
    parser.add_argument("--pixels", metavar="P.npy", help="preprocessed images [B, 3, S, S]")
    parser.add_argument("--ids", metavar="I.npy", help="token ids [B, L] (L <= 77)")
    parser.add_argument("--out", metavar="OUT.npz", required=True, help="file to write")
    parser.add_argument("--float32", action="store_true",
                        help="store the outputs as float32 (computation stays float64)")
    args = parser.parse_args(argv)
    if args.pixels is None and args.ids is None:
        parser.error("give --pixels, --ids or both")
    try:
        model = ClipReference(args.model_dir)
        pixels = load_npy(args.pixels, "pixel") if args.pixels else None
        ids = load_npy(args.ids, "token id") if args.ids else None
        out = model.forward(pixels, ids)
        if args.float32:
            out = {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in out.items()}
        np.savez(args.out, **out)
    except ReferenceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e.filename or args.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"{args.out}: " + ", ".join(f"{k} {list(v.shape)}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
