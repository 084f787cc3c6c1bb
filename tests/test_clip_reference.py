#!/usr/bin/env python3
"""Sanity tests of tests/clip_reference.py (the float64 numpy CLIP reference).

On tiny random checkpoints written by models/make_clip_checkpoint.py:

1. the vision patch embedding equals a convolution computed with explicit loops;
2. the text tower is causal: tokens after the first end-of-text token do not
   change the embedding (padding with 0 or with eot gives the same result);
3. one encoder layer equals a slow, loop-based pure-Python implementation
   (vision: bidirectional; text: causal; quick_gelu and erf gelu);
plus output invariants (unit norm, logits = exp(logit_scale) * cosine),
batch independence, f16/bf16 weights, ignored position_ids, and the CLI
(golden .npz, clear errors on bad inputs).

Run: /usr/bin/python3 tests/test_clip_reference.py   (prints "N passed, M failed")
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

TESTS_DIR = Path(__file__).resolve().parent
ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))
sys.path.insert(0, str(ROOT / "models"))
import clip_reference as ref  # noqa: E402
import safetensors_io  # noqa: E402

MAKER = ROOT / "models" / "make_clip_checkpoint.py"
REFERENCE = TESTS_DIR / "clip_reference.py"
VOCAB = 600                      # tiny vocabulary: specials are 598 (sot) and 599 (eot)
SOT, EOT = VOCAB - 2, VOCAB - 1


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------

def run(*args: object) -> subprocess.CompletedProcess:
    """Run a Python script with this interpreter; capture text output."""
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=300)


class Fixtures:
    """Checkpoints made once per run, in one temporary folder."""

    def __init__(self, root: Path):
        self.root = root
        self.made: dict[str, Path] = {}

    def checkpoint(self, name: str, *extra: str) -> Path:
        """A tiny checkpoint with the given extra flags (cached by name)."""
        if name not in self.made:
            folder = self.root / name
            result = run(MAKER, "--preset", "tiny", "--vocab-size", VOCAB, "--seed", "11",
                         *extra, folder)
            if result.returncode != 0:
                raise RuntimeError(f"make_clip_checkpoint {extra}: {result.stderr}")
            self.made[name] = folder
        return self.made[name]

    def model(self, name: str = "f32", *extra: str) -> ref.ClipReference:
        """ClipReference on checkpoint ``name``."""
        return ref.ClipReference(self.checkpoint(name, *extra))


def random_pixels(batch: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """Normalised-looking random pixels [B, 3, S, S] (float32)."""
    return np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)


def token_rows(rows: list[list[int]], length: int = 77, pad: int = 0) -> np.ndarray:
    """[sot] + tokens + [eot], padded to ``length`` with ``pad``."""
    ids = np.full((len(rows), length), pad, dtype=np.int64)
    for r, tokens in enumerate(rows):
        seq = [SOT, *tokens, EOT]
        ids[r, :len(seq)] = seq
    return ids


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference."""
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# ---------------------------------------------------------------------------
# Slow, loop-based implementations (pure Python floats)
# ---------------------------------------------------------------------------

def loop_conv_patches(pixels: np.ndarray, weight: np.ndarray, patch: int) -> np.ndarray:
    """Stride-``patch`` convolution without bias, by explicit loops: [B, G*G, D]."""
    b, c, s, _ = pixels.shape
    d = weight.shape[0]
    g = s // patch
    px, w = pixels.tolist(), weight.tolist()
    out = np.zeros((b, g * g, d))
    for n in range(b):
        for gy in range(g):
            for gx in range(g):
                for o in range(d):
                    acc = 0.0
                    for ch in range(c):
                        for i in range(patch):
                            row = px[n][ch][gy * patch + i]
                            wrow = w[o][ch][i]
                            for j in range(patch):
                                acc += wrow[j] * row[gx * patch + j]
                    out[n, gy * g + gx, o] = acc
    return out


