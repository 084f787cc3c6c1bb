#!/usr/bin/env python3
"""Sanity tests of tests/git_reference.py (the float64 numpy GIT reference)
and of models/make_git_checkpoint.py.

On tiny random checkpoints written by models/make_git_checkpoint.py:

1. the attention mask follows the GIT rule, and the decoder obeys it: image
   rows do not depend on the text, text rows do not depend on later text;
2. logits computed incrementally (KV cache) equal the full recomputation;
3. greedy decoding equals beam search with num_beams=1, and is the argmax of
   fully recomputed logits; beam search over the cache equals beam search
   over full recomputation;
4. beam-search semantics on hand-made probability tables (ties, the rank
   rule for [SEP], length penalty, early stopping, live beams at max-tokens)
   and against a second, literal implementation on random tables;
5. the VQA format; a tied LM head; f16/bf16 weights;
6. with python3-torch: one decoder layer and the whole forward pass against
   torch.nn.functional code written here (float64); skipped without torch;
7. the checkpoint writer: exact tensor names and shapes, config and tokenizer
   files, determinism, git-base geometry; the CLI and its errors.

Run: /usr/bin/python3 tests/test_git_reference.py   (prints "N passed, M failed")
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import traceback
import zlib
from pathlib import Path

import numpy as np

TESTS_DIR = Path(__file__).resolve().parent
ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))
sys.path.insert(0, str(ROOT / "models"))
import git_reference as ref  # noqa: E402
import make_git_checkpoint as maker  # noqa: E402
import safetensors_io  # noqa: E402

MAKER = ROOT / "models" / "make_git_checkpoint.py"
REFERENCE = TESTS_DIR / "git_reference.py"
CLS, SEP = 101, 102
GEN_FLAGS = ("--head-scale", "25", "--sep-bias", "3", "--seed", "3", "--builtin-vocab")


class Skip(Exception):
    """Raised by a test that cannot run here (reported, not counted as failure)."""


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------

def run(*args: object) -> subprocess.CompletedProcess:
    """Run a Python script with this interpreter; capture text output."""
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=600)


class Fixtures:
    """Checkpoints made once per run, in one temporary folder."""

    def __init__(self, root: Path):
        self.root = root
        self.made: dict[str, Path] = {}
        self.models: dict[str, ref.GitReference] = {}

    def checkpoint(self, name: str, *flags: str) -> Path:
        """A tiny checkpoint written with the given flags (cached by name)."""
        if name not in self.made:
            folder = self.root / name
            result = run(MAKER, "--preset", "tiny", *flags, folder)
            if result.returncode != 0:
                raise RuntimeError(f"make_git_checkpoint {flags}: {result.stderr}")
            self.made[name] = folder
        return self.made[name]

    def model(self, name: str = "plain", *flags: str) -> ref.GitReference:
        """GitReference on checkpoint ``name`` (default: seed 11, plain weights)."""
        if name not in self.models:
            if name == "plain" and not flags:
                flags = ("--seed", "11")
            if name == "gen" and not flags:
                flags = GEN_FLAGS
            self.models[name] = ref.GitReference(self.checkpoint(name, *flags))
        return self.models[name]


def random_pixels(batch: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """Normalised-looking random pixels [B, 3, S, S] (float32)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.8, 2.1, (batch, 3, size, size)).astype(np.float32)


def random_ids(model: ref.GitReference, length: int, seed: int) -> np.ndarray:
    """[CLS] followed by random non-special tokens: [length]."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(104, model.config.vocab_size, size=length)
    ids[0] = CLS
    return ids


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference."""
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


# ---------------------------------------------------------------------------
# Steppers for beam search
# ---------------------------------------------------------------------------

class FullStepper:
    """Beam-search stepper that recomputes every live sequence from scratch."""

    def __init__(self, model: ref.GitReference, image: np.ndarray, start: list[int]):
        self.model, self.image = model, image
        self.seqs = [list(start)]

    def logprobs(self) -> np.ndarray:
        """Log-softmax of each live sequence's last logits, recomputed from scratch."""
        rows = [ref.log_softmax(self.model.logits(self.image, np.array(s))[0, -1])
                for s in self.seqs]
        return np.stack(rows)

    def advance(self, parents, tokens) -> None:
        """Extend the chosen parents' sequences."""
        self.seqs = [self.seqs[p] + [int(t)] for p, t in zip(parents, tokens)]


class TableStepper:
    """Stepper over a function generated-tokens-tuple -> log-probabilities [V]."""

    def __init__(self, table):
        self.table = table
        self.seqs: list[tuple[int, ...]] = [()]

    def logprobs(self) -> np.ndarray:
        """The table's rows for the live prefixes."""
        return np.stack([self.table(s) for s in self.seqs])

    def advance(self, parents, tokens) -> None:
        """Extend the chosen parents' prefixes."""
        self.seqs = [self.seqs[p] + (int(t),) for p, t in zip(parents, tokens)]


def probs_table(entries: dict[tuple[int, ...], list[float]], size: int):
    """Table from explicit probabilities per generated prefix (uniform elsewhere)."""
    def table(seq: tuple[int, ...]) -> np.ndarray:
        return np.log(np.array(entries.get(seq, [1.0 / size] * size), dtype=np.float64))
    return table


