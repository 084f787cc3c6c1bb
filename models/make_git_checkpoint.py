#!/usr/bin/env python3
"""Write a random-weight GIT checkpoint in the Hugging Face ``GitForCausalLM`` layout.

The output folder looks like a downloaded microsoft/git-base* repository:

* config.json               -- model_type "git", decoder geometry, vision_config
* model.safetensors         -- every GitForCausalLM tensor (F32, or F16/BF16)
* preprocessor_config.json  -- CLIPImageProcessor settings (shortest edge = crop = image size)
* vocab.txt                 -- BERT-style uncased WordPiece vocabulary, one token a line
* tokenizer_config.json, special_tokens_map.json -- as bert-base-uncased spells them

The vocabulary comes from tests/make_wordpiece_vocab.py when that module is
importable; otherwise a small built-in one is written (with a note on stderr):
[PAD]=0, [unused0..98]=1..99, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103,
then characters, ``##`` characters and a few hundred words.  --vocab-size
pads with further [unusedN] entries or trims the tail.

Weights are normal random numbers (standard deviations around 0.02, LayerNorm
weights near 1, small non-zero biases), deterministic given --seed: every
tensor has its own generator seeded from (seed, CRC32 of its name), so values
do not depend on the storage dtype, the write order or on which optional
tensors are present.

Examples:
    make_git_checkpoint.py --preset tiny /tmp/git-tiny
    make_git_checkpoint.py --preset tiny --tie-lm-head --dtype f16 /tmp/git-tied
    make_git_checkpoint.py --preset git-base --seed 1 /tmp/git-base
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import string
import sys
import time
import zlib
from dataclasses import dataclass, asdict
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent
TESTS_DIR = MODELS_DIR.parent / "tests"
sys.path.insert(0, str(MODELS_DIR))
import safetensors_io  # noqa: E402  (sibling module)

IMAGE_MEAN = [0.48145466, 0.4578275, 0.40821073]
IMAGE_STD = [0.26862954, 0.26130258, 0.27577711]
DTYPE_NAMES = {"f32": ("F32", "float32"), "f16": ("F16", "float16"),
               "bf16": ("BF16", "bfloat16")}
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = 0, 100, 101, 102, 103
SPECIALS = {PAD_ID: "[PAD]", UNK_ID: "[UNK]", CLS_ID: "[CLS]", SEP_ID: "[SEP]",
            MASK_ID: "[MASK]"}
DECODER_EPS = 1e-12
VISION_EPS = 1e-5


@dataclass
class Geometry:
    """Every dimension of a GIT model (vocab_size None = the vocabulary's size)."""

    vision_hidden: int
    vision_layers: int
    vision_heads: int
    vision_mlp: int
    image_size: int
    patch_size: int
    hidden: int
    layers: int
    heads: int
    mlp: int
    max_positions: int
    projection_dim: int
    vocab_size: int | None = None


PRESETS: dict[str, Geometry] = {
    "tiny": Geometry(32, 2, 2, 64, 32, 8, 32, 2, 2, 64, 64, 16),
    "git-base": Geometry(768, 12, 12, 3072, 224, 16, 768, 6, 12, 3072, 1024, 512, 30522),
}


class CheckpointError(Exception):
    """Bad arguments or unwritable output; the message names the reason."""


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

# Words of the built-in fallback vocabulary (caption-like English), lowercase.
FALLBACK_WORDS = """
the a an of and in on with to at is are was were be been it its this that these those
there here for from by as or but not no yes two three four five one six seven eight nine
ten some many several other each two man woman men women person people boy girl child
children baby kid kids player players guy lady group crowd family couple friends team
dog dogs cat cats horse horses bird birds cow cows sheep elephant elephants giraffe
giraffes zebra zebras bear bears animal animals fish duck ducks
car cars truck trucks bus buses train trains bike bicycle motorcycle motorcycles boat
boats plane airplane airplanes jet kite kites road street streets sidewalk track tracks
table tables chair chairs bench couch bed desk shelf kitchen room bathroom toilet sink
window windows door wall floor ceiling building buildings house tower clock sign signs
light lights pole fence grass field tree trees park beach water ocean sea lake river
snow sky cloud clouds mountain mountains hill rock rocks sand wave waves
food pizza plate plates bowl cup cake sandwich banana bananas apple apples orange
oranges broccoli vegetables fruit hot donut donuts bread meat cheese glass bottle wine
coffee
phone laptop computer keyboard mouse screen television tv remote book books bag umbrella
hat shirt jacket tie glasses frisbee ball bat racket skateboard surfboard skis board
red blue green yellow white black brown gray grey pink purple orange colorful large
small big little tall young old new open full empty wooden metal
sitting standing walking running riding holding playing eating looking flying laying
lying parked sits stands walks rides holds plays eats looks flies lays waiting talking
wearing carrying watching using swinging throwing catching hitting jumping driving
next near top front back side middle inside outside under over behind around down up
while into through along across during during
what where who how why which when does do did can could would should will
picture image photo view close shot scene area
""".split()
FALLBACK_SUFFIXES = ["s", "es", "ed", "ing", "er", "ers", "est", "ly", "y", "ion", "ions",
                     "al", "ful", "ness", "ment", "able"]


def fallback_vocab() -> list[str]:
    """The built-in minimal BERT-style vocabulary (used without make_wordpiece_vocab)."""
    tokens = [SPECIALS[PAD_ID]] + [f"[unused{i}]" for i in range(99)]
    tokens += [SPECIALS[UNK_ID], SPECIALS[CLS_ID], SPECIALS[SEP_ID], SPECIALS[MASK_ID]]
    chars = list(string.punctuation) + list(string.digits) + list(string.ascii_lowercase)
    tokens += chars
    tokens += ["##" + c for c in string.digits + string.ascii_lowercase]
    seen = set(tokens)
    for word in FALLBACK_WORDS + ["##" + s for s in FALLBACK_SUFFIXES]:
        if word not in seen:
            seen.add(word)
            tokens.append(word)
    return tokens


def generated_vocab() -> list[str] | None:
    """The vocabulary of tests/make_wordpiece_vocab.py, or None if it is not importable.

    Uses its ``build_vocab(BUILTIN_WORDS, BUILTIN_PIECES)`` (the same list as
    its ``basic`` command): specials, characters, ``##`` characters, caption
    and question words, ``##`` word endings.
    """
    if not (TESTS_DIR / "make_wordpiece_vocab.py").exists():
        return None
    sys.path.insert(0, str(TESTS_DIR))
    try:
        module = importlib.import_module("make_wordpiece_vocab")
    except Exception as e:  # noqa: BLE001  (a broken sibling must not stop us)
        print(f"note: tests/make_wordpiece_vocab.py does not import ({e});"
              " using the built-in vocabulary", file=sys.stderr)
        return None
    finally:
        sys.path.remove(str(TESTS_DIR))
    build = getattr(module, "build_vocab", None)
    if not callable(build):
        print("note: tests/make_wordpiece_vocab.py has no build_vocab(); using the built-in"
              " vocabulary", file=sys.stderr)
        return None
    try:
        return list(build(getattr(module, "BUILTIN_WORDS", ()),
                          getattr(module, "BUILTIN_PIECES", ())))
    except (TypeError, ValueError) as e:
        print(f"note: tests/make_wordpiece_vocab.py build_vocab() failed ({e}); using the"
              " built-in vocabulary", file=sys.stderr)
        return None


def read_vocab_file(path: Path) -> list[str]:
    """Tokens of an existing vocab.txt (one a line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{path}: not UTF-8 ({e.reason})") from e
    tokens = text.split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    return [t.rstrip("\r") for t in tokens]


def check_vocab(tokens: list[str], origin: str) -> None:
    """The special tokens must sit at their BERT ids and tokens must be unique."""
    for token_id, token in SPECIALS.items():
        if len(tokens) <= token_id or tokens[token_id] != token:
            found = tokens[token_id] if len(tokens) > token_id else "nothing"
            raise CheckpointError(f"{origin}: id {token_id} must be {token}, found {found!r}")
    if len(set(tokens)) != len(tokens):
        raise CheckpointError(f"{origin}: the vocabulary has duplicate tokens")
    bad = [t for t in tokens if not t or any(c.isspace() for c in t)]
    if bad:
        raise CheckpointError(f"{origin}: token {bad[0]!r} is empty or contains whitespace")


def sized_vocab(tokens: list[str], size: int | None) -> list[str]:
    """Pad with [unusedN] (N continuing after the highest present) or trim to ``size``."""
    if size is None:
        return tokens
    if size <= MASK_ID:
        raise CheckpointError(f"--vocab-size {size} is too small: the specials need ids up to"
                              f" {MASK_ID}")
    if size <= len(tokens):
        return tokens[:size]
    used = set(tokens)
    out = list(tokens)
    n = 99
    while len(out) < size:
        candidate = f"[unused{n}]"
        if candidate not in used:
            out.append(candidate)
        n += 1
    return out


def choose_vocab(size: int | None, builtin: bool, vocab_file: Path | None
                 ) -> tuple[list[str], str]:
    """The vocabulary to write and a word on where it came from."""
    if vocab_file is not None:
        tokens, origin = read_vocab_file(vocab_file), str(vocab_file)
    else:
        tokens = None if builtin else generated_vocab()
        origin = "tests/make_wordpiece_vocab.py"
    if tokens is None:
        if not builtin:
            print("note: tests/make_wordpiece_vocab.py not available: writing the small"
                  " built-in vocabulary", file=sys.stderr)
        tokens, origin = fallback_vocab(), "built-in vocabulary"
    check_vocab(tokens, origin)
    return sized_vocab(tokens, size), origin


# ---------------------------------------------------------------------------
# Configs and tokenizer files
# ---------------------------------------------------------------------------

def write_json(path: Path, obj: object) -> None:
    """Write JSON as UTF-8 with two-space indentation and a final newline."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def model_config(g: Geometry, vocab_size: int, torch_dtype: str, tied: bool) -> dict:
    """config.json of a GitForCausalLM with geometry g (keys as in microsoft/git-base)."""
    vision = {"model_type": "git_vision_model", "hidden_size": g.vision_hidden,
              "intermediate_size": g.vision_mlp, "num_attention_heads": g.vision_heads,
              "num_hidden_layers": g.vision_layers, "image_size": g.image_size,
              "patch_size": g.patch_size, "num_channels": 3, "hidden_act": "quick_gelu",
              "layer_norm_eps": VISION_EPS, "projection_dim": g.projection_dim,
              "dropout": 0.0, "attention_dropout": 0.0, "initializer_range": 0.02,
              "initializer_factor": 1.0}
    return {"architectures": ["GitForCausalLM"], "model_type": "git",
            "attention_probs_dropout_prob": 0.1, "hidden_dropout_prob": 0.1,
            "bos_token_id": CLS_ID, "eos_token_id": SEP_ID, "pad_token_id": PAD_ID,
            "classifier_dropout": None, "hidden_act": "gelu", "hidden_size": g.hidden,
            "initializer_range": 0.02, "intermediate_size": g.mlp,
            "layer_norm_eps": DECODER_EPS, "max_position_embeddings": g.max_positions,
            "num_attention_heads": g.heads, "num_hidden_layers": g.layers,
            "num_image_with_embedding": None, "position_embedding_type": "absolute",
            "tie_word_embeddings": tied, "torch_dtype": torch_dtype,
            "transformers_version": "4.30.0", "use_cache": True,
            "vision_config": vision, "vocab_size": vocab_size}


def preprocessor_config(image_size: int) -> dict:
    """preprocessor_config.json as the git-base repositories have it (CLIPImageProcessor)."""
    return {"crop_size": {"height": image_size, "width": image_size},
            "do_center_crop": True, "do_convert_rgb": True, "do_normalize": True,
            "do_rescale": True, "do_resize": True, "image_mean": IMAGE_MEAN,
            "image_processor_type": "CLIPImageProcessor", "image_std": IMAGE_STD,
            "processor_class": "GitProcessor", "resample": 3, "rescale_factor": 1 / 255,
            "size": {"shortest_edge": image_size}}


def write_tokenizer(out: Path, tokens: list[str]) -> None:
    """vocab.txt, tokenizer_config.json and special_tokens_map.json."""
    with open(out / "vocab.txt", "w", encoding="utf-8", newline="\n") as f:
        f.writelines(token + "\n" for token in tokens)
    names = {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]",
             "sep_token": "[SEP]", "unk_token": "[UNK]"}
    write_json(out / "special_tokens_map.json", names)
    write_json(out / "tokenizer_config.json", {
        **names, "do_basic_tokenize": True, "do_lower_case": True,
        "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 512,
        "never_split": None, "processor_class": "GitProcessor", "strip_accents": None,
        "tokenize_chinese_chars": True, "tokenizer_class": "BertTokenizer"})


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Init:
    """How to fill one tensor: normal(mean, std), or position ids."""

    std: float = 0.02
    mean: float = 0.0
    position_ids: bool = False