def loop_layer_norm(v: list[float], w: list[float], b: list[float], eps: float) -> list[float]:
    """LayerNorm of one vector with loops."""
    n = len(v)
    mean = sum(v) / n
    var = sum((x - mean) ** 2 for x in v) / n
    inv = 1.0 / math.sqrt(var + eps)
    return [(v[i] - mean) * inv * w[i] + b[i] for i in range(n)]


def loop_linear(v: list[float], w: list[list[float]], b: list[float]) -> list[float]:
    """W v + b with W [out][in]."""
    return [sum(wi[k] * v[k] for k in range(len(v))) + bi for wi, bi in zip(w, b)]


def loop_act(name: str, x: float) -> float:
    """quick_gelu or erf gelu of one number."""
    if name == "quick_gelu":
        return x / (1.0 + math.exp(-1.702 * x))
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


def loop_encoder_layer(x: np.ndarray, p: dict[str, np.ndarray], heads: int, act: str,
                       eps: float, causal: bool) -> np.ndarray:
    """One pre-LN CLIP encoder layer for one sequence x [T, D], token by token."""
    t, d = x.shape
    hd = d // heads
    P = {k: v.tolist() for k, v in p.items()}
    rows = x.tolist()
    h = [loop_layer_norm(r, P["ln1_w"], P["ln1_b"], eps) for r in rows]
    q = [loop_linear(r, P["q_w"], P["q_b"]) for r in h]
    k = [loop_linear(r, P["k_w"], P["k_b"]) for r in h]
    v = [loop_linear(r, P["v_w"], P["v_b"]) for r in h]
    out = []
    for i in range(t):
        merged = [0.0] * d
        for head in range(heads):
            lo = head * hd
            visible = range(i + 1) if causal else range(t)
            scores = [sum(q[i][lo + c] * k[j][lo + c] for c in range(hd)) / math.sqrt(hd)
                      for j in visible]
            top = max(scores)
            weights = [math.exp(s - top) for s in scores]
            total = sum(weights)
            for c in range(hd):
                merged[lo + c] = sum(weights[n] * v[j][lo + c]
                                     for n, j in enumerate(visible)) / total
        attn = loop_linear(merged, P["o_w"], P["o_b"])
        y = [rows[i][c] + attn[c] for c in range(d)]
        m = loop_layer_norm(y, P["ln2_w"], P["ln2_b"], eps)
        hidden = [loop_act(act, z) for z in loop_linear(m, P["fc1_w"], P["fc1_b"])]
        mlp = loop_linear(hidden, P["fc2_w"], P["fc2_b"])
        out.append([y[c] + mlp[c] for c in range(d)])
    return np.array(out)


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

TESTS = []


def test(func):
    """Register a test function (it receives the shared Fixtures)."""
    TESTS.append(func)
    return func


@test
def patch_embedding_equals_loop_convolution(fx: Fixtures) -> None:
    model = fx.model()
    pixels = random_pixels(2, seed=1)
    weight = model.weights.get("vision_model.embeddings.patch_embedding.weight", (32, 3, 8, 8))
    expected = loop_conv_patches(pixels.astype(np.float64), weight, 8)
    got = model.patch_embed(pixels.astype(np.float64))
    assert got.shape == (2, 16, 32), got.shape
    assert max_diff(got, expected) < 1e-12, f"patch embedding differs by {max_diff(got, expected)}"
    emb = model.vision_embeddings(pixels.astype(np.float64))
    cls = model.weights.get("vision_model.embeddings.class_embedding", (32,))
    pos = model.weights.get("vision_model.embeddings.position_embedding.weight", (17, 32))
    assert max_diff(emb[:, 0], cls + pos[0]) == 0, "class token row is not class + pos[0]"
    assert max_diff(emb[:, 1:], expected + pos[1:]) < 1e-12, "patch rows are not conv + pos"


