#!/usr/bin/env bash
# Memory check of the four vlm elements under valgrind memcheck (issue 9,
# point 4): tests/stress-pipelines.c cycles a pipeline of vlmembed, vlmmatch,
# vlmcaption and vlmvqa NULL -> PLAYING -> NULL, then changes labels, question
# and interval while it plays, on the tiny test checkpoints.
#
#   tests/valgrind/run.sh [--cycles N] [--changes N] [--device D]
#
# Defaults: 200 cycles, 1000 changes, device cpu (the full run; results in
# tests/HARDENING.md). The test suite runs a short version (test
# valgrind-smoke). Environment: VLM_BUILD (build folder, default ./build),
# VLM_TEST_MODEL / VLM_TEST_GIT_MODEL (default: the build's tiny-clip and
# tiny-git), VLM_VALGRIND_LOG (default BUILD/tests/valgrind-memcheck.log),
# VLM_VALGRIND_SUPP (more suppression files, separated by colons, e.g.
# GStreamer's tests/check/gstreamer.supp from its source tree, which Debian
# does not install; the run does not need it).
#
# Passes (exit 0) when valgrind reports 0 bytes definitely lost and no memory
# error (invalid read or write, use of uninitialised values, bad free) beyond
# the suppressions in tests/valgrind/gst-vlm.supp (one-time allocations and
# known false positives in GLib and the dynamic loader, each explained there).
# Prints one line: cycles, changes, definitely lost bytes, invalid reads and
# writes, errors, the time taken and the log file.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${VLM_BUILD:-$root/build}
cycles=200
changes=1000
device=cpu
while [ $# -gt 0 ]; do
  case $1 in
    --cycles) cycles=$2; shift 2 ;;
    --changes) changes=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    *) echo "usage: $0 [--cycles N] [--changes N] [--device D]" >&2; exit 2 ;;
  esac
done

if ! command -v valgrind >/dev/null; then
  echo "valgrind: not installed (Debian package valgrind; tools/setup-debian.sh installs it)" >&2
  [ "${CI:-}" = true ] && exit 1   # CI must not skip it
  exit 77
fi
stress=$build/tests/stress-pipelines
[ -x "$stress" ] || { echo "valgrind: $stress not built" >&2; exit 2; }

export GST_PLUGIN_PATH=$build/gst
export GST_REGISTRY=$build/tests/gst-registry-valgrind.bin
export VLM_TEST_MODEL=${VLM_TEST_MODEL:-$build/tests/tiny-clip}
export VLM_TEST_GIT_MODEL=${VLM_TEST_GIT_MODEL:-$build/tests/tiny-git}
# plain malloc for every GLib allocation, cleared pointers in freed GLib
# structures: what valgrind needs to see GLib memory precisely
export G_SLICE=always-malloc G_DEBUG=gc-friendly
log=${VLM_VALGRIND_LOG:-$build/tests/valgrind-memcheck.log}

# the plugin registry is written once outside valgrind (the scan forks a
# helper valgrind does not follow anyway)
"$stress" --cycles 1 --device "$device" >/dev/null

supp=(--suppressions="$here/gst-vlm.supp")
IFS=: read -r -a extra <<< "${VLM_VALGRIND_SUPP:-}"
for f in "${extra[@]}"; do
  if [ -n "$f" ]; then supp+=(--suppressions="$f"); fi
done

start=$SECONDS
status=0
valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
  --errors-for-leak-kinds=definite --num-callers=40 --gen-suppressions=all \
  "${supp[@]}" --error-exitcode=99 --log-file="$log" \
  "$stress" --cycles "$cycles" --changes "$changes" --device "$device" || status=$?
took=$((SECONDS - start))

lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -n 1 | tr -d ,)
lost=${lost:-0}
reads=$(grep -c 'Invalid read of size' "$log" || true)
writes=$(grep -c 'Invalid write of size' "$log" || true)
errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tail -n 1 | tr -d ,)
echo "valgrind: $cycles cycles, $changes property changes ($device): definitely lost $lost bytes," \
  "invalid reads $reads, invalid writes $writes, errors ${errors:-?}; ${took} s; log $log"
if [ "$status" -ne 0 ] || [ "$lost" != 0 ] || [ "${errors:-1}" != 0 ]; then
  grep -E -A30 'Invalid (read|write)|definitely lost in|uninitialised|Invalid free' "$log" | head -n 200
  echo "valgrind: FAIL (exit status $status)" >&2
  exit 1
fi
