#!/usr/bin/python3
"""The demo: the four vlm elements on a rendered video of coloured shapes.

1. Renders the demo video with models/scenes.py (scenes of seed 5000, never
   used in training: 2 s per scene, objects moving, 320x240) and encodes it:
   OUT/video.webm (VP8) and OUT/video.json (the ground truth of every scene).
2. Runs one GStreamer pipeline over the file:

       filesrc ! decodebin ! vlmembed ! vlmmatch ! vlmcaption ! vlmvqa ! tee
         tee ! queue ! textoverlay (caption, from vlmcaption's text_src)
                     ! textoverlay (question, answer, best label) ! videoconvert
                     ! vp8enc ! webmmux ! filesink          -> OUT/demo.webm
         tee ! queue ! vlmjsonsink                            -> OUT/demo.jsonl
         tee ! queue ! appsink (reads the metas for the summary below)

   vlmembed and vlmmatch (every frame) use the demo CLIP (labels: the 32 colour x shape
   labels, "a red circle" ...), vlmcaption and vlmvqa the demo GIT (the
   elements' default when `model` is not set; --clip/--git or
   $VLM_DEMO_MODELS choose others), vlmcaption and vlmvqa every second frame
   (--interval). Each scene gets its own question, sent
   as a "vlm-set-question" event just before its first frame (a count, a
   colour, a yes/no, a shape or the background question, in turn).
3. Prints one line per scene: its time, the caption, the question and the
   answer, the best label (the most frequent over the scene's frames), each
   marked against the ground truth (+ right, - wrong), then the totals.

    GST_PLUGIN_PATH=build/gst pipelines/demo.py [--out build/demo] [--device auto]
        [--seconds 24] [--fps 10] [--clip DIR] [--git DIR] [--no-video] [--json]

`--render-only` stops after step 1 (tests/test_retrieval_demo.py indexes and
searches that video). The video is also a ready input for the CLI:
    vlm index --db demo.db build/demo/video.webm; vlm search --db demo.db "a red circle"

Needs python3-gi, python3-gst-1.0, python3-numpy and GStreamer's base, good
and x (textoverlay) plugins; tools/setup-debian.sh installs them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP / "models"))
import scenes  # noqa: E402

DEMO_SEED = 5000          # the demo video's scenes (training uses seed 0, evaluation 1000)
SECONDS = 24.0
FPS = 10
WIDTH, HEIGHT = 320, 240
SCENE_SECONDS = 2.0
QUESTION_KINDS = ("count", "color", "yesno", "shape", "background")


def render(out: Path, seconds: float, fps: int, seed: int = DEMO_SEED) -> dict:
    """OUT/video.webm + OUT/video.json; returns the ground truth.

    scenes.py writes raw RGB frames (OUT/frames.rgb), encoded here to VP8 in
    WebM (high bitrate, every 10th frame a keyframe) and then removed."""
    out.mkdir(parents=True, exist_ok=True)
    truth = scenes.write_video(seed, seconds, fps, out, WIDTH, HEIGHT, SCENE_SECONDS, "rgb")
    Gst.init(None)
    raw = out / "frames.rgb"
    pipe = Gst.parse_launch(
        f'filesrc location="{raw}" ! rawvideoparse format=rgb width={WIDTH} height={HEIGHT} '
        f'framerate={fps}/1 ! videoconvert ! vp8enc deadline=1 cpu-used=4 '
        f'target-bitrate=2000000 keyframe-max-dist=10 ! webmmux '
        f'! filesink location="{out / "video.webm"}"')
    pipe.set_state(Gst.State.PLAYING)
    msg = pipe.get_bus().timed_pop_filtered(Gst.CLOCK_TIME_NONE,
                                            Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipe.set_state(Gst.State.NULL)
    if msg.type == Gst.MessageType.ERROR:
        raise RuntimeError(f"encoding {raw}: {msg.parse_error()[0].message}")
    raw.unlink()
    return truth


def scene_question(segment: dict) -> dict:
    """The question asked about one scene: the kinds in turn, varied within a kind."""
    k = segment["index"]
    for step in range(len(QUESTION_KINDS)):
        kind = QUESTION_KINDS[(k + step) % len(QUESTION_KINDS)]
        qas = [qa for qa in segment["qa"] if qa["kind"] == kind]
        if qas:
            return qas[(k // len(QUESTION_KINDS)) % len(qas)]
    return segment["qa"][0]


def scene_of(segment: dict) -> scenes.Scene:
    """The ground-truth scene of a segment (for the correctness helpers)."""
    objs = [scenes.Obj(o["shape"], o["colour"], o["size"], o["x"], o["y"], o["r"])
            for o in segment["objects"]]
    return scenes.Scene(segment["background"], objs)


def mode(values: list[str]) -> str:
    """The most frequent value (the first seen among equals)."""
    return Counter(values).most_common(1)[0][0] if values else ""


def element(name: str, model: str | None, **props) -> str:
    """"name model=... key=value ..." for gst_parse_launch."""
    parts = [name] + ([f'model="{model}"'] if model else [])
    parts += [f'{k.replace("_", "-")}="{v}"' for k, v in props.items()]
    return " ".join(parts)


def run(truth: dict, out: Path, device: str, clip: str | None, git: str | None,
        video: bool = True, interval: int = 2) -> dict:
    """Runs the pipeline over OUT/video.webm; returns per-frame results and per-scene lines."""
    Gst.init(None)
    labels = ",".join(truth["all_labels"])
    segments = truth["segments"]
    first_question = scene_question(segments[0])["question"]
    desc = (
        f'filesrc location="{out / "video.webm"}" ! decodebin ! identity name=src '
        f'! {element("vlmembed", clip, device=device)} '
        f'! {element("vlmmatch", clip, device=device, labels=labels)} '
        f'! {element("vlmcaption", git, device=device, interval=interval)} name=c '
        f'! {element("vlmvqa", git, device=device, interval=interval, question=first_question)} '
        'name=q '
        '! tee name=t '
        't. ! queue ! appsink name=results sync=false emit-signals=true '
        f't. ! queue ! vlmjsonsink location="{out / "demo.jsonl"}" ')
    if video:
        desc += (
            't. ! queue ! textoverlay name=o valignment=bottom halignment=center '
            'font-desc="Sans 9" shaded-background=true '
            '! textoverlay name=qa valignment=top halignment=left font-desc="Sans 8" '
            'shaded-background=true ! videoconvert ! vp8enc deadline=1 cpu-used=8 '
            f'target-bitrate=600000 ! webmmux ! filesink location="{out / "demo.webm"}" '
            'c.text_src ! o.text_sink ')
    else:
        desc += 'c.text_src ! fakesink sync=false '
    pipe = Gst.parse_launch(desc)

    # The question of each scene, frame-accurately: a vlm-set-question event
    # pushed just before the scene's first frame.
    starts = {seg["first_frame"]: scene_question(seg)["question"] for seg in segments}
    frame_no = [0]

    def on_frame(pad, info):
        n = frame_no[0]
        frame_no[0] += 1
        if n in starts and n > 0:
            s = Gst.Structure.new_empty("vlm-set-question")
            s.set_value("question", starts[n])
            pad.push_event(Gst.Event.new_custom(Gst.EventType.CUSTOM_DOWNSTREAM, s))
        return Gst.PadProbeReturn.OK

    pipe.get_by_name("src").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_frame)

    frames = []

    def metas(buf) -> dict:
        r = {"pts": buf.pts / Gst.SECOND}
        m = buf.get_custom_meta("VlmMatchMeta")
        if m:
            r["label"] = m.get_structure().get_value("best-label")
        c = buf.get_custom_meta("VlmCaptionMeta")
        if c:
            r["caption"] = c.get_structure().get_value("text")
        a = buf.get_custom_meta("VlmAnswerMeta")
        if a:
            s = a.get_structure()
            r["question"], r["answer"] = s.get_value("question"), s.get_value("answer")
        return r

    def on_sample(sink):
        frames.append(metas(sink.emit("pull-sample").get_buffer()))
        return Gst.FlowReturn.OK

    pipe.get_by_name("results").connect("new-sample", on_sample)

    if video:
        # the second overlay shows the frame's question, answer and best label
        overlay = pipe.get_by_name("qa")

        def on_overlay(pad, info):
            r = metas(info.get_buffer())
            overlay.set_property("text", f"Q: {r.get('question', '')}  A: {r.get('answer', '')}\n"
                                 f"best label: {r.get('label', '')}")
            return Gst.PadProbeReturn.OK

        overlay.get_static_pad("video_sink").add_probe(Gst.PadProbeType.BUFFER, on_overlay)

    started = time.monotonic()
    pipe.set_state(Gst.State.PLAYING)
    msg = pipe.get_bus().timed_pop_filtered(Gst.CLOCK_TIME_NONE,
                                            Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipe.set_state(Gst.State.NULL)
    elapsed = time.monotonic() - started
    if msg.type == Gst.MessageType.ERROR:
        err, dbg = msg.parse_error()
        raise RuntimeError(f"{msg.src.get_name()}: {err.message}")

    lines, totals = [], Counter()
    for seg in segments:
        sl = frames[seg["first_frame"]:seg["last_frame"] + 1]
        scene = scene_of(seg)
        qa = scene_question(seg)
        caption = mode([f["caption"] for f in sl if "caption" in f])
        answer = mode([f.get("answer", "") for f in sl if f.get("question") == qa["question"]])
        label = mode([f["label"] for f in sl if "label" in f])
        ok = {"caption": scenes.caption_correct(scene, caption),
              "answer": scenes.answer_correct(qa, answer),
              "label": scenes.label_correct(scene, label)}
        totals.update(k for k, v in ok.items() if v)
        lines.append({"start": seg["start"], "end": seg["end"], "caption": caption,
                      "question": qa["question"], "answer": answer, "label": label,
                      "truth": {"caption": seg["caption"], "answer": qa["answer"],
                                "labels": seg["labels"]}, "correct": ok})
    return {"frames": frames, "scenes": lines, "totals": dict(totals), "seconds": elapsed}


def mark(ok: bool) -> str:
    return "+" if ok else "-"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=TOP / "build" / "demo",
                   help="output folder (build/demo)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, vulkan, vulkan:N")
    p.add_argument("--seconds", type=float, default=SECONDS, help=f"video length ({SECONDS:g})")
    p.add_argument("--fps", type=int, default=FPS, help=f"frames per second ({FPS})")
    p.add_argument("--clip", help="CLIP folder (default: the demo CLIP)")
    p.add_argument("--git", help="GIT folder (default: the demo GIT)")
    p.add_argument("--no-video", action="store_true", help="skip the annotated WebM")
    p.add_argument("--json", action="store_true", help="print the per-scene results as JSON")
    p.add_argument("--render-only", action="store_true",
                   help="only render and encode the video (OUT/video.webm, OUT/video.json)")
    p.add_argument("--interval", type=int, default=2,
                   help="vlmcaption and vlmvqa process every Nth frame (2: 5 captions and "
                        "answers a second at 10 fps; the text overlay keeps the last caption)")
    args = p.parse_args(argv)

    t0 = time.monotonic()
    try:
        truth = render(args.out, args.seconds, args.fps)
    except RuntimeError as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1
    t_render = time.monotonic() - t0
    print(f"rendered {truth['frames']} frames {truth['width']}x{truth['height']} at "
          f"{truth['fps']} fps ({len(truth['segments'])} scenes, seed {truth['seed']}) "
          f"in {t_render:.1f} s -> {args.out}/video.webm, video.json", flush=True)
    if args.render_only:
        return 0
    try:
        result = run(truth, args.out, args.device, args.clip, args.git, not args.no_video,
                     args.interval)
    except RuntimeError as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1
    n = len(result["scenes"])
    if args.json:
        print(json.dumps(result["scenes"], indent=1))
    else:
        print(f"\n{'time':>11}  caption | question -> answer | best label   (+ right, - wrong)")
        for s in result["scenes"]:
            c = s["correct"]
            print(f"{s['start']:4.1f}-{s['end']:4.1f} s  {mark(c['caption'])} {s['caption']} | "
                  f"{s['question']} -> {mark(c['answer'])} {s['answer']} | "
                  f"{mark(c['label'])} {s['label']}")
    t = result["totals"]
    print(f"\n{n} scenes: captions right {t.get('caption', 0)}/{n}, answers "
          f"{t.get('answer', 0)}/{n}, best labels {t.get('label', 0)}/{n}; "
          f"{len(result['frames'])} frames through vlmembed/vlmmatch/vlmcaption/vlmvqa in "
          f"{result['seconds']:.1f} s ({len(result['frames']) / result['seconds']:.1f} frames/s)")
    outputs = [f"{args.out}/demo.jsonl (JSON lines, vlmjsonsink)"]
    if not args.no_video:
        outputs.insert(0, f"{args.out}/demo.webm (captions burnt in)")
    print("wrote " + ", ".join(outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