LN = Init(std=0.05, mean=1.0)
BIAS = Init(std=0.02)


def layer_norm_specs(name: str, width: int) -> list[tuple[str, tuple[int, ...], Init]]:
    """weight and bias of one LayerNorm."""
    return [(f"{name}.weight", (width,), LN), (f"{name}.bias", (width,), BIAS)]


def linear_specs(name: str, n_out: int, n_in: int, std: float
                 ) -> list[tuple[str, tuple[int, ...], Init]]:
    """weight [out, in] and bias [out] of one Linear."""
    return [(f"{name}.weight", (n_out, n_in), Init(std)), (f"{name}.bias", (n_out,), BIAS)]


def vision_layer_specs(prefix: str, g: Geometry, i: int
                       ) -> list[tuple[str, tuple[int, ...], Init]]:
    """The tensors of CLIP vision encoder layer i."""
    p = f"{prefix}.encoder.layers.{i}"
    d, m = g.vision_hidden, g.vision_mlp
    in_std = d ** -0.5 * (2 * g.vision_layers) ** -0.5
    specs = []
    for proj in ("k", "v", "q"):
        specs += linear_specs(f"{p}.self_attn.{proj}_proj", d, d, in_std)
    specs += linear_specs(f"{p}.self_attn.out_proj", d, d, d ** -0.5)
    specs += layer_norm_specs(f"{p}.layer_norm1", d)
    specs += linear_specs(f"{p}.mlp.fc1", m, d, (2 * d) ** -0.5)
    specs += linear_specs(f"{p}.mlp.fc2", d, m, in_std)
    specs += layer_norm_specs(f"{p}.layer_norm2", d)
    return specs


