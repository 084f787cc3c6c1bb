#!/usr/bin/env python3
"""A live source never stalls behind a slow model (issue 9, point 5).

videotestsrc is-live=true at 30 frames/s feeds vlmembed ! vlmmatch, each
made to take 100 ms more per analysed frame by VLM_TEST_DELAY_MS=100 (the
base class sleeps that long in every analysis: a deliberately slow model,
deterministic; 200 ms per analysed frame = 6 frame times), into
fakesink sync=true qos=true. With the default late-frames=auto (live: skip)
the stream must keep up with the source:

* frames flow: every frame the source made reaches the sink, in order, with
  pts one frame apart (no gap);
* results attach to the frames that were analysed: the frames with an
  embedding meta are exactly those with a match meta (the same frames are
  analysed by both elements), each has its "vlm-embedding" bus message with
  its pts, and the others have neither;
* the skipping is real and bounded: at least 2 frames analysed, at least
  half of them skipped (analysing more than one frame in 6 cannot keep up),
  the elements' stats count the same, and one QoS message per skipped frame
  with processed/dropped stats that add up;
* latency stays bounded: no frame reaches the sink more than 2 s after its
  running time (analysing every frame would put the last of 60 frames about
  10 s behind; the figure measured is printed).

The same with queues between the elements and before the sink (a decoupled
pipeline), and once with late-frames=process over 15 frames for the
contrast: every frame analysed, the stream falls behind.

Environment: VLM_TEST_MODEL (CLIP), GST_PLUGIN_PATH, VLM_TEST_DELAY_MS.
Prints one line of figures per run. Exit 77 (skip) without gi.
"""

import os
import sys
import time

try:
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
except (ImportError, ValueError) as exc:
    print(f"skipped: {exc}")
    sys.exit(77)


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


FRAME = Gst.SECOND // 30


def run(model, frames, policy, queues):
    q = " queue max-size-buffers=0 max-size-time=0 max-size-bytes=0 !" if queues else ""
    desc = (f"videotestsrc is-live=true pattern=ball num-buffers={frames} ! "
            f"video/x-raw,format=RGB,width=64,height=48,framerate=30/1 ! "
            f"vlmembed name=e model={model} late-frames={policy} !{q} "
            f"vlmmatch name=m model={model} labels=ball,sky late-frames={policy} !{q} "
            f"fakesink name=sink sync=true qos=true")
    pipeline = Gst.parse_launch(desc)
    sink = pipeline.get_by_name("sink")
    seen = []   # (pts, has embedding, has match, lag ns)

    def probe(pad, info):
        buf = info.get_buffer()
        clock = pipeline.get_clock()
        lag = clock.get_time() - pipeline.get_base_time() - buf.pts if clock else 0
        seen.append((buf.pts, buf.get_custom_meta("VlmEmbeddingMeta") is not None,
                     buf.get_custom_meta("VlmMatchMeta") is not None, lag))
        return Gst.PadProbeReturn.OK

    sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    bus = pipeline.get_bus()
    embedding_pts, qos = [], []
    pipeline.set_state(Gst.State.PLAYING)
    start = time.monotonic()
    while True:
        msg = bus.timed_pop(10 * Gst.SECOND)
        if msg is None:
            if time.monotonic() - start > 300:
                fail(f"{policy}: no EOS within 300 s")
            continue
        if msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            fail(f"{policy}: error {err.message} ({debug})")
        if msg.type == Gst.MessageType.LATENCY:
            pipeline.recalculate_latency()
        elif msg.type == Gst.MessageType.QOS and msg.src.get_name() == "e":
            qos.append(msg.parse_qos_stats())
        elif msg.type == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s.get_name() == "vlm-embedding":
                embedding_pts.append(s.get_value("pts"))
        elif msg.type == Gst.MessageType.EOS:
            break
    wall = time.monotonic() - start
    stats = {}
    for name in ("e", "m"):
        stats[name] = pipeline.get_by_name(name).get_property("stats")
    pipeline.set_state(Gst.State.NULL)
    return seen, embedding_pts, qos, stats, wall


def stat(structure, field):
    return structure.get_value(field)


def check_skip(model, queues):
    frames = 60
    seen, embedding_pts, qos, stats, wall = run(model, frames, "auto", queues)
    what = "with queues" if queues else "one thread"
    if len(seen) != frames:
        fail(f"{what}: {len(seen)} frames reached the sink, {frames} made")
    pts = [s[0] for s in seen]
    for a, b in zip(pts, pts[1:]):
        if abs((b - a) - FRAME) > 1:
            fail(f"{what}: pts {a} then {b}: a gap or a repeat")
    analysed = [s[0] for s in seen if s[1]]
    matched = [s[0] for s in seen if s[2]]
    if analysed != matched:
        fail(f"{what}: frames with an embedding {analysed} != frames with a match {matched}")
    if sorted(embedding_pts) != analysed:
        fail(f"{what}: vlm-embedding messages at {embedding_pts}, embedding metas at {analysed}")
    n, skipped = len(analysed), frames - len(analysed)
    if n < 2 or skipped < frames // 2:
        fail(f"{what}: {n} frames analysed, {skipped} skipped: expected at least 2 analysed and "
             f"at least half skipped at 200 ms per analysed frame and 30 frames/s")
    for name in ("e", "m"):
        st = stats[name]
        if stat(st, "frames-processed") != n or stat(st, "frames-skipped") != skipped:
            fail(f"{what}: {name} stats {st.to_string()}: expected {n} processed, {skipped} "
                 f"skipped")
    if len(qos) != skipped:
        fail(f"{what}: {len(qos)} QoS messages from vlmembed for {skipped} skipped frames")
    fmt, processed, dropped = qos[-1]
    if fmt != Gst.Format.BUFFERS or dropped != skipped or processed > n:
        fail(f"{what}: last QoS stats {fmt} processed {processed} dropped {dropped}")
    max_lag = max(s[3] for s in seen)
    if max_lag > 2 * Gst.SECOND:
        fail(f"{what}: a frame reached the sink {max_lag / 1e9:.2f} s after its running time")
    latency_ms = stat(stats["e"], "latency-ms")
    print(f"ok - late-frames=auto, live, {what}: {frames} frames in {wall:.1f} s, all reached "
          f"the sink in order; {n} analysed by both elements (results on exactly those), "
          f"{skipped} skipped with {len(qos)} QoS messages; largest lag at the sink "
          f"{max_lag / 1e6:.0f} ms; vlmembed announces {latency_ms:.0f} ms of latency")


def check_process(model):
    frames = 15
    seen, embedding_pts, qos, stats, wall = run(model, frames, "process", False)
    if len(seen) != frames or not all(s[1] and s[2] for s in seen) or qos:
        fail(f"late-frames=process: {len(seen)} frames, "
             f"{sum(1 for s in seen if s[1])} analysed, {len(qos)} QoS messages")
    lag = seen[-1][3]
    print(f"ok - late-frames=process, live: all {frames} frames analysed in {wall:.1f} s, the "
          f"last one {lag / 1e6:.0f} ms behind its running time (the stream falls behind)")


def main():
    model = os.environ.get("VLM_TEST_MODEL")
    if not model:
        fail("VLM_TEST_MODEL is not set")
    if os.environ.get("VLM_TEST_DELAY_MS") != "100":
        fail("run with VLM_TEST_DELAY_MS=100 (the deliberately slow model)")
    Gst.init(None)
    check_skip(model, queues=False)
    check_skip(model, queues=True)
    check_process(model)


if __name__ == "__main__":
    main()
