#!/usr/bin/env python3
"""Synthetic scenes of coloured shapes with known ground truth.

A scene is 1-4 objects (circle, square, triangle, star; eight colours; small
or large) on a plain background (white, black or gray, never the colour of
an object).  Every scene carries:

* a caption in a fixed grammar, e.g.
  "two small red circles and a large blue square on a white background"
  (groups of identical size+colour+shape, ordered by shape, colour, size;
  at most three groups, so a caption is at most 18 WordPiece tokens and a
  decoder limit of 20 tokens including [SEP] always suffices);
* question/answer pairs whose answer is unique by construction:
  colour of a shape ("what color is the square?" only when all squares share
  one colour), count ("how many circles are there?" -> "two", or "zero"),
  presence ("is there a green triangle?" -> "yes"/"no"), shape of a colour
  ("what shape is red?" only when all red objects share one shape) and
  the background colour;
* its matching labels ("a red circle"), one per colour+shape present; the
  full label set (every colour x shape) is :func:`all_labels`.

Geometry is resolution independent: objects live on a unit "stage", the
central square of the canvas (side = the canvas's shorter side), so a
320x240 frame shows the stage in its middle 240x240 and the side bands are
plain background.  That is exactly the region a CLIP-style preprocessor
keeps (short side resize, centre crop).  Shapes are drawn with numpy masks,
4x4 supersampled for anti-aliasing.

Scene i of seed S comes from numpy's generator seeded with [S, i], so a scene
does not depend on how many others are drawn.

Command line (PNG writing needs python3-pil; otherwise use --format rgb):
    scenes.py sample --seed S --n N --out DIR [--size 224]
        DIR/scene_00000.png ..., DIR/scenes.jsonl (one JSON object per scene),
        DIR/labels.txt (every colour x shape label, one a line)
    scenes.py video --seed S --seconds T --fps F --out DIR [--width 320 --height 240]
        DIR/frame_00000.png ... (or DIR/frames.rgb), DIR/video.json (ground truth
        per scene segment: start/end time, caption, QA, labels)

Evaluation helpers for captions, answers and labels (parse_caption,
caption_correct, answer_correct, label_correct) are importable.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

SHAPES = ("circle", "square", "triangle", "star")
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "yellow": (245, 215, 30),
    "purple": (140, 50, 180),
    "orange": (250, 135, 20),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
BACKGROUNDS = {"white": (250, 250, 250), "black": (15, 15, 15), "gray": (128, 128, 128)}
SIZES = ("small", "large")
RADIUS_RANGE = {"small": (0.063, 0.086), "large": (0.115, 0.15)}
COUNT_WORDS = ("zero", "a", "two", "three", "four")   # caption count words
ANSWER_NUMBERS = ("zero", "one", "two", "three", "four")
MAX_OBJECTS = 4
MAX_GROUPS = 3                # distinct caption phrases: captions stay <= 18 WordPiece tokens
EDGE_MARGIN = 0.02            # stage units between an object's extent and the edge
GAP = 0.03                    # stage units between two objects' extents
SUPERSAMPLE = 4
STAR_INNER = 0.48             # star inner radius / outer radius


class SceneError(Exception):
    """Bad arguments or an unwritable output; the message names the reason."""


# ---------------------------------------------------------------------------
# Scene description
# ---------------------------------------------------------------------------

@dataclass
class Obj:
    """One shape: kind, colour name, size class, centre (stage units) and radius."""

    shape: str
    colour: str
    size: str
    x: float
    y: float
    r: float
    vx: float = 0.0           # stage units per second (video only)
    vy: float = 0.0

    @property
    def extent(self) -> float:
        """Radius of a circle enclosing the drawn shape."""
        return self.r * SHAPE_EXTENT[self.shape]

    def at(self, t: float) -> "Obj":
        """This object moved for t seconds."""
        return Obj(self.shape, self.colour, self.size, self.x + self.vx * t,
                   self.y + self.vy * t, self.r)


@dataclass
class Scene:
    """A background colour, objects, and absent colour+shape pairs for yes/no probes."""

    background: str
    objects: list[Obj]
    absent_probes: list[tuple[str, str]] = field(default_factory=list)

    def at(self, t: float) -> "Scene":
        """The scene with every object moved for t seconds."""
        return Scene(self.background, [o.at(t) for o in self.objects], self.absent_probes)

    def pair_counts(self) -> Counter:
        """Counter of (colour, shape) over the objects."""
        return Counter((o.colour, o.shape) for o in self.objects)

    def caption(self) -> str:
        """The caption in the fixed grammar."""
        return caption_of(self)

    def labels(self) -> list[str]:
        """Matching labels of the colour+shape pairs present, in label order."""
        present = set(self.pair_counts())
        return [label for label, pair in zip(all_labels(), label_pairs()) if pair in present]

    def qa(self, every_probe: bool = False) -> list[dict]:
        """Question/answer pairs (see questions_of)."""
        return questions_of(self, every_probe)

    def to_json(self) -> dict:
        """Ground truth as a JSON-able dict."""
        return {"caption": self.caption(), "qa": self.qa(), "labels": self.labels(),
                "background": self.background,
                "objects": [{k: (round(v, 5) if isinstance(v, float) else v)
                             for k, v in asdict(o).items() if k not in ("vx", "vy")}
                            for o in self.objects]}


def label_pairs() -> list[tuple[str, str]]:
    """Every (colour, shape) pair in label order (shape-major)."""
    return [(c, s) for s in SHAPES for c in COLOURS]


def all_labels() -> list[str]:
    """Every colour x shape label, e.g. "a red circle" (shape-major order)."""
    return [label_of(c, s) for c, s in label_pairs()]


def article(word: str) -> str:
    """"an" before a vowel ("an orange circle"), else "a"."""
    return "an" if word[0] in "aeiou" else "a"


def label_of(colour: str, shape: str) -> str:
    """The matching label of one colour+shape pair: "a red circle", "an orange star"."""
    return f"{article(colour)} {colour} {shape}"


# ---------------------------------------------------------------------------
# Captions and questions
# ---------------------------------------------------------------------------

def caption_groups(scene: Scene) -> list[tuple[int, str, str, str]]:
    """(count, size, colour, shape) groups in caption order: shape, colour, size."""
    counts = Counter((o.shape, o.colour, o.size) for o in scene.objects)
    order = sorted(counts, key=lambda k: (SHAPES.index(k[0]), list(COLOURS).index(k[1]),
                                          SIZES.index(k[2])))
    return [(counts[k], k[2], k[1], k[0]) for k in order]


def group_phrase(count: int, size: str, colour: str, shape: str) -> str:
    """"two small red circles", "a large blue square"."""
    noun = shape + ("s" if count > 1 else "")
    word = COUNT_WORDS[count] if count > 1 else article(size)
    return f"{word} {size} {colour} {noun}"


def caption_of(scene: Scene) -> str:
    """"A, B and C on a <background> background"."""
    phrases = [group_phrase(*g) for g in caption_groups(scene)]
    body = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return f"{body} on a {scene.background} background"


def colour_questions(scene: Scene) -> list[dict]:
    """"what color is the square?" for shapes whose objects share one colour."""
    out = []
    for shape in SHAPES:
        objs = [o for o in scene.objects if o.shape == shape]
        colours = {o.colour for o in objs}
        if len(colours) == 1:
            q = (f"what color are the {shape}s?" if len(objs) > 1
                 else f"what color is the {shape}?")
            out.append({"kind": "color", "question": q, "answer": colours.pop()})
    return out


def count_questions(scene: Scene) -> list[dict]:
    """"how many circles are there?" for every shape (answers zero..four)."""
    return [{"kind": "count", "question": f"how many {shape}s are there?",
             "answer": ANSWER_NUMBERS[sum(o.shape == shape for o in scene.objects)]}
            for shape in SHAPES]


def presence_questions(scene: Scene, every_probe: bool) -> list[dict]:
    """"is there a green triangle?": every pair present, then absent probes.

    With every_probe, all 32 colour x shape pairs are asked instead."""
    present = scene.pair_counts()
    if every_probe:
        pairs = label_pairs()
    else:
        pairs = [p for p in label_pairs() if p in present] + list(scene.absent_probes)
    return [{"kind": "yesno", "question": f"is there {label_of(c, s)}?",
             "answer": "yes" if (c, s) in present else "no"} for c, s in pairs]


def shape_questions(scene: Scene) -> list[dict]:
    """"what shape is red?" for colours whose objects share one shape."""
    out = []
    for colour in COLOURS:
        shapes = {o.shape for o in scene.objects if o.colour == colour}
        if len(shapes) == 1:
            out.append({"kind": "shape", "question": f"what shape is {colour}?",
                        "answer": shapes.pop()})
    return out


def questions_of(scene: Scene, every_probe: bool = False) -> list[dict]:
    """Every question with a unique answer: color, count, yesno, shape, background."""
    return (colour_questions(scene) + count_questions(scene)
            + presence_questions(scene, every_probe) + shape_questions(scene)
            + [{"kind": "background", "question": "what color is the background?",
                "answer": scene.background}])


# ---------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------

def fits(obj: Obj, others: list[Obj]) -> bool:
    """Inside the stage (with margin) and clear of every other object."""
    e = obj.extent + EDGE_MARGIN
    if not (e <= obj.x <= 1 - e and e <= obj.y <= 1 - e):
        return False
    return all(math.hypot(obj.x - o.x, obj.y - o.y) >= obj.extent + o.extent + GAP
               for o in others)


def sample_attributes(rng: np.random.Generator, n: int) -> list[tuple[str, str, str]]:
    """(shape, colour, size) per object; repeats are likely so counts above one occur.

    At most MAX_GROUPS distinct (shape, colour, size) groups: an object that
    would open one more copies an earlier object exactly."""
    colours = list(COLOURS)
    attrs: list[tuple[str, str, str]] = []
    for _ in range(n):
        if attrs and rng.random() < 0.5:
            shape, colour, size = attrs[int(rng.integers(len(attrs)))]
            if rng.random() < 0.25:
                size = SIZES[int(rng.integers(2))]
        else:
            shape = SHAPES[int(rng.integers(len(SHAPES)))]
            colour = colours[int(rng.integers(len(colours)))]
            size = SIZES[int(rng.integers(2))]
        if len(set(attrs) | {(shape, colour, size)}) > MAX_GROUPS:
            shape, colour, size = attrs[int(rng.integers(len(attrs)))]
        attrs.append((shape, colour, size))
    return attrs


def place(rng: np.random.Generator, attrs: list[tuple[str, str, str]]) -> list[Obj] | None:
    """Random non-overlapping positions and radii, or None after too many tries."""
    objects: list[Obj] = []
    for shape, colour, size in attrs:
        lo, hi = RADIUS_RANGE[size]
        for _ in range(200):
            r = float(rng.uniform(lo, hi))
            e = r * SHAPE_EXTENT[shape] + EDGE_MARGIN
            obj = Obj(shape, colour, size, float(rng.uniform(e, 1 - e)),
                      float(rng.uniform(e, 1 - e)), r)
            if fits(obj, objects):
                objects.append(obj)
                break
        else:
            return None
    return objects


def pick_background(rng: np.random.Generator, objects: list[Obj]) -> str:
    """A background colour that no object has."""
    used = {o.colour for o in objects}
    choices = [b for b in BACKGROUNDS if b not in used]
    return choices[int(rng.integers(len(choices)))]


def pick_probes(rng: np.random.Generator, objects: list[Obj]) -> list[tuple[str, str]]:
    """Absent colour+shape pairs, as many as the distinct present pairs.

    Half of them share the colour or the shape of a present object (the hard
    negatives), the rest are arbitrary absent pairs."""
    present = {(o.colour, o.shape) for o in objects}
    absent = [p for p in label_pairs() if p not in present]
    near = [p for p in absent if any(p[0] == c or p[1] == s for c, s in present)]
    probes: list[tuple[str, str]] = []
    for k in range(len(present)):
        pool = [p for p in (near if k % 2 == 0 and near else absent) if p not in probes]
        if not pool:
            pool = [p for p in absent if p not in probes]
        probes.append(pool[int(rng.integers(len(pool)))])
    return probes


def sample_scene(seed: int, index: int, n_objects: int | None = None) -> Scene:
    """Scene `index` of `seed` (deterministic; independent of other indices)."""
    rng = np.random.default_rng([seed, index])
    n = n_objects or int(rng.integers(1, MAX_OBJECTS + 1))
    while True:
        objects = place(rng, sample_attributes(rng, n))
        if objects is not None:
            break
    background = pick_background(rng, objects)
    return Scene(background, objects, pick_probes(rng, objects))


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------

def regular_polygon(points: int, radius: float, angle0: float = -math.pi / 2
                    ) -> np.ndarray:
    """Vertices [points, 2] of a regular polygon (first vertex straight up)."""
    a = angle0 + 2 * math.pi * np.arange(points) / points
    return np.stack([radius * np.cos(a), radius * np.sin(a)], axis=1)


def star_polygon(outer: float, inner: float) -> np.ndarray:
    """Vertices [10, 2] of a five-pointed star pointing up."""
    a = -math.pi / 2 + math.pi * np.arange(10) / 5
    rad = np.where(np.arange(10) % 2 == 0, outer, inner)
    return np.stack([rad * np.cos(a), rad * np.sin(a)], axis=1)


def inside_polygon(u: np.ndarray, v: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule point-in-polygon test, vectorised over the points (u, v)."""
    inside = np.zeros(np.broadcast(u, v).shape, dtype=bool)
    for (x1, y1), (x2, y2) in zip(poly, np.roll(poly, -1, axis=0)):
        if y1 == y2:
            continue
        crosses = (y1 > v) != (y2 > v)
        x_at = x1 + (v - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (u < x_at)
    return inside


# Triangle: circumradius 1.25, moved down so its bounding box is centred.
_TRIANGLE = regular_polygon(3, 1.25) + np.array([0.0, 1.25 / 4])
_STAR = star_polygon(1.25, 1.25 * STAR_INNER)
SHAPE_EXTENT = {"circle": 1.0, "square": 0.84 * math.sqrt(2),
                "triangle": float(np.hypot(_TRIANGLE[:, 0], _TRIANGLE[:, 1]).max()),
                "star": 1.25}


def shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of a unit-radius shape at offsets (u, v) from its centre."""
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.84
    if shape == "triangle":
        return inside_polygon(u, v, _TRIANGLE)
    if shape == "star":
        return inside_polygon(u, v, _STAR)
    raise SceneError(f"unknown shape {shape!r}")


def object_coverage(obj: Obj, side: int, ox: int, oy: int, width: int, height: int
                    ) -> tuple[int, int, int, int, np.ndarray] | None:
    """(x0, x1, y0, y1, coverage [y1-y0, x1-x0]) of one object, None if off canvas.

    Coverage is the 4x4-supersampled fraction of each pixel inside the shape;
    the stage is the side x side square at pixel offset (ox, oy)."""
    cx, cy, rad = ox + obj.x * side, oy + obj.y * side, obj.r * side
    reach = obj.extent * side + 1
    x0, x1 = max(int(cx - reach), 0), min(int(math.ceil(cx + reach)), width)
    y0, y1 = max(int(cy - reach), 0), min(int(math.ceil(cy + reach)), height)
    if x0 >= x1 or y0 >= y1:
        return None
    ss = SUPERSAMPLE
    xs = (np.arange(x0 * ss, x1 * ss) + 0.5) / ss
    ys = (np.arange(y0 * ss, y1 * ss) + 0.5) / ss
    u = ((xs - cx) / rad)[None, :]
    v = ((ys - cy) / rad)[:, None]
    mask = shape_mask(obj.shape, u, v).astype(np.float32)
    return x0, x1, y0, y1, mask.reshape(y1 - y0, ss, x1 - x0, ss).mean(axis=(1, 3))


def draw_object(img: np.ndarray, obj: Obj, side: int, ox: int, oy: int) -> None:
    """Blend one anti-aliased object into img (float32 HxWx3) in place."""
    found = object_coverage(obj, side, ox, oy, img.shape[1], img.shape[0])
    if found is None:
        return
    x0, x1, y0, y1, cover = found
    colour = np.asarray(COLOURS[obj.colour], dtype=np.float32)
    region = img[y0:y1, x0:x1]
    region *= 1.0 - cover[..., None]
    region += cover[..., None] * colour


def patch_labels(scene: Scene, size: int, patch: int, min_cover: float = 0.08) -> np.ndarray:
    """Per patch of a size x size render: the label index (label_pairs order) of the
    object covering most of it, or len(label_pairs()) for background.

    Row-major over the (size // patch)^2 patches, the order of a ViT's patch
    tokens; an object must cover at least min_cover of the patch."""
    grid = size // patch
    cover = np.zeros((len(scene.objects) + 1, grid * patch, grid * patch), dtype=np.float32)
    for k, obj in enumerate(scene.objects):
        found = object_coverage(obj, size, 0, 0, grid * patch, grid * patch)
        if found is not None:
            x0, x1, y0, y1, c = found
            cover[k, y0:y1, x0:x1] = c
    pooled = cover.reshape(len(cover), grid, patch, grid, patch).mean(axis=(2, 4))
    pooled[-1] = min_cover
    best = pooled.argmax(axis=0).reshape(-1)
    index = {pair: i for i, pair in enumerate(label_pairs())}
    ids = [index[(o.colour, o.shape)] for o in scene.objects] + [len(index)]
    return np.array(ids, dtype=np.int64)[best]


def render(scene: Scene, width: int, height: int | None = None) -> np.ndarray:
    """The scene as uint8 RGB [height, width, 3]; the stage is the central square."""
    height = width if height is None else height
    side = min(width, height)
    ox, oy = (width - side) // 2, (height - side) // 2
    img = np.empty((height, width, 3), dtype=np.float32)
    img[:] = np.asarray(BACKGROUNDS[scene.background], dtype=np.float32)
    for obj in scene.objects:
        draw_object(img, obj, side, ox, oy)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------
# Evaluation helpers
# ---------------------------------------------------------------------------

NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                "1": 1, "2": 2, "3": 3, "4": 4, "5": 5}


def words_of(text: str) -> list[str]:
    """Lower-case words with punctuation removed."""
    cleaned = "".join(ch if ch.isalnum() else " " for ch in text.lower())
    return cleaned.split()


def singular(word: str) -> str | None:
    """The shape a (possibly plural) word names, or None."""
    for shape in SHAPES:
        if word in (shape, shape + "s"):
            return shape
    return None


def parse_caption(text: str) -> tuple[Counter, str | None]:
    """(Counter of (colour, shape) -> count, background) read from a caption.

    Reads "<count> [size] <colour> <shape>" phrases in any order; a shape
    word without a colour counts under colour None.  The background is the
    colour word just before "background"."""
    words = words_of(text)
    counts: Counter = Counter()
    background = None
    count, colour = None, None
    for i, word in enumerate(words):
        if word == "background" and i > 0 and words[i - 1] in BACKGROUNDS:
            background = words[i - 1]
        elif word in NUMBER_WORDS:
            count, colour = NUMBER_WORDS[word], None
        elif word in COLOURS and i + 1 < len(words) and words[i + 1] != "background":
            colour = word
        elif singular(word):
            counts[(colour, singular(word))] += count or 1
            count, colour = None, None
    return counts, background


def caption_correct(scene: Scene, text: str) -> bool:
    """Every object's colour, shape and count right, nothing extra."""
    counts, _ = parse_caption(text)
    return counts == scene.pair_counts()


def normalise_answer(text: str) -> str:
    """Lower-case single answer word; digits become number words."""
    words = words_of(text)
    if not words:
        return ""
    word = words[0]
    digits = {str(i): w for i, w in enumerate(ANSWER_NUMBERS)}
    if word == "grey":
        return "gray"
    return digits.get(word, word)


def answer_correct(qa: dict, answer: str) -> bool:
    """The generated answer equals the expected one (after normalising)."""
    return normalise_answer(answer) == qa["answer"]


def label_correct(scene: Scene, label: str) -> bool:
    """The predicted best label names a colour+shape present in the scene."""
    return label in scene.labels()


# ---------------------------------------------------------------------------
# Demo video
# ---------------------------------------------------------------------------

def closest_approach(a: Obj, b: Obj, seconds: float) -> float:
    """Smallest centre distance of two linearly moving objects over [0, seconds]."""
    px, py, wx, wy = a.x - b.x, a.y - b.y, a.vx - b.vx, a.vy - b.vy
    speed2 = wx * wx + wy * wy
    t = 0.0 if speed2 == 0 else min(max(-(px * wx + py * wy) / speed2, 0.0), seconds)
    return math.hypot(px + wx * t, py + wy * t)


def moves_fit(obj: Obj, others: list[Obj], seconds: float) -> bool:
    """The moving object stays inside and clear of the others for the whole segment.

    Motion is linear, so staying inside (a convex region) only needs both ends,
    and the pairwise distance has a closed-form minimum."""
    if not (fits(obj, []) and fits(obj.at(seconds), [])):
        return False
    return all(closest_approach(obj, o, seconds) >= obj.extent + o.extent + GAP
               for o in others)


def add_motion(rng: np.random.Generator, scene: Scene, seconds: float,
               speed: float = 0.07) -> Scene:
    """Give each object a velocity (stage units/s) keeping the segment valid.

    An object that finds no free direction stays still; if even that collides
    with an earlier mover, every velocity is drawn again at half the speed
    (speed zero always works: the scene itself is valid)."""
    while True:
        moving: list[Obj] = []
        for obj in scene.objects:
            for attempt in range(61):
                angle = float(rng.uniform(0, 2 * math.pi))
                mag = float(rng.uniform(0.4, 1.0)) * speed if attempt < 60 else 0.0
                cand = Obj(obj.shape, obj.colour, obj.size, obj.x, obj.y, obj.r,
                           mag * math.cos(angle), mag * math.sin(angle))
                if moves_fit(cand, moving, seconds):
                    moving.append(cand)
                    break
            else:
                break
        if len(moving) == len(scene.objects):
            return Scene(scene.background, moving, scene.absent_probes)
        speed = speed / 2 if speed > 1e-3 else 0.0


def video_segments(seed: int, seconds: float, scene_seconds: float) -> list[dict]:
    """Scene segments of the demo video: start, end and the moving scene."""
    count = max(1, math.ceil(seconds / scene_seconds - 1e-9))
    segments = []
    for k in range(count):
        start, end = k * scene_seconds, min((k + 1) * scene_seconds, seconds)
        scene = sample_scene(seed, k)
        scene = add_motion(np.random.default_rng([seed, k, 1]), scene, end - start)
        segments.append({"index": k, "start": round(start, 6), "end": round(end, 6),
                         "scene": scene})
    return segments


def write_video(seed: int, seconds: float, fps: int, out: Path, width: int, height: int,
                scene_seconds: float, fmt: str) -> dict:
    """Render the demo video into out/ and write out/video.json; returns the JSON."""
    if fmt == "png":
        image_module = require_pil()
    segments = video_segments(seed, seconds, scene_seconds)
    frames = int(round(seconds * fps))
    raw = open(out / "frames.rgb", "wb") if fmt == "rgb" else None
    try:
        for f in range(frames):
            t = f / fps
            k = min(int(t // scene_seconds), len(segments) - 1)
            seg = segments[k]
            img = render(seg["scene"].at(t - seg["start"]), width, height)
            if raw:
                raw.write(img.tobytes())
            else:
                image_module.fromarray(img).save(out / f"frame_{f:05d}.png")
    finally:
        if raw:
            raw.close()
    info = video_json(seed, seconds, fps, width, height, scene_seconds, fmt, frames, segments)
    (out / "video.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return info


def video_json(seed, seconds, fps, width, height, scene_seconds, fmt, frames, segments) -> dict:
    """The ground-truth document of a rendered video."""
    files = ({"pattern": "frame_%05d.png"} if fmt == "png"
             else {"file": "frames.rgb", "caps": f"video/x-raw,format=RGB,width={width},"
                                                 f"height={height},framerate={fps}/1"})
    segs = []
    for seg in segments:
        first = math.ceil(seg["start"] * fps - 1e-9)
        last = min(math.ceil(seg["end"] * fps - 1e-9), frames) - 1
        segs.append({"index": seg["index"], "start": seg["start"], "end": seg["end"],
                     "first_frame": first, "last_frame": last, **seg["scene"].to_json()})
    return {"seed": seed, "seconds": seconds, "fps": fps, "width": width, "height": height,
            "frames": frames, "scene_seconds": scene_seconds, "format": fmt, **files,
            "stage": "objects stay inside the central min(width,height) square",
            "all_labels": all_labels(), "segments": segs}


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def require_pil():
    """PIL.Image, or SceneError telling how to get it."""
    try:
        from PIL import Image
    except ImportError as e:
        raise SceneError("writing PNG needs Pillow (apt-get install python3-pil);"
                         " or use --format rgb") from e
    return Image


def write_samples(seed: int, n: int, out: Path, size: int) -> None:
    """out/scene_NNNNN.png, out/scenes.jsonl and out/labels.txt."""
    image_module = require_pil()
    with open(out / "scenes.jsonl", "w", encoding="utf-8") as f:
        for i in range(n):
            scene = sample_scene(seed, i)
            name = f"scene_{i:05d}.png"
            image_module.fromarray(render(scene, size)).save(out / name)
            f.write(json.dumps({"image": name, "seed": seed, "index": i, **scene.to_json()})
                    + "\n")
    (out / "labels.txt").write_text("\n".join(all_labels()) + "\n", encoding="utf-8")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description="Synthetic coloured-shape scenes with"
                                     " captions, questions and labels; demo video.")
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("sample", help="write N scenes as PNGs + scenes.jsonl")
    sample.add_argument("--seed", type=int, required=True)
    sample.add_argument("--n", type=int, required=True)
    sample.add_argument("--out", type=Path, required=True)
    sample.add_argument("--size", type=int, default=224, help="square image side (224)")
    video = sub.add_parser("video", help="render the demo video + video.json")
    video.add_argument("--seed", type=int, required=True)
    video.add_argument("--seconds", type=float, required=True)
    video.add_argument("--fps", type=int, required=True)
    video.add_argument("--out", type=Path, required=True)
    video.add_argument("--width", type=int, default=320)
    video.add_argument("--height", type=int, default=240)
    video.add_argument("--scene-seconds", type=float, default=2.0,
                       help="seconds per scene (2)")
    video.add_argument("--format", choices=["png", "rgb"], default="png",
                       help="PNG image sequence or one raw RGB24 file (png)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    try:
        if args.command == "sample" and (args.n < 0 or args.size < 16):
            raise SceneError("--n must be >= 0 and --size >= 16")
        if args.command == "video" and (args.seconds <= 0 or args.fps <= 0
                                        or min(args.width, args.height) < 16
                                        or args.scene_seconds <= 0):
            raise SceneError("--seconds, --fps, --scene-seconds must be positive and"
                             " --width/--height >= 16")
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SceneError(f"{args.out}: cannot create: {e.strerror or e}") from e
        if args.command == "sample":
            write_samples(args.seed, args.n, args.out, args.size)
            print(f"{args.out}: {args.n} scenes, seed {args.seed}, {args.size}x{args.size}")
        else:
            info = write_video(args.seed, args.seconds, args.fps, args.out, args.width,
                               args.height, args.scene_seconds, args.format)
            print(f"{args.out}: {info['frames']} frames {args.width}x{args.height} at"
                  f" {args.fps} fps, {len(info['segments'])} scenes, seed {args.seed}")
    except SceneError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e.filename or args.out}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
