#!/usr/bin/env bash
# Stop 19 call 7: rounds dealt item by item over the helpers. GPU tests of compile_ahead;
# outside_kernels' correct kernel 30 s, no helper and the default (fresh caches): cases
# after the opening; the hunt of its bugs with the default; redteam5's correct on cuda
# (exit 0 now that it runs on host copies) and one of its mutants.
set -u
res=${1:?res}; mkdir -p $res
python -m pytest -q -p no:randomly tests/test_compile_ahead.py -m gpu > $res/gpu_tests.txt 2>&1; echo "gpu tests rc $?"; tail -1 $res/gpu_tests.txt
C=benchmarks/outside_kernels.py:correct_upstream_style
for n in 0 default; do
  export TRITON_CACHE_DIR=/tmp/tc7_$n
  extra=""; [ $n = 0 ] && extra="--compile-ahead 0"
  python -m fuzz run --op metadata --device cuda --candidate $C $extra --seconds 40 --corpus /tmp/corp7_$n > $res/run40_$n.txt 2>&1; rc=$?
  echo "40 s, helpers $n rc $rc: $(grep summary: $res/run40_$n.txt)"; grep -E "^ +[0-9.]+s " $res/run40_$n.txt | tr '\n' ' '; echo
done
export TRITON_CACHE_DIR=/tmp/tc7_hunt
python benchmarks/hunt.py benchmarks/outside_kernels.py --seconds 30 --shrink-seconds 10 --json $res/hunt_outside_gpu.json > $res/hunt_outside_gpu.txt 2>&1; echo "hunt rc $?"
tail -1 $res/hunt_outside_gpu.txt; grep -E "^outside" $res/hunt_outside_gpu.txt | awk '{print $2, $4, $5, $6, $7}'
python -m fuzz run --op metadata --device cuda --candidate benchmarks/redteam5_mutants.py:correct --seconds 30 --corpus /tmp/rt5c > $res/rt5_correct.txt 2>&1; echo "rt5 correct rc $?: $(grep summary: $res/rt5_correct.txt)"
python -m fuzz run --op metadata --device cuda --candidate benchmarks/redteam5_mutants.py:pool_index_uint16 --seconds 30 --corpus /tmp/rt5m > $res/rt5_mutant.txt 2>&1; echo "rt5 pool_index_uint16 rc $?: $(grep -E '^FAIL' $res/rt5_mutant.txt | head -2)"
echo "helpers alive: $(ps aux | grep -c '[f]uzz.compile_ahead')"