@test
def text_is_causal(fx: Fixtures) -> None:
    model = fx.model()
    base = token_rows([[5, 77, 300, 12]])
    eot_at = 5
    variants = [base, token_rows([[5, 77, 300, 12]], pad=EOT)]
    tail = base.copy()
    tail[0, eot_at + 1:] = np.random.default_rng(2).integers(0, VOCAB - 2, 77 - eot_at - 1)
    variants.append(tail)
    outs = [model.encode_text(v) for v in variants]
    for out in outs[1:]:
        assert int(out["text_eot_positions"][0]) == eot_at, out["text_eot_positions"]
        diff = max_diff(out["text_embeds"], outs[0]["text_embeds"])
        assert diff < 1e-13, f"text embedding depends on tokens after eot ({diff})"
        layer = max_diff(out["text_layer0"][:, :eot_at + 1], outs[0]["text_layer0"][:, :eot_at + 1])
        assert layer < 1e-13, f"layer-0 states before eot depend on later tokens ({layer})"
    before = base.copy()
    before[0, 2] = 78
    changed = max_diff(model.encode_text(before)["text_embeds"], outs[0]["text_embeds"])
    assert changed > 1e-4, f"a token before eot did not change the embedding ({changed})"


@test
def pooling_uses_first_eot(fx: Fixtures) -> None:
    model = fx.model()
    ids = token_rows([[5, 6]], pad=EOT)            # eot at 3, 4, ... (HF padding)
    assert int(model.encode_text(ids)["text_eot_positions"][0]) == 3
    short = model.encode_text(token_rows([[5, 6]], length=4))
    full = model.encode_text(ids)
    assert max_diff(short["text_embeds"], full["text_embeds"]) < 1e-13, "length changes result"


def check_layer(model: ref.ClipReference, prefix: str, tower: ref.Tower, x: np.ndarray,
                causal: bool, expected_next: np.ndarray | None = None) -> None:
    """Reference encoder_layer vs the loop version on every sequence of x."""
    params = ref.layer_params(model.weights, prefix, tower, 0)
    fast = ref.encoder_layer(x, params, tower, causal)
    for n in range(x.shape[0]):
        slow = loop_encoder_layer(x[n], params, tower.heads, tower.act, tower.eps, causal)
        diff = max_diff(fast[n], slow)
        assert diff < 1e-11, f"{prefix} layer 0 ({tower.act}, causal={causal}) differs by {diff}"
    if expected_next is not None:
        assert max_diff(fast, expected_next) < 1e-12, f"{prefix}: layer0 output mismatch"


@test
def layer_equals_loop_implementation(fx: Fixtures) -> None:
    for name, extra in (("f32", ()), ("gelu", ("--act", "gelu", "--init-scale", "4"))):
        model = fx.model(name, *extra)
        vision = model.encode_image(random_pixels(2, seed=3))
        check_layer(model, "vision_model", model.config.vision, vision["vision_hidden_0"],
                    causal=False, expected_next=vision["vision_layer0"])
        text = model.encode_text(token_rows([[5, 77, 300], [9, 8, 7, 6, 5, 4]], length=10))
        check_layer(model, "text_model", model.config.text, text["text_embeddings"],
                    causal=True, expected_next=text["text_layer0"])
        # the causal and the bidirectional layer must differ on the same input
        params = ref.layer_params(model.weights, "text_model", model.config.text, 0)
        both = ref.encoder_layer(text["text_embeddings"], params, model.config.text, False)
        assert max_diff(both, text["text_layer0"]) > 1e-6, "causal mask has no effect"


@test
def activations_are_right(fx: Fixtures) -> None:
    x = np.linspace(-6, 6, 101)
    qg = np.array([loop_act("quick_gelu", v) for v in x])
    g = np.array([loop_act("gelu", v) for v in x])
    assert max_diff(ref.quick_gelu(x), qg) < 1e-15
    assert max_diff(ref.gelu(x), g) < 1e-15
    assert abs(ref.gelu(np.array([1.0]))[0] - 0.8413447460685429) < 1e-15


