#!/usr/bin/env python3
"""Independent float64 numpy reference of the Hugging Face GitForCausalLM (GIT).

Reads a model folder (config.json + model.safetensors, through
models/safetensors_io.py) and computes, in float64:

* image encoder: the CLIP ViT (patch "convolution" as reshape + matmul, class
  token, positions, pre_layrnorm, pre-LN layers, quick_gelu) with
  post_layernorm applied to EVERY token;
* visual projection: Linear, then LayerNorm with the *vision* config's eps;
* text embeddings: word + position (text positions count from 0) + LayerNorm;
* decoder: BERT post-LN layers over [image tokens ; text tokens] with the GIT
  mask (image rows see image columns only; text rows see every image column
  and the text columns up to their own);
* LM head ``output`` over the text positions (tied to the word embeddings when
  output.weight is absent);
* generation: greedy, beam search (semantics in :func:`beam_search_core`) and
  the VQA format (:meth:`GitReference.answer`), all driven by a KV cache.

Inputs are already preprocessed pixels [B, 3, S, S] and token ids; the
WordPiece tokenizer and image preprocessing are tested elsewhere.

    git_reference.py MODEL_DIR --pixels P.npy [--ids I.npy] [--prefix Q.npy] --out OUT.npz

writes the arrays of OUTPUT_KEYS.  The golden-file generator of the C test
imports :class:`GitReference` and :func:`beam_search_core` instead.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

TESTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))
sys.path.insert(0, str(TESTS_DIR.parent / "models"))
import safetensors_io  # noqa: E402  (models/safetensors_io.py)
from clip_reference import (ACTIVATIONS, Tower, encoder_layer, layer_norm,  # noqa: E402
                            layer_params, linear, softmax)

VISION_PREFIX = "git.image_encoder.vision_model"
DECODER_DEFAULTS = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 6,
                    "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
                    "max_position_embeddings": 1024, "layer_norm_eps": 1e-12,
                    "pad_token_id": 0, "bos_token_id": 101, "eos_token_id": 102,
                    "tie_word_embeddings": False, "num_image_with_embedding": None}
VISION_DEFAULTS = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                   "num_attention_heads": 12, "num_channels": 3, "image_size": 224,
                   "patch_size": 16, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5}

OUTPUT_KEYS = {
    "image_tokens": "[B, N, D] projected image tokens (decoder input rows 0..N-1)",
    "vision_embeddings": "[B, N, Dv] class+patch embeddings + positions",
    "vision_hidden_0": "[B, N, Dv] after pre_layrnorm",
    "vision_layer0": "[B, N, Dv] after vision encoder layer 0",
    "vision_last": "[B, N, Dv] post_layernorm of every token (before the projection)",
    "ids": "[B, T] the token ids the logits are for (with --ids)",
    "text_embeddings": "[B, T, D] word + position embeddings after LayerNorm (with --ids)",
    "decoder_layer0": "[B, N+T, D] after decoder layer 0 (with --ids)",
    "decoder_hidden": "[B, N+T, D] after the last decoder layer (with --ids)",
    "logits": "[B, T, V] LM-head logits of the text positions (with --ids)",
    "prefix": "[L] generation prefix after [CLS] (empty: captioning)",
    "greedy_ids": "[B, M] greedy tokens after [CLS]+prefix, incl. [SEP], padded with 0",
    "greedy_lengths": "[B] number of greedy tokens (incl. [SEP])",
    "greedy_sum_logprob": "[B] sum of the greedy tokens' log-probabilities",
    "greedy_score": "[B] mean log-probability (sum / length)",
    "greedy_finished": "[B] 1 if greedy ended with [SEP], 0 if it hit max-tokens",
    "beam_ids": "[B, M] best beam-search sequence, incl. [SEP], padded with 0",
    "beam_lengths": "[B] its length (incl. [SEP])",
    "beam_sum_logprob": "[B] its sum of log-probabilities",
    "beam_score": "[B] sum_logprob / length ** length_penalty",
    "beam_finished": "[B] 1 if it ended with [SEP]",
    "generation_params": "[3] num_beams, max_tokens, length_penalty",
}


class ReferenceError(Exception):
    """Bad model folder or inputs; the message names the file and reason."""


# ---------------------------------------------------------------------------
# Config and weights
# ---------------------------------------------------------------------------

@dataclass
class GitConfig:
    """What the forward pass needs from config.json (HF defaults for absent keys)."""

    vision: Tower
    image_size: int
    patch_size: int
    channels: int
    decoder: Tower
    vocab_size: int
    max_positions: int
    bos_token_id: int
    eos_token_id: int
    pad_token_id: int

    @property
    def image_tokens(self) -> int:
        """Number of image tokens: patches + the class token."""
        return (self.image_size // self.patch_size) ** 2 + 1


def _tower(section: dict) -> Tower:
    """Tower geometry of a config section (defaults already merged)."""
    return Tower(section["hidden_size"], section["intermediate_size"],
                 section["num_hidden_layers"], section["num_attention_heads"],
                 section["hidden_act"], float(section["layer_norm_eps"]))


def _read_json(path: Path) -> dict:
    """A JSON object from ``path``, or ReferenceError naming the file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ReferenceError(f"{path}: cannot read: {e.strerror or e}") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise ReferenceError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(raw, dict):
        raise ReferenceError(f"{path}: not a JSON object")
    return raw


