#!/usr/bin/env python3
"""Write a random-weight CLIP checkpoint in the Hugging Face ``CLIPModel`` layout.

The output folder looks like a downloaded openai/clip-vit-* repository:

* config.json                 -- model_type "clip", text_config, vision_config
* model.safetensors           -- every CLIPModel tensor (F32, or F16/BF16)
* preprocessor_config.json    -- CLIPImageProcessor settings
* vocab.json, merges.txt      -- byte-level BPE built from the original CLIP
                                 vocabulary (../shared/data/...txt.gz)
* special_tokens_map.json, tokenizer_config.json

Weights are normal random numbers (HF-like standard deviations around 0.02,
LayerNorm weights near 1), deterministic given --seed: every tensor has its
own generator seeded from (seed, tensor name), so the values do not depend on
the storage dtype or on the order tensors are written.

Examples:
    make_clip_checkpoint.py --preset tiny /tmp/clip-tiny
    make_clip_checkpoint.py --preset tiny --vocab-size 600 --dtype f16 /tmp/t16
    make_clip_checkpoint.py --preset vit-b-32 --seed 1 /tmp/clip-b32
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
import zlib
from dataclasses import dataclass, asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import safetensors_io  # noqa: E402  (sibling module)

DEFAULT_BPE = (Path(__file__).resolve().parent.parent.parent
               / "shared" / "data" / "clip-bpe-simple-vocab-16e6.txt.gz")
FULL_MERGES = 49152 - 256 - 2          # merges CLIP actually uses: 48 894
SOT, EOT = "<|startoftext|>", "<|endoftext|>"
IMAGE_MEAN = [0.48145466, 0.4578275, 0.40821073]
IMAGE_STD = [0.26862954, 0.26130258, 0.27577711]
LOGIT_SCALE_INIT = 2.6592
DTYPE_NAMES = {"f32": ("F32", "float32"), "f16": ("F16", "float16"),
               "bf16": ("BF16", "bfloat16")}


@dataclass
class Geometry:
    """Every dimension of a CLIP model."""

    vision_hidden: int
    vision_layers: int
    vision_heads: int
    vision_mlp: int
    image_size: int
    patch_size: int
    text_hidden: int
    text_layers: int
    text_heads: int
    text_mlp: int
    max_positions: int
    projection_dim: int
    act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5


PRESETS: dict[str, Geometry] = {
    "tiny": Geometry(32, 2, 2, 64, 32, 8, 32, 2, 2, 64, 77, 16),
    "vit-b-32": Geometry(768, 12, 12, 3072, 224, 32, 512, 12, 8, 2048, 77, 512),
    "vit-b-16": Geometry(768, 12, 12, 3072, 224, 16, 512, 12, 8, 2048, 77, 512),
    "vit-l-14": Geometry(1024, 24, 16, 4096, 224, 14, 768, 12, 12, 3072, 77, 768),
}


class CheckpointError(Exception):
    """Bad arguments or unreadable inputs; the message names the reason."""


# ---------------------------------------------------------------------------
# Tokenizer vocabulary
# ---------------------------------------------------------------------------

def byte_symbols() -> list[str]:
    """The 256 byte-level symbols in bytes_to_unicode order.

    Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves
    and come first; the other 68 bytes follow in byte order, mapped to
    U+0100, U+0101, ...
    """
    printable = (list(range(ord("!"), ord("~") + 1))
                 + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    symbols = [chr(b) for b in printable]
    extra = 0
    for b in range(256):
        if b not in printable:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols


def read_bpe_merges(path: Path) -> list[tuple[str, str]]:
    """The first 48 894 merges of the original gzip vocabulary file."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read the BPE vocabulary: {e}") from e
    merges = []
    for number, line in enumerate(lines[1:FULL_MERGES + 1], start=2):
        parts = line.split()
        if len(parts) != 2:
            raise CheckpointError(f"{path}: line {number} is not a merge 'a b': {line!r}")
        merges.append((parts[0], parts[1]))
    if len(merges) < FULL_MERGES:
        raise CheckpointError(
            f"{path}: holds {len(merges)} merges, expected at least {FULL_MERGES}")
    return merges


def synthetic_merges() -> list[tuple[str, str]]:
    """A handful of merges for when the real vocabulary file is absent."""
    return [("t", "h"), ("i", "n"), ("a", "n"), ("th", "e</w>"), ("e", "r</w>"),
            ("o", "n</w>"), ("in", "g</w>"), ("a", "t</w>"), ("c", "a"),
            ("ca", "t</w>"), ("d", "o"), ("do", "g</w>")]