@test
def outputs_are_consistent(fx: Fixtures) -> None:
    model = fx.model()
    out = model.forward(random_pixels(3, seed=4), token_rows([[5], [6, 7], [300, 301, 302]]))
    for key in ("image_embeds", "text_embeds"):
        norms = np.linalg.norm(out[key], axis=1)
        assert max_diff(norms, 1.0) < 1e-14, f"{key} not unit length: {norms}"
    raw_i, raw_t = out["image_embeds_raw"], out["text_embeds_raw"]
    cosine = (raw_i @ raw_t.T) / np.outer(np.linalg.norm(raw_i, axis=1),
                                         np.linalg.norm(raw_t, axis=1))
    scale = math.exp(float(out["logit_scale"]))
    assert abs(float(out["logit_scale"]) - 2.6592) < 1e-6
    assert max_diff(out["logits_per_image"], scale * cosine) < 1e-12
    assert max_diff(out["logits_per_text"], out["logits_per_image"].T) == 0
    assert max_diff(out["probs_per_image"].sum(axis=1), 1.0) < 1e-14
    assert out["vision_embeddings"].shape == (3, 17, 32)
    assert out["text_embeddings"].shape == (3, 77, 32)


@test
def batch_rows_are_independent(fx: Fixtures) -> None:
    model = fx.model()
    pixels = random_pixels(3, seed=5)
    ids = token_rows([[5], [6, 7], [300, 301, 302]])
    batch_i, batch_t = model.encode_image(pixels), model.encode_text(ids)
    for n in range(3):
        one_i = model.encode_image(pixels[n:n + 1])["image_embeds"][0]
        one_t = model.encode_text(ids[n:n + 1])["text_embeds"][0]
        assert max_diff(one_i, batch_i["image_embeds"][n]) < 1e-13, f"image row {n}"
        assert max_diff(one_t, batch_t["text_embeds"][n]) < 1e-13, f"text row {n}"


@test
def half_precision_weights(fx: Fixtures) -> None:
    pixels, ids = random_pixels(2, seed=6), token_rows([[5, 6], [7, 8, 9]])
    full = fx.model().forward(pixels, ids)
    for name, minimum in (("f16", 0.9999), ("bf16", 0.999)):
        model = fx.model(name, "--dtype", name)
        kind = model.weights.file.dtype("visual_projection.weight")
        assert kind == name.upper(), f"{name}: stored as {kind}"
        half = model.forward(pixels, ids)
        for key in ("image_embeds", "text_embeds"):
            cos = np.sum(half[key] * full[key], axis=1)
            assert cos.min() >= minimum, f"{name} {key}: cosine {cos.min()} < {minimum}"
            assert max_diff(half[key], full[key]) > 0, f"{name}: weights were not rounded?"


@test
def position_ids_are_ignored(fx: Fixtures) -> None:
    pixels, ids = random_pixels(1, seed=7), token_rows([[5, 6]])
    plain = fx.model().forward(pixels, ids)
    with_ids = fx.model("posids", "--with-position-ids").forward(pixels, ids)
    assert "vision_model.embeddings.position_ids" in fx.model("posids").weights.file
    assert max_diff(plain["logits_per_image"], with_ids["logits_per_image"]) == 0


@test
def cli_writes_golden_outputs(fx: Fixtures) -> None:
    folder = fx.checkpoint("f32")
    work = fx.root / "cli"
    work.mkdir(exist_ok=True)
    pixels, ids = random_pixels(2, seed=8), token_rows([[5], [6, 7], [8]])
    np.save(work / "p.npy", pixels)
    np.save(work / "i.npy", ids)
    result = run(REFERENCE, folder, "--pixels", work / "p.npy", "--ids", work / "i.npy",
                 "--out", work / "out.npz")
    assert result.returncode == 0, result.stderr
    with np.load(work / "out.npz") as out:
        missing = set(ref.OUTPUT_KEYS) - set(out.files)
        assert not missing, f"missing outputs {sorted(missing)}"
        expected = ref.ClipReference(folder).forward(pixels, ids)
        assert max_diff(out["logits_per_image"], expected["logits_per_image"]) == 0
        assert out["logits_per_image"].shape == (2, 3)
    only_text = run(REFERENCE, folder, "--ids", work / "i.npy", "--out", work / "t.npz")
    assert only_text.returncode == 0, only_text.stderr


