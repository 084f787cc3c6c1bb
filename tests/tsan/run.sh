#!/usr/bin/env bash
# Race check of the vlm elements under ThreadSanitizer (issue 9, point 7):
# two pipelines of vlmembed, vlmmatch, vlmcaption and vlmvqa in one process,
# each at full speed, sharing one CLIP and one GIT instance
# (tests/stress-pipelines.c --shared), plus state cycles and property changes
# while playing, in a build of the engine, the plugin and the test with
# -fsanitize=thread.
#
#   tests/tsan/run.sh [--frames N] [--cycles N] [--changes N] [--device D]
#                     [--fallback-frames N]
#
# Defaults: 200 frames per pipeline, 10 cycles, 100 changes, device cpu (the
# full run; results in tests/HARDENING.md). Then, when Vulkan offers a
# device, the two pipelines once more over --fallback-frames frames (default
# 10, 0: not at all) on device auto = vulkan:0 with the device lost while they
# play (VLM_VULKAN_FAULT=lost:40): every element that meets the loss moves to
# the CPU backend while the other pipeline runs. The test suite runs a short
# version (test tsan-smoke). Environment: VLM_TSAN_BUILD (build folder,
# default ./build-tsan; configured with clang on first use),
# VLM_TSAN_LOG (default BUILD/tsan.log), VLM_TSAN_JOBS (ninja jobs, default 2).
#
# Passes (exit 0) when TSan reports no data race, lock-order inversion or
# other thread error. The compiler is gcc (its TSan runtime, libtsan2, comes
# with it; VLM_TSAN_CC=clang uses clang and libclang-rt-14-dev's). GLib's
# futex-based locks are annotated for TSan by
# tests/tsan/glib-annotations.c; interceptors called from uninstrumented
# libraries (GLib, GStreamer, Mesa) are ignored (ignore_noninstrumented_modules),
# so reports point at accesses in gst-vlm code. Suppressions:
# tests/tsan/tsan.supp (each explained).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${VLM_TSAN_BUILD:-$root/build-tsan}
frames=200
cycles=10
changes=100
device=cpu
fallback_frames=10
while [ $# -gt 0 ]; do
  case $1 in
    --frames) frames=$2; shift 2 ;;
    --cycles) cycles=$2; shift 2 ;;
    --changes) changes=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --fallback-frames) fallback_frames=$2; shift 2 ;;
    *) echo "usage: $0 [--frames N] [--cycles N] [--changes N] [--device D]" \
         "[--fallback-frames N]" >&2; exit 2 ;;
  esac
done

cc=${VLM_TSAN_CC:-gcc}
if ! command -v "$cc" >/dev/null || ! echo 'int main(void){return 0;}' |
    "$cc" -fsanitize=thread -x c - -o /dev/null 2>/dev/null; then
  echo "tsan: $cc cannot build with -fsanitize=thread (Debian: libtsan2 for gcc;" \
    "clang libclang-rt-14-dev for clang)" >&2
  [ "${CI:-}" = true ] && exit 1   # CI must not skip it
  exit 77
fi

start=$SECONDS
if [ ! -f "$build/build.ninja" ]; then
  setup_log=$(mktemp)
  CC=$cc meson setup "$build" "$root" -Db_sanitize=thread -Db_lundef=false \
    --buildtype=debugoptimized > "$setup_log" 2>&1 ||
    { cat "$setup_log"; rm -f "$setup_log"; exit 1; }
  rm -f "$setup_log"
fi
ninja -C "$build" -j "${VLM_TSAN_JOBS:-2}" gst/libgstvlm.so tests/stress-pipelines \
  tests/tiny-clip tests/tiny-git > "$build/tsan-build.log" 2>&1 ||
  { tail -n 50 "$build/tsan-build.log"; exit 1; }
built=$((SECONDS - start))

export GST_PLUGIN_PATH=$build/gst
export GST_REGISTRY=$build/gst-registry-tsan.bin
# the registry scanner helper is not instrumented and cannot load the plugin
export GST_REGISTRY_FORK=no
export VLM_TEST_MODEL=$build/tests/tiny-clip
export VLM_TEST_GIT_MODEL=$build/tests/tiny-git
export VLM_VULKAN_ALLOW_CPU=1
log=${VLM_TSAN_LOG:-$build/tsan.log}
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 ignore_noninstrumented_modules=1 \
second_deadlock_stack=1 history_size=4 suppressions=$here/tsan.supp log_path=$log"
rm -f "$log".*

start=$SECONDS
status=0
"$build/tests/stress-pipelines" --shared "$frames" --cycles "$cycles" --changes "$changes" \
  --device "$device" || status=$?
fallback=""
if [ "$status" -eq 0 ] && [ "$fallback_frames" -gt 0 ]; then
  if VLM_VULKAN_FAULT=lost:40 VLM_DEVICE=vulkan:0 "$build/tests/stress-pipelines" \
      --shared "$fallback_frames" --device auto --fallback 2> "$build/tsan-fallback.err"; then
    fallback=", then 2 x $fallback_frames frames with the Vulkan device lost (fallback)"
  else
    cat "$build/tsan-fallback.err"
    status=1
  fi
fi
took=$((SECONDS - start))
reports=$(cat "$log".* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer:' || true)
echo "tsan: 2 pipelines x $frames frames sharing one model instance, $cycles cycles," \
  "$changes changes ($device)$fallback: $reports reports; build ${built} s, run ${took} s;" \
  "logs $log.*"
if [ "$status" -ne 0 ] || [ "$reports" -ne 0 ]; then
  cat "$log".* 2>/dev/null | head -n 300
  echo "tsan: FAIL (exit status $status)" >&2
  exit 1
fi