def decoder_layer_specs(g: Geometry, i: int) -> list[tuple[str, tuple[int, ...], Init]]:
    """The tensors of BERT-style decoder layer i."""
    p = f"git.encoder.layer.{i}"
    d, m = g.hidden, g.mlp
    specs = []
    for proj in ("query", "key", "value"):
        specs += linear_specs(f"{p}.attention.self.{proj}", d, d, d ** -0.5)
    specs += linear_specs(f"{p}.attention.output.dense", d, d, d ** -0.5)
    specs += layer_norm_specs(f"{p}.attention.output.LayerNorm", d)
    specs += linear_specs(f"{p}.intermediate.dense", m, d, d ** -0.5)
    specs += linear_specs(f"{p}.output.dense", d, m, m ** -0.5)
    specs += layer_norm_specs(f"{p}.output.LayerNorm", d)
    return specs


def tensor_plan(g: Geometry, vocab_size: int, tied: bool, position_ids: bool
                ) -> list[tuple[str, tuple[int, ...], Init]]:
    """Every tensor of the checkpoint, in GitForCausalLM state-dict order."""
    dv, d = g.vision_hidden, g.hidden
    vis = "git.image_encoder.vision_model"
    n_img = (g.image_size // g.patch_size) ** 2 + 1
    plan = [("git.embeddings.word_embeddings.weight", (vocab_size, d), Init(0.02)),
            ("git.embeddings.position_embeddings.weight", (g.max_positions, d), Init(0.02))]
    plan += layer_norm_specs("git.embeddings.LayerNorm", d)
    if position_ids:
        plan.append(("git.embeddings.position_ids", (1, g.max_positions),
                     Init(position_ids=True)))
    plan += [(f"{vis}.embeddings.class_embedding", (dv,), Init(dv ** -0.5)),
             (f"{vis}.embeddings.patch_embedding.weight", (dv, 3, g.patch_size, g.patch_size),
              Init(0.02)),
             (f"{vis}.embeddings.position_embedding.weight", (n_img, dv), Init(0.02))]
    if position_ids:
        plan.append((f"{vis}.embeddings.position_ids", (1, n_img), Init(position_ids=True)))
    plan += layer_norm_specs(f"{vis}.pre_layrnorm", dv)
    for i in range(g.vision_layers):
        plan += vision_layer_specs(vis, g, i)
    plan += layer_norm_specs(f"{vis}.post_layernorm", dv)
    for i in range(g.layers):
        plan += decoder_layer_specs(g, i)
    plan += linear_specs("git.visual_projection.visual_projection.0", d, dv, dv ** -0.5)
    plan += layer_norm_specs("git.visual_projection.visual_projection.1", d)
    head = linear_specs("output", vocab_size, d, 0.02)
    plan += head[1:] if tied else head
    return plan


def make_tensor(name: str, shape: tuple[int, ...], init: Init, seed: int,
                scale: float) -> np.ndarray:
    """Deterministic random tensor: its own generator from (seed, crc32(name))."""
    if init.position_ids:
        return np.arange(shape[-1], dtype=np.int64).reshape(shape)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    values = rng.standard_normal(shape, dtype=np.float32)
    values *= np.float32(init.std * scale)
    if init.mean:
        values += np.float32(init.mean)
    return values


def head_weight_name(plan: list[tuple[str, tuple[int, ...], Init]]) -> str:
    """The tensor the LM head multiplies by: output.weight, or the word embeddings if tied."""
    names = {name for name, _, _ in plan}
    return "output.weight" if "output.weight" in names else "git.embeddings.word_embeddings.weight"


def write_weights(path: Path, plan: list[tuple[str, tuple[int, ...], Init]], dtype: str,
                  seed: int, scale: float, head_scale: float, sep_bias: float) -> int:
    """Write model.safetensors; returns the number of float parameters.

    ``head_scale`` further multiplies the LM-head weight (output.weight, or
    the word embeddings when tied); ``sep_bias`` is added to
    output.bias[SEP].  Both make random models' next-token distributions
    less flat, which generation tests need.
    """
    head = head_weight_name(plan)
    inits = {name: (shape, init) for name, shape, init in plan}
    specs = [safetensors_io.TensorSpec(name, "I64" if init.position_ids else dtype, shape)
             for name, shape, init in plan]

    def produce(spec: safetensors_io.TensorSpec) -> np.ndarray:
        shape, init = inits[spec.name]
        values = make_tensor(spec.name, shape, init, seed,
                             scale * (head_scale if spec.name == head else 1.0))
        if spec.name == "output.bias" and sep_bias:
            values[SEP_ID] += np.float32(sep_bias)
        return values

    safetensors_io.save_streaming(str(path), safetensors_io.sort_specs(specs), produce,
                                  {"format": "pt"})
    return sum(math.prod(s.shape) for s in specs if s.dtype != "I64")


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

OVERRIDES = {
    "vision_hidden": "vision_config.hidden_size",
    "vision_layers": "vision_config.num_hidden_layers",
    "vision_heads": "vision_config.num_attention_heads",
    "vision_mlp": "vision_config.intermediate_size", "image_size": "vision_config.image_size",
    "patch_size": "vision_config.patch_size", "hidden": "decoder hidden_size",
    "layers": "decoder num_hidden_layers", "heads": "decoder num_attention_heads",
    "mlp": "decoder intermediate_size", "max_positions": "max_position_embeddings",
    "projection_dim": "vision_config.projection_dim (unused by GIT)",
    "vocab_size": "vocab_size: pads vocab.txt with [unusedN] or trims it",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Write a random-weight GIT checkpoint in the Hugging Face GitForCausalLM"
                    " layout (config.json, model.safetensors, vocab.txt, tokenizer and"
                    " preprocessor files) into OUT_DIR.",
        epilog="Every --preset value can be overridden by the dimension flags.")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write (created)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny",
                        help="base geometry (default: tiny)")
    dims = parser.add_argument_group("geometry overrides")
    for field, meaning in OVERRIDES.items():
        dims.add_argument(f"--{field.replace('_', '-')}", type=int, metavar="N", help=meaning)
    parser.add_argument("--dtype", choices=sorted(DTYPE_NAMES), default="f32",
                        help="storage dtype of the float tensors (default: f32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--init-scale", type=float, default=1.0, metavar="S",
                        help="multiply every standard deviation by S (default: 1)")
    parser.add_argument("--tie-lm-head", action="store_true",
                        help="omit output.weight (tied to the word embeddings;"
                             " config tie_word_embeddings true)")
    parser.add_argument("--head-scale", type=float, default=1.0, metavar="S",
                        help="multiply the LM-head weight's standard deviation by a further S"
                             " (peakier next-token distributions; default: 1)")
    parser.add_argument("--sep-bias", type=float, default=0.0, metavar="B",
                        help="add B to output.bias[102] so that random models emit [SEP]"
                             " sooner (default: 0)")
    parser.add_argument("--with-position-ids", action="store_true",
                        help="add the int64 *.position_ids buffers older files carry")
    vocab = parser.add_mutually_exclusive_group()
    vocab.add_argument("--builtin-vocab", action="store_true",
                       help="use the small built-in vocabulary even if"
                            " tests/make_wordpiece_vocab.py exists")
    vocab.add_argument("--vocab", type=Path, metavar="VOCAB.txt",
                       help="copy this vocab.txt (BERT special ids required) instead of"
                            " generating one")
    return parser.parse_args(argv)


