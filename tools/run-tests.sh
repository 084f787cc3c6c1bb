#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs `meson test`.
# The Vulkan tests run on the first Vulkan device (lavapipe on a machine
# without a GPU) with the validation layer on; with CI=true they fail rather
# than skip when no Vulkan device exists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-debian.sh
bash tools/build.sh
meson test -C build --print-errorlogs --num-processes 2 "$@"