def hashed_table(seed: int, size: int):
    """Pseudo-random log-probabilities per prefix; logits on a 0.5 grid, so ties occur."""
    def table(seq: tuple[int, ...]) -> np.ndarray:
        key = zlib.crc32(repr((seed, seq)).encode())
        logits = np.random.default_rng(key).integers(0, 6, size=size) * 0.5
        return ref.log_softmax(logits.astype(np.float64))
    return table


def literal_beam_search(table, sep: int, k: int, max_tokens: int, alpha: float):
    """The documented beam-search rules, written out independently of the reference.

    Returns (best, pool) as (tokens, sum, score, finished) tuples.
    """
    live = [((), 0.0)]
    done = []
    steps_run = 0
    for s in range(1, max_tokens + 1):
        steps_run = s
        cands = []
        for i, (seq, total) in enumerate(live):
            lp = table(seq)
            best_tokens = sorted(range(len(lp)), key=lambda t: (-lp[t], t))[:k]
            cands += [(total + lp[t], t, i) for t in best_tokens]
        cands.sort(key=lambda c: (-c[0], c[1], c[2]))
        nxt = []
        for r, (total, t, i) in enumerate(cands):
            if len(nxt) >= k:
                break
            if t == sep and r < k:
                done.append((live[i][0] + (t,), total, total / s ** alpha, True))
            elif t != sep:
                nxt.append((live[i][0] + (t,), total))
        live = nxt
        if len(done) >= k or not live:
            break
    pool = list(done)
    if len(done) < k:
        pool += [(seq, total, total / steps_run ** alpha, False) for seq, total in live]
    best = pool[0]
    for entry in pool[1:]:
        if entry[2] > best[2]:
            best = entry
    return best, pool


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

TESTS = []


def test(func):
    """Register a test function."""
    TESTS.append(func)
    return func


@test
def mask_matches_rule(fx: Fixtures) -> None:
    for n, t in ((1, 1), (3, 4), (17, 6)):
        mask = ref.git_attention_mask(n, t)
        assert mask.shape == (n + t, n + t)
        for row in range(n + t):
            for col in range(n + t):
                if row < n:
                    allowed = col < n
                else:
                    allowed = col < n or col <= row
                assert (mask[row, col] == 0.0) == allowed, (n, t, row, col)
                assert allowed or mask[row, col] == -np.inf


@test
def image_rows_ignore_text(fx: Fixtures) -> None:
    model = fx.model()
    image = model.encode_image(random_pixels(1))
    n = model.config.image_tokens
    a = model.decoder_forward(image, random_ids(model, 5, 1))
    b = model.decoder_forward(image, random_ids(model, 9, 2))
    for key in ("decoder_layer0", "decoder_hidden"):
        assert max_diff(a[key][:, :n], b[key][:, :n]) < 1e-13, key
    # and they equal an image-only pass (no mask), whose keys/values seed the KV cache
    state = model.start(image)
    x = image
    for i, p in enumerate(model.decoder_params()["layers"]):
        x, k, v = ref.decoder_layer(x, p, model.config.decoder, None, None, None)
        assert max_diff(k, state.keys[i]) < 1e-13 and max_diff(v, state.values[i]) < 1e-13
        if i == 0:
            assert max_diff(x, a["decoder_layer0"][:, :n]) < 1e-12
    assert max_diff(x, a["decoder_hidden"][:, :n]) < 1e-12


@test
def text_rows_ignore_later_text(fx: Fixtures) -> None:
    model = fx.model()
    image = model.encode_image(random_pixels(1, seed=4))
    ids = random_ids(model, 8, 3)
    base = model.logits(image, ids)[0]
    for j in (1, 4, 7):
        changed = ids.copy()
        changed[j] = (changed[j] + 7 - 104) % (model.config.vocab_size - 104) + 104
        other = model.logits(image, changed)[0]
        assert max_diff(base[:j], other[:j]) < 1e-13, f"rows before {j} changed"
        assert max_diff(base[j], other[j]) > 1e-6, f"row {j} did not change"


@test
def incremental_equals_full(fx: Fixtures) -> None:
    model = fx.model()
    images = model.encode_image(random_pixels(2, seed=5))
    ids = np.stack([random_ids(model, 10, 6), random_ids(model, 10, 7)])
    full = model.logits(images, ids)
    state = model.start(images)
    for t in range(ids.shape[1]):
        step = model.step(state, ids[:, t])
        d = max_diff(step, full[:, t])
        assert d < 1e-12, f"position {t}: incremental differs by {d}"
    assert state.text_length == ids.shape[1]
    # reordering rows (as beam search does) keeps each row's cache
    swapped = model.start(images)
    for t in range(4):
        model.step(swapped, ids[:, t])
    swapped = swapped.select([1, 1, 0])
    step = model.step(swapped, ids[[1, 1, 0], 4])
    assert max_diff(step, full[[1, 1, 0], 4]) < 1e-12


@test
def batch_rows_are_independent(fx: Fixtures) -> None:
    model = fx.model()
    pixels = random_pixels(3, seed=8)
    images = model.encode_image(pixels)
    for i in range(3):
        assert max_diff(images[i], model.encode_image(pixels[i])[0]) < 1e-13
    ids = random_ids(model, 6, 9)
    batch = model.logits(images, ids)
    for i in range(3):
        assert max_diff(batch[i], model.logits(images[i], ids)[0]) < 1e-13


