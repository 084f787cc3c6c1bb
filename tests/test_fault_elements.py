#!/usr/bin/env python3
"""The vlm elements when the Vulkan device fails (issue 9, point 6).

Faults are injected with VLM_VULKAN_FAULT (engine/vulkan/vlm-vulkan-fault.c)
on the first Vulkan device (lavapipe in CI):

* device=auto: no Vulkan (init), out of device memory while loading (alloc)
  and while playing (alloc:3), a failed submission (submit:3) and the device
  lost while playing (lost:3, lost:2 for the GIT elements). Every frame must
  still get its results, the stream must end with EOS and no error, each
  element must post a warning naming the device and the Vulkan error and run
  on the CPU backend afterwards (stats device-name, device-fallback).
  VLM_DEVICE=vulkan:0 makes "auto" choose lavapipe, which it would not pick
  by itself (CPU-type Vulkan devices are not preferred to the CPU backend).
* device=vulkan (VLM_VULKAN_ALLOW_CPU=1: lavapipe): the same faults end in an
  element error naming the element, the device and the Vulkan error, and no
  fallback.

One pipeline per case, in this process: each case opens its devices afresh,
so each reads VLM_VULKAN_FAULT anew. Without a Vulkan device the test skips
(exit 77), or fails when CI=true.

Environment: VLM_TEST_MODEL (CLIP), VLM_TEST_GIT_MODEL (GIT),
GST_PLUGIN_PATH. Exit 77 (skip) without gi.
"""

import os
import sys

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


FRAMES = 6
CLIP = ("videotestsrc num-buffers={n} pattern=smpte ! video/x-raw,format=RGB,width=64,height=48 ! "
        "vlmembed name=e model={clip} device={dev} ! "
        "vlmmatch name=m model={clip} device={dev} labels=red,green,blue ! fakesink")
GIT = ("videotestsrc num-buffers={n} pattern=smpte ! video/x-raw,format=RGB,width=64,height=48 ! "
       "vlmcaption name=c model={git} device={dev} max-tokens=4 ! "
       "vlmvqa name=q model={git} device={dev} max-tokens=3 question=\"what is it?\" ! "
       "fakesink c.text_src ! fakesink async=false")
RESULTS = {"e": "vlm-embedding", "m": "vlm-match", "c": "vlm-caption", "q": "vlm-answer"}


def set_env(fault, vlm_device):
    for name, value in (("VLM_VULKAN_FAULT", fault), ("VLM_DEVICE", vlm_device)):
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def run(template, dev, fault, vlm_device=None):
    """Runs a pipeline to EOS or error: (results per element, warnings, errors,
    stats per element, state change failed)."""
    set_env(fault, vlm_device)
    desc = template.format(n=FRAMES, clip=os.environ["VLM_TEST_MODEL"],
                           git=os.environ["VLM_TEST_GIT_MODEL"], dev=dev)
    pipeline = Gst.parse_launch(desc)
    names = [n for n in RESULTS if pipeline.get_by_name(n)]
    results = {n: 0 for n in names}
    warnings, errors, stats = [], [], {}
    failed = pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE
    bus = pipeline.get_bus()
    while True:
        msg = bus.timed_pop(120 * Gst.SECOND)
        if msg is None:
            fail(f"{desc} with VLM_VULKAN_FAULT={fault}: no EOS or error within 120 s")
        if msg.type == Gst.MessageType.WARNING:
            err, debug = msg.parse_warning()
            warnings.append((msg.src.get_name(), err.message))
        elif msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            errors.append((msg.src.get_name(), err.message, debug or ""))
            break
        elif msg.type == Gst.MessageType.ELEMENT and msg.src.get_name() in results:
            if msg.get_structure().get_name() == RESULTS[msg.src.get_name()]:
                results[msg.src.get_name()] += 1
        elif msg.type == Gst.MessageType.EOS:
            break
    for n in names:
        stats[n] = pipeline.get_by_name(n).get_property("stats")
    pipeline.set_state(Gst.State.NULL)
    set_env(None, None)
    return results, warnings, errors, stats, failed


