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

Environment: VLM_TEST_MODEL, GST_PLUGIN_PATH. Exit 77 (skip) without gi.
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


if __name__ == "__main__":
    sys.exit(main())
