#!/usr/bin/env bash
# The main job: installs what it needs, builds, and runs the demo
# (pipelines/demo.py): renders a 24 s video of moving coloured shapes with
# known ground truth (models/scenes.py), runs vlmembed ! vlmmatch !
# vlmcaption ! vlmvqa over it with the demo CLIP and GIT (models/demo),
# prints one line per scene (time, caption, question -> answer, best label,
# each marked right/wrong against the ground truth) and writes
# build/demo/demo.webm (captions burnt in with textoverlay) and
# build/demo/demo.jsonl (vlmjsonsink). Options go to pipelines/demo.py
# (--device cpu, --seconds N, --out DIR, --clip DIR, --git DIR, --no-video).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash tools/setup-debian.sh
bash tools/build.sh
built=$(date +%s)
export GST_PLUGIN_PATH="$PWD/build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
echo
/usr/bin/python3 pipelines/demo.py --out build/demo "$@"
end=$(date +%s)
echo "run-demo: $((end - start)) s (set-up and build $((built - start)) s, demo $((end - built)) s)"