def build_vocab(merges: list[tuple[str, str]], vocab_size: int | None
                ) -> tuple[list[str], list[tuple[str, str]]]:
    """Vocabulary (id order) and the merges that survive trimming to vocab_size.

    Order: byte symbols, the same with "</w>", one entry per merge, then the
    two specials.  With vocab_size N only the first N-2 regular entries stay
    and the specials take ids N-2 and N-1; a merge stays only if its result
    and both of its parts are kept.
    """
    base = byte_symbols()
    regular = base + [s + "</w>" for s in base] + ["".join(m) for m in merges]
    natural = len(regular) + 2
    if vocab_size is None:
        vocab_size = natural
    if vocab_size < 3:
        raise CheckpointError(f"--vocab-size {vocab_size} is too small (minimum 3)")
    if vocab_size > natural:
        raise CheckpointError(
            f"--vocab-size {vocab_size} exceeds the {natural} entries the BPE vocabulary provides")
    kept = regular[:vocab_size - 2]
    kept_set = set(kept)
    if len(kept_set) != len(kept):
        raise CheckpointError("the BPE vocabulary produces duplicate tokens")
    kept_merges = [m for i, m in enumerate(merges)
                   if 512 + i < vocab_size - 2 and m[0] in kept_set and m[1] in kept_set]
    return kept + [SOT, EOT], kept_merges


def special_token(content: str, with_type: bool) -> dict:
    """An AddedToken description as the real tokenizer files spell it."""
    token = {"content": content, "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": True}
    if with_type:
        token["__type"] = "AddedToken"
    return token


def write_tokenizer(out: Path, vocab: list[str], merges: list[tuple[str, str]],
                    max_positions: int) -> None:
    """Write vocab.json, merges.txt, special_tokens_map.json, tokenizer_config.json."""
    write_json(out / "vocab.json", {tok: i for i, tok in enumerate(vocab)}, compact=True)
    with open(out / "merges.txt", "w", encoding="utf-8", newline="\n") as f:
        f.write("#version: 0.2\n")
        f.writelines(f"{a} {b}\n" for a, b in merges)
    write_json(out / "special_tokens_map.json", {
        "bos_token": special_token(SOT, False),
        "eos_token": special_token(EOT, False),
        "unk_token": special_token(EOT, False),
        "pad_token": EOT,
    })
    write_json(out / "tokenizer_config.json", {
        "unk_token": special_token(EOT, True),
        "bos_token": special_token(SOT, True),
        "eos_token": special_token(EOT, True),
        "pad_token": EOT,
        "add_prefix_space": False,
        "errors": "replace",
        "do_lower_case": True,
        "model_max_length": max_positions,
        "special_tokens_map_file": "./special_tokens_map.json",
        "tokenizer_class": "CLIPTokenizer",
    })


# ---------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------

