#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs `meson test`.
# The Vulkan tests run on the first Vulkan device (lavapipe on a machine
# without a GPU) with the validation layer on; with CI=true they fail rather
# than skip when no Vulkan device exists. Ends with one summary line
# "tests: N passed, N failed, N skipped" counted from meson's test log.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-debian.sh
bash tools/build.sh
status=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || status=$?
/usr/bin/python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
for line in open(sys.argv[1]):
    result = json.loads(line)["result"]
    key = "OK" if result in ("OK", "EXPECTEDFAIL") else "SKIP" if result == "SKIP" else "FAIL"
    counts[key] += 1
print(f"tests: {counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
PY
exit $status
