#!/usr/bin/python3
"""Read vlm results from Python through GObject introspection.

Runs videotestsrc ! vlmembed ! vlmmatch ! appsink and prints, per frame, the
embedding (a numpy float32 vector) and the match (labels, scores, best).
Needs python3-gi, gir1.2-gstreamer-1.0, python3-gst-1.0 (for Gst.ValueArray)
and python3-numpy. No binding of our own: the metas are GstCustomMeta with a
GstStructure; see gst/vlm-meta.h for the field names.

    GST_PLUGIN_PATH=build/gst pipelines/read_meta.py /path/to/clip [labels]
"""

import sys

import gi
import numpy as np

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    model = sys.argv[1]
    labels = sys.argv[2] if len(sys.argv) > 2 else "red,green,blue"
    Gst.init(None)
    pipeline = Gst.parse_launch(
        f'videotestsrc num-buffers=10 pattern=ball ! vlmembed model="{model}" ! '
        f'vlmmatch model="{model}" labels="{labels}" ! appsink name=sink sync=false')
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        buf = sample.get_buffer()
        emb = buf.get_custom_meta("VlmEmbeddingMeta").get_structure()
        vector = np.frombuffer(emb.get_value("vector").get_data(), dtype=np.float32)
        match = buf.get_custom_meta("VlmMatchMeta").get_structure()
        scores = np.frombuffer(match.get_value("scores").get_data(), dtype=np.float32)
        names = list(match.get_value("labels"))
        print(f"pts {buf.pts / Gst.SECOND:6.3f}s  embedding[{len(vector)}] "
              f"norm {np.linalg.norm(vector):.4f}  best {match.get_value('best-label')!r}  "
              + "  ".join(f"{n}={s:.3f}" for n, s in zip(names, scores)))
    pipeline.set_state(Gst.State.NULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