def write_json(path: Path, obj: object, compact: bool = False) -> None:
    """Write JSON as UTF-8 (non-ASCII kept as is), with a final newline."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        if compact:
            json.dump(obj, f, ensure_ascii=False)
        else:
            json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def model_config(g: Geometry, vocab_size: int, torch_dtype: str, logit_scale: float) -> dict:
    """config.json of a CLIPModel with geometry g."""
    common = {"attention_dropout": 0.0, "dropout": 0.0, "initializer_factor": 1.0,
              "initializer_range": 0.02, "projection_dim": g.projection_dim,
              "hidden_act": g.act, "layer_norm_eps": g.layer_norm_eps}
    text = {"model_type": "clip_text_model", "hidden_size": g.text_hidden,
            "intermediate_size": g.text_mlp, "num_attention_heads": g.text_heads,
            "num_hidden_layers": g.text_layers, "max_position_embeddings": g.max_positions,
            "vocab_size": vocab_size, "bos_token_id": vocab_size - 2,
            "eos_token_id": vocab_size - 1, "pad_token_id": 1, **common}
    vision = {"model_type": "clip_vision_model", "hidden_size": g.vision_hidden,
              "intermediate_size": g.vision_mlp, "num_attention_heads": g.vision_heads,
              "num_hidden_layers": g.vision_layers, "image_size": g.image_size,
              "patch_size": g.patch_size, "num_channels": 3, **common}
    return {"architectures": ["CLIPModel"], "initializer_factor": 1.0,
            "logit_scale_init_value": logit_scale, "model_type": "clip",
            "projection_dim": g.projection_dim, "text_config": text,
            "torch_dtype": torch_dtype, "transformers_version": "4.30.0",
            "vision_config": vision}


def preprocessor_config(image_size: int, legacy: bool) -> dict:
    """preprocessor_config.json; ``legacy`` uses the older int size/crop_size forms."""
    config = {"do_center_crop": True, "do_normalize": True, "do_resize": True,
              "image_mean": IMAGE_MEAN, "image_std": IMAGE_STD, "resample": 3}
    if legacy:
        config.update({"crop_size": image_size, "size": image_size,
                       "feature_extractor_type": "CLIPFeatureExtractor"})
    else:
        config.update({"crop_size": {"height": image_size, "width": image_size},
                       "size": {"shortest_edge": image_size},
                       "do_convert_rgb": True, "do_rescale": True,
                       "rescale_factor": 1 / 255,
                       "image_processor_type": "CLIPImageProcessor"})
    return dict(sorted(config.items()))


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Init:
    """How to fill one tensor: normal(mean, std), or position ids."""

    std: float = 0.02
    mean: float = 0.0
    position_ids: bool = False


def layer_tensors(prefix: str, width: int, mlp: int, layers: int, i: int
                  ) -> list[tuple[str, tuple[int, ...], Init]]:
    """The tensors of encoder layer i (HF-like init scales)."""
    p = f"{prefix}.encoder.layers.{i}"
    in_std = width ** -0.5 * (2 * layers) ** -0.5
    out_std = width ** -0.5
    fc1_std = (2 * width) ** -0.5
    ln = Init(std=0.05, mean=1.0)
    bias = Init(std=0.02)
    specs = []
    for proj in ("k", "v", "q"):
        specs.append((f"{p}.self_attn.{proj}_proj.weight", (width, width), Init(in_std)))
        specs.append((f"{p}.self_attn.{proj}_proj.bias", (width,), bias))
    specs += [
        (f"{p}.self_attn.out_proj.weight", (width, width), Init(out_std)),
        (f"{p}.self_attn.out_proj.bias", (width,), bias),
        (f"{p}.layer_norm1.weight", (width,), ln),
        (f"{p}.layer_norm1.bias", (width,), bias),
        (f"{p}.mlp.fc1.weight", (mlp, width), Init(fc1_std)),
        (f"{p}.mlp.fc1.bias", (mlp,), bias),
        (f"{p}.mlp.fc2.weight", (width, mlp), Init(in_std)),
        (f"{p}.mlp.fc2.bias", (width,), bias),
        (f"{p}.layer_norm2.weight", (width,), ln),
        (f"{p}.layer_norm2.bias", (width,), bias),
    ]
    return specs


def tensor_plan(g: Geometry, vocab_size: int, position_ids: bool
                ) -> list[tuple[str, tuple[int, ...], Init]]:
    """Every tensor of the checkpoint, in CLIPModel state-dict order."""
    dv, dt = g.vision_hidden, g.text_hidden
    ln = Init(std=0.05, mean=1.0)
    bias = Init(std=0.02)
    positions = (g.image_size // g.patch_size) ** 2 + 1
    plan = [
        ("text_model.embeddings.token_embedding.weight", (vocab_size, dt), Init(0.02)),
        ("text_model.embeddings.position_embedding.weight", (g.max_positions, dt), Init(0.01)),
    ]
    if position_ids:
        plan.append(("text_model.embeddings.position_ids", (1, g.max_positions),
                     Init(position_ids=True)))
    for i in range(g.text_layers):
        plan += layer_tensors("text_model", dt, g.text_mlp, g.text_layers, i)
    plan += [
        ("text_model.final_layer_norm.weight", (dt,), ln),
        ("text_model.final_layer_norm.bias", (dt,), bias),
        ("vision_model.embeddings.class_embedding", (dv,), Init(dv ** -0.5)),
        ("vision_model.embeddings.patch_embedding.weight",
         (dv, 3, g.patch_size, g.patch_size), Init(0.02)),
        ("vision_model.embeddings.position_embedding.weight", (positions, dv), Init(0.02)),
    ]
    if position_ids:
        plan.append(("vision_model.embeddings.position_ids", (1, positions),
                     Init(position_ids=True)))
    plan += [("vision_model.pre_layrnorm.weight", (dv,), ln),
             ("vision_model.pre_layrnorm.bias", (dv,), bias)]
    for i in range(g.vision_layers):
        plan += layer_tensors("vision_model", dv, g.vision_mlp, g.vision_layers, i)
    plan += [
        ("vision_model.post_layernorm.weight", (dv,), ln),
        ("vision_model.post_layernorm.bias", (dv,), bias),
        ("visual_projection.weight", (g.projection_dim, dv), Init(dv ** -0.5)),
        ("text_projection.weight", (g.projection_dim, dt), Init(dt ** -0.5)),
    ]
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


def write_weights(path: Path, g: Geometry, vocab_size: int, dtype: str, seed: int,
                  scale: float, logit_scale: float, position_ids: bool) -> int:
    """Write model.safetensors; returns the number of parameters."""
    plan = tensor_plan(g, vocab_size, position_ids)
    inits = {name: (shape, init) for name, shape, init in plan}
    specs = [safetensors_io.TensorSpec(name, "I64" if init.position_ids else dtype, shape)
             for name, shape, init in plan]
    specs.append(safetensors_io.TensorSpec("logit_scale", dtype, ()))

    def produce(spec: safetensors_io.TensorSpec) -> np.ndarray:
        if spec.name == "logit_scale":
            return np.array(logit_scale, dtype=np.float32)
        shape, init = inits[spec.name]
        return make_tensor(spec.name, shape, init, seed, scale)

    safetensors_io.save_streaming(str(path), safetensors_io.sort_specs(specs), produce,
                                  {"format": "pt"})
    return sum(math.prod(s.shape) for s in specs if s.dtype != "I64")


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Write a random-weight CLIP checkpoint in the Hugging Face CLIPModel"
                    " layout (config.json, model.safetensors, tokenizer and preprocessor"
                    " files) into OUT_DIR.",
        epilog="Every --preset value can be overridden by the dimension flags.")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write (created)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny",
                        help="base geometry (default: tiny)")
    dims = parser.add_argument_group("geometry overrides")
    for field in Geometry.__dataclass_fields__:
        if field in ("act", "layer_norm_eps"):
            continue
        dims.add_argument(f"--{field.replace('_', '-')}", type=int, metavar="N")
    dims.add_argument("--act", choices=["quick_gelu", "gelu"],
                      help="hidden_act of both towers (default: quick_gelu)")
    dims.add_argument("--layer-norm-eps", type=float, metavar="EPS")
    dims.add_argument("--vocab-size", type=int, metavar="N",
                      help="keep the first N-2 BPE entries plus the two specials"
                           " (default: the whole vocabulary, 49408)")
    parser.add_argument("--dtype", choices=sorted(DTYPE_NAMES), default="f32",
                        help="storage dtype of the float tensors (default: f32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--init-scale", type=float, default=1.0, metavar="S",
                        help="multiply every standard deviation by S (default: 1)")
    parser.add_argument("--logit-scale", type=float, default=LOGIT_SCALE_INIT,
                        help=f"value of the logit_scale tensor (default: {LOGIT_SCALE_INIT})")
    parser.add_argument("--with-position-ids", action="store_true",
                        help="add the int64 *.position_ids buffers older files carry")
    parser.add_argument("--legacy-preprocessor", action="store_true",
                        help='write the older int forms "size": N, "crop_size": N')
    parser.add_argument("--bpe", type=Path, default=DEFAULT_BPE,
                        help=f"original CLIP BPE vocabulary (default: {DEFAULT_BPE})")
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
        if field not in ("act", "layer_norm_eps") and value <= 0:
            raise CheckpointError(f"--{field.replace('_', '-')} must be positive, got {value}")
    if g.layer_norm_eps <= 0:
        raise CheckpointError("--layer-norm-eps must be positive")
    for tower in ("vision", "text"):
        hidden, heads = getattr(g, f"{tower}_hidden"), getattr(g, f"{tower}_heads")
        if hidden % heads:
            raise CheckpointError(
                f"--{tower}-hidden {hidden} is not divisible by --{tower}-heads {heads}")
    if g.image_size % g.patch_size:
        raise CheckpointError(
            f"--image-size {g.image_size} is not a multiple of --patch-size {g.patch_size}")
    return g


def load_merges(path: Path) -> list[tuple[str, str]]:
    """Real merges if the vocabulary file exists, else a synthetic set (with a note)."""
    if path.exists():
        return read_bpe_merges(path)
    print(f"note: {path} not found: writing a tiny synthetic BPE vocabulary"
          " (byte symbols and a few merges), not the real CLIP one", file=sys.stderr)
    return synthetic_merges()


def run(args: argparse.Namespace) -> None:
    """Write the whole checkpoint folder."""
    started = time.monotonic()
    g = geometry_from_args(args)
    merges = load_merges(args.bpe)
    vocab, kept_merges = build_vocab(merges, args.vocab_size)
    out = Path(args.out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"{out}: cannot create the folder: {e.strerror or e}") from e
    st_dtype, torch_dtype = DTYPE_NAMES[args.dtype]
    write_json(out / "config.json",
               model_config(g, len(vocab), torch_dtype, LOGIT_SCALE_INIT))
    write_json(out / "preprocessor_config.json",
               preprocessor_config(g.image_size, args.legacy_preprocessor))
    write_tokenizer(out, vocab, kept_merges, g.max_positions)
    params = write_weights(out / "model.safetensors", g, len(vocab), st_dtype, args.seed,
                           args.init_scale, args.logit_scale, args.with_position_ids)
    size = (out / "model.safetensors").stat().st_size
    print(f"{out}: CLIP {args.preset} geometry, {params:,} parameters, {st_dtype},"
          f" vocab {len(vocab)} ({len(kept_merges)} merges), model.safetensors"
          f" {size / 1e6:.1f} MB, {time.monotonic() - started:.1f} s")


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
