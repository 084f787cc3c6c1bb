#!/usr/bin/env python3
"""Golden inputs and outputs for the GIT parity test (tests/test-git.c).

usage: make_git_golden.py MODEL_DIR OUT_DIR [--seed S]

Writes raw little-endian arrays the C test reads directly, and golden.txt,
one "key value…" line per scalar or id list:
  pixels.f32    [3, S, S] one preprocessed image
  logits.f32    [n_ids, V] LM-head logits at every position of `ids`
  golden.txt    ids, greedy (caption) tokens and score, beam-search tokens and
                score, VQA question and answer tokens — all from
                tests/git_reference.py (float64 numpy, independent of the engine).
"""
import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models"))
from git_reference import GitReference  # noqa: E402
import safetensors_io  # noqa: E402

MAX_TOKENS = 8
NUM_BEAMS = 3


def ids_line(name: str, ids) -> str:
    return name + " " + " ".join(str(int(i)) for i in ids)


def gen_lines(name: str, gen) -> list[str]:
    return [ids_line(name, gen.tokens),
            f"{name}_sum {gen.sum_logprob:.9g}",
            f"{name}_score {gen.score:.9g}",
            f"{name}_finished {int(gen.finished)}"]


def write_broken(model_dir: Path, out: Path) -> None:
    """Copies of the model with one defect each, for the loader's error tests."""
    def copy(name: str) -> Path:
        dst = out / f"bad-{name}"
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(model_dir, dst)
        return dst

    st = safetensors_io.load(str(model_dir / "model.safetensors"))
    tensors = {name: np.array(st[name]) for name in st if name != "output.bias"}
    dst = copy("missing-tensor")
    safetensors_io.save(str(dst / "model.safetensors"), tensors, st.metadata,
                        {k: st.dtype(k) for k in tensors})

    dst = copy("config-mismatch")
    cfg = json.loads((dst / "config.json").read_text())
    cfg["intermediate_size"] = cfg["intermediate_size"] + 8
    (dst / "config.json").write_text(json.dumps(cfg, indent=2))

    dst = copy("not-git")
    cfg = json.loads((dst / "config.json").read_text())
    cfg["model_type"] = "clip"
    (dst / "config.json").write_text(json.dumps(cfg, indent=2))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model_dir", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--seed", type=int, default=11)
    a = p.parse_args()
    ref = GitReference(a.model_dir)
    cfg = ref.config
    rng = np.random.default_rng(a.seed)
    s = cfg.vision.image_size if hasattr(cfg.vision, "image_size") else cfg.image_size
    pixels = rng.uniform(-1.8, 2.1, size=(1, 3, s, s)).astype(np.float32)
    bos, eos = cfg.bos_token_id, cfg.eos_token_id
    ordinary = [t for t in range(1000, cfg.vocab_size) if t not in (bos, eos)] or \
        [t for t in range(cfg.vocab_size) if t not in (bos, eos)]
    ids = [bos] + [int(t) for t in rng.choice(ordinary, size=6)]
    question = [int(t) for t in rng.choice(ordinary, size=4)]

    image = ref.encode_image(pixels)
    logits = ref.logits(image, np.array([ids]))[0]
    greedy = ref.greedy_from_tokens(image, (), MAX_TOKENS)
    beam = ref.beam_from_tokens(image, (), NUM_BEAMS, MAX_TOKENS, 1.0)
    beam_vqa = ref.beam_from_tokens(image, question, NUM_BEAMS, MAX_TOKENS, 1.0)
    answer_ids, answer = ref.answer(pixels, question, MAX_TOKENS)

    a.out_dir.mkdir(parents=True, exist_ok=True)
    pixels[0].tofile(a.out_dir / "pixels.f32")
    logits.astype("<f4").tofile(a.out_dir / "logits.f32")
    lines = [f"vocab {cfg.vocab_size}", f"image_size {s}", f"max_tokens {MAX_TOKENS}",
             f"num_beams {NUM_BEAMS}", ids_line("ids", ids), ids_line("question", question)]
    lines += gen_lines("greedy", greedy) + gen_lines("beam", beam)
    lines += gen_lines("beam_vqa", beam_vqa) + gen_lines("answer", answer)
    (a.out_dir / "golden.txt").write_text("\n".join(lines) + "\n")
    write_broken(a.model_dir, a.out_dir)
    print(f"make_git_golden: greedy {greedy.tokens} beam {beam.tokens} -> {a.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
