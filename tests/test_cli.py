#!/usr/bin/env python3
"""The `vlm` command line on the tiny random checkpoints: outputs and bad inputs.

usage: test_cli.py VLM_BINARY CLIP_DIR GIT_DIR

Checks the JSON of embed-image, embed-text, match, caption and ask, and that
bad inputs (missing or corrupt image, missing model, missing tokenizer files,
non-UTF-8 text, unknown device, bad options) exit non-zero with a message
naming the thing at fault — never a crash. Prints "N passed, M failed"."""
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

VLM, CLIP, GIT = sys.argv[1:4] if len(sys.argv) == 4 else (None, None, None)
results = {"passed": 0, "failed": 0}


def run(*args: str | bytes, **extra_env: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, VLM_DEVICE="cpu", **extra_env)
    return subprocess.run([VLM, *args], capture_output=True, env=env, timeout=300)


def check(name: str, ok: bool, detail: str = "") -> None:
    results["passed" if ok else "failed"] += 1
    print(f"{'ok' if ok else 'FAIL'} {name}{'' if ok else ': ' + detail}")


def write_png(path: Path, w: int, h: int) -> None:
    """A small RGB PNG written with zlib alone (no image library needed)."""
    rows = b"".join(b"\x00" + bytes((x * 7 + y * 3) % 256 for x in range(w * 3)) for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def expect_error(name: str, proc: subprocess.CompletedProcess, *needles: str, code: int = 1) -> None:
    err = proc.stderr.decode(errors="replace")
    ok = proc.returncode == code and all(n in err for n in needles)
    check(name, ok, f"exit {proc.returncode}, stderr {err.strip()!r}, wanted {needles}")


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def main() -> int:
    if not VLM:
        print(__doc__)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="vlm-cli-"))
    try:
        img = tmp / "picture.png"
        write_png(img, 61, 47)
        proj = json.loads((Path(CLIP) / "config.json").read_text())["projection_dim"]

        p = run("embed-image", "--model", CLIP, str(img), str(img))
        out = json.loads(p.stdout) if p.returncode == 0 else {}
        embs = [i["embedding"] for i in out.get("images", [])]
        check("embed-image", len(embs) == 2 and all(len(e) == proj for e in embs)
              and all(abs(norm(e) - 1) < 1e-4 for e in embs) and embs[0] == embs[1],
              p.stderr.decode())

        p = run("embed-text", "--model", CLIP, "a red circle", "")
        out = json.loads(p.stdout) if p.returncode == 0 else {}
        texts = out.get("texts", [])
        check("embed-text", len(texts) == 2 and all(abs(norm(t["embedding"]) - 1) < 1e-4
                                                    for t in texts), p.stderr.decode())

        p = run("match", "--model", CLIP, str(img), "red", "green", "blue")
        out = json.loads(p.stdout) if p.returncode == 0 else {}
        probs = [m["probability"] for m in out.get("matches", [])]
        check("match", len(probs) == 3 and abs(sum(probs) - 1) < 1e-5
              and out.get("best") in ("red", "green", "blue"), p.stderr.decode())

        p = run("caption", "--model", GIT, "--max-tokens", "5", str(img))
        check("caption", p.returncode == 0 and "caption" in p.stdout.decode(), p.stderr.decode())
        p = run("ask", "--model", GIT, "--max-tokens", "5", str(img), "what color is it?")
        check("ask", p.returncode == 0 and "answer" in p.stdout.decode(), p.stderr.decode())

        p = run("devices")
        check("devices", p.returncode == 0 and b"cpu" in p.stdout, p.stderr.decode())

        # Bad inputs.
        expect_error("missing image", run("embed-image", "--model", CLIP, str(tmp / "nope.png")),
                     "nope.png")
        junk = tmp / "junk.png"
        junk.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
        expect_error("corrupt image", run("embed-image", "--model", CLIP, str(junk)), "junk.png")
        expect_error("missing model", run("embed-image", "--model", str(tmp / "nomodel"), str(img)),
                     "nomodel")
        no_tok = tmp / "clip-no-tokenizer"
        shutil.copytree(CLIP, no_tok)
        (no_tok / "vocab.json").unlink()
        expect_error("missing tokenizer", run("embed-text", "--model", str(no_tok), "a cat"),
                     "tokenizer")
        expect_error("non-UTF-8 text", run("embed-text", "--model", CLIP, b"caf\xc3"), "UTF-8")
        expect_error("unknown device", run("embed-text", "--model", CLIP, "--device", "tpu:3",
                                           "a cat"), "tpu:3")
        expect_error("bad weights option", run("embed-text", "--model", CLIP, "--weights", "f8",
                                               "a cat"), "f8", code=2)
        # no --model: the demo CLIP, here made absent; the message says where it looked
        expect_error("no model option", run("embed-text", "a cat",
                                            VLM_DEMO_MODELS="/nonexistent/demo-models"),
                     "--model", "/nonexistent/demo-models/clip", code=2)
        expect_error("empty question", run("ask", "--model", GIT, str(img), "  "), "question",
                     code=2)
        expect_error("CLIP folder for caption", run("caption", "--model", CLIP, str(img)),
                     "not a GIT model")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
