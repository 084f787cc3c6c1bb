#!/usr/bin/env bash
# Build (when needed) and run one libFuzzer target for SECONDS seconds.
#
#   tests/fuzz/run.sh TARGET SECONDS [libFuzzer options...]
#   tests/fuzz/run.sh list
#
# TARGET is one of the fuzz-*.c files here without prefix and suffix
# (safetensors, json, config, clip-vocab, clip-encode, wordpiece-vocab,
# wordpiece). The build goes to $VLM_FUZZ_BUILD (default /tmp/build-fuzz),
# configured on first use with clang, ASan + UBSan and -Dfuzzing=true (no
# Vulkan, no test suite: only what the targets need). An existing build
# folder is used as it is (.ci/sanitize passes its ASan build).
#
# Inputs: the committed seeds (tests/fuzz/corpus/TARGET) and regressions
# (tests/fuzz/regressions/TARGET) are read, never written; what the run
# learns goes to $VLM_FUZZ_WORK/TARGET/corpus (default: BUILD/fuzz-work),
# crashes, leaks, timeouts and out-of-memory inputs to $VLM_FUZZ_WORK/TARGET/
# (crash-*, leak-*, timeout-*, oom-*). An input that takes more than 10 s is
# a hang, one that needs more than 2 GiB a memory bomb: both fail the run.
# Exit status: libFuzzer's (0: nothing found).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
targets=(safetensors json config clip-vocab clip-encode wordpiece-vocab wordpiece)

if [ "${1:-}" = list ]; then
  printf '%s\n' "${targets[@]}"
  exit 0
fi
if [ $# -lt 2 ]; then
  echo "usage: $0 TARGET SECONDS [libFuzzer options...]   (targets: ${targets[*]})" >&2
  exit 2
fi
target=$1
seconds=$2
shift 2
case " ${targets[*]} " in
  *" $target "*) ;;
  *) echo "$0: unknown target '$target' (targets: ${targets[*]})" >&2; exit 2 ;;
esac

build=${VLM_FUZZ_BUILD:-/tmp/build-fuzz}
if [ ! -f "$build/build.ninja" ]; then
  CC=${CC:-clang} meson setup "$build" "$src" -Dfuzzing=true -Dtests=false -Dvulkan=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C "$build" ${VLM_FUZZ_JOBS:+-j "$VLM_FUZZ_JOBS"} "tests/fuzz/fuzz-$target" >/dev/null
binary="$build/tests/fuzz/fuzz-$target"

work=${VLM_FUZZ_WORK:-$build/fuzz-work}/$target
mkdir -p "$work/corpus"
inputs=("$work/corpus" "$here/corpus/$target")
[ -d "$here/regressions/$target" ] && inputs+=("$here/regressions/$target")
dict=()
case $target in
  clip-encode|wordpiece) ;;
  *) dict=(-dict="$here/json.dict") ;;
esac

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
echo "fuzz-$target: ${seconds} s, corpus ${inputs[*]}, findings in $work/" >&2
exec "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/" "${dict[@]}" "$@" "${inputs[@]}"
