# Sourced by the example pipelines: finds the plugin and the model.
#   MODEL  a CLIP folder (Hugging Face layout); default: a tiny random test
#          checkpoint written on first use to $BUILD/pipelines-tiny-clip
#          (random weights: the pipelines run, the labels mean nothing)
#   BUILD  the meson build folder holding gst/libgstvlm.so (default: build);
#          ignored when the plugin is installed system-wide
#   DEVICE auto (default), cpu, vulkan or vulkan:N
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
BUILD=${BUILD:-$top/build}
DEVICE=${DEVICE:-auto}
if [ -e "$BUILD/gst/libgstvlm.so" ]; then
  export GST_PLUGIN_PATH="$BUILD/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
fi
if ! gst-inspect-1.0 vlmembed > /dev/null 2>&1; then
  echo "the vlm plugin was not found: build with meson (BUILD=$BUILD) or install it" >&2
  exit 1
fi
if [ -z "${MODEL:-}" ]; then
  MODEL="$BUILD/pipelines-tiny-clip"
  if [ ! -e "$MODEL/config.json" ]; then
    echo "MODEL not set: writing a tiny random CLIP checkpoint to $MODEL" >&2
    /usr/bin/python3 "$top/models/make_clip_checkpoint.py" "$MODEL" --preset tiny --seed 1 >&2
  fi
fi
