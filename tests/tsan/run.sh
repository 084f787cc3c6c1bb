#!/usr/bin/env bash
# Race check of the vlm elements under ThreadSanitizer (issue 9, point 7):
# two pipelines of vlmembed, vlmmatch, vlmcaption and vlmvqa in one process,
# each at full speed, sharing one CLIP and one GIT instance
# (tests/stress-pipelines.c --shared), plus state cycles and property changes
# while playing, in a build of the engine, the plugin and the test with
# clang -fsanitize=thread.
#
#   tests/tsan/run.sh [--frames N] [--cycles N] [--changes N] [--device D]
#
# Defaults: 200 frames per pipeline, 10 cycles, 100 changes, device cpu (the
# full run; results in tests/HARDENING.md). The test suite runs a short
# version (test tsan-smoke). Environment: VLM_TSAN_BUILD (build folder,
# default ./build-tsan; configured with clang on first use),
# VLM_TSAN_LOG (default BUILD/tsan.log), VLM_TSAN_JOBS (ninja jobs, default 2).
#
# Passes (exit 0) when TSan reports no data race, lock-order inversion or
# other thread error. GLib's futex-based locks are annotated for TSan by
# tests/tsan/glib-annotations.c; interceptors called from uninstrumented
# libraries (GLib, GStreamer, Mesa) are ignored (ignore_noninstrumented_modules),
# so reports point at accesses in gst-vlm code. Suppressions:
# tests/tsan/tsan.supp (each explained). Needs clang and its TSan runtime
# (Debian 12: clang, libclang-rt-14-dev).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${VLM_TSAN_BUILD:-$root/build-tsan}
frames=200
cycles=10
changes=100
device=cpu
while [ $# -gt 0 ]; do
  case $1 in
    --frames) frames=$2; shift 2 ;;
    --cycles) cycles=$2; shift 2 ;;
    --changes) changes=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    *) echo "usage: $0 [--frames N] [--cycles N] [--changes N] [--device D]" >&2; exit 2 ;;
  esac
done

if ! command -v clang >/dev/null || [ ! -e "$(clang -print-file-name=libclang_rt.tsan-x86_64.a)" ]; then
  echo "tsan: needs clang with its ThreadSanitizer runtime (Debian: clang libclang-rt-14-dev)" >&2
  [ "${CI:-}" = true ] && exit 1   # CI must not skip it
  exit 77
fi

start=$SECONDS
if [ ! -f "$build/build.ninja" ]; then
  setup_log=$(mktemp)
  CC=clang meson setup "$build" "$root" -Db_sanitize=thread -Db_lundef=false \
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
took=$((SECONDS - start))
reports=$(cat "$log".* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer:' || true)
echo "tsan: 2 pipelines x $frames frames sharing one model instance, $cycles cycles," \
  "$changes changes ($device): $reports reports; build ${built} s, run ${took} s;" \
  "logs $log.*"
if [ "$status" -ne 0 ] || [ "$reports" -ne 0 ]; then
  cat "$log".* 2>/dev/null | head -n 300
  echo "tsan: FAIL (exit status $status)" >&2
  exit 1
fi
