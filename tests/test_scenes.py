#!/usr/bin/env python3
"""Tests of models/scenes.py (the synthetic scene generator and demo video).

1. determinism: the same (seed, index) gives the same scene and the same
   pixels; other seeds give other scenes; scene i does not depend on N;
2. ground truth: captions parse back to the objects, every question has the
   answer recomputed independently from the objects, questions are unique,
   labels match the objects, the background differs from every object;
3. geometry: objects inside the stage and apart; rendered pixels at object
   centres have the object's colour, the rest is background; side bands of a
   wide frame are background;
4. the demo video: frame count, segment coverage, objects valid at every
   frame time, byte-identical re-render, ground-truth JSON;
5. evaluation helpers and the command line (outputs, errors).

Run: /usr/bin/python3 tests/test_scenes.py   (prints "N passed, M failed")
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "models"))
import scenes  # noqa: E402

SCRIPT = ROOT / "models" / "scenes.py"
PYTHON = sys.executable
N_CHECK = 1500                   # scenes checked by the ground-truth tests
TESTS = []


def test(func):
    """Register a test function."""
    TESTS.append(func)
    return func


def many(seed: int = 11, n: int = N_CHECK) -> list[scenes.Scene]:
    """n scenes of one seed."""
    return [scenes.sample_scene(seed, i) for i in range(n)]


def has_pil() -> bool:
    """Whether Pillow is importable (PNG output)."""
    try:
        import PIL  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------
# 1. Determinism
# ---------------------------------------------------------------------------

@test
def same_seed_same_scene():
    for i in range(50):
        a, b = scenes.sample_scene(5, i), scenes.sample_scene(5, i)
        assert a == b, f"scene {i} differs between two draws"
        assert np.array_equal(scenes.render(a, 96), scenes.render(b, 96))


@test
def other_seed_other_scenes():
    same = sum(scenes.sample_scene(5, i) == scenes.sample_scene(6, i) for i in range(50))
    assert same == 0, f"{same} of 50 scenes equal across seeds"


@test
def rendering_is_resolution_independent():
    scene = scenes.sample_scene(2, 3)
    big = scenes.render(scene, 384).astype(np.float32)
    small = scenes.render(scene, 96).astype(np.float32)
    pooled = big.reshape(96, 4, 96, 4, 3).mean(axis=(1, 3))
    assert np.abs(pooled - small).mean() < 2.0, "a 4x render box-filtered differs from 1x"


# ---------------------------------------------------------------------------
# 2. Ground truth
# ---------------------------------------------------------------------------

@test
def captions_parse_back():
    for s in many():
        caption = s.caption()
        counts, background = scenes.parse_caption(caption)
        assert counts == s.pair_counts(), f"{caption!r} parses to {counts}"
        assert background == s.background, caption
        assert scenes.caption_correct(s, caption)


@test
def caption_grammar():
    for s in many(n=300):
        caption = s.caption()
        words = caption.replace(",", " ,").split()
        assert len(words) <= 18, f"{caption!r} is longer than 18 tokens"
        assert caption.endswith(f" on a {s.background} background"), caption
        groups = scenes.caption_groups(s)
        assert 1 <= len(groups) <= scenes.MAX_GROUPS
        for count, size, colour, shape in groups:
            phrase = scenes.group_phrase(count, size, colour, shape)
            assert phrase in caption, (phrase, caption)
            assert phrase.endswith("s") == (count > 1), phrase


@test
def caption_examples():
    objs = [scenes.Obj("circle", "red", "small", 0.2, 0.2, 0.06),
            scenes.Obj("circle", "red", "small", 0.5, 0.2, 0.06),
            scenes.Obj("square", "blue", "large", 0.5, 0.6, 0.12)]
    s = scenes.Scene("white", objs)
    assert s.caption() == "two small red circles and a large blue square on a white background"
    s = scenes.Scene("gray", [scenes.Obj("star", "orange", "small", 0.5, 0.5, 0.06)])
    assert s.caption() == "a small orange star on a gray background"
    assert s.labels() == ["an orange star"]


def expected_answer(s: scenes.Scene, qa: dict) -> str | None:
    """The answer recomputed from the objects, None if the question is ambiguous."""
    q = qa["question"]
    if qa["kind"] == "color":
        shape = [sh for sh in scenes.SHAPES if f" {sh}?" in q or f" {sh}s?" in q][0]
        colours = {o.colour for o in s.objects if o.shape == shape}
        return colours.pop() if len(colours) == 1 else None
    if qa["kind"] == "count":
        shape = q.split()[2][:-1]
        return scenes.ANSWER_NUMBERS[sum(o.shape == shape for o in s.objects)]
    if qa["kind"] == "yesno":
        colour, shape = q.rstrip("?").split()[-2:]
        return "yes" if any(o.colour == colour and o.shape == shape for o in s.objects) else "no"
    if qa["kind"] == "shape":
        colour = q.rstrip("?").split()[-1]
        shapes = {o.shape for o in s.objects if o.colour == colour}
        return shapes.pop() if len(shapes) == 1 else None
    if qa["kind"] == "background":
        return s.background
    raise AssertionError(f"unknown kind {qa['kind']}")


@test
def every_answer_is_unique_and_right():
    kinds: Counter = Counter()
    for s in many():
        qas = s.qa()
        questions = [qa["question"] for qa in qas]
        assert len(set(questions)) == len(questions), f"repeated question in {questions}"
        for qa in qas + s.qa(every_probe=True):
            assert expected_answer(s, qa) == qa["answer"], (s.caption(), qa)
            kinds[(qa["kind"], qa["answer"])] += 1
    yes, no = kinds[("yesno", "yes")], kinds[("yesno", "no")]
    assert yes and no, "presence questions lack yes or no answers"
    for kind in ("color", "count", "shape", "background"):
        assert sum(v for (k, _), v in kinds.items() if k == kind) > 0, f"no {kind} questions"


@test
def presence_probes_balanced():
    for s in many(n=300):
        answers = Counter(qa["answer"] for qa in s.qa() if qa["kind"] == "yesno")
        assert answers["yes"] == answers["no"] == len(s.pair_counts()), answers
    assert len(s.qa(every_probe=True)) >= len(scenes.label_pairs())


@test
def labels_match_objects():
    labels = scenes.all_labels()
    assert len(labels) == len(set(labels)) == len(scenes.COLOURS) * len(scenes.SHAPES)
    assert "an orange circle" in labels and "a red star" in labels
    for s in many(n=500):
        expected = {scenes.label_of(o.colour, o.shape) for o in s.objects}
        assert set(s.labels()) == expected
        assert all(scenes.label_correct(s, label) for label in expected)
        wrong = [label for label in labels if label not in expected]
        assert not any(scenes.label_correct(s, label) for label in wrong)


@test
def background_never_an_object_colour():
    for s in many():
        assert s.background not in {o.colour for o in s.objects}, s.caption()


@test
def distribution_covers_everything():
    seen: Counter = Counter()
    for s in many():
        seen[("n", len(s.objects))] += 1
        seen[("bg", s.background)] += 1
        for o in s.objects:
            seen[("shape", o.shape)] += 1
            seen[("colour", o.colour)] += 1
            seen[("size", o.size)] += 1
        for g in scenes.caption_groups(s):
            seen[("group", g[0])] += 1
    wanted = ([("n", k) for k in range(1, 5)] + [("bg", b) for b in scenes.BACKGROUNDS]
              + [("shape", s) for s in scenes.SHAPES] + [("colour", c) for c in scenes.COLOURS]
              + [("size", z) for z in scenes.SIZES] + [("group", k) for k in range(1, 5)])
    missing = [w for w in wanted if seen[w] == 0]
    assert not missing, f"never sampled: {missing}"


# ---------------------------------------------------------------------------
# 3. Geometry and pixels
# ---------------------------------------------------------------------------

@test
def objects_inside_and_apart():
    for s in many():
        for k, o in enumerate(s.objects):
            assert scenes.fits(o, s.objects[:k] + s.objects[k + 1:]), s.caption()
            lo, hi = scenes.RADIUS_RANGE[o.size]
            assert lo <= o.r <= hi


@test
def pixels_show_objects():
    for s in many(n=200):
        img = scenes.render(s, 128)
        for o in s.objects:
            x, y = int(o.x * 128), int(o.y * 128)
            got = img[y, x].astype(int)
            want = np.array(scenes.COLOURS[o.colour])
            assert np.abs(got - want).max() <= 1, (s.caption(), o, got)
        covered = np.zeros((128, 128), dtype=bool)
        yy, xx = np.mgrid[0:128, 0:128] + 0.5
        for o in s.objects:
            covered |= np.hypot(xx / 128 - o.x, yy / 128 - o.y) <= o.extent + 2 / 128
        bg = np.array(scenes.BACKGROUNDS[s.background])
        assert (img[~covered] == bg).all(), f"stray pixels outside objects: {s.caption()}"


@test
def shapes_have_distinct_masks():
    u, v = np.meshgrid(np.linspace(-1.5, 1.5, 301), np.linspace(-1.5, 1.5, 301))
    masks = {sh: scenes.shape_mask(sh, u, v) for sh in scenes.SHAPES}
    for a in scenes.SHAPES:
        assert masks[a][150, 150], f"{a} does not cover its centre"
        for b in scenes.SHAPES:
            if a < b:
                diff = (masks[a] ^ masks[b]).mean()
                assert diff > 0.05, f"{a} and {b} masks are too alike ({diff:.3f})"


@test
def wide_frame_keeps_stage_in_the_middle():
    s = scenes.sample_scene(4, 1)
    wide = scenes.render(s, 320, 240)
    square = scenes.render(s, 240)
    assert np.array_equal(wide[:, 40:280], square)
    bg = np.array(scenes.BACKGROUNDS[s.background])
    assert (wide[:, :40] == bg).all() and (wide[:, 280:] == bg).all()


# ---------------------------------------------------------------------------
# 4. Demo video
# ---------------------------------------------------------------------------

@test
def video_segments_valid_at_every_frame():
    segments = scenes.video_segments(9, 9.0, 2.0)
    assert [seg["start"] for seg in segments] == [0, 2, 4, 6, 8]
    assert segments[-1]["end"] == 9.0
    moving = 0
    for seg in segments:
        scene = seg["scene"]
        moving += sum(o.vx != 0 or o.vy != 0 for o in scene.objects)
        for t in np.arange(0, seg["end"] - seg["start"], 1 / 30):
            moved = scene.at(float(t)).objects
            for k, o in enumerate(moved):
                assert scenes.fits(o, moved[:k] + moved[k + 1:]), (seg["index"], t)
        assert scene.caption() == scenes.sample_scene(9, seg["index"]).caption()
    assert moving > 0, "nothing moves"


@test
def video_raw_render(tmp: Path):
    out1, out2 = tmp / "v1", tmp / "v2"
    for out in (out1, out2):
        out.mkdir()
        scenes.write_video(3, 3.0, 5, out, 64, 48, 1.0, "rgb")
    raw = (out1 / "frames.rgb").read_bytes()
    assert raw == (out2 / "frames.rgb").read_bytes(), "video render not deterministic"
    assert len(raw) == 15 * 64 * 48 * 3
    info = json.loads((out1 / "video.json").read_text())
    assert info["frames"] == 15 and len(info["segments"]) == 3
    assert info["caps"] == "video/x-raw,format=RGB,width=64,height=48,framerate=5/1"
    covered = []
    for seg in info["segments"]:
        covered += range(seg["first_frame"], seg["last_frame"] + 1)
        assert seg["caption"] and seg["qa"] and seg["labels"]
    assert covered == list(range(15)), covered
    frames = np.frombuffer(raw, dtype=np.uint8).reshape(15, 48, 64, 3)
    assert not np.array_equal(frames[0], frames[4]), "objects do not move"
    assert len(info["all_labels"]) == 32


# ---------------------------------------------------------------------------
# 5. Evaluation helpers and command line
# ---------------------------------------------------------------------------

@test
def evaluation_helpers():
    s = scenes.Scene("white", [scenes.Obj("circle", "red", "small", 0.2, 0.2, 0.06),
                               scenes.Obj("circle", "red", "large", 0.5, 0.2, 0.11),
                               scenes.Obj("star", "blue", "small", 0.5, 0.6, 0.06)])
    assert scenes.caption_correct(s, "a small red circle, a large red circle and a small"
                                     " blue star on a white background")
    assert scenes.caption_correct(s, "two red circles and a blue star")
    assert scenes.caption_correct(s, "A Blue Star , 2 red circles on a white background.")
    assert not scenes.caption_correct(s, "two red circles on a white background")
    assert not scenes.caption_correct(s, "three red circles and a blue star")
    assert not scenes.caption_correct(s, "two red circles and a green star")
    assert not scenes.caption_correct(s, "two red circles, a blue star and a red square")
    assert scenes.answer_correct({"answer": "two"}, "2")
    assert scenes.answer_correct({"answer": "yes"}, " Yes.")
    assert scenes.answer_correct({"answer": "gray"}, "grey")
    assert not scenes.answer_correct({"answer": "no"}, "")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run scenes.py with arguments."""
    return subprocess.run([PYTHON, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=120)


@test
def cli_sample(tmp: Path):
    if not has_pil():
        print("     (skipped: no Pillow)")
        return
    r = run_cli("sample", "--seed", "4", "--n", "5", "--size", "64", "--out", str(tmp / "a"))
    assert r.returncode == 0, r.stderr
    r = run_cli("sample", "--seed", "4", "--n", "3", "--size", "64", "--out", str(tmp / "b"))
    assert r.returncode == 0, r.stderr
    lines_a = (tmp / "a" / "scenes.jsonl").read_text().splitlines()
    lines_b = (tmp / "b" / "scenes.jsonl").read_text().splitlines()
    assert len(lines_a) == 5 and lines_a[:3] == lines_b, "scene i depends on --n"
    first = json.loads(lines_a[0])
    assert first["caption"] == scenes.sample_scene(4, 0).caption()
    assert (tmp / "a" / "scene_00004.png").exists()
    assert (tmp / "a" / "scene_00000.png").read_bytes() == \
        (tmp / "b" / "scene_00000.png").read_bytes()
    labels = (tmp / "a" / "labels.txt").read_text().splitlines()
    assert labels == scenes.all_labels()
    from PIL import Image
    img = np.asarray(Image.open(tmp / "a" / "scene_00000.png"))
    assert img.shape == (64, 64, 3)
    assert np.array_equal(img, scenes.render(scenes.sample_scene(4, 0), 64))


@test
def cli_video_png(tmp: Path):
    if not has_pil():
        print("     (skipped: no Pillow)")
        return
    r = run_cli("video", "--seed", "2", "--seconds", "1", "--fps", "4", "--out",
                str(tmp / "v"), "--width", "80", "--height", "60")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp / "v").glob("frame_*.png")) == \
        [f"frame_{i:05d}.png" for i in range(4)]
    info = json.loads((tmp / "v" / "video.json").read_text())
    assert info["pattern"] == "frame_%05d.png" and info["width"] == 80


@test
def cli_errors(tmp: Path):
    r = run_cli("video", "--seed", "1", "--seconds", "0", "--fps", "5", "--out", str(tmp / "x"))
    assert r.returncode == 1 and r.stderr.startswith("error:"), r.stderr
    r = run_cli("sample", "--seed", "1", "--n", "-1", "--out", str(tmp / "y"))
    assert r.returncode == 1 and "error:" in r.stderr, r.stderr
    blocker = tmp / "file"
    blocker.write_text("")
    r = run_cli("video", "--seed", "1", "--seconds", "1", "--fps", "1", "--format", "rgb",
                "--out", str(blocker / "sub"))
    assert r.returncode == 1 and "cannot create" in r.stderr, r.stderr


def main(argv: list[str] | None = None) -> int:
    """Run every test (or those matching -k); print a summary; exit non-zero on failure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", metavar="TEXT", help="run only tests whose name contains TEXT")
    args = parser.parse_args(argv)
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="vlm-scenes-") as tmp:
        for func in TESTS:
            if args.k and args.k not in func.__name__:
                continue
            workdir = Path(tmp) / func.__name__
            workdir.mkdir()
            try:
                if func.__code__.co_argcount:
                    func(workdir)
                else:
                    func()
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
