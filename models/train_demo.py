#!/usr/bin/env python3
"""Train the demo CLIP and GIT models on synthetic scenes and export them as
Hugging Face folders (the layout of openai/clip-vit-* and microsoft/git-base*).

Both models see the scenes of models/scenes.py at 64x64 (patch 8, 64 patches):

* CLIP (CLIPModel): ViT 128 wide x 4 layers, text 128 wide x 4 layers,
  quick_gelu, projection 128.  Loss: multi-positive InfoNCE between images
  and texts (captions or colour+shape labels, plain or in "a photo of {}"),
  plus a softmax over all 32 labels and a per-label sigmoid on the cosine
  (so detect mode has a usable threshold, ~0.3).
* GIT (GitForCausalLM): image encoder of the CLIP vision geometry trained
  from scratch with it (the two models train independently, so both fit in
  one run on two cores; --clip starts it from a CLIP folder instead),
  Linear+LayerNorm projection, 4 BERT post-LN decoder layers 128 wide (GELU erf, eps 1e-12).  Loss: next-token cross-entropy on
  captions ([CLS] caption [SEP]) and VQA in the git-base-vqav2 format
  ([CLS] question answer [SEP], loss on the answer and [SEP] only).

Training images are rendered at 64x64 directly, or at 320x240 and reduced
the way the engine does it (short side to 64 with antialiased bicubic, centre
crop; PIL's BICUBIC with reducing_gap=None), some of those through a YUV
4:2:0 round trip; normalised with the CLIP mean/std.  Everything is
deterministic given --seed (fixed data order, seeded augmentation, two
threads, deterministic algorithms).

Tokenizers are built here: CLIP gets the real CLIP byte-level BPE restricted
to the merges our words use (byte symbols kept, so any text still
tokenises), GIT a small BERT-style WordPiece vocab.txt.

Commands:
    train_demo.py clip --seed 0 --out models/demo/clip
    train_demo.py git --seed 0 --out models/demo/git   (--clip DIR: start from its vision tower)
    train_demo.py eval --clip models/demo/clip --git models/demo/git --seed 1000
    train_demo.py all --seed 0 --out models/demo     (the three above, metrics.json)

Exports are checked against the numpy references (tests/clip_reference.py,
tests/git_reference.py): same top-1 labels / same greedy tokens as torch.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent
TESTS_DIR = MODELS_DIR.parent / "tests"
sys.path.insert(0, str(MODELS_DIR))
sys.path.insert(0, str(TESTS_DIR))
import make_clip_checkpoint as mcc  # noqa: E402
import make_git_checkpoint as mgc  # noqa: E402
import safetensors_io  # noqa: E402
import scenes  # noqa: E402
import clip_tokenizer_ref  # noqa: E402

IMAGE_SIZE = 64
PATCH = 8
BIG_RENDER = (320, 240)            # the demo video's frame size
MEAN = np.array(mcc.IMAGE_MEAN, dtype=np.float32)
STD = np.array(mcc.IMAGE_STD, dtype=np.float32)
EVAL_SEED = 1000                   # held-out scenes: never used for training
TEMPLATES = ("{}", "a photo of {}")
DETECT_THRESHOLD = 0.3             # cosine the detect loss centres on

CLIP_GEOMETRY = mcc.Geometry(vision_hidden=128, vision_layers=4, vision_heads=2,
                             vision_mlp=512, image_size=IMAGE_SIZE, patch_size=PATCH,
                             text_hidden=128, text_layers=4, text_heads=2, text_mlp=512,
                             max_positions=77, projection_dim=128, act="quick_gelu")
GIT_HIDDEN, GIT_LAYERS, GIT_HEADS, GIT_MLP, GIT_POSITIONS = 128, 4, 2, 512, 128
GIT_TEXT_LEN = 20                  # [CLS] + at most 18 caption tokens + [SEP]


class TrainError(Exception):
    """Bad arguments, missing inputs or a failed export check."""


def torch_module(threads: int = 1):
    """Import torch (Debian's python3-torch) with `threads` threads and determinism.

    One thread by default: on this shared 2-core machine two OpenMP threads
    were up to 5x slower than one (each waits for the other to be scheduled)."""
    try:
        import torch
    except ImportError as e:
        raise TrainError("needs PyTorch: apt-get install python3-torch (run with"
                         " /usr/bin/python3)") from e
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    return torch


# ---------------------------------------------------------------------------
# Words of the domain
# ---------------------------------------------------------------------------

EXTRA_WORDS = ("a an the of on and is are there what how many color colour shape "
               "background photo picture image zero one two three four five yes no "
               "object objects small large big red green blue yellow purple orange white "
               "black gray grey circle circles square squares triangle triangles star stars "
               "in with this that it").split()


def domain_texts() -> list[str]:
    """Texts whose words the tokenizers must know: labels, questions, templates, extras."""
    texts = list(scenes.all_labels()) + [" ".join(EXTRA_WORDS), "a photo of , ?"]
    probe = scenes.Scene("gray", [scenes.Obj(s, c, "small", 0.5, 0.5, 0.06)
                                  for s in scenes.SHAPES for c in ("red",)])
    texts += [qa["question"] for qa in probe.qa(every_probe=True)]
    return texts


# ---------------------------------------------------------------------------
# CLIP tokenizer: the real BPE restricted to the merges our words use
# ---------------------------------------------------------------------------

def bpe_with_merges(symbols: list[str], ranks: dict[tuple[str, str], int]
                    ) -> tuple[list[str], set[tuple[str, str]]]:
    """CLIP BPE of one word's symbols; also returns the merges applied."""
    symbols = list(symbols[:-1]) + [symbols[-1] + "</w>"]
    used: set[tuple[str, str]] = set()
    while len(symbols) > 1:
        pairs = [(ranks.get((a, b)), (a, b)) for a, b in zip(symbols, symbols[1:])]
        known = [p for p in pairs if p[0] is not None]
        if not known:
            break
        pair = min(known)[1]
        used.add(pair)
        merged, k = [], 0
        while k < len(symbols):
            if k + 1 < len(symbols) and (symbols[k], symbols[k + 1]) == pair:
                merged.append(pair[0] + pair[1])
                k += 2
            else:
                merged.append(symbols[k])
                k += 1
        symbols = merged
    return symbols, used


def clip_vocabulary(bpe_path: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """(vocab in id order, merges in rank order) covering the domain words.

    Vocabulary: the 256 byte symbols, the same with </w>, the merges the
    domain words use (original rank order), then <|startoftext|>, <|endoftext|>.
    Restricting to the merges that fire keeps every domain word's BPE result
    identical to the full vocabulary's (relative ranks are unchanged)."""
    merges = mcc.read_bpe_merges(bpe_path)
    ranks = {pair: i for i, pair in enumerate(merges)}
    byte_symbol = dict(clip_tokenizer_ref.byte_symbols())
    used: set[tuple[str, str]] = set()
    for text in domain_texts():
        for piece in clip_tokenizer_ref.Tokenizer.split(clip_tokenizer_ref.Tokenizer.clean(text)):
            symbols = [byte_symbol[b] for b in piece.encode("utf-8")]
            used |= bpe_with_merges(symbols, ranks)[1]
    kept = [m for m in merges if m in used]
    base = mcc.byte_symbols()
    vocab = base + [s + "</w>" for s in base] + ["".join(m) for m in kept] + [mcc.SOT, mcc.EOT]
    if len(set(vocab)) != len(vocab):
        raise TrainError("the restricted BPE vocabulary has duplicate tokens")
    return vocab, kept


def check_clip_tokenizer(folder: Path, bpe_path: Path, texts: list[str]) -> None:
    """The folder's vocab.json/merges.txt split texts into the same strings as the full BPE."""
    small = clip_tokenizer_ref.Tokenizer(str(folder))
    full = clip_tokenizer_ref.Tokenizer(str(bpe_path))
    small_names = {i: s for s, i in small.encoder.items()}
    full_names = {i: s for s, i in full.encoder.items()}
    for text in texts:
        a = [small_names[i] for i in small.encode(text)]
        b = [full_names[i] for i in full.encode(text)]
        if a != b:
            raise TrainError(f"{folder}: {text!r} tokenises as {a}, the full CLIP BPE gives {b}")


class ClipTexts:
    """Token ids of texts with the exported tokenizer (cached)."""

    def __init__(self, folder: Path):
        self.tok = clip_tokenizer_ref.Tokenizer(str(folder))
        self.cache: dict[str, list[int]] = {}

    def ids(self, text: str) -> list[int]:
        """[sot] + BPE ids + [eot]."""
        if text not in self.cache:
            self.cache[text] = [self.tok.sot] + self.tok.encode(text) + [self.tok.eot]
        return self.cache[text]

    def batch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids [B, L] padded with eot, eot positions [B])."""
        seqs = [self.ids(t) for t in texts]
        width = max(len(s) for s in seqs)
        out = np.full((len(seqs), width), self.tok.eot, dtype=np.int64)
        for k, s in enumerate(seqs):
            out[k, :len(s)] = s
        return out, np.array([len(s) - 1 for s in seqs], dtype=np.int64)


# ---------------------------------------------------------------------------
# GIT tokenizer: a small WordPiece vocabulary
# ---------------------------------------------------------------------------

PUNCTUATION = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def git_vocabulary() -> list[str]:
    """BERT-style vocab.txt lines: [PAD]=0, [unused0..98], [UNK]=100, [CLS]=101,
    [SEP]=102, [MASK]=103, punctuation, digits, letters, ##letters, domain words."""
    words = sorted({w for text in domain_texts() for w in basic_tokens(text)} - set(PUNCTUATION))
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    digits = [str(d) for d in range(10)]
    tokens = (["[PAD]"] + [f"[unused{i}]" for i in range(99)]
              + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"] + PUNCTUATION + digits + chars
              + ["##" + c for c in chars + digits])
    tokens += [w for w in words if w not in tokens]
    return tokens


def basic_tokens(text: str) -> list[str]:
    """BERT basic tokenisation for ASCII text: lower-case, split on spaces and punctuation."""
    out: list[str] = []
    for word in text.lower().split():
        current = ""
        for ch in word:
            if ch in PUNCTUATION:
                if current:
                    out.append(current)
                out.append(ch)
                current = ""
            else:
                current += ch
        if current:
            out.append(current)
    return out


class WordPiece:
    """Greedy longest-match WordPiece over a vocab list (ASCII domain text)."""

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.ids = {t: i for i, t in enumerate(tokens)}
        self.cls, self.sep, self.pad = self.ids["[CLS]"], self.ids["[SEP]"], self.ids["[PAD]"]

    def word_ids(self, word: str) -> list[int]:
        """WordPiece ids of one basic token ([UNK] if it cannot be split)."""
        out, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    out.append(self.ids[piece])
                    break
                end -= 1
            else:
                return [self.ids["[UNK]"]]
            start = end
        return out

    def encode(self, text: str) -> list[int]:
        """Ids of a text without special tokens."""
        return [i for word in basic_tokens(text) for i in self.word_ids(word)]

    def decode(self, ids: list[int]) -> str:
        """Text of ids: ## pieces joined, no space before punctuation, specials dropped."""
        text = ""
        for i in ids:
            tok = self.tokens[i]
            if tok.startswith("[") and tok.endswith("]"):
                continue
            if tok.startswith("##"):
                text += tok[2:]
            elif tok in PUNCTUATION or not text:
                text += tok
            else:
                text += " " + tok
        return text


# ---------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------

def engine_resize(img: np.ndarray, size: int) -> np.ndarray:
    """Short side to size (PIL BICUBIC, reducing_gap=None), long side floor(size*long/short),
    centre crop with offset (resized - size) // 2: what the engine does."""
    from PIL import Image
    h, w = img.shape[:2]
    if h <= w:
        nh, nw = size, int(size * w / h)
    else:
        nh, nw = int(size * h / w), size
    resized = np.asarray(Image.fromarray(img).resize((nw, nh), Image.BICUBIC, reducing_gap=None))
    oy, ox = (nh - size) // 2, (nw - size) // 2
    return resized[oy:oy + size, ox:ox + size]


def yuv420_roundtrip(img: np.ndarray) -> np.ndarray:
    """RGB -> BT.601 limited-range YCbCr with 2x2-averaged chroma -> RGB (video-like)."""
    x = img.astype(np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    cb = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    cr = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    h, w = y.shape
    y = np.rint(y)

    def sub(c: np.ndarray) -> np.ndarray:
        c = np.rint(c[:h - h % 2, :w - w % 2].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)))
        c = np.repeat(np.repeat(c, 2, axis=0), 2, axis=1)
        return np.pad(c, ((0, h % 2), (0, w % 2)), mode="edge")

    cb, cr = sub(cb) - 128, sub(cr) - 128
    yy = 1.164 * (y - 16)
    rgb = np.stack([yy + 1.596 * cr, yy - 0.392 * cb - 0.813 * cr, yy + 2.017 * cb], axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def scene_image(scene: scenes.Scene, mode: str) -> np.ndarray:
    """uint8 [S, S, 3] model input: 'direct' render, 'big' (320x240 reduced) or 'big-yuv'."""
    if mode == "direct":
        return scenes.render(scene, IMAGE_SIZE)
    frame = scenes.render(scene, *BIG_RENDER)
    if mode == "big-yuv":
        frame = yuv420_roundtrip(frame)
    return engine_resize(frame, IMAGE_SIZE)


def render_mode(index: int) -> str:
    """Half direct renders, a quarter big, a quarter big through YUV 4:2:0."""
    return ("direct", "big", "direct", "big-yuv")[index % 4]


@dataclass
class SceneSet:
    """Rendered scenes: images uint8 [N, S, S, 3], their Scene objects and the
    per-patch object labels [N, (S/P)^2] (scenes.patch_labels; 32 = background)."""

    images: np.ndarray
    scenes: list[scenes.Scene]
    patches: np.ndarray | None = None


def render_set(seed: int, count: int, log: bool = True) -> SceneSet:
    """Scenes 0..count-1 of seed, rendered with render_mode(i)."""
    started = time.monotonic()
    images = np.empty((count, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    patches = np.empty((count, (IMAGE_SIZE // PATCH) ** 2), dtype=np.int64)
    items = []
    for i in range(count):
        scene = scenes.sample_scene(seed, i)
        images[i] = scene_image(scene, render_mode(i))
        patches[i] = scenes.patch_labels(scene, IMAGE_SIZE, PATCH)
        items.append(scene)
    if log:
        print(f"rendered {count} scenes of seed {seed} in {time.monotonic() - started:.0f} s",
              flush=True)
    return SceneSet(images, items, patches)


def to_pixels(torch, images: np.ndarray):
    """uint8 [B, S, S, 3] -> normalised float tensor [B, 3, S, S]."""
    x = torch.from_numpy(images).float().div_(255.0)
    x = (x - torch.from_numpy(MEAN)) / torch.from_numpy(STD)
    return x.permute(0, 3, 1, 2).contiguous()


def augment(torch, images: np.ndarray, patches: np.ndarray, gen):
    """(normalised pixels, patch labels) with random horizontal flips (labels flipped
    too), brightness/contrast jitter and noise."""
    x = torch.from_numpy(images).float().div_(255.0)
    b, grid = x.shape[0], IMAGE_SIZE // PATCH
    flip = torch.rand(b, generator=gen) < 0.5
    x[flip] = x[flip].flip(2)
    labels = torch.from_numpy(patches).view(b, grid, grid).clone()
    labels[flip] = labels[flip].flip(2)
    gain = 1 + 0.08 * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5)
    shift = 0.04 * (torch.rand(b, 1, 1, 1, generator=gen) - 0.5)
    x = (x * gain + shift + 0.01 * torch.randn(x.shape, generator=gen)).clamp_(0, 1)
    x = (x - torch.from_numpy(MEAN)) / torch.from_numpy(STD)
    return x.permute(0, 3, 1, 2).contiguous(), labels.view(b, -1)


# ---------------------------------------------------------------------------
# Torch modules (submodule names = the Hugging Face tensor names)
# ---------------------------------------------------------------------------

def sincos_positions(torch, grid: int, d: int):
    """[grid*grid + 1, d] 2-D sine/cosine position table (class token row zero), scaled
    to std ~0.5: a locality prior that speeds up ViT training on little data."""
    pos = torch.zeros(grid * grid + 1, d)
    quarter = d // 4
    freq = 1.0 / (100.0 ** (torch.arange(quarter, dtype=torch.float32) / quarter))
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float32),
                            torch.arange(grid, dtype=torch.float32), indexing="ij")
    ang_y = ys.reshape(-1, 1) * freq
    ang_x = xs.reshape(-1, 1) * freq
    pos[1:] = torch.cat([ang_y.sin(), ang_y.cos(), ang_x.sin(), ang_x.cos()], dim=1)
    return pos * 0.5


def build_modules(torch):
    """Define the model classes (torch is imported lazily)."""
    nn, F = torch.nn, torch.nn.functional

    def quick_gelu(x):
        return x * torch.sigmoid(1.702 * x)

    def attend(q, k, v, heads, mask):
        """Scaled dot-product attention; q [B,T,D], k/v [B,S,D], additive mask [T,S]."""
        b, t, d = q.shape
        s, hd = k.shape[1], d // heads
        q = q.view(b, t, heads, hd).transpose(1, 2)
        k = k.view(b, s, heads, hd).transpose(1, 2)
        v = v.view(b, s, heads, hd).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) * hd ** -0.5
        if mask is not None:
            scores = scores + mask
        return (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)

    class ClipAttention(nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.heads = heads
            self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d)
            self.v_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)

        def forward(self, x, mask=None):
            return self.out_proj(attend(self.q_proj(x), self.k_proj(x), self.v_proj(x),
                                        self.heads, mask))

    class ClipMlp(nn.Module):
        def __init__(self, d, m):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(d, m), nn.Linear(m, d)

        def forward(self, x):
            return self.fc2(quick_gelu(self.fc1(x)))

    class ClipLayer(nn.Module):
        """Pre-LN block: x += attn(ln1(x)); x += mlp(ln2(x))."""

        def __init__(self, d, heads, m):
            super().__init__()
            self.self_attn = ClipAttention(d, heads)
            self.layer_norm1 = nn.LayerNorm(d, eps=1e-5)
            self.mlp = ClipMlp(d, m)
            self.layer_norm2 = nn.LayerNorm(d, eps=1e-5)

        def forward(self, x, mask=None):
            x = x + self.self_attn(self.layer_norm1(x), mask)
            return x + self.mlp(self.layer_norm2(x))

    class Encoder(nn.Module):
        def __init__(self, d, heads, m, layers):
            super().__init__()
            self.layers = nn.ModuleList([ClipLayer(d, heads, m) for _ in range(layers)])

        def forward(self, x, mask=None):
            for layer in self.layers:
                x = layer(x, mask)
            return x

    class VisionEmbeddings(nn.Module):
        def __init__(self, d, size, patch):
            super().__init__()
            self.class_embedding = nn.Parameter(torch.randn(d) * d ** -0.5)
            self.patch_embedding = nn.Conv2d(3, d, patch, stride=patch, bias=False)
            self.position_embedding = nn.Embedding((size // patch) ** 2 + 1, d)
            with torch.no_grad():
                self.position_embedding.weight.copy_(sincos_positions(torch, size // patch, d))

        def forward(self, pixels):
            x = self.patch_embedding(pixels).flatten(2).transpose(1, 2)
            cls = self.class_embedding.expand(x.shape[0], 1, -1)
            return torch.cat([cls, x], dim=1) + self.position_embedding.weight

    class VisionTower(nn.Module):
        """CLIP ViT; returns post_layernorm of every token (CLIP pools token 0)."""

        def __init__(self, g):
            super().__init__()
            d = g.vision_hidden
            self.embeddings = VisionEmbeddings(d, g.image_size, g.patch_size)
            self.pre_layrnorm = nn.LayerNorm(d, eps=1e-5)
            self.encoder = Encoder(d, g.vision_heads, g.vision_mlp, g.vision_layers)
            self.post_layernorm = nn.LayerNorm(d, eps=1e-5)

        def forward(self, pixels):
            x = self.pre_layrnorm(self.embeddings(pixels))
            return self.post_layernorm(self.encoder(x))

    class TextEmbeddings(nn.Module):
        def __init__(self, vocab, d, positions):
            super().__init__()
            self.token_embedding = nn.Embedding(vocab, d)
            self.position_embedding = nn.Embedding(positions, d)
            nn.init.normal_(self.token_embedding.weight, std=0.02)
            nn.init.normal_(self.position_embedding.weight, std=0.01)

        def forward(self, ids):
            return self.token_embedding(ids) + self.position_embedding.weight[:ids.shape[1]]

    class TextTower(nn.Module):
        def __init__(self, g, vocab):
            super().__init__()
            d = g.text_hidden
            self.embeddings = TextEmbeddings(vocab, d, g.max_positions)
            self.encoder = Encoder(d, g.text_heads, g.text_mlp, g.text_layers)
            self.final_layer_norm = nn.LayerNorm(d, eps=1e-5)

        def forward(self, ids, eot):
            t = ids.shape[1]
            mask = torch.full((t, t), float("-inf")).triu(1)
            x = self.final_layer_norm(self.encoder(self.embeddings(ids), mask))
            return x[torch.arange(ids.shape[0]), eot]

    class Clip(nn.Module):
        def __init__(self, g, vocab):
            super().__init__()
            self.vision_model = VisionTower(g)
            self.text_model = TextTower(g, vocab)
            self.visual_projection = nn.Linear(g.vision_hidden, g.projection_dim, bias=False)
            self.text_projection = nn.Linear(g.text_hidden, g.projection_dim, bias=False)
            self.logit_scale = nn.Parameter(torch.tensor(mcc.LOGIT_SCALE_INIT))

        def encode_image(self, pixels):
            return F.normalize(self.visual_projection(self.vision_model(pixels)[:, 0]), dim=-1)

        def encode_text(self, ids, eot):
            return F.normalize(self.text_projection(self.text_model(ids, eot)), dim=-1)

    # -- GIT ------------------------------------------------------------------

    class GitSelfAttention(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)

    class DenseNorm(nn.Module):
        def __init__(self, n_in, d):
            super().__init__()
            self.dense = nn.Linear(n_in, d)
            self.LayerNorm = nn.LayerNorm(d, eps=1e-12)

    class GitAttention(nn.Module):
        def __init__(self, d):
            super().__init__()
            setattr(self, "self", GitSelfAttention(d))
            self.output = DenseNorm(d, d)

    class Intermediate(nn.Module):
        def __init__(self, d, m):
            super().__init__()
            self.dense = nn.Linear(d, m)

    class GitLayer(nn.Module):
        """BERT post-LN layer; extra keys/values (the image rows') may be prepended."""

        def __init__(self, d, heads, m):
            super().__init__()
            self.heads = heads
            self.attention = GitAttention(d)
            self.intermediate = Intermediate(d, m)
            self.output = DenseNorm(m, d)

        def forward(self, x, extra=None, mask=None):
            sa = self.attention._modules["self"]
            k, v = sa.key(x), sa.value(x)
            kk, vv = (k, v) if extra is None else (torch.cat([extra[0], k], 1),
                                                   torch.cat([extra[1], v], 1))
            ctx = attend(sa.query(x), kk, vv, self.heads, mask)
            out = self.attention.output
            a = out.LayerNorm(x + out.dense(ctx))
            h = F.gelu(self.intermediate.dense(a))
            return self.output.LayerNorm(a + self.output.dense(h)), k, v

    class GitEmbeddings(nn.Module):
        def __init__(self, vocab, d, positions):
            super().__init__()
            self.word_embeddings = nn.Embedding(vocab, d)
            self.position_embeddings = nn.Embedding(positions, d)
            self.LayerNorm = nn.LayerNorm(d, eps=1e-12)
            nn.init.normal_(self.word_embeddings.weight, std=0.02)
            nn.init.normal_(self.position_embeddings.weight, std=0.02)

        def forward(self, ids):
            return self.LayerNorm(self.word_embeddings(ids)
                                  + self.position_embeddings.weight[:ids.shape[1]])

    class ImageEncoder(nn.Module):
        def __init__(self, g):
            super().__init__()
            self.vision_model = VisionTower(g)

    class VisualProjection(nn.Module):
        def __init__(self, dv, d):
            super().__init__()
            self.visual_projection = nn.Sequential(nn.Linear(dv, d), nn.LayerNorm(d, eps=1e-5))

    class GitCore(nn.Module):
        def __init__(self, g, vocab):
            super().__init__()
            self.embeddings = GitEmbeddings(vocab, GIT_HIDDEN, GIT_POSITIONS)
            self.image_encoder = ImageEncoder(g)
            self.visual_projection = VisualProjection(g.vision_hidden, GIT_HIDDEN)
            self.encoder = nn.Module()
            self.encoder.layer = nn.ModuleList([GitLayer(GIT_HIDDEN, GIT_HEADS, GIT_MLP)
                                                for _ in range(GIT_LAYERS)])

    class Git(nn.Module):
        """GitForCausalLM: image rows computed once, any number of texts per image."""

        def __init__(self, g, vocab):
            super().__init__()
            self.git = GitCore(g, vocab)
            self.output = nn.Linear(GIT_HIDDEN, vocab)

        def image_states(self, pixels=None, tokens=None):
            """Per decoder layer the image rows' keys and values: list of (k, v).

            tokens: the vision tower's output if already computed."""
            if tokens is None:
                tokens = self.git.image_encoder.vision_model(pixels)
            x = self.git.visual_projection.visual_projection(tokens)
            kvs = []
            for layer in self.git.encoder.layer:
                x, k, v = layer(x)
                kvs.append((k, v))
            return kvs

        def text_logits(self, kvs, ids, owner):
            """Logits [M, T, V] of texts ids [M, T]; owner[m] = the image row of text m."""
            t, n_img = ids.shape[1], kvs[0][0].shape[1]
            mask = torch.cat([torch.zeros(t, n_img),
                              torch.full((t, t), float("-inf")).triu(1)], dim=1)
            x = self.git.embeddings(ids)
            for layer, (k, v) in zip(self.git.encoder.layer, kvs):
                x, _, _ = layer(x, (k[owner], v[owner]), mask)
            return self.output(x)

    return Clip, Git


# ---------------------------------------------------------------------------
# Optimisation helpers
# ---------------------------------------------------------------------------

def make_optimizer(torch, model, lr: float, weight_decay: float, scaled: dict | None = None):
    """AdamW; no decay on biases, norms, embeddings and the logit scale.

    ``scaled`` maps a parameter-name prefix to a learning-rate factor."""
    groups: dict[tuple[bool, float], list] = {}
    for name, p in model.named_parameters():
        no_decay = (p.ndim < 2 or "embedding" in name or "LayerNorm" in name
                    or "norm" in name.lower())
        factor = 1.0
        for prefix, f in (scaled or {}).items():
            if name.startswith(prefix):
                factor = f
        groups.setdefault((no_decay, factor), []).append(p)
    params = [{"params": ps, "weight_decay": 0.0 if nd else weight_decay, "lr_factor": f}
              for (nd, f), ps in groups.items()]
    return torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.98), eps=1e-6)


def set_lr(optimizer, base: float, step: int, total: int, warmup: int) -> float:
    """Linear warm-up then cosine decay to zero; returns the base rate of this step."""
    if step < warmup:
        lr = base * (step + 1) / warmup
    else:
        lr = base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_factor"]
    return lr


def epoch_order(seed: int, count: int, steps: int, batch: int) -> np.ndarray:
    """Scene indices for every step [steps, batch]: shuffled epochs, fixed by seed."""
    rng = np.random.default_rng([seed, 77])
    needed = steps * batch
    order = np.concatenate([rng.permutation(count) for _ in range(needed // count + 1)])
    return order[:needed].reshape(steps, batch)


# ---------------------------------------------------------------------------
# CLIP training
# ---------------------------------------------------------------------------

PAIR_INDEX = {pair: k for k, pair in enumerate(scenes.label_pairs())}


def presence(items: list[scenes.Scene]) -> np.ndarray:
    """[N, 32] bool: colour+shape pair present."""
    out = np.zeros((len(items), len(PAIR_INDEX)), dtype=bool)
    for i, s in enumerate(items):
        for pair in s.pair_counts():
            out[i, PAIR_INDEX[pair]] = True
    return out


def label_text(pair: tuple[str, str], rng: np.random.Generator) -> str:
    """A label phrase for a pair, sometimes without the article, in a random template."""
    label = scenes.label_of(*pair)
    if rng.random() < 0.2:
        label = f"{pair[0]} {pair[1]}"
    return TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(label)


def clip_batch_texts(items: list[scenes.Scene], idx: np.ndarray, pres: np.ndarray,
                     rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """One text per image (caption or one of its labels) and the positive matrix [B, B]."""
    texts, kinds = [], []
    for i in idx:
        s = items[i]
        if rng.random() < 0.5:
            texts.append(TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(s.caption()))
            kinds.append(("caption", s.caption()))
        else:
            pairs = sorted(s.pair_counts())
            pair = pairs[int(rng.integers(len(pairs)))]
            texts.append(label_text(pair, rng))
            kinds.append(("label", pair))
    positive = np.zeros((len(idx), len(idx)), dtype=bool)
    captions = [items[i].caption() for i in idx]
    for j, (kind, value) in enumerate(kinds):
        if kind == "caption":
            positive[:, j] = [c == value for c in captions]
        else:
            positive[:, j] = pres[idx, PAIR_INDEX[value]]
    return texts, positive


def multi_positive_ce(torch, logits, positive):
    """Cross-entropy of log-softmax rows against uniform targets over the positives."""
    target = positive.float()
    target = target / target.sum(1, keepdim=True)
    return -(target * logits.log_softmax(1)).sum(1).mean()


def patch_loss(torch, head, tokens, labels, background_weight: float = 1.0):
    """Cross-entropy of the per-patch object labels from the patch tokens (not the class
    token) through a training-only linear head; background patches (most of them)
    weigh background_weight."""
    logits = head(tokens[:, 1:])
    weight = torch.ones(logits.shape[-1])
    weight[-1] = background_weight
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                             labels.reshape(-1), weight=weight)


def clip_loss(torch, model, head, pixels, patches, ids, eot, positive, label_ids, label_eot,
              label_present, background_weight: float = 1.0):
    """InfoNCE both ways + softmax over all labels + per-label detect sigmoid + patch labels."""
    F = torch.nn.functional
    tokens = model.vision_model(pixels)
    img = F.normalize(model.visual_projection(tokens[:, 0]), dim=-1)
    txt = model.encode_text(ids, eot)
    lab = model.encode_text(label_ids, label_eot)
    scale = model.logit_scale.clamp(max=math.log(100)).exp()
    logits = scale * img @ txt.t()
    pos = torch.from_numpy(positive)
    contrast = 0.5 * (multi_positive_ce(torch, logits, pos)
                      + multi_positive_ce(torch, logits.t(), pos.t()))
    cos = img @ lab.t()
    present = torch.from_numpy(label_present)
    labels = multi_positive_ce(torch, scale * cos, present)
    detect = F.binary_cross_entropy_with_logits(20 * (cos - DETECT_THRESHOLD), present.float())
    dense = patch_loss(torch, head, tokens, patches, background_weight)
    return (contrast + labels + 0.5 * detect + dense,
            (contrast.item(), labels.item(), detect.item(), dense.item()))


def clip_label_batch(texts: ClipTexts, rng: np.random.Generator):
    """All 32 labels in one random template: ids, eot positions."""
    template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
    return texts.batch([template.format(label) for label in scenes.all_labels()])


def train_clip(torch, data: SceneSet, texts: ClipTexts, vocab_size: int, args) -> object:
    """Train the CLIP model; returns it."""
    Clip, _ = build_modules(torch)
    torch.manual_seed(args.seed)
    model = Clip(CLIP_GEOMETRY, vocab_size)
    head = torch.nn.Linear(CLIP_GEOMETRY.vision_hidden, len(PAIR_INDEX) + 1)
    both = torch.nn.ModuleDict({"model": model, "head": head})
    opt = make_optimizer(torch, both, args.lr, 0.05)
    order = epoch_order(args.seed, len(data.scenes), args.steps, args.batch)
    pres = presence(data.scenes)
    rng = np.random.default_rng([args.seed, 1])
    gen = torch.Generator().manual_seed(args.seed)
    started = time.monotonic()
    for step in range(args.steps):
        idx = order[step]
        lr = set_lr(opt, args.lr, step, args.steps, args.warmup)
        batch_texts, positive = clip_batch_texts(data.scenes, idx, pres, rng)
        ids, eot = texts.batch(batch_texts)
        label_ids, label_eot = clip_label_batch(texts, rng)
        pixels, patches = augment(torch, data.images[idx], data.patches[idx], gen)
        loss, parts = clip_loss(torch, model, head, pixels, patches,
                                torch.from_numpy(ids), torch.from_numpy(eot), positive,
                                torch.from_numpy(label_ids), torch.from_numpy(label_eot),
                                pres[idx], args.background_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(both.parameters(), 1.0)
        opt.step()
        if step % args.log_every == 0 or step == args.steps - 1:
            print(f"clip step {step:5d} lr {lr:.2e} loss {loss.item():.3f} (contrast"
                  f" {parts[0]:.3f} labels {parts[1]:.3f} detect {parts[2]:.3f}"
                  f" patches {parts[3]:.3f})"
                  f" scale {model.logit_scale.exp().item():.1f}"
                  f" {time.monotonic() - started:.0f} s", flush=True)
        if args.watch and (step + 1) % args.watch == 0:
            watch_clip(torch, model, texts, args)
    return model


def watch_clip(torch, model, texts: ClipTexts, args) -> None:
    """Print torch top-1 on 256 held-out video-like scenes (progress only)."""
    data = eval_set(args.eval_seed, 256)["video"]
    model.eval()
    best = clip_predictions_torch(torch, model, texts, data, TEMPLATES[1])
    model.train()
    print(f"   watch: held-out top-1 {clip_metrics(best, None, data)}", flush=True)


# ---------------------------------------------------------------------------
# GIT training
# ---------------------------------------------------------------------------

QUESTION_WEIGHTS = {"color": 0.25, "count": 0.3, "yesno": 0.25, "shape": 0.15,
                    "background": 0.05}


def pick_question(scene: scenes.Scene, rng: np.random.Generator) -> dict:
    """A random question, kinds weighted by QUESTION_WEIGHTS, yes/no balanced."""
    by_kind: dict[str, list[dict]] = {}
    for qa in scene.qa(every_probe=True):
        by_kind.setdefault(qa["kind"], []).append(qa)
    kinds = [k for k in QUESTION_WEIGHTS if k in by_kind]
    weights = np.array([QUESTION_WEIGHTS[k] for k in kinds])
    kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    pool = by_kind[kind]
    if kind == "yesno":
        answer = "yes" if rng.random() < 0.5 else "no"
        if answer == "no" and rng.random() < 0.5:
            pool = scene.qa()          # the near-miss probes
        pool = [qa for qa in pool if qa["kind"] == "yesno" and qa["answer"] == answer]
    return pool[int(rng.integers(len(pool)))]


def git_sequence(wp: WordPiece, prompt: str, target: str) -> tuple[list[int], list[int]]:
    """([CLS] prompt target [SEP] ids, next-token labels with -100 over the prompt)."""
    p, t = wp.encode(prompt), wp.encode(target) + [wp.sep]
    ids = [wp.cls] + p + t
    labels = [-100] * len(p) + t + [-100]
    return ids[:GIT_TEXT_LEN], labels[:GIT_TEXT_LEN]


def git_batch_texts(wp: WordPiece, items: list[scenes.Scene], idx: np.ndarray, per_image: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ids [B*K, L], labels [B*K, L], owner [B*K]: a caption and K-1 questions per image."""
    rows, labels, owner = [], [], []
    for b, i in enumerate(idx):
        s = items[i]
        pairs = [("", s.caption())]
        for _ in range(per_image - 1):
            qa = pick_question(s, rng)
            pairs.append((qa["question"], qa["answer"]))
        for prompt, target in pairs:
            r, l = git_sequence(wp, prompt, target)
            rows.append(r)
            labels.append(l)
            owner.append(b)
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), wp.pad, dtype=np.int64)
    lab = np.full((len(rows), width), -100, dtype=np.int64)
    for k, (r, l) in enumerate(zip(rows, labels)):
        ids[k, :len(r)], lab[k, :len(l)] = r, l
    return ids, lab, np.array(owner, dtype=np.int64)


def watch_git(torch, model, wp: WordPiece, args) -> None:
    """Print torch greedy caption/VQA metrics on 128 held-out video-like scenes."""
    data = eval_set(args.eval_seed, 128)["video"]
    questions = eval_questions(data)
    model.eval()
    caps = git_greedy_torch(torch, model, wp, data, list(range(len(data.scenes))),
                            [""] * len(data.scenes))
    answers = git_greedy_torch(torch, model, wp, data, [i for i, _ in questions],
                               [qa["question"] for _, qa in questions])
    model.train()
    m = git_metrics([wp.decode(c) for c in caps], [wp.decode(a) for a in answers],
                    questions, data)
    print("   watch: " + " ".join(f"{k} {v:.3f}" for k, v in m.items()
                                  if not k.endswith("_n") and k != "scenes"), flush=True)


def load_clip_vision(torch, model, clip_dir: Path) -> None:
    """Copy vision_model.* of an exported CLIP folder into the GIT image encoder."""
    weights = safetensors_io.load(str(clip_dir / "model.safetensors"))
    target = model.git.image_encoder.vision_model
    state = {}
    for name in target.state_dict():
        state[name] = torch.from_numpy(np.array(weights.get_float(f"vision_model.{name}",
                                                                  np.float32)))
    target.load_state_dict(state)


def train_git(torch, data: SceneSet, wp: WordPiece, args) -> object:
    """Train the GIT model (image encoder from the CLIP folder); returns it."""
    _, Git = build_modules(torch)
    torch.manual_seed(args.seed + 1)
    model = Git(CLIP_GEOMETRY, len(wp.tokens))
    if args.clip:
        load_clip_vision(torch, model, Path(args.clip))
    head = torch.nn.Linear(CLIP_GEOMETRY.vision_hidden, len(PAIR_INDEX) + 1)
    both = torch.nn.ModuleDict({"model": model, "head": head})
    opt = make_optimizer(torch, both, args.lr, 0.01,
                         {"model.git.image_encoder": args.vision_lr_factor})
    order = epoch_order(args.seed + 1, len(data.scenes), args.steps, args.batch)
    rng = np.random.default_rng([args.seed, 2])
    gen = torch.Generator().manual_seed(args.seed + 1)
    F = torch.nn.functional
    started = time.monotonic()
    for step in range(args.steps):
        idx = order[step]
        lr = set_lr(opt, args.lr, step, args.steps, args.warmup)
        ids, labels, owner = git_batch_texts(wp, data.scenes, idx, args.per_image, rng)
        pixels, patches = augment(torch, data.images[idx], data.patches[idx], gen)
        tokens = model.git.image_encoder.vision_model(pixels)
        kvs = model.image_states(tokens=tokens)
        logits = model.text_logits(kvs, torch.from_numpy(ids), torch.from_numpy(owner))
        lab = torch.from_numpy(labels)
        text_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), lab.reshape(-1),
                                    ignore_index=-100)
        dense = patch_loss(torch, head, tokens, patches, args.background_weight)
        loss = text_loss + args.patch_weight * dense
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(both.parameters(), 1.0)
        opt.step()
        if step % args.log_every == 0 or step == args.steps - 1:
            print(f"git step {step:5d} lr {lr:.2e} loss {text_loss.item():.4f}"
                  f" patches {dense.item():.3f} {time.monotonic() - started:.0f} s", flush=True)
        if args.watch and (step + 1) % args.watch == 0:
            watch_git(torch, model, wp, args)
    return model


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------

def state_arrays(model) -> dict[str, np.ndarray]:
    """The model's state dict as float32 numpy arrays (names already HF names)."""
    return {name: t.detach().cpu().numpy().astype(np.float32).copy()
            for name, t in model.state_dict().items()}


def write_clip(model, out: Path, vocab: list[str], merges: list[tuple[str, str]]) -> None:
    """config.json, model.safetensors, preprocessor_config.json and tokenizer files."""
    out.mkdir(parents=True, exist_ok=True)
    tensors = state_arrays(model)
    tensors["logit_scale"] = np.array(min(float(tensors["logit_scale"]), math.log(100)),
                                      dtype=np.float32)
    config = mcc.model_config(CLIP_GEOMETRY, len(vocab), "float32", mcc.LOGIT_SCALE_INIT)
    mcc.write_json(out / "config.json", config)
    mcc.write_json(out / "preprocessor_config.json",
                   mcc.preprocessor_config(IMAGE_SIZE, legacy=False))
    mcc.write_tokenizer(out, vocab, merges, CLIP_GEOMETRY.max_positions)
    safetensors_io.save(str(out / "model.safetensors"), tensors, {"format": "pt"})


def git_geometry(vocab_size: int):
    """The make_git_checkpoint Geometry of the demo GIT."""
    g = CLIP_GEOMETRY
    return mgc.Geometry(g.vision_hidden, g.vision_layers, g.vision_heads, g.vision_mlp,
                        g.image_size, g.patch_size, GIT_HIDDEN, GIT_LAYERS, GIT_HEADS, GIT_MLP,
                        GIT_POSITIONS, g.projection_dim, vocab_size)


def write_git(model, out: Path, tokens: list[str]) -> None:
    """config.json, model.safetensors, preprocessor_config.json, vocab.txt and friends."""
    out.mkdir(parents=True, exist_ok=True)
    config = mgc.model_config(git_geometry(len(tokens)), len(tokens), "float32", tied=False)
    mgc.write_json(out / "config.json", config)
    mgc.write_json(out / "preprocessor_config.json", mgc.preprocessor_config(IMAGE_SIZE))
    mgc.write_tokenizer(out, tokens)
    safetensors_io.save(str(out / "model.safetensors"), state_arrays(model), {"format": "pt"})


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def eval_set(seed: int, count: int) -> dict[str, SceneSet]:
    """Held-out scenes rendered directly at 64 and as 320x240 frames reduced like the engine."""
    direct, big = [], []
    items = [scenes.sample_scene(seed, i) for i in range(count)]
    for s in items:
        direct.append(scene_image(s, "direct"))
        big.append(scene_image(s, "big"))
    return {"direct": SceneSet(np.stack(direct), items), "video": SceneSet(np.stack(big), items)}


def clip_predictions_torch(torch, model, texts: ClipTexts, data: SceneSet, template: str
                           ) -> np.ndarray:
    """Top-1 label index per image with the torch model."""
    with torch.no_grad():
        ids, eot = texts.batch([template.format(lab) for lab in scenes.all_labels()])
        lab = model.encode_text(torch.from_numpy(ids), torch.from_numpy(eot))
        best = []
        for k in range(0, len(data.scenes), 128):
            img = model.encode_image(to_pixels(torch, data.images[k:k + 128]))
            best.append((img @ lab.t()).argmax(1).numpy())
    return np.concatenate(best)


def clip_predictions_reference(folder: Path, texts: ClipTexts, data: SceneSet, template: str
                               ) -> tuple[np.ndarray, np.ndarray]:
    """(top-1 label index, cosines [N, 32]) through tests/clip_reference.py."""
    import clip_reference
    ref = clip_reference.ClipReference(folder)
    ids, _ = texts.batch([template.format(lab) for lab in scenes.all_labels()])
    txt = ref.encode_text(ids)["text_embeds"]
    cos = []
    for k in range(0, len(data.scenes), 64):
        pixels = to_pixels_np(data.images[k:k + 64])
        cos.append(ref.encode_image(pixels)["image_embeds"] @ txt.T)
    cos = np.concatenate(cos)
    return cos.argmax(1), cos


def to_pixels_np(images: np.ndarray) -> np.ndarray:
    """uint8 [B, S, S, 3] -> normalised float32 [B, 3, S, S] (numpy)."""
    x = (images.astype(np.float32) / 255.0 - MEAN) / STD
    return x.transpose(0, 3, 1, 2).copy()


def clip_metrics(best: np.ndarray, cos: np.ndarray | None, data: SceneSet) -> dict:
    """Top-1 correct (a present pair), single-object exact, detect accuracy at the threshold."""
    labels = scenes.all_labels()
    pres = presence(data.scenes)
    ok = [scenes.label_correct(s, labels[b]) for s, b in zip(data.scenes, best)]
    single = [o for o, s in zip(ok, data.scenes) if len(s.objects) == 1]
    out = {"top1": float(np.mean(ok)), "top1_single_object": float(np.mean(single)),
           "scenes": len(ok)}
    if cos is not None:
        out["detect_accuracy_at_0.3"] = float(((cos >= DETECT_THRESHOLD) == pres).mean())
        out["detect_scenes_all_right_at_0.3"] = float(
            ((cos >= DETECT_THRESHOLD) == pres).all(1).mean())
    return out


def git_greedy_torch(torch, model, wp: WordPiece, data: SceneSet, image_idx: list[int],
                     prompts: list[str], max_tokens: int = 20) -> list[list[int]]:
    """Greedy continuation (ids after the prompt, without [SEP]) of [CLS]+prompts[k] on
    image image_idx[k]."""
    out: list[list[int]] = [None] * len(prompts)
    groups: dict[int, list[int]] = {}
    for k, p in enumerate(prompts):
        groups.setdefault(len(wp.encode(p)), []).append(k)
    with torch.no_grad():
        for _, members in sorted(groups.items()):
            for start in range(0, len(members), 128):
                rows = members[start:start + 128]
                kvs = model.image_states(to_pixels(torch, data.images[[image_idx[k]
                                                                        for k in rows]]))
                seqs = torch.tensor([[wp.cls] + wp.encode(prompts[k]) for k in rows])
                prefix = seqs.shape[1]
                owner = torch.arange(len(rows))
                for _ in range(max_tokens):
                    nxt = model.text_logits(kvs, seqs, owner)[:, -1].argmax(-1)
                    seqs = torch.cat([seqs, nxt[:, None]], 1)
                    if (seqs[:, prefix:] == wp.sep).any(1).all():
                        break
                for r, k in enumerate(rows):
                    gen = seqs[r, prefix:].tolist()
                    out[k] = gen[:gen.index(wp.sep)] if wp.sep in gen else gen
    return out


def eval_questions(data: SceneSet) -> list[tuple[int, dict]]:
    """(scene index, qa) for every evaluation question of every scene (scene.qa())."""
    return [(i, qa) for i, s in enumerate(data.scenes) for qa in s.qa()]


def git_metrics(captions: list[str], answers: list[str], questions: list[tuple[int, dict]],
                data: SceneSet) -> dict:
    """Caption correctness (every colour, shape, count), exact captions, VQA by kind."""
    ok = [scenes.caption_correct(s, c) for s, c in zip(data.scenes, captions)]
    exact = [s.caption() == c for s, c in zip(data.scenes, captions)]
    out = {"caption_objects_correct": float(np.mean(ok)),
           "caption_exact": float(np.mean(exact)), "scenes": len(ok)}
    by_kind: dict[str, list[bool]] = {}
    for (_, qa), answer in zip(questions, answers):
        by_kind.setdefault(qa["kind"], []).append(scenes.answer_correct(qa, answer))
    for kind, hits in sorted(by_kind.items()):
        out[f"vqa_{kind}"] = float(np.mean(hits))
        out[f"vqa_{kind}_n"] = len(hits)
    return out


def git_reference_outputs(folder: Path, wp: WordPiece, data: SceneSet,
                          questions: list[tuple[int, dict]], limit: int
                          ) -> tuple[list[list[int]], list[list[int]]]:
    """Greedy caption ids and answer ids through tests/git_reference.py for the first
    `limit` scenes (and their questions)."""
    import git_reference
    ref = git_reference.GitReference(folder)
    caps, answers = [], []
    tokens = {}
    for i in range(limit):
        tokens[i] = ref.encode_image(to_pixels_np(data.images[i:i + 1]))
        gen = ref.greedy_from_tokens(tokens[i], (), 20)
        caps.append(gen.text_tokens(wp.sep))
    for i, qa in questions:
        if i < limit:
            gen = ref.greedy_from_tokens(tokens[i], wp.encode(qa["question"]), 20)
            answers.append(gen.text_tokens(wp.sep))
    return caps, answers


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------

def bpe_path(args) -> Path:
    """The original CLIP BPE file, or TrainError."""
    path = Path(args.bpe)
    if not path.exists():
        raise TrainError(f"{path}: the CLIP BPE vocabulary is missing (--bpe)")
    return path


def run_clip(args) -> dict:
    """Build the tokenizer, train, export and check the CLIP folder."""
    torch = torch_module(args.threads)
    started = time.monotonic()
    out = Path(args.out)
    vocab, merges = clip_vocabulary(bpe_path(args))
    out.mkdir(parents=True, exist_ok=True)
    mcc.write_tokenizer(out, vocab, merges, CLIP_GEOMETRY.max_positions)
    texts = ClipTexts(out)
    data = render_set(args.seed, args.scenes)
    check_clip_tokenizer(out, bpe_path(args), domain_texts()
                         + [s.caption() for s in data.scenes[:500]])
    model = train_clip(torch, data, texts, len(vocab), args)
    model.eval()
    write_clip(model, out, vocab, merges)
    train_seconds = time.monotonic() - started
    print(f"{out}: CLIP written, vocab {len(vocab)} ({len(merges)} merges),"
          f" {train_seconds:.0f} s", flush=True)
    return {"train_seconds": round(train_seconds), **check_clip(torch, model, texts, out, args)}


def check_clip(torch, model, texts: ClipTexts, out: Path, args) -> dict:
    """Held-out metrics through the numpy reference; its top-1 must equal torch's."""
    metrics = {}
    sets = eval_set(args.eval_seed, args.eval_scenes)
    for name, data in sets.items():
        for template in TEMPLATES:
            mine = clip_predictions_torch(torch, model, texts, data, template)
            ref, cos = clip_predictions_reference(out, texts, data, template)
            agree = float((mine == ref).mean())
            key = f"{name}/{template.replace('{}', 'LABEL')}"
            metrics[key] = {**clip_metrics(ref, cos, data), "torch_top1": float(
                np.mean([scenes.label_correct(s, scenes.all_labels()[b])
                         for s, b in zip(data.scenes, mine)])), "torch_reference_agree": agree}
            print(f"clip {key}: {json.dumps(metrics[key])}", flush=True)
            if agree < 0.99:
                raise TrainError(f"{out}: the numpy reference agrees with torch on only"
                                 f" {agree:.1%} of top-1 labels")
    return metrics


def run_git(args) -> dict:
    """Train, export and check the GIT folder."""
    torch = torch_module(args.threads)
    started = time.monotonic()
    out = Path(args.out)
    tokens = git_vocabulary()
    wp = WordPiece(tokens)
    data = render_set(args.seed, args.scenes)
    model = train_git(torch, data, wp, args)
    model.eval()
    write_git(model, out, tokens)
    train_seconds = time.monotonic() - started
    print(f"{out}: GIT written, vocab {len(tokens)}, {train_seconds:.0f} s", flush=True)
    return {"train_seconds": round(train_seconds), **check_git(torch, model, wp, out, args)}


def check_git(torch, model, wp: WordPiece, out: Path, args) -> dict:
    """Held-out metrics with torch greedy decoding; the numpy reference must give the same
    tokens on the first --reference-scenes scenes; metrics from the reference there too."""
    metrics = {}
    for name, data in eval_set(args.eval_seed, args.eval_scenes).items():
        questions = eval_questions(data)
        cap_ids = git_greedy_torch(torch, model, wp, data, list(range(len(data.scenes))),
                                   [""] * len(data.scenes))
        ans_ids = git_greedy_torch(torch, model, wp, data, [i for i, _ in questions],
                                   [qa["question"] for _, qa in questions])
        m = git_metrics([wp.decode(c) for c in cap_ids], [wp.decode(a) for a in ans_ids],
                        questions, data)
        limit = min(args.reference_scenes, len(data.scenes))
        ref_caps, ref_ans = git_reference_outputs(out, wp, data, questions, limit)
        mine_ans = [a for (i, _), a in zip(questions, ans_ids) if i < limit]
        same = sum(a == b for a, b in zip(ref_caps, cap_ids)) + sum(
            a == b for a, b in zip(ref_ans, mine_ans))
        total = len(ref_caps) + len(ref_ans)
        m["reference_scenes"] = limit
        m["torch_reference_same_tokens"] = same / total
        sub = SceneSet(data.images[:limit], data.scenes[:limit])
        ref_m = git_metrics([wp.decode(c) for c in ref_caps], [wp.decode(a) for a in ref_ans],
                            [q for q in questions if q[0] < limit], sub)
        m["reference"] = ref_m
        metrics[name] = m
        print(f"git {name}: {json.dumps(m)}", flush=True)
        for s, c in list(zip(data.scenes, cap_ids))[:5]:
            print(f"   {wp.decode(c)!r}  (truth {s.caption()!r})")
        if same / total < 0.99:
            raise TrainError(f"{out}: the numpy reference gives the same greedy tokens as"
                             f" torch for only {same}/{total} sequences")
    return metrics


def load_trained(torch, kind: str, folder: Path, vocab_size: int):
    """A torch model with the weights of an exported folder."""
    Clip, Git = build_modules(torch)
    model = (Clip(CLIP_GEOMETRY, vocab_size) if kind == "clip"
             else Git(CLIP_GEOMETRY, vocab_size))
    weights = safetensors_io.load(str(folder / "model.safetensors"))
    state = {name: torch.from_numpy(np.array(weights.get_float(name, np.float32)))
             for name in model.state_dict()}
    model.load_state_dict(state)
    return model.eval()


def run_eval(args) -> dict:
    """Metrics of exported folders on held-out scenes (torch + numpy reference checks)."""
    torch = torch_module(args.threads)
    metrics = {}
    if args.clip:
        folder = Path(args.clip)
        texts = ClipTexts(folder)
        model = load_trained(torch, "clip", folder, len(texts.tok.encoder))
        metrics["clip"] = check_clip(torch, model, texts, folder, args)
    if args.git:
        folder = Path(args.git)
        tokens = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
        model = load_trained(torch, "git", folder, len(tokens))
        metrics["git"] = check_git(torch, model, WordPiece(tokens), folder, args)
    return metrics


def run_all(args) -> dict:
    """CLIP, then GIT on it, then metrics.json next to both folders."""
    root = Path(args.out)
    clip_args = argparse.Namespace(**{**vars(args), **clip_defaults(args),
                                      "out": str(root / "clip")})
    git_args = argparse.Namespace(**{**vars(args), **git_defaults(args),
                                     "out": str(root / "git"), "clip": None})
    metrics = {"seed": args.seed, "eval_seed": args.eval_seed,
               "clip": run_clip(clip_args), "git": run_git(git_args)}
    (root / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    return metrics


CLIP_DEFAULTS = {"steps": 3000, "batch": 64, "lr": 1e-3, "warmup": 150, "scenes": 30000}
GIT_DEFAULTS = {"steps": 2000, "batch": 32, "lr": 7e-4, "warmup": 100, "scenes": 20000,
                "per_image": 4, "vision_lr_factor": 1.0, "patch_weight": 0.5}


def clip_defaults(args) -> dict:
    """CLIP hyper-parameters: --clip-* overrides or the defaults."""
    return {k: getattr(args, f"clip_{k}", None) or v for k, v in CLIP_DEFAULTS.items()}


def git_defaults(args) -> dict:
    """GIT hyper-parameters: --git-* overrides or the defaults."""
    return {k: getattr(args, f"git_{k}", None) or v for k, v in GIT_DEFAULTS.items()}


def add_common(p: argparse.ArgumentParser) -> None:
    """Options every command takes."""
    p.add_argument("--background-weight", type=float, default=1.0,
                   help="weight of background patches in the per-patch label loss (1.0; they"
                        " are ~85%% of the patches and slow down learning the shapes)")
    p.add_argument("--eval-seed", type=int, default=EVAL_SEED,
                   help=f"seed of the held-out scenes ({EVAL_SEED}; never used for training)")
    p.add_argument("--eval-scenes", type=int, default=500, help="held-out scenes (500)")
    p.add_argument("--reference-scenes", type=int, default=100,
                   help="scenes also decoded by the slow numpy GIT reference (100)")
    p.add_argument("--bpe", default=str(mcc.DEFAULT_BPE), help="original CLIP BPE .txt.gz")
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: fastest on a shared 2-core machine)")
    p.add_argument("--watch", type=int, default=0, metavar="N",
                   help="every N steps print held-out metrics (torch, progress only)")


def add_hyper(p: argparse.ArgumentParser, defaults: dict, prefix: str = "") -> None:
    """--steps, --batch, ... (optionally prefixed) with their defaults."""
    for key, value in defaults.items():
        p.add_argument(f"--{prefix}{key.replace('_', '-')}", type=type(value),
                       default=None if prefix else value,
                       help=f"(default {value})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Train and export the demo CLIP and GIT.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("clip", help="train + export CLIP")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    add_hyper(p, CLIP_DEFAULTS)
    add_common(p)
    p = sub.add_parser("git", help="train + export GIT")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--clip", help="start the image encoder from this exported CLIP folder's"
                   " vision tower (default: trained from scratch, like the demo GIT)")
    add_hyper(p, GIT_DEFAULTS)
    add_common(p)
    p = sub.add_parser("eval", help="held-out metrics of exported folders")
    p.add_argument("--clip")
    p.add_argument("--git")
    add_common(p)
    p = sub.add_parser("all", help="clip, git and OUT/metrics.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    add_hyper(p, CLIP_DEFAULTS, "clip-")
    add_hyper(p, GIT_DEFAULTS, "git-")
    add_common(p)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    commands = {"clip": run_clip, "git": run_git, "eval": run_eval, "all": run_all}
    started = time.monotonic()
    try:
        result = commands[args.command](args)
    except (TrainError, mcc.CheckpointError, safetensors_io.SafetensorsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=1))
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
