#!/usr/bin/env bash
# The main job: installs what it needs, builds, and runs the demo.
# (Until the elements land, the demo lists the devices and times the engine's
# ops on the CPU backend and on the Vulkan device.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-debian.sh
bash tools/build.sh
echo
echo "== vlm devices"
./build/tools/vlm devices
echo
echo "== vlm bench-ops --device cpu"
./build/tools/vlm bench-ops --device cpu
if ./build/tools/vlm devices | grep -q '^vulkan:0'; then
  echo
  echo "== vlm bench-ops --device vulkan:0 (lavapipe is a CPU emulation: slow by nature)"
  ./build/tools/vlm bench-ops --device vulkan:0 --runs 3 --reps 2
fi