@test
def greedy_equals_beam_of_one(fx: Fixtures) -> None:
    model = fx.model("gen")
    pixels = random_pixels(4, seed=10)
    finished = unfinished = 0
    for i in range(4):
        for prefix in ([], [int(x) for x in random_ids(model, 3, 20 + i)[1:]]):
            greedy = model.greedy_generate(pixels[i], prefix, max_tokens=12)
            beam = model.beam_search(pixels[i], prefix, num_beams=1, max_tokens=12)
            assert greedy.tokens == beam.tokens, (i, prefix, greedy, beam)
            assert greedy.finished == beam.finished
            assert abs(greedy.score - beam.score) < 1e-12
            assert abs(greedy.sum_logprob - beam.sum_logprob) < 1e-12
            assert (greedy.tokens[-1] == SEP) == greedy.finished
            finished += greedy.finished
            unfinished += not greedy.finished
    assert finished and unfinished, f"want both endings, got {finished} finished"


@test
def greedy_is_argmax_of_full_logits(fx: Fixtures) -> None:
    model = fx.model("gen")
    image = model.encode_image(random_pixels(1, seed=11))
    prefix = [int(x) for x in random_ids(model, 3, 12)[1:]]
    gen = model.greedy_from_tokens(image, prefix, max_tokens=10)
    seq = [CLS] + prefix
    total = 0.0
    for token in gen.tokens:
        last = model.logits(image, np.array(seq))[0, -1]
        assert token == int(np.argmax(last))
        total += float(ref.log_softmax(last)[token])
        seq.append(token)
    assert abs(total - gen.sum_logprob) < 1e-10
    assert abs(gen.score - total / len(gen.tokens)) < 1e-10


@test
def beam_cached_equals_full_recomputation(fx: Fixtures) -> None:
    model = fx.model("gen")
    pixels = random_pixels(3, seed=13)
    for i in range(3):
        image = model.encode_image(pixels[i])
        for k, alpha in ((2, 1.0), (3, 0.6), (4, 1.0)):
            cached = model.beam_from_tokens(image, [], k, 8, alpha)
            full = ref.beam_search_core(FullStepper(model, image, [CLS]), SEP, k, 8, alpha)
            assert cached.tokens == full.tokens, (i, k, cached, full)
            assert abs(cached.score - full.score) < 1e-10


@test
def beam_ties_prefer_lower_ids_then_parents(fx: Fixtures) -> None:
    stepper = TableStepper(probs_table({}, 4))        # uniform everywhere, SEP = 3
    pool: list[ref.Generation] = []
    best = ref.beam_search_core(stepper, 3, 2, 2, 1.0, pool)
    assert [g.tokens for g in pool] == [[0, 0], [1, 0]], pool
    assert best.tokens == [0, 0] and not best.finished
    assert abs(best.sum_logprob - 2 * math.log(0.25)) < 1e-12


@test
def beam_length_penalty_and_early_stop(fx: Fixtures) -> None:
    # V = 3, SEP = 2. Step 1: [SEP] finishes at once (rank 1 < K); step 2:
    # [0, SEP] finishes; two finished = K, so [0, 0] is abandoned.
    table = probs_table({(): [0.5, 0.1, 0.4], (0,): [0.2, 0.2, 0.6]}, 3)
    for alpha, expect in ((1.0, [0, 2]), (0.0, [2])):
        pool: list[ref.Generation] = []
        best = ref.beam_search_core(TableStepper(table), 2, 2, 10, alpha, pool)
        assert [g.tokens for g in pool] == [[2], [0, 2]], pool
        assert best.tokens == expect and best.finished, (alpha, best)
    sums = {(2,): math.log(0.4), (0, 2): math.log(0.5) + math.log(0.6)}
    for g in pool:
        assert abs(g.sum_logprob - sums[tuple(g.tokens)]) < 1e-12


@test
def beam_sep_below_rank_k_is_dropped(fx: Fixtures) -> None:
    table = probs_table({(): [0.5, 0.4, 0.1], (0,): [0.1, 0.2, 0.7],
                         (1,): [0.5, 0.1, 0.4]}, 3)
    pool: list[ref.Generation] = []
    best = ref.beam_search_core(TableStepper(table), 2, 2, 2, 1.0, pool)
    # ranking at step 2: [0,SEP] finished, [1,0] live, [1,SEP] rank 2 dropped, [0,1] live
    assert [(g.tokens, g.finished) for g in pool] == \
        [([0, 2], True), ([1, 0], False), ([0, 1], False)], pool
    assert best.tokens == [0, 2]
    expect = (math.log(0.4) + math.log(0.5)) / 2
    assert abs(pool[1].score - expect) < 1e-12


@test
def beam_live_beats_finished_at_max_tokens(fx: Fixtures) -> None:
    table = probs_table({(): [0.85, 0.05, 0.1]}, 3)
    pool: list[ref.Generation] = []
    best = ref.beam_search_core(TableStepper(table), 2, 2, 1, 1.0, pool)
    assert [(g.tokens, g.finished) for g in pool] == [([2], True), ([0], False)], pool
    assert best.tokens == [0] and not best.finished


