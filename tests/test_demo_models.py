#!/usr/bin/env python3
"""The demo models are the default model of every element and command.

engine/vlm-demo-models.c looks for DIR/clip and DIR/git in $VLM_DEMO_MODELS
(alone, when set), else the installed DATADIR/gst-vlm/models/demo, else the
source tree's models/demo. Checked here with the tiny test checkpoints
standing in for the demo models (a temporary DIR with clip/ and git/
symbolic links), so it runs whether or not models/demo is in the tree:

* default: vlmembed, vlmmatch (CLIP) and vlmcaption, vlmvqa (GIT) without
  `model` load DIR/clip and DIR/git (the metas' model-id), and
  `vlm match` / `vlm caption` / `vlm ask` without --model report the same
  folders;
* missing: with VLM_DEMO_MODELS pointing at an empty folder, READY->PAUSED
  fails with an error naming DIR/clip (DIR/git for vlmcaption) and telling
  how to pass model=; the CLI says where it looked and to give --model;
  a demo folder without its weights fails to load with the folder and model=;
* without the variable, either the installed or source-tree copy loads, or
  the error lists both places ("installed", "source tree");
* gst-inspect's blurb of `model` mentions the demo model.

Environment: VLM_TEST_MODEL (tiny CLIP), VLM_TEST_GIT_MODEL (tiny GIT),
VLM_CLI, GST_PLUGIN_PATH. Exit 77 (skip) without gi.
"""

import json
import os
import subprocess
import sys
import tempfile

try:
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
except (ImportError, ValueError) as exc:
    print(f"skipped: {exc}")
    sys.exit(77)

FAILURES = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        FAILURES.append(msg)