def _check_tower(path: Path, name: str, tower: Tower) -> None:
    """Heads must divide the width; the activation must be known."""
    if tower.hidden % tower.heads:
        raise ReferenceError(f"{path}: {name}hidden_size {tower.hidden} is not divisible by"
                             f" num_attention_heads {tower.heads}")
    if tower.act not in ACTIVATIONS:
        raise ReferenceError(f"{path}: {name}hidden_act {tower.act!r} is not supported"
                             f" ({', '.join(sorted(ACTIVATIONS))})")


def load_config(model_dir: Path) -> GitConfig:
    """Parse MODEL_DIR/config.json of a GitForCausalLM."""
    path = Path(model_dir) / "config.json"
    raw = _read_json(path)
    if raw.get("model_type") != "git":
        raise ReferenceError(f"{path}: not a GIT config (model_type must be 'git',"
                             f" found {raw.get('model_type')!r})")
    top = {**DECODER_DEFAULTS, **raw}
    if top["num_image_with_embedding"] is not None:
        raise ReferenceError(f"{path}: num_image_with_embedding"
                             f" {top['num_image_with_embedding']} (video GIT) is not supported")
    vision = {**VISION_DEFAULTS, **(raw.get("vision_config") or {})}
    cfg = GitConfig(_tower(vision), vision["image_size"], vision["patch_size"],
                    vision["num_channels"], _tower(top), top["vocab_size"],
                    top["max_position_embeddings"], top["bos_token_id"], top["eos_token_id"],
                    top["pad_token_id"])
    _check_tower(path, "vision_config.", cfg.vision)
    _check_tower(path, "", cfg.decoder)
    if cfg.image_size % cfg.patch_size:
        raise ReferenceError(f"{path}: vision_config.image_size {cfg.image_size} is not a"
                             f" multiple of patch_size {cfg.patch_size}")
    for name in ("bos_token_id", "eos_token_id"):
        if not 0 <= getattr(cfg, name) < cfg.vocab_size:
            raise ReferenceError(f"{path}: {name} {getattr(cfg, name)} is outside the"
                                 f" vocabulary of {cfg.vocab_size}")
    return cfg


class Weights:
    """Tensors of model.safetensors, converted to float64 on request."""

    def __init__(self, model_dir: Path):
        self.path = Path(model_dir) / "model.safetensors"
        try:
            self.file = safetensors_io.load(str(self.path))
        except safetensors_io.SafetensorsError as e:
            raise ReferenceError(str(e)) from e

    def __contains__(self, name: str) -> bool:
        return name in self.file

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
# Decoder building blocks
# ---------------------------------------------------------------------------

def log_softmax(x: np.ndarray) -> np.ndarray:
    """log(softmax(x)) over the last axis, computed as x - logsumexp(x)."""
    top = x.max(axis=-1, keepdims=True)
    return x - (top + np.log(np.exp(x - top).sum(axis=-1, keepdims=True)))


def git_attention_mask(n_image: int, n_text: int) -> np.ndarray:
    """Additive mask [N+T, N+T]: 0 where a row may attend, -inf elsewhere.

    Image rows (0..N-1) see image columns only; text row N+i sees every image
    column and the text columns N..N+i.
    """
    size = n_image + n_text
    allowed = np.zeros((size, size), dtype=bool)
    allowed[:, :n_image] = True
    allowed[n_image:, n_image:] = np.tril(np.ones((n_text, n_text), dtype=bool))
    return np.where(allowed, 0.0, -np.inf)


