#!/bin/bash
# bench-matrix.sh ROUNDS THREADS [BASE_BUILD] [NEW_BUILD]
# ViT-B/32 b1, b8 and ViT-B/16 b1 with `vlm bench`, alternating two builds
# (base, new) x two f32 maths (strict, bf16x3), ROUNDS times, VLM_THREADS=THREADS;
# prints the load average, images/s, wall and CPU ms per call and peak RSS of each run.
# Checkpoints in /tmp/perf-models (see RESULTS.md).
R=$1; T=$2
BASE=${3:-/tmp/perf2/build-base}; NEW=${4:-/tmp/build-perf2}
for r in $(seq $R); do
 for what in "vitb32 1 30" "vitb32 8 10" "vitb16 1 10"; do
  set -- $what; model=$1; b=$2; runs=$3
  for cfg in "base strict" "base bf16x3" "new bf16x3" "new strict"; do
   set -- $cfg
   bin=$BASE/tools/vlm; [ $1 = new ] && bin=$NEW/tools/vlm
   la=$(cut -d' ' -f1 /proc/loadavg)
   out=$(VLM_THREADS=$T VLM_CPU_F32_MATH=$2 $bin bench --model /tmp/perf-models/$model --device cpu --what image --runs $runs --batch $b 2>&1 | awk '/^image/ {print $2, $(NF-2), $(NF-1), $NF}')
   echo "$(date +%H:%M:%S) load=$la $model b$b $1 $2 : rate ms cpu_ms rss = $out"
  done
 done
done
