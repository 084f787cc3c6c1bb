#!/usr/bin/env bash
# Installs the Debian 12 packages gst-vlm needs to build, test and run the
# demo. Run as root (or with sudo). Does nothing when all are present.
set -euo pipefail

packages=(
  # build
  gcc meson ninja-build pkg-config
  libglib2.0-dev libjson-glib-dev libsqlite3-dev
  # Vulkan backend: headers + loader, shader compiler, lavapipe (CPU Vulkan
  # driver, our CI GPU), validation layers for the tests, vulkaninfo
  libvulkan-dev glslang-tools mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
  # GStreamer elements
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  # the demo (tools/run-demo.sh): textoverlay (pango), vp8enc + webmmux are in -good
  gstreamer1.0-x
  # reference implementations and the Python (GObject introspection) tests
  python3 python3-numpy python3-gi gir1.2-gstreamer-1.0 python3-gst-1.0
  # an RTSP server for the live-stream test of `vlm watch`
  gir1.2-gst-rtsp-server-1.0
  # memory checks of the elements (tests/valgrind); clang builds for
  # .ci/sanitize and, optionally, tests/tsan (gcc's TSan comes with gcc)
  valgrind clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-debian: all ${#packages[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup-debian: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