def run_pipeline(desc):
    """(model-ids seen in the metas, error text or None)."""
    pipe = Gst.parse_launch(desc)
    sink = pipe.get_by_name("out")
    ids = {}

    def on_sample(s):
        buf = s.emit("pull-sample").get_buffer()
        for meta in ("VlmEmbeddingMeta", "VlmMatchMeta", "VlmCaptionMeta", "VlmAnswerMeta"):
            m = buf.get_custom_meta(meta)
            if m is not None:
                ids[meta] = m.get_structure().get_value("model-id")
        return Gst.FlowReturn.OK

    if sink is not None:
        sink.connect("new-sample", on_sample)
    pipe.set_state(Gst.State.PLAYING)
    msg = pipe.get_bus().timed_pop_filtered(
        60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipe.set_state(Gst.State.NULL)
    if msg is None:
        return ids, "timeout"
    if msg.type == Gst.MessageType.ERROR:
        err, dbg = msg.parse_error()
        return ids, err.message
    return ids, None


def cli(*args):
    r = subprocess.run([os.environ["VLM_CLI"], *args], capture_output=True, text=True,
                       timeout=300)
    return r.returncode, r.stdout, r.stderr


def main():
    Gst.init(None)
    clip = os.path.realpath(os.environ["VLM_TEST_MODEL"])
    git = os.path.realpath(os.environ["VLM_TEST_GIT_MODEL"])
    tmp = tempfile.TemporaryDirectory(prefix="vlm-demo-models-")
    demo = os.path.join(tmp.name, "demo")
    os.mkdir(demo)
    os.symlink(clip, os.path.join(demo, "clip"))
    os.symlink(git, os.path.join(demo, "git"))
    empty = os.path.join(tmp.name, "empty")
    os.mkdir(empty)
    image = os.path.join(tmp.name, "frame.ppm")
    with open(image, "wb") as f:
        f.write(b"P6\n32 24\n255\n" + bytes([200, 30, 30]) * (32 * 24))

    src = "videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width=64,height=48"
    full = (f"{src} ! vlmembed device=cpu ! vlmmatch device=cpu labels=a,b ! "
            "vlmcaption device=cpu max-tokens=4 ! vlmvqa device=cpu question=what max-tokens=2 "
            "! appsink name=out emit-signals=true sync=false")

    # --- default: the demo models in $VLM_DEMO_MODELS ---------------------
    os.environ["VLM_DEMO_MODELS"] = demo
    ids, err = run_pipeline(full)
    check(err is None, f"pipeline without model= runs on the demo models ({err})")
    for meta, want in (("VlmEmbeddingMeta", clip), ("VlmMatchMeta", clip),
                       ("VlmCaptionMeta", git), ("VlmAnswerMeta", git)):
        check(ids.get(meta) == want, f"{meta} model-id {ids.get(meta)} == {want}")
    for cmd, args, want in (("match", [image, "a red", "a blue"], clip),
                            ("caption", [image], git),
                            ("ask", [image, "what color?"], git)):
        rc, out, errtext = cli(cmd, "--device", "cpu", "--max-tokens", "3", *args) \
            if cmd != "match" else cli(cmd, "--device", "cpu", *args)
        model = json.loads(out).get("model") if rc == 0 and out.strip() else None
        check(rc == 0 and model is not None and os.path.realpath(model) == want,
              f"vlm {cmd} without --model uses {want} (rc {rc}, model {model}, {errtext.strip()})")

    # --- missing: the error says where it looked and how to pass model= ---
    os.environ["VLM_DEMO_MODELS"] = empty
    for element, family, sub in (("vlmembed", "CLIP", "clip"), ("vlmmatch labels=a", "CLIP", "clip"),
                                 ("vlmcaption", "GIT", "git"), ("vlmvqa question=what", "GIT", "git")):
        _, err = run_pipeline(f"{src} ! {element} device=cpu ! fakesink")
        print(f"     {element}: {err}")
        check(err is not None and os.path.join(empty, sub) in err and "model=" in err
              and f"demo {family} model" in err and "VLM_DEMO_MODELS" in err,
              f"{element.split()[0]} without model, demo models missing: the error names "
              f"{os.path.join(empty, sub)} and model=")
    # a demo folder whose weights were deleted: the load error names it and model=
    broken = os.path.join(tmp.name, "broken")
    os.makedirs(os.path.join(broken, "clip"))
    with open(os.path.join(clip, "config.json"), "rb") as f, \
            open(os.path.join(broken, "clip", "config.json"), "wb") as g:
        g.write(f.read())
    os.environ["VLM_DEMO_MODELS"] = broken
    _, err = run_pipeline(f"{src} ! vlmembed device=cpu ! fakesink")
    print(f"     vlmembed: {err}")
    check(err is not None and os.path.join(broken, "clip") in err and "model=" in err
          and "demo CLIP" in err,
          "vlmembed without model, demo weights deleted: the error names the folder and model=")
    os.environ["VLM_DEMO_MODELS"] = empty

    rc, out, errtext = cli("caption", "--device", "cpu", image)
    print(f"     vlm caption: {errtext.strip()}")
    check(rc != 0 and os.path.join(empty, "git") in errtext and "--model DIR" in errtext,
          "vlm caption without --model, demo models missing: names the folder and --model")
    rc, out, errtext = cli("watch", "--device", "cpu", image, "a red circle")
    check(rc != 0 and os.path.join(empty, "clip") in errtext and "--model DIR" in errtext,
          f"vlm watch without --model, demo models missing: {errtext.strip()}")

    # --- the built-in places: installed copy, then the source tree --------
    del os.environ["VLM_DEMO_MODELS"]
    ids, err = run_pipeline(f"{src} ! vlmembed device=cpu ! appsink name=out emit-signals=true "
                            "sync=false")
    if err is None:
        where = ids.get("VlmEmbeddingMeta") or ""
        source = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                               "..", "models", "demo", "clip"))
        check(where == source or where.endswith(os.path.join("gst-vlm", "models", "demo", "clip")),
              f"without VLM_DEMO_MODELS the installed or source-tree demo CLIP loads ({where})")
    else:
        print(f"     vlmembed: {err}")
        check("(installed)" in err and "(source tree)" in err
              and os.path.join("models", "demo", "clip") in err,
              "without VLM_DEMO_MODELS the error lists the installed and source-tree places")

    blurb = Gst.ElementFactory.make("vlmcaption", None).find_property("model").blurb
    check("demo model" in blurb and "VLM_DEMO_MODELS" in blurb,
          f"the model property's blurb mentions the demo model: {blurb}")

    if FAILURES:
        print(f"{len(FAILURES)} failure(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