def geometry_from_args(args: argparse.Namespace) -> Geometry:
    """The preset with the command-line overrides applied, validated."""
    values = asdict(PRESETS[args.preset])
    for field in values:
        override = getattr(args, field, None)
        if override is not None:
            values[field] = override
    g = Geometry(**values)
    for field, value in asdict(g).items():
        if value is not None and value <= 0:
            raise CheckpointError(f"--{field.replace('_', '-')} must be positive, got {value}")
    for hidden, heads, name in ((g.vision_hidden, g.vision_heads, "vision-"),
                                (g.hidden, g.heads, "")):
        if hidden % heads:
            raise CheckpointError(
                f"--{name}hidden {hidden} is not divisible by --{name}heads {heads}")
    if g.image_size % g.patch_size:
        raise CheckpointError(
            f"--image-size {g.image_size} is not a multiple of --patch-size {g.patch_size}")
    return g


def run(args: argparse.Namespace) -> None:
    """Write the whole checkpoint folder."""
    started = time.monotonic()
    g = geometry_from_args(args)
    tokens, origin = choose_vocab(g.vocab_size, args.builtin_vocab, args.vocab)
    out = Path(args.out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"{out}: cannot create the folder: {e.strerror or e}") from e
    st_dtype, torch_dtype = DTYPE_NAMES[args.dtype]
    write_json(out / "config.json", model_config(g, len(tokens), torch_dtype, args.tie_lm_head))
    write_json(out / "preprocessor_config.json", preprocessor_config(g.image_size))
    write_tokenizer(out, tokens)
    plan = tensor_plan(g, len(tokens), args.tie_lm_head, args.with_position_ids)
    params = write_weights(out / "model.safetensors", plan, st_dtype, args.seed,
                           args.init_scale, args.head_scale, args.sep_bias)
    size = (out / "model.safetensors").stat().st_size
    print(f"{out}: GIT {args.preset} geometry, {params:,} parameters, {st_dtype},"
          f" vocab {len(tokens)} ({origin}), model.safetensors {size / 1e6:.1f} MB,"
          f" {time.monotonic() - started:.1f} s")


def main(argv: list[str] | None = None) -> int:
    """Entry point: returns the process exit status."""
    args = parse_args(argv)
    try:
        run(args)
    except (CheckpointError, safetensors_io.SafetensorsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {getattr(e, 'filename', '') or ''}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
