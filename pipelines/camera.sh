#!/bin/sh
# Camera: watch a V4L2 camera for people and animals. vlmmatch in detect
# mode scores every 5th frame's CLIP embedding against each prompt on its
# own and posts "vlm-detect" start/end messages (printed by -m) when a label
# appears and disappears (cosine >= threshold starts, < threshold -
# hysteresis ends). The video is shown; a tee sends the annotated buffers
# to vlmjsonsink, which writes one JSON line per processed frame to stdout.
# vlmmatch reads NV12, I420, RGB and BGRx itself; videoconvert only works
# for cameras giving other formats (YUY2, MJPEG decoded elsewhere, ...) and
# is a passthrough otherwise. vlmmatch encodes the frames itself here (no
# vlmembed in front) and attaches their embeddings too.
#
#   MODEL=/path/to/clip DEVICE=vulkan pipelines/camera.sh [/dev/video0]
#
# Labels can be changed while running with the "labels" property (e.g. from
# an application) or a "vlm-set-labels" custom downstream event.
set -eu
. "$(dirname "$0")/common.sh"
CAMERA=${1:-/dev/video0}

gst-launch-1.0 -m \
  v4l2src device="$CAMERA" \
  ! videoconvert ! "video/x-raw,format={NV12,I420,RGB,BGRx}" \
  ! vlmmatch model="$MODEL" device="$DEVICE" mode=detect interval=5 \
      labels="a person,a dog,a cat,a cup" template="a photo of {}" \
      threshold=0.25 hysteresis=0.03 \
  ! tee name=t \
  t. ! queue ! videoconvert ! autovideosink \
  t. ! queue ! vlmjsonsink location=-