@test
def beam_matches_literal_implementation(fx: Fixtures) -> None:
    cases = 0
    for seed in range(60):
        size = 3 + seed % 5
        sep = seed % size
        k = 1 + seed % 4
        alpha = (0.0, 0.7, 1.0, 1.5)[seed % 4]
        max_tokens = 1 + seed % 6
        table = hashed_table(seed, size)
        pool: list[ref.Generation] = []
        best = ref.beam_search_core(TableStepper(table), sep, k, max_tokens, alpha, pool)
        lit_best, lit_pool = literal_beam_search(table, sep, k, max_tokens, alpha)
        got = [(tuple(g.tokens), g.finished) for g in pool]
        want = [(p[0], p[3]) for p in lit_pool]
        assert got == want, (seed, got, want)
        assert (tuple(best.tokens), best.finished) == (lit_best[0], lit_best[3]), seed
        assert abs(best.score - lit_best[2]) < 1e-12
        cases += 1
    assert cases == 60


@test
def vqa_answer_follows_question(fx: Fixtures) -> None:
    model = fx.model("gen")
    pixels = random_pixels(1, seed=14)
    question = [int(x) for x in random_ids(model, 4, 15)[1:]]
    answer, gen = model.answer(pixels, question, max_tokens=8)
    greedy = model.greedy_generate(pixels, question, max_tokens=8)
    assert gen == greedy
    assert answer == greedy.text_tokens(SEP)
    assert SEP not in answer
    # the first answer token is the argmax after [CLS] + question
    logits = model.logits(model.encode_image(pixels), np.array([CLS] + question))[0, -1]
    assert gen.tokens[0] == int(np.argmax(logits))
    beam_answer, beam = model.answer(pixels, question, max_tokens=8, num_beams=3)
    assert beam == model.beam_search(pixels, question, 3, 8)
    assert beam_answer == beam.text_tokens(SEP)
    for bad in ([], [CLS, 2000 % model.config.vocab_size], [200, SEP]):
        try:
            model.answer(pixels, bad)
        except ref.ReferenceError as e:
            assert "question" in str(e)
        else:
            raise AssertionError(f"question {bad} accepted")


@test
def max_tokens_respects_positions(fx: Fixtures) -> None:
    model = fx.model("gen")
    image = model.encode_image(random_pixels(1, seed=16))
    p = model.config.max_positions
    prefix = [200] * (p - 3)                  # start = p - 2 tokens: room for 3
    gen = model.greedy_from_tokens(image, prefix, max_tokens=50)
    assert len(gen.tokens) <= 3
    beam = model.beam_from_tokens(image, prefix, 2, 50)
    assert len(beam.tokens) <= 3
    for bad_prefix, bad_max in (([200] * p, 5), ([], 0)):
        try:
            model.greedy_from_tokens(image, bad_prefix, bad_max)
        except ref.ReferenceError:
            pass
        else:
            raise AssertionError("impossible generation length accepted")


@test
def tied_lm_head_uses_word_embeddings(fx: Fixtures) -> None:
    folder = fx.checkpoint("tied", "--tie-lm-head", "--seed", "11")
    config = json.loads((folder / "config.json").read_text())
    assert config["tie_word_embeddings"] is True
    st = safetensors_io.load(str(folder / "model.safetensors"))
    assert "output.weight" not in st and "output.bias" in st
    model = ref.GitReference(folder)
    image = model.encode_image(random_pixels(1))
    ids = random_ids(model, 4, 17)
    out = model.decoder_forward(image, ids)
    words = st.get_float("git.embeddings.word_embeddings.weight", np.float64)
    bias = st.get_float("output.bias", np.float64)
    expect = out["decoder_hidden"][:, model.config.image_tokens:] @ words.T + bias
    assert max_diff(out["logits"], expect) < 1e-12
    # every other tensor is the same as in the untied checkpoint of the same seed
    plain = safetensors_io.load(str(fx.checkpoint("plain", "--seed", "11") / "model.safetensors"))
    assert set(plain) - set(st) == {"output.weight"}
    assert np.array_equal(plain["output.bias"], st["output.bias"])


@test
def half_precision_weights(fx: Fixtures) -> None:
    model = fx.model()
    pixels = random_pixels(1, seed=18)
    ids = random_ids(model, 5, 19)
    want = model.logits(model.encode_image(pixels), ids)
    for dtype, tol in (("f16", 0.02), ("bf16", 0.15)):
        other = fx.model(dtype, "--dtype", dtype, "--seed", "11")
        got = other.logits(other.encode_image(pixels), ids)
        assert max_diff(got, want) < tol, (dtype, max_diff(got, want))
    pos = fx.model("posids", "--with-position-ids", "--seed", "11")
    assert max_diff(pos.logits(pos.encode_image(pixels), ids), want) == 0.0


@test
def projection_uses_vision_eps(fx: Fixtures) -> None:
    model = fx.model()
    st = model.weights.file
    last = model.vision_forward(random_pixels(1, seed=26))["vision_last"]
    base = "git.visual_projection.visual_projection."
    y = last @ st.get_float(base + "0.weight", np.float64).T + st.get_float(base + "0.bias",
                                                                          np.float64)
    centred = y - y.mean(axis=-1, keepdims=True)
    var = (centred ** 2).mean(axis=-1, keepdims=True)
    for eps, same in ((1e-5, True), (1e-12, False)):
        expect = centred / np.sqrt(var + eps) * st.get_float(base + "1.weight", np.float64) \
            + st.get_float(base + "1.bias", np.float64)
        assert (max_diff(model.project(last), expect) < 1e-12) == same, eps


# -- torch cross-check (optional) --------------------------------------------

def torch_or_skip():
    """Import torch or raise Skip."""
    try:
        import torch  # noqa: PLC0415
        import torch.nn.functional as F  # noqa: PLC0415,N812
    except ImportError as e:
        raise Skip(f"python3-torch not available ({e})") from None
    return torch, F


