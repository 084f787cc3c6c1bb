#!/usr/bin/env python3
"""Python reads vlm results through GObject introspection, no extra binding.

Runs videotestsrc ! vlmembed ! vlmmatch ! appsink with the tiny test
checkpoint and reads, from every buffer:

* the embedding: buf.get_custom_meta("VlmEmbeddingMeta").get_structure(),
  fields model-id, dimension, vector (GLib.Bytes -> numpy float32)
* the match: buf.get_custom_meta("VlmMatchMeta").get_structure(), fields
  labels (Gst.ValueArray of str; python3-gst-1.0's overrides), scores
  (GLib.Bytes -> numpy float32), best-index, best-label, best-score

and checks them against each other (dimension from config.json, unit norm,
softmax sums to 1, best = argmax) and against a copy of the buffer.

With --git it runs videotestsrc ! vlmcaption ! vlmvqa ! appsink with the
tiny GIT checkpoint instead and reads:

* the caption: buf.get_custom_meta("VlmCaptionMeta").get_structure(),
  fields model-id, element, text (str), mean-logprob (float), truncated
  (bool)
* the answer: buf.get_custom_meta("VlmAnswerMeta").get_structure(), fields
  model-id, element, question, answer (str), score (float), truncated,
  question-truncated (bool)

and checks them against the "vlm-caption" / "vlm-answer" bus messages and a
copy of the buffer.

Environment: VLM_TEST_MODEL (VLM_TEST_GIT_MODEL with --git),
GST_PLUGIN_PATH. Exit 77 (skip) without gi.
"""

import json
import os
import sys

try:
    import numpy as np
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
except (ImportError, ValueError) as exc:  # no python3-gi / gir1.2-gstreamer-1.0
    print(f"skipped: {exc}")
    sys.exit(77)


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def floats(structure, field):
    value = structure.get_value(field)
    if value is None:
        fail(f"no field {field} in {structure.to_string()}")
    return np.frombuffer(value.get_data(), dtype=np.float32)


def check_buffer(buf, model_id, dim, labels):
    emb = buf.get_custom_meta("VlmEmbeddingMeta")
    if emb is None:
        fail("no VlmEmbeddingMeta")
    s = emb.get_structure()
    if s.get_value("model-id") != model_id:
        fail(f"model-id {s.get_value('model-id')} != {model_id}")
    if s.get_value("dimension") != dim:
        fail(f"dimension {s.get_value('dimension')} != {dim}")
    vec = floats(s, "vector")
    if vec.shape != (dim,) or abs(np.linalg.norm(vec) - 1.0) > 1e-4:
        fail(f"vector shape {vec.shape}, norm {np.linalg.norm(vec)}")

    match = buf.get_custom_meta("VlmMatchMeta")
    if match is None:
        fail("no VlmMatchMeta")
    m = match.get_structure()
    got_labels = [str(x) for x in m.get_value("labels")]
    if got_labels != labels:
        fail(f"labels {got_labels} != {labels}")
    scores = floats(m, "scores")
    if scores.shape != (len(labels),) or abs(float(scores.sum()) - 1.0) > 1e-4:
        fail(f"scores {scores}")
    best = int(np.argmax(scores))
    if m.get_value("best-index") != best or m.get_value("best-label") != labels[best]:
        fail(f"best {m.get_value('best-index')} {m.get_value('best-label')}, argmax {best}")
    if abs(m.get_value("best-score") - float(scores[best])) > 1e-6:
        fail("best-score differs from scores[best]")
    if m.get_value("mode") != "classify":
        fail(f"mode {m.get_value('mode')}")
    return vec, scores


