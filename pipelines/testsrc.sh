#!/bin/sh
# Test source: classify 30 frames of videotestsrc against three colour names
# and print every result message (-m). vlmembed encodes each frame once;
# vlmmatch reuses that embedding and posts a "vlm-match" message per frame
# with the labels, their softmax scores and the best label. The same
# results go to results.jsonl as JSON lines (one object per frame).
#
#   MODEL=/path/to/clip-vit-base-patch32 pipelines/testsrc.sh [pattern]
#
# pattern: a videotestsrc pattern (smpte, ball, snow, red, green, blue, ...).
set -eu
. "$(dirname "$0")/common.sh"
PATTERN=${1:-smpte}

gst-launch-1.0 -m \
  videotestsrc num-buffers=30 pattern="$PATTERN" \
  ! vlmembed model="$MODEL" device="$DEVICE" \
  ! vlmmatch model="$MODEL" device="$DEVICE" labels="red,green,blue,a ball,noise" \
      template="a photo of {}" \
  ! vlmjsonsink location=results.jsonl
echo "JSON lines: results.jsonl" >&2
