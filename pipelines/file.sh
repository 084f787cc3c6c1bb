#!/bin/sh
# File: classify the frames of any video file GStreamer can decode and write
# the results as JSON lines. uridecodebin decodes; videoconvert only works
# when the decoder's format is not one vlmembed reads (RGB, RGBx, BGRx, RGBA,
# BGRA, NV12, I420, YV12) and is a passthrough otherwise. One frame per
# second of 30 fps video is processed (interval=30 on both elements: a
# vlmmatch with interval=1 would encode the frames vlmembed skips). vlmembed
# attaches the embedding (vectors=true writes it to the JSON too), vlmmatch
# the classification. Only the video stream is decoded and exposed
# (caps/expose-all-streams), so files with sound work too. vlmjsonsink does
# not sync to the clock: the file runs as fast as the model goes.
#
#   MODEL=/path/to/clip pipelines/file.sh video.mp4 [out.jsonl]
set -eu
. "$(dirname "$0")/common.sh"
if [ $# -lt 1 ]; then
  echo "usage: $0 VIDEO [OUT.jsonl]" >&2
  exit 2
fi
VIDEO=$(realpath "$1")
OUT=${2:-${VIDEO%.*}.jsonl}

gst-launch-1.0 \
  uridecodebin uri="file://$VIDEO" caps=video/x-raw expose-all-streams=false \
  ! videoconvert \
  ! vlmembed model="$MODEL" device="$DEVICE" interval=30 \
  ! vlmmatch model="$MODEL" device="$DEVICE" interval=30 \
      labels="indoors,outdoors,a street,a beach,a forest,an office,a kitchen" \
      template="a photo of {}" \
  ! vlmjsonsink location="$OUT" vectors=true
echo "JSON lines: $OUT" >&2
