#!/usr/bin/env bash
# Stop 19 call 6: helpers with dry launches and the idle stop. GPU tests of compile_ahead;
# planted.py's baseline (torch, v1; tmp_planted.py) 30 s with no helper and the default
# (was 238,757 against 9,381 cases in call 5); the opening of outside_kernels' correct
# kernel, fresh caches, no helper and the default; the hunt of its bugs with the default.
set -u
res=${1:?res}; mkdir -p $res
python -m pytest -q -p no:randomly tests/test_compile_ahead.py -m gpu > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
for n in 0 default; do
  extra=""; [ $n = 0 ] && extra="--compile-ahead 0"
  python -m fuzz run --device cuda --candidate tmp_planted.py:baseline $extra --seconds 30 --corpus /tmp/b6$n > $res/v1_$n.txt 2>&1
  echo "v1 baseline helpers $n rc $?: $(grep summary: $res/v1_$n.txt)"
done
C=benchmarks/outside_kernels.py:correct_upstream_style
for n in 0 default; do
  export TRITON_CACHE_DIR=/tmp/tc6_$n
  extra=""; [ $n = 0 ] && extra="--compile-ahead 0"
  python -m fuzz run --op metadata --device cuda --candidate $C $extra --max-cases 134 --seconds 120 --corpus /tmp/corp6_$n > $res/open_$n.txt 2>&1; rc=$?
  echo "opening helpers $n rc $rc: $(grep summary: $res/open_$n.txt)"; grep implementations $res/open_$n.txt
done
export TRITON_CACHE_DIR=/tmp/tc6_hunt
python benchmarks/hunt.py benchmarks/outside_kernels.py --seconds 30 --shrink-seconds 10 --json $res/hunt_outside_gpu.json > $res/hunt_outside_gpu.txt 2>&1; echo "hunt rc $?"
tail -16 $res/hunt_outside_gpu.txt
echo "helpers alive: $(ps aux | grep -c '[f]uzz.compile_ahead')"