def torch_weights(folder: Path, torch):
    """Every float tensor of the checkpoint as a float64 torch tensor."""
    st = safetensors_io.load(str(folder / "model.safetensors"))
    return {name: torch.from_numpy(st.get_float(name, np.float64).copy())
            for name in st if st.dtype(name) != "I64"}


def torch_bert_layer(torch, F, x, w, i, heads, eps, mask):
    """One GIT decoder layer with torch.nn.functional (x [S, D], additive mask [S, S])."""
    p = f"git.encoder.layer.{i}."
    s, d = x.shape
    hd = d // heads

    def proj(name):
        return F.linear(x, w[p + name + ".weight"], w[p + name + ".bias"]) \
            .view(s, heads, hd).transpose(0, 1)

    q, k, v = proj("attention.self.query"), proj("attention.self.key"), proj("attention.self.value")
    att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1) @ v
    att = att.transpose(0, 1).reshape(s, d)
    a = F.layer_norm(x + F.linear(att, w[p + "attention.output.dense.weight"],
                                  w[p + "attention.output.dense.bias"]), (d,),
                     w[p + "attention.output.LayerNorm.weight"],
                     w[p + "attention.output.LayerNorm.bias"], eps)
    h = F.gelu(F.linear(a, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"]))
    return F.layer_norm(a + F.linear(h, w[p + "output.dense.weight"], w[p + "output.dense.bias"]),
                        (d,), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)


def torch_clip_layer(torch, F, x, w, i, heads, eps):
    """One pre-LN CLIP vision layer (quick_gelu) with torch.nn.functional."""
    p = f"git.image_encoder.vision_model.encoder.layers.{i}."
    n, d = x.shape
    hd = d // heads
    h = F.layer_norm(x, (d,), w[p + "layer_norm1.weight"], w[p + "layer_norm1.bias"], eps)
    q, k, v = (F.linear(h, w[p + f"self_attn.{c}_proj.weight"], w[p + f"self_attn.{c}_proj.bias"])
               .view(n, heads, hd).transpose(0, 1) for c in "qkv")
    att = torch.softmax(q @ k.transpose(1, 2) * hd ** -0.5, dim=-1) @ v
    x = x + F.linear(att.transpose(0, 1).reshape(n, d), w[p + "self_attn.out_proj.weight"],
                     w[p + "self_attn.out_proj.bias"])
    h = F.layer_norm(x, (d,), w[p + "layer_norm2.weight"], w[p + "layer_norm2.bias"], eps)
    h = F.linear(h, w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"])
    h = h * torch.sigmoid(1.702 * h)
    return x + F.linear(h, w[p + "mlp.fc2.weight"], w[p + "mlp.fc2.bias"])


@test
def torch_decoder_layer(fx: Fixtures) -> None:
    torch, F = torch_or_skip()
    model = fx.model()
    folder = fx.checkpoint("plain", "--seed", "11")
    w = torch_weights(folder, torch)
    cfg = model.config
    rng = np.random.default_rng(21)
    x = rng.standard_normal((cfg.image_tokens + 5, cfg.decoder.hidden))
    mask = ref.git_attention_mask(cfg.image_tokens, 5)
    for i, p in enumerate(model.decoder_params()["layers"]):
        ours, _, _ = ref.decoder_layer(x[None], p, cfg.decoder, None, None, mask)
        theirs = torch_bert_layer(torch, F, torch.from_numpy(x), w, i, cfg.decoder.heads,
                                  cfg.decoder.eps, torch.from_numpy(mask))
        d = max_diff(ours[0], theirs.numpy())
        assert d < 1e-12, f"layer {i}: {d}"


@test
def torch_whole_model(fx: Fixtures) -> None:
    torch, F = torch_or_skip()
    model = fx.model("gen")
    folder = fx.checkpoint("gen", *GEN_FLAGS)
    w = torch_weights(folder, torch)
    cfg, vis = model.config, "git.image_encoder.vision_model."
    pixels = random_pixels(1, seed=22)
    ids = random_ids(model, 6, 23)
    x = F.conv2d(torch.from_numpy(pixels.astype(np.float64)),
                 w[vis + "embeddings.patch_embedding.weight"], stride=cfg.patch_size)
    x = x.flatten(2)[0].T
    x = torch.cat([w[vis + "embeddings.class_embedding"][None], x]) \
        + w[vis + "embeddings.position_embedding.weight"]
    dv, eps_v = cfg.vision.hidden, cfg.vision.eps
    x = F.layer_norm(x, (dv,), w[vis + "pre_layrnorm.weight"], w[vis + "pre_layrnorm.bias"], eps_v)
    for i in range(cfg.vision.layers):
        x = torch_clip_layer(torch, F, x, w, i, cfg.vision.heads, eps_v)
    x = F.layer_norm(x, (dv,), w[vis + "post_layernorm.weight"], w[vis + "post_layernorm.bias"],
                     eps_v)
    proj = "git.visual_projection.visual_projection."
    img = F.linear(x, w[proj + "0.weight"], w[proj + "0.bias"])
    d = cfg.decoder.hidden
    img = F.layer_norm(img, (d,), w[proj + "1.weight"], w[proj + "1.bias"], eps_v)
    tid = torch.from_numpy(ids)
    txt = F.embedding(tid, w["git.embeddings.word_embeddings.weight"]) \
        + w["git.embeddings.position_embeddings.weight"][:len(ids)]
    txt = F.layer_norm(txt, (d,), w["git.embeddings.LayerNorm.weight"],
                       w["git.embeddings.LayerNorm.bias"], cfg.decoder.eps)
    n, t = img.shape[0], len(ids)
    mask = torch.zeros(n + t, n + t, dtype=torch.float64)
    mask[:n, n:] = float("-inf")
    mask[n:, n:] = torch.triu(torch.full((t, t), float("-inf"), dtype=torch.float64), 1)
    h = torch.cat([img, txt])
    for i in range(cfg.decoder.layers):
        h = torch_bert_layer(torch, F, h, w, i, cfg.decoder.heads, cfg.decoder.eps, mask)
    logits = F.linear(h[n:], w["output.weight"], w["output.bias"])
    ours_img = model.encode_image(pixels)[0]
    assert max_diff(ours_img, img.numpy()) < 1e-11, max_diff(ours_img, img.numpy())
    ours = model.logits(ours_img, ids)[0]
    assert max_diff(ours, logits.numpy()) < 1e-10, max_diff(ours, logits.numpy())


# -- checkpoint writer ---------------------------------------------------------

def expected_names(vision_layers: int, layers: int, tied: bool) -> set[str]:
    """Tensor names of DESIGN.md section 4, spelt out independently of the writer."""
    v = "git.image_encoder.vision_model."
    names = {"git.embeddings.word_embeddings.weight", "git.embeddings.position_embeddings.weight",
             "git.embeddings.LayerNorm.weight", "git.embeddings.LayerNorm.bias",
             v + "embeddings.class_embedding", v + "embeddings.patch_embedding.weight",
             v + "embeddings.position_embedding.weight",
             "git.visual_projection.visual_projection.0.weight",
             "git.visual_projection.visual_projection.0.bias",
             "git.visual_projection.visual_projection.1.weight",
             "git.visual_projection.visual_projection.1.bias", "output.bias"}
    if not tied:
        names.add("output.weight")
    for ln in ("pre_layrnorm", "post_layernorm"):
        names |= {f"{v}{ln}.weight", f"{v}{ln}.bias"}
    for i in range(vision_layers):
        for part in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                     "self_attn.out_proj", "layer_norm1", "layer_norm2", "mlp.fc1", "mlp.fc2"):
            names |= {f"{v}encoder.layers.{i}.{part}.weight", f"{v}encoder.layers.{i}.{part}.bias"}
    for i in range(layers):
        for part in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense", "attention.output.LayerNorm",
                     "intermediate.dense", "output.dense", "output.LayerNorm"):
            names |= {f"git.encoder.layer.{i}.{part}.weight", f"git.encoder.layer.{i}.{part}.bias"}
    return names


@test
def checkpoint_layout(fx: Fixtures) -> None:
    folder = fx.checkpoint("plain", "--seed", "11")
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "vocab.txt",
                 "tokenizer_config.json", "special_tokens_map.json"):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    vocab = (folder / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert vocab[-1] == "" and "" not in vocab[:-1]
    vocab = vocab[:-1]
    expect = {"model_type": "git", "architectures": ["GitForCausalLM"], "hidden_size": 32,
              "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
              "hidden_act": "gelu", "layer_norm_eps": 1e-12, "max_position_embeddings": 64,
              "vocab_size": len(vocab), "bos_token_id": 101, "eos_token_id": 102,
              "pad_token_id": 0, "num_image_with_embedding": None,
              "tie_word_embeddings": False}
    for key, value in expect.items():
        assert config[key] == value, (key, config.get(key), value)
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
              "num_hidden_layers": 2, "image_size": 32, "patch_size": 8,
              "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "projection_dim": 16}
    for key, value in vision.items():
        assert config["vision_config"][key] == value, key
    assert [vocab[i] for i in (0, 1, 99, 100, 101, 102, 103)] == \
        ["[PAD]", "[unused0]", "[unused98]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(set(vocab)) == len(vocab)
    st = safetensors_io.load(str(folder / "model.safetensors"))
    assert set(st) == expected_names(2, 2, tied=False), set(st) ^ expected_names(2, 2, False)
    shapes = {"git.embeddings.word_embeddings.weight": (len(vocab), 32),
              "git.embeddings.position_embeddings.weight": (64, 32),
              "git.image_encoder.vision_model.embeddings.patch_embedding.weight": (32, 3, 8, 8),
              "git.image_encoder.vision_model.embeddings.position_embedding.weight": (17, 32),
              "git.visual_projection.visual_projection.0.weight": (32, 32),
              "git.encoder.layer.1.intermediate.dense.weight": (64, 32),
              "git.encoder.layer.1.output.dense.weight": (32, 64),
              "output.weight": (len(vocab), 32), "output.bias": (len(vocab),)}
    for name, shape in shapes.items():
        assert st.info(name).shape == shape, (name, st.info(name).shape)
    assert all(st.dtype(n) == "F32" for n in st)
    ln = st.get_float("git.encoder.layer.0.output.LayerNorm.weight", np.float64)
    assert 0.8 < ln.min() and ln.max() < 1.2 and ln.std() > 0
    bias = st.get_float("git.encoder.layer.0.attention.self.query.bias", np.float64)
    assert 0 < np.abs(bias).max() < 0.1
    pre = json.loads((folder / "preprocessor_config.json").read_text())
    assert pre["size"] == {"shortest_edge": 32} and pre["crop_size"] == {"height": 32, "width": 32}
    assert pre["resample"] == 3 and pre["image_processor_type"] == "CLIPImageProcessor"
    assert pre["image_mean"] == [0.48145466, 0.4578275, 0.40821073]
    assert pre["image_std"] == [0.26862954, 0.26130258, 0.27577711]
    tok = json.loads((folder / "tokenizer_config.json").read_text())
    assert tok["do_lower_case"] is True and tok["model_max_length"] == 512
    specials = json.loads((folder / "special_tokens_map.json").read_text())
    assert specials == {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]",
                        "sep_token": "[SEP]", "unk_token": "[UNK]"}


@test
def checkpoint_is_deterministic(fx: Fixtures) -> None:
    a = fx.checkpoint("plain", "--seed", "11") / "model.safetensors"
    b = fx.checkpoint("plain-again", "--seed", "11") / "model.safetensors"
    c = fx.checkpoint("seed12", "--seed", "12") / "model.safetensors"
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    half = safetensors_io.load(str(fx.checkpoint("f16", "--dtype", "f16", "--seed", "11")
                                   / "model.safetensors"))
    full = safetensors_io.load(str(a))
    name = "git.encoder.layer.0.attention.self.key.weight"
    assert half.dtype(name) == "F16"
    assert np.array_equal(half.get_float(name), full.get_float(name).astype(np.float16)
                          .astype(np.float32))


@test
def checkpoint_overrides_and_vocab_size(fx: Fixtures) -> None:
    folder = fx.checkpoint("wide", "--hidden", "48", "--heads", "4", "--layers", "3",
                           "--mlp", "96", "--max-positions", "40", "--vocab-size", "1200",
                           "--image-size", "48", "--patch-size", "16")
    config = json.loads((folder / "config.json").read_text())
    assert (config["hidden_size"], config["num_attention_heads"], config["num_hidden_layers"],
            config["intermediate_size"], config["max_position_embeddings"],
            config["vocab_size"]) == (48, 4, 3, 96, 40, 1200)
    vocab = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert len(vocab) == 1200 and len(set(vocab)) == 1200
    model = ref.GitReference(folder)
    assert model.config.image_tokens == 10
    logits = model.logits(model.encode_image(random_pixels(1, 48)), np.array([CLS, 5, 6]))
    assert logits.shape == (1, 3, 1200)
    for flags, words in ((("--hidden", "30", "--heads", "4"), "divisible"),
                         (("--image-size", "30"), "multiple"),
                         (("--vocab-size", "50"), "too small"),
                         (("--layers", "0"), "positive")):
        result = run(MAKER, fx.root / "bad", *flags)
        assert result.returncode == 1 and words in result.stderr, (flags, result.stderr)


@test
def checkpoint_vocabulary_sources(fx: Fixtures) -> None:
    builtin = fx.checkpoint("gen", *GEN_FLAGS) / "vocab.txt"
    tokens = builtin.read_text(encoding="utf-8").splitlines()
    assert "dog" in tokens and "##ing" in tokens and "a" in tokens and "##a" in tokens
    copied = fx.checkpoint("copied", "--vocab", str(builtin)) / "vocab.txt"
    assert copied.read_bytes() == builtin.read_bytes()
    padded = fx.checkpoint("padded", "--vocab", str(builtin), "--vocab-size",
                           str(len(tokens) + 5)) / "vocab.txt"
    extra = padded.read_text(encoding="utf-8").splitlines()[len(tokens):]
    assert extra == [f"[unused{n}]" for n in range(99, 104)], extra
    default = fx.checkpoint("plain", "--seed", "11")
    result = run(MAKER, fx.root / "again", "--seed", "11")
    origin = "make_wordpiece_vocab" if (TESTS_DIR / "make_wordpiece_vocab.py").exists() \
        else "built-in"
    assert origin in result.stdout, result.stdout
    assert (fx.root / "again" / "vocab.txt").read_bytes() == \
        (default / "vocab.txt").read_bytes()
    bad = fx.root / "bad-vocab.txt"
    bad.write_text("[PAD]\nfoo\n", encoding="utf-8")
    result = run(MAKER, fx.root / "bad", "--vocab", bad)
    assert result.returncode == 1 and "bad-vocab.txt: id 100 must be [UNK]" in result.stderr, \
        result.stderr


@test
def checkpoint_head_scale_and_sep_bias(fx: Fixtures) -> None:
    flags = ("--seed", "3", "--builtin-vocab")
    plain = safetensors_io.load(str(fx.checkpoint("gen-plain", *flags) / "model.safetensors"))
    gen = safetensors_io.load(str(fx.checkpoint("gen", *GEN_FLAGS) / "model.safetensors"))
    a, b = plain.get_float("output.bias", np.float64), gen.get_float("output.bias", np.float64)
    assert abs(b[SEP] - a[SEP] - 3.0) < 1e-6
    assert np.array_equal(np.delete(a, SEP), np.delete(b, SEP))
    wa, wb = plain.get_float("output.weight"), gen.get_float("output.weight")
    assert max_diff(wb, wa * 25) < 1e-5
    name = "git.encoder.layer.0.attention.self.query.weight"
    assert np.array_equal(plain[name], gen[name])


@test
def git_base_geometry(fx: Fixtures) -> None:
    g = maker.PRESETS["git-base"]
    plan = maker.tensor_plan(g, 30522, tied=False, position_ids=False)
    assert {name for name, _, _ in plan} == expected_names(12, 6, tied=False)
    params = sum(math.prod(shape) for _, shape, _ in plan)
    assert abs(params - 177e6) / 177e6 < 0.005, params       # DESIGN.md: about 177M
    shapes = {name: shape for name, shape, _ in plan}
    assert shapes["git.image_encoder.vision_model.embeddings.position_embedding.weight"] == \
        (197, 768)
    assert shapes["git.embeddings.position_embeddings.weight"] == (1024, 768)
    assert shapes["output.weight"] == (30522, 768)
    assert shapes["git.encoder.layer.5.intermediate.dense.weight"] == (3072, 768)


# -- command line ----------------------------------------------------------------

@test
def cli_writes_golden_outputs(fx: Fixtures) -> None:
    model = fx.model("gen")
    folder = fx.checkpoint("gen", *GEN_FLAGS)
    pixels = random_pixels(2, seed=24)
    ids = random_ids(model, 5, 25).astype(np.int32)
    prefix = np.array([300, 301], dtype=np.int64)
    for name, array in (("p.npy", pixels), ("i.npy", ids), ("q.npy", prefix)):
        np.save(fx.root / name, array)
    out = fx.root / "out.npz"
    result = run(REFERENCE, folder, "--pixels", fx.root / "p.npy", "--ids", fx.root / "i.npy",
                 "--prefix", fx.root / "q.npy", "--num-beams", "3", "--max-tokens", "9",
                 "--out", out)
    assert result.returncode == 0, result.stderr
    data = np.load(out)
    assert set(data.files) == set(ref.OUTPUT_KEYS), set(data.files) ^ set(ref.OUTPUT_KEYS)
    image = model.encode_image(pixels)
    assert max_diff(data["image_tokens"], image) == 0.0
    assert data["logits"].shape == (2, 5, model.config.vocab_size)
    assert max_diff(data["logits"][1], model.logits(image[1], ids)[0]) == 0.0
    for i in range(2):
        greedy = model.greedy_from_tokens(image[i], [300, 301], 9)
        beam = model.beam_from_tokens(image[i], [300, 301], 3, 9)
        for key, gen in (("greedy", greedy), ("beam", beam)):
            n = int(data[f"{key}_lengths"][i])
            assert data[f"{key}_ids"][i, :n].tolist() == gen.tokens
            assert not data[f"{key}_ids"][i, n:].any()
            assert data[f"{key}_score"][i] == gen.score
            assert bool(data[f"{key}_finished"][i]) == gen.finished


@test
def cli_reports_bad_inputs(fx: Fixtures) -> None:
    folder = fx.checkpoint("plain", "--seed", "11")
    np.save(fx.root / "good.npy", random_pixels(1))
    np.save(fx.root / "small.npy", random_pixels(1, size=16))
    np.save(fx.root / "big_ids.npy", np.array([[CLS, 10 ** 6]]))
    (fx.root / "junk.npy").write_bytes(b"not numpy")
    broken = fx.root / "broken"
    broken.mkdir(exist_ok=True)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "clip"
    (broken / "config.json").write_text(json.dumps(config))
    cases = [
        ((folder, "--pixels", fx.root / "small.npy"), "expected [B, 3, 32, 32]"),
        ((folder, "--pixels", fx.root / "junk.npy"), "junk.npy"),
        ((folder, "--pixels", fx.root / "good.npy", "--ids", fx.root / "big_ids.npy"),
         "token ids must lie"),
        ((fx.root / "nowhere", "--pixels", fx.root / "good.npy"), "config.json"),
        ((broken, "--pixels", fx.root / "good.npy"), "model_type must be 'git'"),
    ]
    for args, words in cases:
        result = run(REFERENCE, *args, "--out", fx.root / "x.npz")
        assert result.returncode == 1, (args, result.stdout)
        assert result.stderr.startswith("error: ") and words in result.stderr, \
            (args, result.stderr)
    missing = fx.root / "missing-weight"
    missing.mkdir(exist_ok=True)
    (missing / "config.json").write_text((folder / "config.json").read_text())
    st = safetensors_io.load(str(folder / "model.safetensors"))
    tensors = {n: np.array(st[n]) for n in st if n != "git.encoder.layer.1.output.dense.bias"}
    safetensors_io.save(str(missing / "model.safetensors"), tensors)
    result = run(REFERENCE, missing, "--pixels", fx.root / "good.npy", "--out",
                 fx.root / "x.npz")
    assert result.returncode == 1 and "git.encoder.layer.1.output.dense.bias" in result.stderr


# ---------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Run every test (or those matching -k); print a summary; exit non-zero on failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", metavar="TEXT", help="run only tests whose name contains TEXT")
    args = parser.parse_args(argv)
    passed = failed = skipped = 0
    with tempfile.TemporaryDirectory(prefix="vlm-gitref-") as tmp:
        fixtures = Fixtures(Path(tmp))
        for func in TESTS:
            if args.k and args.k not in func.__name__:
                continue
            try:
                func(fixtures)
            except Skip as e:
                skipped += 1
                print(f"skip {func.__name__}: {e}")
            except Exception as e:  # noqa: BLE001  (report every failure, keep going)
                failed += 1
                print(f"FAIL {func.__name__}: {e}")
                if not isinstance(e, AssertionError):
                    traceback.print_exc()
            else:
                passed += 1
                print(f"ok   {func.__name__}")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
