#!/usr/bin/env bash
# Stop 21 call 6 (final tree: the first two large named cases right after the small
# opening, the rest one after each round): the built-ins 40 s on cuda; redteam8's correct
# candidate 40 s; round 8's three bugs that need a large case, 40 s each.
set -u
res=${1:?res}; mkdir -p $res
export TRITON_CACHE_DIR=/tmp/tc21c6
python -m fuzz run --op metadata --device cuda --seconds 40 --corpus /tmp/c6b > $res/builtins.txt 2>&1; echo "builtins rc $?: $(grep -A2 summary: $res/builtins.txt | tr -s ' ')"
python -m fuzz run --op metadata --device cuda --candidate benchmarks/redteam8_mutants.py:correct --seconds 40 --corpus /tmp/c6c > $res/rt8_correct.txt 2>&1; echo "rt8 correct rc $?: $(grep summary: $res/rt8_correct.txt)"
python benchmarks/hunt.py benchmarks/redteam8_mutants.py --seconds 40 --shrink-seconds 10 --only bug_T_from_last_program,bug_grid_cap_no_stride,bug_tri_int32_product --json $res/hunt_rt8_large_gpu.json > $res/hunt_rt8_large_gpu.txt 2>&1; tail -8 $res/hunt_rt8_large_gpu.txt
echo "helpers alive: $(ps aux | grep -c '[f]uzz.compile_ahead')"