def check_fallback(label, template, fault, expect, vlm_device="vulkan:0", every=True):
    """expect: what the warnings must say ("a|b": either). every: each element warns (faults at load time); otherwise those that
    met the fault do (an element that does not use the device while playing,
    such as vlmmatch reusing vlmembed's embeddings, carries on)."""
    results, warnings, errors, stats, failed = run(template, "auto", fault, vlm_device)
    if errors or failed:
        fail(f"{label}: device=auto must continue on the CPU, got errors {errors}")
    if not warnings:
        fail(f"{label}: no warning")
    for name, n in results.items():
        if n != FRAMES:
            fail(f"{label}: {name} posted {n} results for {FRAMES} frames")
        mine = [w for src, w in warnings if src == name]
        if len(mine) > 1 or (every and not mine):
            fail(f"{label}: {name} posted {len(mine)} warnings: {warnings}")
        for w in mine:
            if not any(e in w for e in expect.split("|")) or "CPU backend" not in w or \
                    "device auto" not in w:
                fail(f"{label}: {name}'s warning does not name the reason ({expect}) and the "
                     f"CPU backend: {w}")
            st = stats[name]
            if not st.get_value("device-name").startswith("cpu") or \
                    not st.get_value("device-fallback"):
                fail(f"{label}: {name} is not on the CPU after its warning: {st.to_string()}")
    print(f"ok - {label}: every frame annotated, {len(warnings)} warning(s), e.g. "
          f"\"{warnings[0][1]}\"")


def check_error(label, template, fault, expect, at_start):
    os.environ["VLM_VULKAN_ALLOW_CPU"] = "1"
    results, warnings, errors, stats, failed = run(template, "vulkan", fault)
    del os.environ["VLM_VULKAN_ALLOW_CPU"]
    if not errors:
        fail(f"{label}: device=vulkan must fail with an element error")
    src, message, debug = errors[0]
    text = f"{message} {debug}"
    if not any(e in text for e in expect.split("|")) or src not in message:
        fail(f"{label}: the error does not name the element ({src}) and the reason ({expect}): "
             f"{message} / {debug}")
    if "vulkan" not in message.lower() and "llvmpipe" not in message:
        fail(f"{label}: the error does not name the device: {message}")
    if at_start and not failed:
        fail(f"{label}: the state change should have failed")
    if any("CPU backend" in w for _, w in warnings):
        fail(f"{label}: device=vulkan must not fall back: {warnings}")
    print(f"ok - {label}: element error \"{message}\"")


def have_vulkan():
    os.environ["VLM_VULKAN_ALLOW_CPU"] = "1"
    results, warnings, errors, stats, failed = run(CLIP, "vulkan", None)
    del os.environ["VLM_VULKAN_ALLOW_CPU"]
    if not errors and not failed:
        return True
    why = errors[0][1] if errors else "the pipeline failed to start"
    if os.environ.get("CI") == "true":
        fail(f"CI=true and no usable Vulkan device: {why}")
    print(f"skipped: no Vulkan device ({why})")
    sys.exit(77)


def main():
    for var in ("VLM_TEST_MODEL", "VLM_TEST_GIT_MODEL"):
        if not os.environ.get(var):
            fail(f"{var} is not set")
    for var in ("VLM_VULKAN_FAULT", "VLM_DEVICE", "VLM_VULKAN_ALLOW_CPU"):
        os.environ.pop(var, None)
    Gst.init(None)
    have_vulkan()

    check_fallback("auto, no Vulkan (init)", CLIP, "init", "no Vulkan device", vlm_device=None)
    check_fallback("auto, no Vulkan (init), GIT", GIT, "init", "VK_ERROR_INITIALIZATION_FAILED",
                   vlm_device=None)
    check_fallback("auto, out of device memory while loading (alloc)", CLIP, "alloc",
                   "VK_ERROR_OUT_OF_DEVICE_MEMORY")
    check_fallback("auto, out of device memory while playing (alloc:3)", CLIP, "alloc:3",
                   "VK_ERROR_OUT_OF_DEVICE_MEMORY", every=False)
    check_fallback("auto, a failed submission while playing (submit:3)", CLIP, "submit:3",
                   "cannot submit work", every=False)
    check_fallback("auto, device lost while playing (lost:3)", CLIP, "lost:3",
                   "VK_ERROR_DEVICE_LOST|device was lost", every=False)
    check_fallback("auto, device lost while playing (lost:2), GIT", GIT, "lost:2",
                   "VK_ERROR_DEVICE_LOST|device was lost", every=False)

    check_error("vulkan, no Vulkan (init)", CLIP, "init", "VK_ERROR_INITIALIZATION_FAILED",
                at_start=True)
    check_error("vulkan, out of device memory while loading (alloc)", CLIP, "alloc",
                "VK_ERROR_OUT_OF_DEVICE_MEMORY", at_start=True)
    check_error("vulkan, device lost while playing (lost:3)", CLIP, "lost:3",
                "VK_ERROR_DEVICE_LOST|device was lost", at_start=False)
    check_error("vulkan, out of device memory while playing (alloc:3)", CLIP, "alloc:3",
                "VK_ERROR_OUT_OF_DEVICE_MEMORY", at_start=False)
    check_error("vulkan, device lost while playing (lost:2), GIT", GIT, "lost:2",
                "VK_ERROR_DEVICE_LOST|device was lost", at_start=False)


if __name__ == "__main__":
    main()
