#!/bin/sh
# Captions: caption a video with a GIT model, burn the captions into the
# picture with textoverlay, and write them as JSON lines too.
#
# vlmembed encodes every fifth frame with CLIP; vlmcaption (interval=5 too)
# captions a frame only when that embedding moved at least min-change (a
# cosine distance) from the last captioned frame, so a still scene is
# captioned once (MIN_CHANGE, default 0.02: about a new scene for CLIP
# ViT-B; the tiny random test CLIP barely moves, try MIN_CHANGE=0.001).
# Each caption goes out three ways: a VlmCaptionMeta on the
# buffer (written by vlmjsonsink), a "vlm-caption" bus message (printed by
# -m), and a text buffer on vlmcaption's "text_src" pad, which feeds
# textoverlay's text_sink. vlmcaption sees that text_src leads to a
# textoverlay and sends the current caption before every frame (its
# text-mode "auto" picks "overlay"), so textoverlay never waits for text.
#
#   GIT_MODEL=/path/to/git-base-coco MODEL=/path/to/clip pipelines/caption.sh [VIDEO] [OUT.webm]
#
# Without VIDEO: 150 frames of videotestsrc's moving ball. Without
# GIT_MODEL: a tiny random GIT checkpoint (gibberish captions) written to
# $BUILD/pipelines-tiny-git. The burnt-in video goes to OUT.webm (default
# captions.webm), the JSON lines to captions.jsonl.
#
# The text pad alone, as subtitle-like buffers (one per caption, lasting
# until the next caption):
#   gst-launch-1.0 -v videotestsrc num-buffers=10 ! vlmcaption model="$GIT_MODEL" name=c \
#       ! fakesink c.text_src ! fakesink dump=true silent=false
set -eu
. "$(dirname "$0")/common.sh"
if ! gst-inspect-1.0 vlmcaption > /dev/null 2>&1; then
  echo "vlmcaption was not found: rebuild the plugin" >&2
  exit 1
fi
if [ -z "${GIT_MODEL:-}" ]; then
  GIT_MODEL="$BUILD/pipelines-tiny-git"
  if [ ! -e "$GIT_MODEL/config.json" ]; then
    echo "GIT_MODEL not set: writing a tiny random GIT checkpoint to $GIT_MODEL" >&2
    /usr/bin/python3 "$top/models/make_git_checkpoint.py" "$GIT_MODEL" --preset tiny \
      --seed 3 --head-scale 8 --sep-bias 2 >&2
  fi
fi
OUT=${2:-captions.webm}
MIN_CHANGE=${MIN_CHANGE:-0.02}

if [ $# -ge 1 ]; then
  VIDEO=$(realpath "$1")
  set -- uridecodebin uri="file://$VIDEO" caps=video/x-raw expose-all-streams=false \
    ! videoconvert
else
  set -- videotestsrc num-buffers=150 pattern=ball \
    ! video/x-raw,width=320,height=240,framerate=30/1
fi

gst-launch-1.0 -m "$@" \
  ! vlmembed model="$MODEL" device="$DEVICE" interval=5 \
  ! vlmcaption name=c model="$GIT_MODEL" device="$DEVICE" interval=5 min-change="$MIN_CHANGE" \
      num-beams=3 max-tokens=20 \
  ! tee name=t \
  t. ! queue ! vlmjsonsink location=captions.jsonl \
  t. ! queue ! textoverlay name=o valignment=bottom font-desc="Sans 14" \
     ! videoconvert ! vp8enc deadline=1 ! webmmux ! filesink location="$OUT" \
  c.text_src ! o.text_sink
echo "video with captions: $OUT; JSON lines: captions.jsonl" >&2
