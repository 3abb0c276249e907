#!/usr/bin/env bash
# Stop 19 call 2: compile-ahead helpers. The opening (--max-cases 134) of outside_kernels'
# correct kernel, one worker, fresh Triton caches: no helpers, then the default; then the
# six bugs and two correct kernels hunted as in stop 18 (30 s each, one worker, shrinking
# 10 s), with the default helpers, on a fresh cache.
set -u
res=${1:?res}; mkdir -p $res
C=benchmarks/outside_kernels.py:correct_upstream_style
for n in 0 default; do
  export TRITON_CACHE_DIR=/tmp/tc_ahead_$n
  extra=""; [ $n = 0 ] && extra="--compile-ahead 0"
  s=$(date +%s.%N)
  python -m fuzz run --op metadata --device cuda --candidate $C $extra --max-cases 134 --seconds 120 --corpus /tmp/corp_a$n > $res/open_ahead_$n.txt 2>&1; rc=$?
  echo "helpers $n rc $rc wall $(python3 -c "import time;print(round(time.time()-$s,1))")"; head -1 $res/open_ahead_$n.txt; tail -2 $res/open_ahead_$n.txt
done
export TRITON_CACHE_DIR=/tmp/tc_hunt
python benchmarks/hunt.py benchmarks/outside_kernels.py --seconds 30 --shrink-seconds 10 --json $res/hunt_outside_gpu.json > $res/hunt_outside_gpu.txt 2>&1; echo "hunt rc $?"
tail -20 $res/hunt_outside_gpu.txt
ps aux | grep -c "[f]uzz.compile_ahead"