def split_heads(y: np.ndarray, heads: int) -> np.ndarray:
    """[B, S, D] -> [B, H, S, D/H]."""
    b, s, d = y.shape
    return y.reshape(b, s, heads, d // heads).transpose(0, 2, 1, 3)


def merge_heads(y: np.ndarray) -> np.ndarray:
    """[B, H, S, hd] -> [B, S, H*hd]."""
    b, h, s, hd = y.shape
    return y.transpose(0, 2, 1, 3).reshape(b, s, h * hd)


def decoder_layer(x: np.ndarray, p: dict[str, np.ndarray], tower: Tower,
                  past_k: np.ndarray | None, past_v: np.ndarray | None,
                  mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One BERT post-LN layer on the new rows x [B, S, D].

    Keys/values of the new rows are appended to past_k/past_v [B, H, S0, hd]
    (None = nothing cached); ``mask`` [S, S0+S] is added to the scores.
    Returns (output [B, S, D], all keys, all values).
    a = LN(x + dense(attention)); y = LN(a + dense(act(dense(a)))).
    """
    act = ACTIVATIONS[tower.act]
    q = split_heads(linear(x, p["q_w"], p["q_b"]), tower.heads)
    k = split_heads(linear(x, p["k_w"], p["k_b"]), tower.heads)
    v = split_heads(linear(x, p["v_w"], p["v_b"]), tower.heads)
    if past_k is not None:
        k = np.concatenate([past_k, k], axis=2)
        v = np.concatenate([past_v, v], axis=2)
    scores = (q @ k.transpose(0, 1, 3, 2)) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + mask
    context = merge_heads(softmax(scores) @ v)
    a = layer_norm(x + linear(context, p["ao_w"], p["ao_b"]), p["ln1_w"], p["ln1_b"],
                   tower.eps)
    h = act(linear(a, p["in_w"], p["in_b"]))
    y = layer_norm(a + linear(h, p["out_w"], p["out_b"]), p["ln2_w"], p["ln2_b"], tower.eps)
    return y, k, v


@dataclass
class DecoderState:
    """KV cache of a batch of sequences: per layer keys/values [B, H, S, hd].

    ``text_length`` counts the text tokens fed so far (the next position id).
    """

    keys: list[np.ndarray]
    values: list[np.ndarray]
    text_length: int = 0

    def select(self, rows: Sequence[int]) -> "DecoderState":
        """A new state holding the given batch rows (repeats allowed), in that order."""
        index = np.asarray(rows, dtype=np.int64)
        return DecoderState([k[index] for k in self.keys], [v[index] for v in self.values],
                            self.text_length)


@dataclass
class Generation:
    """A generated sequence.

    tokens: the generated ids after [CLS]+prefix, including the final [SEP]
    when ``finished``; sum_logprob: sum of their log-softmax probabilities;
    score: sum_logprob / len(tokens) ** length_penalty (greedy: mean log-prob).
    """

    tokens: list[int]
    sum_logprob: float
    score: float
    finished: bool

    def text_tokens(self, sep: int) -> list[int]:
        """The tokens without the terminating [SEP]."""
        return self.tokens[:-1] if self.finished and self.tokens[-1:] == [sep] else self.tokens


class Stepper(Protocol):
    """What beam_search_core drives: a batch of live sequences.

    ``logprobs()`` gives [live, V] next-token log-probabilities of every live
    sequence; ``advance(parents, tokens)`` replaces the live set by
    live[parents[j]] + [tokens[j]] for each j.
    """

    def logprobs(self) -> np.ndarray:
        """[live, V] next-token log-probabilities of the live sequences."""

    def advance(self, parents: Sequence[int], tokens: Sequence[int]) -> None:
        """Make live[parents[j]] + [tokens[j]] the live sequences."""


# ---------------------------------------------------------------------------
# Beam search (the exact semantics the C engine reproduces)
# ---------------------------------------------------------------------------

def top_tokens(logprobs: np.ndarray, k: int) -> np.ndarray:
    """Ids of the k largest entries, best first; equal values: lower id first."""
    order = np.lexsort((np.arange(logprobs.shape[-1]), -logprobs))
    return order[:k]


def effective_max_tokens(max_tokens: int, start_length: int, max_positions: int) -> int:
    """max_tokens clipped so no fed sequence exceeds max_positions.

    Generating token s (1-based) feeds start_length + s - 1 text tokens, so
    s <= max_positions - start_length + 1.
    """
    if max_tokens < 1:
        raise ReferenceError(f"max_tokens must be at least 1, got {max_tokens}")
    room = max_positions - start_length + 1
    if room < 1:
        raise ReferenceError(f"a start of {start_length} tokens leaves no room for generation"
                             f" (max_position_embeddings {max_positions})")
    return min(max_tokens, room)


@dataclass
class _Beam:
    """A live or finished hypothesis during beam search."""

    tokens: list[int]
    sum_logprob: float
    score: float = 0.0


def beam_search_core(stepper: Stepper, sep: int, num_beams: int, max_tokens: int,
                     length_penalty: float = 1.0,
                     pool_out: list[Generation] | None = None) -> Generation:
    """Beam search over ``stepper`` (which starts with ONE live sequence: [CLS] + prefix).

    Exact semantics (K = num_beams >= 1, M = max_tokens >= 1, a = length_penalty;
    all arithmetic in float64; log-probabilities are log_softmax of the logits):

    1. live = [the start sequence, sum 0]; finished = [].
    2. For step s = 1 .. M:
       a. Candidates: each live beam i (in live order) proposes its K best next
          tokens t by log-prob (equal log-probs: lower token id first), with
          candidate sum = sum_i + logprob_i(t).
       b. Rank all candidates by sum descending, then token id ascending, then
          parent index i ascending.
       c. Walk the ranking with rank r = 0, 1, ...:
          - t == [SEP]: if r < K, the hypothesis live_i + [SEP] is finished with
            length s (generated tokens incl. [SEP]) and score sum / s ** a;
            it is appended to ``finished`` (in ranking order). If r >= K it is
            dropped.
          - otherwise, if fewer than K new live beams exist, live_i + [t]
            becomes the next new live beam; stop walking once there are K.
       d. live = the new live beams (in ranking order).
       e. Stop if len(finished) >= K or live is empty (early stopping: a live
          beam is not continued to see whether it could still win).
    3. Result: the candidate with the highest score from a pool of the
       finished hypotheses (in finishing order) followed, only when fewer
       than K finished (i.e. the loop ran out of steps or of live beams),
       by the remaining live beams (in live order) scored
       sum / length ** a, length being the number of steps run.  Equal
       scores: the earlier pool entry wins.  A live beam in the result is
       reported as not finished (it hit M).

    With K = 1 this is exactly greedy decoding (argmax, lower id on ties).
    ``pool_out``, if given, receives the whole result pool of step 3 (in pool
    order) as Generations, e.g. for n-best comparisons.
    """
    if num_beams < 1:
        raise ReferenceError(f"num_beams must be at least 1, got {num_beams}")
    live = [_Beam([], 0.0)]
    finished: list[_Beam] = []
    for step in range(1, max_tokens + 1):
        logprobs = stepper.logprobs()
        candidates = []
        for parent, beam in enumerate(live):
            for token in top_tokens(logprobs[parent], num_beams):
                candidates.append((beam.sum_logprob + float(logprobs[parent, token]),
                                   int(token), parent))
        candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
        new_live: list[_Beam] = []
        parents, tokens = [], []
        for rank, (total, token, parent) in enumerate(candidates):
            if len(new_live) == num_beams:
                break
            if token == sep:
                if rank < num_beams:
                    finished.append(_Beam(live[parent].tokens + [sep], total,
                                          total / step ** length_penalty))
                continue
            new_live.append(_Beam(live[parent].tokens + [token], total))
            parents.append(parent)
            tokens.append(token)
        live = new_live
        if len(finished) >= num_beams or not live:
            break
        if step < max_tokens:
            stepper.advance(parents, tokens)
    pool = [(b.score, b, True) for b in finished]
    if len(finished) < num_beams:
        pool += [(b.sum_logprob / len(b.tokens) ** length_penalty, b, False) for b in live]
    results = [Generation(b.tokens, b.sum_logprob, score, done) for score, b, done in pool]
    if pool_out is not None:
        pool_out.extend(results)
    return max(enumerate(results), key=lambda e: (e[1].score, -e[0]))[1]


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------

class GitReference:
    """The GitForCausalLM forward pass and decoding on a Hugging Face model folder."""

    def __init__(self, model_dir: str | Path):
        self.dir = Path(model_dir)
        self.config = load_config(self.dir)
        self.weights = Weights(self.dir)
        self._decoder: dict[str, object] | None = None

    # -- image encoder ------------------------------------------------------

    def check_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels as float64 [B, C, S, S] ([C, S, S] becomes a batch of one)."""
        c, s = self.config.channels, self.config.image_size
        pixels = np.asarray(pixels)
        if pixels.ndim == 3:
            pixels = pixels[None]
        if pixels.ndim != 4 or pixels.shape[1:] != (c, s, s):
            raise ReferenceError(f"pixels have shape {list(pixels.shape)},"
                                 f" expected [B, {c}, {s}, {s}]")
        if pixels.dtype.kind != "f":
            raise ReferenceError(f"pixels must be floating point, got {pixels.dtype}")
        return pixels.astype(np.float64)

    def vision_forward(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        """CLIP ViT intermediates; ``vision_last`` is post_layernorm of every token."""
        cfg, tower, w = self.config, self.config.vision, self.weights
        x = self.check_pixels(pixels)
        d, pp, c = tower.hidden, cfg.patch_size, cfg.channels
        b, g = x.shape[0], cfg.image_size // pp
        weight = w.get(f"{VISION_PREFIX}.embeddings.patch_embedding.weight", (d, c, pp, pp))
        patches = x.reshape(b, c, g, pp, g, pp).transpose(0, 2, 4, 1, 3, 5)
        patches = patches.reshape(b, g * g, c * pp * pp) @ weight.reshape(d, -1).T
        cls = w.get(f"{VISION_PREFIX}.embeddings.class_embedding", (d,))
        pos = w.get(f"{VISION_PREFIX}.embeddings.position_embedding.weight",
                    (cfg.image_tokens, d))
        emb = np.concatenate([np.broadcast_to(cls, (b, 1, d)), patches], axis=1) + pos
        out = {"vision_embeddings": emb}
        h = layer_norm(emb, w.get(f"{VISION_PREFIX}.pre_layrnorm.weight", (d,)),
                       w.get(f"{VISION_PREFIX}.pre_layrnorm.bias", (d,)), tower.eps)
        out["vision_hidden_0"] = h
        for i in range(tower.layers):
            h = encoder_layer(h, layer_params(w, VISION_PREFIX, tower, i), tower, causal=False)
            if i == 0:
                out["vision_layer0"] = h
        out["vision_last"] = layer_norm(h, w.get(f"{VISION_PREFIX}.post_layernorm.weight", (d,)),
                                        w.get(f"{VISION_PREFIX}.post_layernorm.bias", (d,)),
                                        tower.eps)
        return out

    def project(self, vision_last: np.ndarray) -> np.ndarray:
        """git.visual_projection: Linear to the decoder width, LayerNorm (vision eps)."""
        w, d, dv = self.weights, self.config.decoder.hidden, self.config.vision.hidden
        base = "git.visual_projection.visual_projection"
        y = linear(vision_last, w.get(f"{base}.0.weight", (d, dv)), w.get(f"{base}.0.bias", (d,)))
        return layer_norm(y, w.get(f"{base}.1.weight", (d,)), w.get(f"{base}.1.bias", (d,)),
                          self.config.vision.eps)

    def encode_image(self, pixels: np.ndarray) -> np.ndarray:
        """Image tokens after the projection: [B, N, D]."""
        return self.project(self.vision_forward(pixels)["vision_last"])

    # -- decoder ------------------------------------------------------------

    def decoder_params(self) -> dict[str, object]:
        """Embedding, layer and head tensors (float64), loaded once."""
        if self._decoder is not None:
            return self._decoder
        cfg, w = self.config, self.weights
        d, m, v = cfg.decoder.hidden, cfg.decoder.mlp, cfg.vocab_size
        layers = []
        for i in range(cfg.decoder.layers):
            base = f"git.encoder.layer.{i}"
            names = {"q": ("attention.self.query", d, d), "k": ("attention.self.key", d, d),
                     "v": ("attention.self.value", d, d),
                     "ao": ("attention.output.dense", d, d),
                     "in": ("intermediate.dense", m, d), "out": ("output.dense", d, m)}
            p = {}
            for short, (name, n_out, n_in) in names.items():
                p[f"{short}_w"] = w.get(f"{base}.{name}.weight", (n_out, n_in))
                p[f"{short}_b"] = w.get(f"{base}.{name}.bias", (n_out,))
            for short, name in (("ln1", "attention.output.LayerNorm"), ("ln2", "output.LayerNorm")):
                p[f"{short}_w"] = w.get(f"{base}.{name}.weight", (d,))
                p[f"{short}_b"] = w.get(f"{base}.{name}.bias", (d,))
            layers.append(p)
        words = w.get("git.embeddings.word_embeddings.weight", (v, d))
        head = w.get("output.weight", (v, d)) if "output.weight" in w else words
        self._decoder = {
            "layers": layers, "words": words,
            "positions": w.get("git.embeddings.position_embeddings.weight",
                               (cfg.max_positions, d)),
            "ln_w": w.get("git.embeddings.LayerNorm.weight", (d,)),
            "ln_b": w.get("git.embeddings.LayerNorm.bias", (d,)),
            "head_w": head, "head_b": w.get("output.bias", (v,)),
        }
        return self._decoder

    def check_ids(self, ids: np.ndarray, start: int = 0) -> np.ndarray:
        """Token ids as int64 [B, T] ([T] becomes a batch of one), positions checked."""
        ids = np.asarray(ids)
        if ids.ndim == 1:
            ids = ids[None, :]
        if ids.ndim != 2 or ids.shape[1] == 0 or ids.dtype.kind not in "iu":
            raise ReferenceError(f"token ids must be an integer array [B, T] with T >= 1,"
                                 f" got {ids.dtype} {list(ids.shape)}")
        if start + ids.shape[1] > self.config.max_positions:
            raise ReferenceError(f"{start + ids.shape[1]} text tokens exceed"
                                 f" max_position_embeddings {self.config.max_positions}")
        if ids.min() < 0 or ids.max() >= self.config.vocab_size:
            raise ReferenceError(f"token ids must lie in [0, {self.config.vocab_size})")
        return ids.astype(np.int64)

    def check_image_tokens(self, image_tokens: np.ndarray) -> np.ndarray:
        """Image tokens as float64 [B, N, D] ([N, D] becomes a batch of one)."""
        x = np.asarray(image_tokens, dtype=np.float64)
        if x.ndim == 2:
            x = x[None]
        n, d = self.config.image_tokens, self.config.decoder.hidden
        if x.ndim != 3 or x.shape[1:] != (n, d):
            raise ReferenceError(f"image tokens have shape {list(x.shape)}, expected"
                                 f" [B, {n}, {d}]")
        return x

    def text_embeddings(self, ids: np.ndarray, start: int = 0) -> np.ndarray:
        """LN(word + position) for ids [B, T] at text positions start..start+T-1."""
        p = self.decoder_params()
        ids = self.check_ids(ids, start)
        x = p["words"][ids] + p["positions"][start:start + ids.shape[1]]
        return layer_norm(x, p["ln_w"], p["ln_b"], self.config.decoder.eps)

    def head(self, states: np.ndarray) -> np.ndarray:
        """LM-head logits of text states [..., D] -> [..., V]."""
        p = self.decoder_params()
        return linear(states, p["head_w"], p["head_b"])

    def decoder_forward(self, image_tokens: np.ndarray, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Full (non-incremental) decoder over [image tokens ; text tokens].

        Returns text_embeddings [B, T, D], decoder_layer0 and decoder_hidden
        [B, N+T, D] and logits [B, T, V].  A single image or id row is
        broadcast against a batch of the other.
        """
        image = self.check_image_tokens(image_tokens)
        ids = self.check_ids(ids)
        b = max(image.shape[0], ids.shape[0])
        if image.shape[0] not in (1, b) or ids.shape[0] not in (1, b):
            raise ReferenceError(f"{image.shape[0]} images and {ids.shape[0]} id rows do not"
                                 " pair up (give equal counts, or one of either)")
        text = self.text_embeddings(ids)
        x = np.concatenate([np.broadcast_to(image, (b, *image.shape[1:])),
                            np.broadcast_to(text, (b, *text.shape[1:]))], axis=1)
        mask = git_attention_mask(image.shape[1], ids.shape[1])
        out = {"text_embeddings": text}
        for i, p in enumerate(self.decoder_params()["layers"]):
            x, _, _ = decoder_layer(x, p, self.config.decoder, None, None, mask)
            if i == 0:
                out["decoder_layer0"] = x
        out["decoder_hidden"] = x
        out["logits"] = self.head(x[:, image.shape[1]:])
        return out

    def logits(self, image_tokens: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """[B, T, V] logits of every text position (full recomputation)."""
        return self.decoder_forward(image_tokens, ids)["logits"]

    # -- incremental decoding -------------------------------------------------

    def start(self, image_tokens: np.ndarray) -> DecoderState:
        """KV cache holding the image rows (which never see text) for each image."""
        x = self.check_image_tokens(image_tokens)
        keys, values = [], []
        for p in self.decoder_params()["layers"]:
            x, k, v = decoder_layer(x, p, self.config.decoder, None, None, None)
            keys.append(k)
            values.append(v)
        return DecoderState(keys, values, 0)

    def step(self, state: DecoderState, ids: np.ndarray) -> np.ndarray:
        """Feed one token per sequence (ids [B]); update ``state``; logits [B, V]."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1, 1)
        if ids.shape[0] != state.keys[0].shape[0]:
            raise ReferenceError(f"{ids.shape[0]} tokens for a state of"
                                 f" {state.keys[0].shape[0]} sequences")
        x = self.text_embeddings(ids, state.text_length)
        for i, p in enumerate(self.decoder_params()["layers"]):
            x, state.keys[i], state.values[i] = decoder_layer(
                x, p, self.config.decoder, state.keys[i], state.values[i], None)
        state.text_length += 1
        return self.head(x[:, 0])

    def feed(self, state: DecoderState, ids: Sequence[int]) -> np.ndarray:
        """Feed a token sequence to a one-sequence state, one step at a time; last logits [V]."""
        if len(ids) == 0:
            raise ReferenceError("nothing to feed: the start sequence is empty")
        logits = None
        for token in ids:
            logits = self.step(state, np.array([token]))
        return logits[0]

    # -- generation -----------------------------------------------------------

    def start_ids(self, prefix_ids: Sequence[int]) -> list[int]:
        """[CLS] (bos_token_id) + prefix."""
        prefix = [int(t) for t in np.asarray(prefix_ids, dtype=np.int64).reshape(-1)]
        if prefix and (min(prefix) < 0 or max(prefix) >= self.config.vocab_size):
            raise ReferenceError(f"prefix ids must lie in [0, {self.config.vocab_size})")
        return [self.config.bos_token_id] + prefix

    def single_image(self, image_tokens: np.ndarray) -> np.ndarray:
        """Image tokens of exactly one image: [1, N, D]."""
        x = self.check_image_tokens(image_tokens)
        if x.shape[0] != 1:
            raise ReferenceError(f"generation takes one image at a time, got {x.shape[0]}")
        return x

    def greedy_from_tokens(self, image_tokens: np.ndarray, prefix_ids: Sequence[int] = (),
                           max_tokens: int = 20) -> Generation:
        """Greedy decoding after [CLS]+prefix: argmax (lower id on ties) until [SEP].

        At most max_tokens tokens (clipped by max_position_embeddings, see
        effective_max_tokens); the [SEP] is included in the result and in
        its length.  score = mean log-probability.
        """
        start = self.start_ids(prefix_ids)
        limit = effective_max_tokens(max_tokens, len(start), self.config.max_positions)
        state = self.start(self.single_image(image_tokens))
        logits = self.feed(state, start)
        tokens: list[int] = []
        total = 0.0
        for step in range(1, limit + 1):
            logprobs = log_softmax(logits)
            token = int(np.argmax(logits))
            tokens.append(token)
            total += float(logprobs[token])
            if token == self.config.eos_token_id:
                break
            if step < limit:
                logits = self.step(state, np.array([token]))[0]
        finished = tokens[-1] == self.config.eos_token_id
        return Generation(tokens, total, total / len(tokens), finished)

    def greedy_generate(self, pixels: np.ndarray, prefix_ids: Sequence[int] = (),
                        max_tokens: int = 20) -> Generation:
        """Greedy decoding of one image (pixels [3, S, S] or [1, 3, S, S])."""
        return self.greedy_from_tokens(self.encode_image(pixels), prefix_ids, max_tokens)

    def beam_from_tokens(self, image_tokens: np.ndarray, prefix_ids: Sequence[int] = (),
                         num_beams: int = 3, max_tokens: int = 20,
                         length_penalty: float = 1.0) -> Generation:
        """Beam search after [CLS]+prefix with the semantics of beam_search_core."""
        start = self.start_ids(prefix_ids)
        limit = effective_max_tokens(max_tokens, len(start), self.config.max_positions)
        stepper = CachedStepper(self, self.single_image(image_tokens), start)
        return beam_search_core(stepper, self.config.eos_token_id, num_beams, limit,
                                length_penalty)

    def beam_search(self, pixels: np.ndarray, prefix_ids: Sequence[int] = (),
                    num_beams: int = 3, max_tokens: int = 20,
                    length_penalty: float = 1.0) -> Generation:
        """Beam search for one image (see beam_search_core for the exact rules)."""
        return self.beam_from_tokens(self.encode_image(pixels), prefix_ids, num_beams,
                                     max_tokens, length_penalty)

    def answer(self, pixels: np.ndarray, question_ids: Sequence[int], max_tokens: int = 20,
               num_beams: int = 1, length_penalty: float = 1.0
               ) -> tuple[list[int], Generation]:
        """VQA (git-base-vqav2 format): generate after [CLS] + question tokens (no [SEP]).

        Returns the answer ids (the generated part after the question, without
        the final [SEP]) and the Generation.  question_ids must be tokenised
        without special tokens.
        """
        question = [int(t) for t in np.asarray(question_ids, dtype=np.int64).reshape(-1)]
        special = {self.config.bos_token_id, self.config.eos_token_id}
        if not question or special & set(question):
            raise ReferenceError("question ids must be non-empty and hold no [CLS]/[SEP]"
                                 " (tokenise without special tokens)")
        image = self.encode_image(pixels)
        if num_beams == 1:
            gen = self.greedy_from_tokens(image, question, max_tokens)
        else:
            gen = self.beam_from_tokens(image, question, num_beams, max_tokens, length_penalty)
        return gen.text_tokens(self.config.eos_token_id), gen


class CachedStepper:
    """Stepper over GitReference's KV cache (one cache row per live beam)."""

    def __init__(self, model: GitReference, image_tokens: np.ndarray, start: Sequence[int]):
        self.model = model
        self.state = model.start(image_tokens)
        self.current = log_softmax(model.feed(self.state, start))[None]

    def logprobs(self) -> np.ndarray:
        """[live, V] next-token log-probabilities."""
        return self.current

    def advance(self, parents: Sequence[int], tokens: Sequence[int]) -> None:
        """Reorder the cache rows to the parents, then feed one token per row."""
        self.state = self.state.select(parents)
        self.current = log_softmax(self.model.step(self.state, np.asarray(tokens)))


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def load_npy(path: str, what: str) -> np.ndarray:
    """np.load without pickles, with errors naming the file."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ReferenceError(f"{path}: cannot read {what} .npy: {e}") from e


def pack_generations(gens: list[Generation], name: str, width: int, pad: int
                     ) -> dict[str, np.ndarray]:
    """Generations as padded id rows plus lengths, sums, scores, finished flags."""
    ids = np.full((len(gens), width), pad, dtype=np.int64)
    for row, gen in enumerate(gens):
        ids[row, :len(gen.tokens)] = gen.tokens
    return {f"{name}_ids": ids,
            f"{name}_lengths": np.array([len(g.tokens) for g in gens], dtype=np.int64),
            f"{name}_sum_logprob": np.array([g.sum_logprob for g in gens]),
            f"{name}_score": np.array([g.score for g in gens]),
            f"{name}_finished": np.array([int(g.finished) for g in gens], dtype=np.int64)}


def compute_outputs(model: GitReference, pixels: np.ndarray, ids: np.ndarray | None,
                    prefix: np.ndarray, num_beams: int, max_tokens: int,
                    length_penalty: float) -> dict[str, np.ndarray]:
    """Every array of OUTPUT_KEYS for the given inputs."""
    out: dict[str, np.ndarray] = dict(model.vision_forward(pixels))
    image = model.project(out["vision_last"])
    out["image_tokens"] = image
    if ids is not None:
        out.update(model.decoder_forward(image, ids))
        out["ids"] = np.broadcast_to(model.check_ids(ids), out["logits"].shape[:2]).copy()
    pad = model.config.pad_token_id
    greedy = [model.greedy_from_tokens(image[i:i + 1], prefix, max_tokens)
              for i in range(image.shape[0])]
    beams = [model.beam_from_tokens(image[i:i + 1], prefix, num_beams, max_tokens,
                                    length_penalty) for i in range(image.shape[0])]
    out.update(pack_generations(greedy, "greedy", max_tokens, pad))
    out.update(pack_generations(beams, "beam", max_tokens, pad))
    out["prefix"] = np.asarray(prefix, dtype=np.int64).reshape(-1)
    out["generation_params"] = np.array([num_beams, max_tokens, length_penalty])
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        description="float64 numpy reference of the HF GitForCausalLM (GIT): image tokens,"
                    " logits, greedy and beam-search outputs to an .npz.",
        epilog="Output arrays: " + "; ".join(f"{k} {v}" for k, v in OUTPUT_KEYS.items()))
    parser.add_argument("model_dir", metavar="MODEL_DIR",
                        help="folder with config.json and model.safetensors")
    parser.add_argument("--pixels", metavar="P.npy", required=True,
                        help="preprocessed images [B, 3, S, S]")
    parser.add_argument("--ids", metavar="I.npy",
                        help="token ids [B, T] or [T] (usually starting with [CLS]) for logits")
    parser.add_argument("--prefix", metavar="Q.npy",
                        help="generation prefix after [CLS] [L], e.g. VQA question tokens"
                             " (default: none, captioning)")
    parser.add_argument("--out", metavar="OUT.npz", required=True, help="file to write")
    parser.add_argument("--num-beams", type=int, default=3, help="beam width (default: 3)")
    parser.add_argument("--max-tokens", type=int, default=20,
                        help="most generated tokens, incl. [SEP] (default: 20)")
    parser.add_argument("--length-penalty", type=float, default=1.0,
                        help="beam score = sum_logprob / length ** P (default: 1.0)")
    parser.add_argument("--float32", action="store_true",
                        help="store float outputs as float32 (computation stays float64)")
    args = parser.parse_args(argv)
    try:
        model = GitReference(args.model_dir)
        pixels = load_npy(args.pixels, "pixel")
        ids = load_npy(args.ids, "token id") if args.ids else None
        prefix = load_npy(args.prefix, "prefix id") if args.prefix else np.zeros(0, np.int64)
        if prefix.dtype.kind not in "iu":
            raise ReferenceError(f"{args.prefix}: prefix ids must be integers, got {prefix.dtype}")
        out = compute_outputs(model, pixels, ids, prefix, args.num_beams, args.max_tokens,
                              args.length_penalty)
        if args.float32:
            out = {k: v.astype(np.float32) if v.dtype == np.float64 else v
                   for k, v in out.items()}
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