def broken_copy(src: Path, dst: Path, mutate) -> Path:
    """Copy a checkpoint folder, rewriting its tensors through ``mutate(dict)``."""
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "config.json").write_text((src / "config.json").read_text())
    st = safetensors_io.load(str(src / "model.safetensors"))
    tensors = {name: np.array(st[name]) for name in st}
    mutate(tensors)
    safetensors_io.save(str(dst / "model.safetensors"), tensors)
    return dst


@test
def cli_reports_bad_inputs(fx: Fixtures) -> None:
    folder = fx.checkpoint("f32")
    work = fx.root / "bad"
    work.mkdir(exist_ok=True)
    np.save(work / "p.npy", random_pixels(1, seed=9))
    np.save(work / "wrong.npy", random_pixels(1, size=24))
    np.save(work / "noeot.npy", np.full((1, 77), 5, dtype=np.int64))
    np.save(work / "big.npy", np.full((1, 77), VOCAB, dtype=np.int64))
    no_tensor = broken_copy(folder, work / "no_tensor",
                            lambda t: t.pop("text_model.final_layer_norm.bias"))
    bad_shape = broken_copy(folder, work / "bad_shape", lambda t: t.update(
        {"visual_projection.weight": np.zeros((8, 32), np.float32)}))
    (work / "no_config").mkdir(exist_ok=True)
    cases = [
        ((folder, "--pixels", work / "wrong.npy"), "expected [B, 3, 32, 32]"),
        ((folder, "--ids", work / "noeot.npy"), "no end-of-text token"),
        ((folder, "--ids", work / "big.npy"), "token ids must lie in"),
        ((folder, "--pixels", work / "missing.npy"), "missing.npy"),
        ((no_tensor, "--ids", work / "noeot.npy"), "missing tensor 'text_model.final_layer_norm.bias'"),
        ((bad_shape, "--pixels", work / "p.npy"), "has shape [8, 32], expected [16, 32]"),
        ((work / "no_config", "--pixels", work / "p.npy"), "config.json"),
    ]
    for args, needle in cases:
        result = run(REFERENCE, *args, "--out", work / "x.npz")
        assert result.returncode != 0, f"{needle}: exit 0"
        assert needle in result.stderr, f"{needle!r} not in {result.stderr!r}"
        assert "Traceback" not in result.stderr, result.stderr


@test
def config_defaults_and_validation(fx: Fixtures) -> None:
    folder = fx.checkpoint("f32")
    config = json.loads((folder / "config.json").read_text())
    assert config["text_config"]["eos_token_id"] == EOT
    assert config["text_config"]["bos_token_id"] == SOT
    assert config["vision_config"]["hidden_act"] == "quick_gelu"
    cfg = ref.load_config(folder)
    assert (cfg.vision.hidden, cfg.vision.layers, cfg.vision.heads, cfg.vision.mlp) == (32, 2, 2, 64)
    assert (cfg.image_size, cfg.patch_size, cfg.projection_dim, cfg.vocab_size) == (32, 8, 16, VOCAB)


# ---------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Run every test (or those matching -k); print a summary; exit non-zero on failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", metavar="TEXT", help="run only tests whose name contains TEXT")
    args = parser.parse_args(argv)
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="vlm-clipref-") as tmp:
        fixtures = Fixtures(Path(tmp))
        for func in TESTS:
            if args.k and args.k not in func.__name__:
                continue
            try:
                func(fixtures)
            except Exception as e:  # noqa: BLE001  (report every failure, keep going)
                failed += 1
                print(f"FAIL {func.__name__}: {e}")
                if not isinstance(e, AssertionError):
                    traceback.print_exc()
            else:
                passed += 1
                print(f"ok   {func.__name__}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