def main():
    model = os.environ.get("VLM_TEST_MODEL")
    if not model:
        print("skipped: VLM_TEST_MODEL is not set")
        return 77
    model_id = os.path.realpath(model)
    with open(os.path.join(model, "config.json"), encoding="utf-8") as f:
        dim = json.load(f)["projection_dim"]
    labels = ["red", "green", "blue"]

    Gst.init(None)
    if Gst.ElementFactory.find("vlmembed") is None:
        fail("vlmembed not found (GST_PLUGIN_PATH?)")
    pipeline = Gst.parse_launch(
        f'videotestsrc num-buffers=4 ! video/x-raw,width=64,height=48 ! '
        f'vlmembed model="{model}" ! vlmmatch model="{model}" labels="{",".join(labels)}" ! '
        f'appsink name=sink sync=false')
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    n = 0
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        buf = sample.get_buffer()
        vec, scores = check_buffer(buf, model_id, dim, labels)
        # the metas survive a copy
        vec2, scores2 = check_buffer(buf.copy(), model_id, dim, labels)
        if not (np.array_equal(vec, vec2) and np.array_equal(scores, scores2)):
            fail("copy differs")
        n += 1
    bus = pipeline.get_bus()
    err = bus.pop_filtered(Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if err is not None:
        fail(f"pipeline error: {err.parse_error()[0].message}")
    if n != 4:
        fail(f"{n} buffers, expected 4")
    print(f"ok: {n} buffers, embedding dim {dim}, labels {labels}")
    return 0


def read_git_metas(buf, model_id, question):
    cap = buf.get_custom_meta("VlmCaptionMeta")
    ans = buf.get_custom_meta("VlmAnswerMeta")
    if cap is None or ans is None:
        fail("no VlmCaptionMeta or VlmAnswerMeta")
    c = cap.get_structure()
    a = ans.get_structure()
    for s in (c, a):
        if s.get_value("model-id") != model_id:
            fail(f"model-id {s.get_value('model-id')} != {model_id}")
    text = c.get_value("text")
    logprob = c.get_value("mean-logprob")
    if not isinstance(text, str) or not isinstance(logprob, float) or logprob > 0:
        fail(f"caption fields: {c.to_string()}")
    if not isinstance(c.get_value("truncated"), bool) or c.get_value("element") != "cap":
        fail(f"caption fields: {c.to_string()}")
    if a.get_value("question") != question or not isinstance(a.get_value("answer"), str):
        fail(f"answer fields: {a.to_string()}")
    if not isinstance(a.get_value("score"), float) or a.get_value("score") > 0:
        fail(f"answer score: {a.to_string()}")
    for field in ("truncated", "question-truncated"):
        if not isinstance(a.get_value(field), bool):
            fail(f"answer {field}: {a.to_string()}")
    return (text, logprob, c.get_value("truncated"),
            a.get_value("answer"), a.get_value("score"), a.get_value("truncated"))


def main_git():
    model = os.environ.get("VLM_TEST_GIT_MODEL")
    if not model:
        print("skipped: VLM_TEST_GIT_MODEL is not set")
        return 77
    model_id = os.path.realpath(model)
    question = "what is in the picture?"
    Gst.init(None)
    if Gst.ElementFactory.find("vlmcaption") is None:
        fail("vlmcaption not found (GST_PLUGIN_PATH?)")
    pipeline = Gst.parse_launch(
        f'videotestsrc num-buffers=3 pattern=ball ! video/x-raw,width=48,height=40 ! '
        f'vlmcaption name=cap model="{model}" ! vlmvqa name=vqa model="{model}" '
        f'question="{question}" ! appsink name=sink sync=false')
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    results = []
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        buf = sample.get_buffer()
        got = read_git_metas(buf, model_id, question)
        if read_git_metas(buf.copy(), model_id, question) != got:
            fail("copy differs")
        results.append(got)
    bus = pipeline.get_bus()
    captions, answers = [], []
    while True:
        msg = bus.pop()
        if msg is None:
            break
        if msg.type == Gst.MessageType.ERROR:
            fail(f"pipeline error: {msg.parse_error()[0].message}")
        s = msg.get_structure()
        if msg.type == Gst.MessageType.ELEMENT and s.get_name() == "vlm-caption":
            captions.append((s.get_value("text"), s.get_value("score"), s.get_value("truncated")))
        if msg.type == Gst.MessageType.ELEMENT and s.get_name() == "vlm-answer":
            answers.append((s.get_value("answer"), s.get_value("score"), s.get_value("truncated")))
    pipeline.set_state(Gst.State.NULL)
    if len(results) != 3:
        fail(f"{len(results)} buffers, expected 3")
    if [r[:3] for r in results] != captions or [r[3:] for r in results] != answers:
        fail(f"metas {results} differ from messages {captions} {answers}")
    print(f"ok: {len(results)} buffers, captions {[r[0] for r in results]}, "
          f"answers {[r[3] for r in results]}")
    return 0


if __name__ == "__main__":
    sys.exit(main_git() if "--git" in sys.argv[1:] else main())
